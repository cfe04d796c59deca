"""Static checks of the deployment files: docker-compose.yml, deploy/Dockerfile, .dockerignore and
deploy/gunicorn.conf.py.

No Docker engine runs here, so these tests read the files (YAML, Dockerfile instructions, the
gunicorn config run as Python) and assert the properties the stack depends on: start-up order,
restart and health policies, the replica set, secrets without defaults, runtime-only installs,
and commands that point at code that exists.
"""

from __future__ import annotations

import re
import runpy
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"

APPS = ("intake", "mediation", "notify", "council")
HOST_PORTS = {"intake": "8001", "mediation": "8002", "notify": "8003", "council": "8004"}
WORKERS = tuple(f"{app}-worker" for app in APPS)
INFRA = ("mongo", "mongo-init", "rabbitmq", "mailpit")
CONCORD_SERVICES = APPS + WORKERS


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    return instructions


def shell_commands(run_args: str) -> list[list[str]]:
    """The simple commands of one RUN line, split on && ; and |."""
    return [shlex.split(part) for part in re.split(r"&&|;|\|\|?", run_args) if part.strip()]


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    assert match and any(match.groups()), f"unsupported duration {duration!r}"
    minutes, secs = (int(group or 0) for group in match.groups())
    return minutes * 60 + secs


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_parses_and_declares_the_whole_stack() -> None:
    data = compose()
    assert isinstance(data, dict)
    assert set(data["services"]) == set(INFRA + CONCORD_SERVICES)


def test_every_service_has_a_restart_policy() -> None:
    for name, spec in compose()["services"].items():
        expected = "no" if name == "mongo-init" else "unless-stopped"
        # `restart: no` unquoted would load as False, which compose rejects: it must be the string.
        assert spec.get("restart") == expected, f"{name}: restart is {spec.get('restart')!r}"


def test_every_long_running_service_has_a_healthcheck() -> None:
    long_running = [name for name, spec in compose()["services"].items() if spec.get("restart") != "no"]
    assert "mongo-init" not in long_running
    for name in long_running:
        check = service(name).get("healthcheck")
        assert isinstance(check, dict), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        test = check.get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name


@pytest.mark.parametrize("name", CONCORD_SERVICES)
def test_concord_services_start_after_mongo_init_and_a_healthy_rabbitmq(name: str) -> None:
    depends_on = service(name).get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on needs the long form with conditions"
    assert depends_on["mongo-init"]["condition"] == "service_completed_successfully"
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"


