import pytest

from shared.config import DEV_SECRET_KEY, Settings


def test_defaults_are_local() -> None:
    settings = Settings()
    assert settings.mongo_url.startswith("mongodb://127.0.0.1:27018/")
    assert settings.database_name("intake") == "concord_intake"
    assert settings.retry_delays == (1.0, 5.0, 30.0)


def test_environment_overrides_with_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URL", "mongodb://db:27017/")
    monkeypatch.setenv("CONSUMER_PREFETCH", "4")
    monkeypatch.setenv("PUBLISH_TIMEOUT", "2.5")
    monkeypatch.setenv("RETRY_DELAYS", "0.5, 2")
    monkeypatch.setenv("DB_PREFIX", "district7")
    settings = Settings.from_env()
    assert settings.mongo_url == "mongodb://db:27017/"
    assert settings.consumer_prefetch == 4
    assert settings.publish_timeout == 2.5
    assert settings.retry_delays == (0.5, 2.0)
    assert settings.database_name("notify") == "district7_notify"


def test_explicit_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PREFIX", "fromenv")
    assert Settings.from_env({"db_prefix": "given"}).db_prefix == "given"
    ready = Settings(db_prefix="ready")
    assert Settings.resolve(ready) is ready


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Settings(env="production", secret_key=DEV_SECRET_KEY).check_production()
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Settings(env="production", secret_key="").check_production()
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Settings(env="production", secret_key="short").check_production()
    Settings(env="production", secret_key="x" * 40).check_production()
    Settings(env="development").check_production()
