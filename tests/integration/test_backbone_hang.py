"""A database that stops answering without closing its connections (issue 17, item 2).

The TCP proxy holds every byte: nothing is refused, nothing arrives. A request must answer 503
within the database timeout (`DB_TIMEOUT`) instead of hanging, the requests right after it answer
503 at once instead of each waiting its timeouts (the breaker), and once the database answers
again requests succeed. (tests/faults/test_hangs.py runs the whole stack through such faults.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from devtools.tcp_proxy import TcpProxy
from services.intake.app import create_app
from shared.config import Settings
from shared.http import DATABASE_BACKOFF_SECONDS
from tests.integration.conftest import CASE

DB_TIMEOUT = 1.5


@pytest.fixture
def database_proxy(settings: Settings) -> Iterator[TcpProxy]:
    parts = urlsplit(settings.mongo_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 27017))
    yield proxy
    proxy.close()


def timed_post(client, payload: dict) -> tuple[int, float, str | None]:
    started = time.monotonic()
    response = client.post("/api/v1/cases", json=payload)
    return response.status_code, time.monotonic() - started, response.headers.get("Retry-After")


def test_a_silent_database_answers_503_within_the_timeout_then_fast(
    settings: Settings, database_proxy: TcpProxy
) -> None:
    url = f"mongodb://127.0.0.1:{database_proxy.port}/?retryWrites=false&directConnection=true"
    client = create_app(replace(settings, mongo_url=url, db_timeout=DB_TIMEOUT)).test_client()
    assert timed_post(client, CASE)[0] == 201  # the line works, the pool holds a connection

    database_proxy.hold()
    try:
        status, seconds, retry_after = timed_post(client, CASE)
        assert status == 503 and retry_after
        # Bounded by the operation timeout (or the 3 s server selection once the monitor saw it).
        assert seconds < max(DB_TIMEOUT, 3.0) + 1.5, seconds
        # The requests behind it do not wait at all while the breaker is open.
        for _ in range(5):
            status, seconds, _ = timed_post(client, CASE)
            assert status == 503 and seconds < 0.5, (status, seconds)
        # Probes still look for themselves.
        assert client.get("/readyz").status_code == 503
    finally:
        database_proxy.release()
    time.sleep(DATABASE_BACKOFF_SECONDS)
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline and status != 201:
        status = timed_post(client, CASE)[0]
        if status != 201:
            time.sleep(0.5)
    assert status == 201, "requests succeed again once the database answers"