def test_mongo_init_waits_for_a_healthy_mongo() -> None:
    assert service("mongo-init")["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_mongo_runs_a_replica_set_that_mongo_init_initiates() -> None:
    mongo = service("mongo")
    assert mongo["image"].split(":")[0] == "mongo"
    argv = as_argv(mongo["command"])
    assert argv[0] == "mongod"
    assert "--bind_ip_all" in argv
    replset = argv[argv.index("--replSet") + 1]
    assert "mongosh" in " ".join(as_argv(mongo["healthcheck"]["test"]))

    script = " ".join(as_argv(service("mongo-init")["command"]))
    assert "mongosh" in script
    assert "rs.initiate(" in script
    assert f"_id: '{replset}'" in script or f"_id:'{replset}'" in script
    assert "mongo:27017" in script
    # Idempotent: the status is asked first, and initiate only runs when that fails.
    assert script.index("rs.status()") < script.index("rs.initiate(")
    assert "catch" in script

    for name in CONCORD_SERVICES:
        url = environment(name)["MONGO_URL"]
        assert url.startswith("mongodb://mongo:27017/"), name
        assert f"replicaSet={replset}" in url, name


def test_mongo_url_keeps_retryable_writes_on() -> None:
    for name in CONCORD_SERVICES:
        assert "retrywrites=false" not in environment(name)["MONGO_URL"].lower(), name


def test_every_named_volume_is_declared() -> None:
    declared = set(compose().get("volumes") or {})
    used: set[str] = set()
    for spec in compose()["services"].values():
        for volume in spec.get("volumes", []):
            if isinstance(volume, dict):
                if volume.get("type", "volume") == "volume" and volume.get("source"):
                    used.add(volume["source"])
                continue
            source = volume.split(":", 1)[0]
            if ":" in volume and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert {"mongo-data", "rabbitmq-data"} <= used
    assert used <= declared, f"undeclared named volumes: {sorted(used - declared)}"
    assert "/data/db" in " ".join(service("mongo")["volumes"])
    assert "/var/lib/rabbitmq" in " ".join(service("rabbitmq")["volumes"])


def test_rabbitmq_has_a_stable_hostname_for_its_data_volume() -> None:
    rabbitmq = service("rabbitmq")
    assert rabbitmq["image"].startswith("rabbitmq:3.13")
    assert rabbitmq.get("hostname"), "the node's data directory is named after the hostname"
    assert as_argv(rabbitmq["healthcheck"]["test"])[1:] == ["rabbitmq-diagnostics", "-q", "ping"]


def test_concord_services_share_one_image_built_from_the_repo() -> None:
    for name in CONCORD_SERVICES:
        build = service(name)["build"]
        assert (ROOT / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
    assert len({service(name).get("image") for name in CONCORD_SERVICES}) == 1


@pytest.mark.parametrize("app", APPS)
def test_web_service_runs_gunicorn_on_an_existing_app_factory(app: str) -> None:
    spec = service(app)
    argv = as_argv(spec["command"])
    assert argv[0] == "gunicorn"
    config = argv[argv.index("-c") + 1]
    assert (ROOT / config).resolve() == GUNICORN_CONF
    target = argv[-1]
    assert target == f"services.{app}.app:create_app()"

    module, _, call = target.partition(":")
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    assert source.is_file(), f"{source} does not exist"
    factory = call.removesuffix("()")
    assert re.search(rf"^def {factory}\(", source.read_text(encoding="utf-8"), re.MULTILINE)

    assert environment(app)["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert spec["ports"] == [f"{HOST_PORTS[app]}:8000"]
    health = " ".join(as_argv(spec["healthcheck"]["test"]))
    assert "http://127.0.0.1:8000/healthz" in health


@pytest.mark.parametrize("name", CONCORD_SERVICES)
def test_metrics_are_exposed_inside_the_stack_and_never_published(name: str) -> None:
    """Case counts by studio and state and queue depths are for the monitoring system only: each
    process serves /metrics on 9100 (web: a second gunicorn listener; workers: their own), which
    the compose network reaches (`expose`) and the host does not (`ports`)."""
    spec = service(name)
    env = environment(name)
    port = env["METRICS_PORT"] if name in APPS else env["WORKER_METRICS_PORT"]
    assert port == "9100"
    if name not in APPS:
        assert env["WORKER_METRICS_ADDR"] == "0.0.0.0", "reachable from other containers"
    assert [str(p) for p in spec["expose"]] == [port]
    published = [str(p).rsplit(":", 1)[-1] for p in spec.get("ports", [])]
    assert port not in published, f"{name} publishes its metrics port"
    assert published == (["8000"] if name in APPS else [])


def test_web_services_use_distinct_host_ports() -> None:
    published = [port for app in APPS for port in service(app)["ports"]]
    assert len(published) == len(set(published)) == len(APPS)


def test_the_healthz_route_exists_in_the_code() -> None:
    sources = [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]
    assert any('"/healthz"' in path.read_text(encoding="utf-8") for path in sources)


@pytest.mark.parametrize("app", APPS)
def test_worker_runs_an_existing_module_with_main(app: str) -> None:
    argv = as_argv(service(f"{app}-worker")["command"])
    assert argv[:2] == ["python", "-m"]
    module = argv[2]
    assert module == f"services.{app}.worker"
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    assert source.is_file(), f"{source} does not exist"
    text = source.read_text(encoding="utf-8")
    assert re.search(r"^def main\(", text, re.MULTILINE)
    # `python -m` runs the module as __main__: without the guard nothing would start.
    assert re.search(r"""^if __name__ == ["']__main__["']:\s*\n\s+main\(\)""", text, re.MULTILINE)


def test_secret_key_has_no_default() -> None:
    for name in CONCORD_SERVICES:
        env = environment(name)
        # `${VAR:?message}` makes compose refuse to start when the variable is unset or empty.
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", env["SECRET_KEY"]), name
        assert env["ENV"] == "production", name
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"\$\{SECRET_KEY:?-", text), "SECRET_KEY must not have a default"


def test_concord_services_get_the_common_settings() -> None:
    expected = {
        "BROKER_URL": "amqp://guest:guest@rabbitmq:5672//",
        "SMTP_URL": "smtp://mailpit:1025",
        "DB_PREFIX": "concord",
        "BROKER_NAMESPACE": "concord",
    }
    for name in CONCORD_SERVICES:
        env = environment(name)
        assert {key: env.get(key) for key in expected} == expected, name


# --- deploy/Dockerfile and .dockerignore ---------------------------------------------------------


def test_dockerfile_base_user_and_default_command() -> None:
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["python:3.11-slim-bookworm"]
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    envs = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert re.search(r"(^|\s)PYTHONUNBUFFERED=1(\s|$)", envs)
    cmd = [args for keyword, args in instructions if keyword == "CMD"]
    assert cmd and cmd[-1].startswith("[")
    assert yaml.safe_load(cmd[-1]) == [
        "gunicorn",
        "-c",
        "deploy/gunicorn.conf.py",
        "services.intake.app:create_app()",
    ]


def test_dockerfile_installs_the_project_with_runtime_dependencies_only() -> None:
    instructions = dockerfile_instructions()
    pip_installs = [
        command
        for keyword, args in instructions
        if keyword == "RUN"
        for command in shell_commands(args)
        if command[:2] == ["pip", "install"] or command[:4] == ["python", "-m", "pip", "install"]
    ]
    assert len(pip_installs) == 1, pip_installs
    install = pip_installs[0]
    arguments = install[install.index("install") + 1 :]
    targets = [arg for arg in arguments if not arg.startswith("-")]
    # Only `.` itself: not `.[dev]`, not `-e .`, not a requirements file, not extra packages.
    assert targets == ["."], arguments
    assert set(arguments) - {"."} <= {"--no-cache-dir"}, arguments
    for keyword, args in instructions:
        assert "secantus" not in args.lower(), (keyword, args)
        assert "[dev]" not in args, (keyword, args)


def test_dockerfile_installs_cjk_fonts() -> None:
    apt_installs = [
        command
        for keyword, args in dockerfile_instructions()
        if keyword == "RUN"
        for command in shell_commands(args)
        if command[:1] in (["apt-get"], ["apt"]) and "install" in command
    ]
    assert any("fonts-noto-cjk" in command for command in apt_installs), apt_installs


def test_dockerfile_copies_only_what_the_image_needs() -> None:
    sources: list[str] = []
    for keyword, args in dockerfile_instructions():
        if keyword in {"COPY", "ADD"}:
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
            sources.extend(parts[:-1])
    assert {source.rstrip("/") for source in sources} == {
        "pyproject.toml",
        "README.md",
        "shared",
        "services",
        "deploy",
    }
    # pyproject.toml declares README.md as the readme, so the install needs it in the image.
    assert 'readme = "README.md"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_dockerignore_excludes_local_state_but_not_the_sources() -> None:
    patterns = {
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".venv", "var", ".git", "tests", "bench"):
        assert excluded in patterns, excluded
    assert patterns & {"__pycache__", "**/__pycache__"}
    assert not patterns & {"shared", "services", "deploy", "pyproject.toml", "README.md", "*", "**"}


# --- deploy/gunicorn.conf.py ---------------------------------------------------------------------

GUNICORN_ENV = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "FORWARDED_ALLOW_IPS",
    "METRICS_PORT",
)


def load_gunicorn_conf() -> dict[str, Any]:
    namespace = runpy.run_path(str(GUNICORN_CONF))
    return {key: value for key, value in namespace.items() if not key.startswith("_")}


def test_gunicorn_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in GUNICORN_ENV:
        monkeypatch.delenv(variable, raising=False)
    conf = load_gunicorn_conf()
    # The public listener, and /metrics' own on the same address (shared/metrics.py).
    assert conf["bind"] == ["127.0.0.1:8000", "127.0.0.1:9100"]
    assert conf["workers"] == 2
    assert conf["threads"] == 1
    assert conf["timeout"] == 30
    assert conf["graceful_timeout"] == 20
    # Clients of MongoDB and the broker must be created after fork, in each worker.
    assert conf["preload_app"] is False
    assert conf["accesslog"] == "-"
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    if Path("/dev/shm").is_dir():
        assert conf["worker_tmp_dir"] == "/dev/shm"
    else:
        assert "worker_tmp_dir" not in conf


def test_gunicorn_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:9123")
    monkeypatch.setenv("GUNICORN_WORKERS", "5")
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.7")
    monkeypatch.setenv("METRICS_PORT", "9200")
    conf = load_gunicorn_conf()
    assert conf["bind"] == ["0.0.0.0:9123", "0.0.0.0:9200"]
    monkeypatch.setenv("METRICS_PORT", "0")
    assert load_gunicorn_conf()["bind"] == ["0.0.0.0:9123"]
    assert conf["workers"] == 5
    assert conf["threads"] == 4
    assert conf["forwarded_allow_ips"] == "10.0.0.7"
    assert conf["preload_app"] is False


def test_gunicorn_conf_sets_only_real_gunicorn_settings() -> None:
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    conf = load_gunicorn_conf()
    settings = {key for key, value in conf.items() if not callable(value) and not hasattr(value, "__file__")}
    settings.discard("annotations")  # `from __future__ import annotations`
    assert settings, "the config sets nothing"
    assert settings <= known, f"not gunicorn settings: {sorted(settings - known)}"


def test_stop_grace_period_outlasts_gunicorns_graceful_timeout() -> None:
    graceful = load_gunicorn_conf()["graceful_timeout"]
    for app in APPS:
        # Compose's default is 10 s; a shorter grace would SIGKILL requests gunicorn is finishing.
        grace = seconds(service(app).get("stop_grace_period", "10s"))
        assert grace > graceful, app
