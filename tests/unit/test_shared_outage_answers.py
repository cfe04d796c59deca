"""What the fault-injection tests (tests/faults) found about outages, pinned down:

- a request failing because the database is unreachable answers 503 with Retry-After (an
  outage, not a bug), never a 500;
- publishing right after a commit never fails the request: when the database vanishes between
  the publish and marking the event sent, the request still succeeds (its change is committed)
  and the relay publishes the event again later (consumers drop the duplicate).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from shared.config import Settings
from shared.http import create_base_app
from shared.messaging.envelope import make_envelope
from shared.outbox import SENT_MARKS, Outbox


def _app_raising(error: Exception):
    app, _ = create_base_app(__name__, "test", Settings(), api_title="test")

    @app.get("/boom")
    def boom() -> Any:
        raise error

    return app.test_client()


def test_database_outage_answers_503_with_retry_after() -> None:
    response = _app_raising(ServerSelectionTimeoutError("db down")).get("/boom")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json["code"] == 503


def test_transient_transaction_error_answers_503() -> None:
    conflict = OperationFailure("WriteConflict", 112, {"errorLabels": ["TransientTransactionError"]})
    assert _app_raising(conflict).get("/boom").status_code == 503


def test_a_bug_still_answers_500() -> None:
    assert _app_raising(KeyError("x")).get("/boom").status_code == 500


class _Publisher:
    cooling_down = False

    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, envelope) -> None:
        self.published.append(envelope.message_id)


class _GoneCollection:
    name = "outbox"
    database = SimpleNamespace(name="gone")

    def update_one(self, *args: Any, **kwargs: Any) -> None:
        raise ServerSelectionTimeoutError("database went away after the publish")

    def bulk_write(self, *args: Any, **kwargs: Any) -> None:
        raise ServerSelectionTimeoutError("database went away after the publish")


class _Db:
    outbox = _GoneCollection()


def test_flush_after_commit_never_raises_when_the_database_goes_away() -> None:
    publisher = _Publisher()
    outbox = Outbox(_Db(), publisher, Settings())  # type: ignore[arg-type]
    event = make_envelope(
        "case.status_changed",
        {"reference": "LC-2026-000001", "status": "investigating", "changed_at": "2026-11-25T09:00:00+00:00"},
        source="test",
    )
    assert outbox.flush([event]) == 1  # published; its "sent" mark waits for the batch
    assert publisher.published == [event.message_id]
    # The batch cannot reach the database: nothing marked, nothing raised (the relay would
    # publish the event again, which consumers drop).
    assert SENT_MARKS.flush() == 0
    SENT_MARKS._waiting.clear()


def test_pages_get_an_html_503_page_and_the_api_json() -> None:
    from services.intake.app import create_app

    unreachable = "mongodb://127.0.0.1:1/?retryWrites=false&serverSelectionTimeoutMS=200"
    client = create_app(Settings.from_env({"mongo_url": unreachable})).test_client()
    page = client.get("/track/LC-2026-000001?token=x", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert page.headers["Retry-After"].isdigit()
    api = client.get("/api/v1/cases/LC-2026-000001?token=x")
    assert api.status_code == 503
    assert api.json["message"] == "The service is briefly unavailable; try again."


def test_an_upsert_answering_nothing_is_an_outage_not_a_crash() -> None:
    import pytest
    from pymongo.errors import AutoReconnect

    from shared.db import upsert_retrying
    from shared.http import database_unavailable

    with pytest.raises(AutoReconnect) as caught:
        upsert_retrying(lambda: None)
    assert database_unavailable(caught.value)
    assert upsert_retrying(lambda: {"count": 1}) == {"count": 1}
