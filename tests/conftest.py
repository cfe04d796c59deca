"""Fixtures shared by every test: a real SecantusDB server, the real RabbitMQ, a real SMTP sink.

Each test gets its own database prefix and broker namespace, so tests never see each other's
data or messages, and everything it created is removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection
from pymongo import MongoClient

from devtools.secantus import free_port, mongo_url, start_secantus
from devtools.smtp_sink import CapturingHandler, start_sink
from shared.config import Settings
from shared.outbox import PUBLISHING, SENT_MARKS
from tests.support.stack import delete_broker_namespace

ROOT = Path(__file__).resolve().parents[1]
BROKER_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


# Each folder's tests carry its marker, so `-m integration` (or e2e, faults, fuzz) selects them all;
# a `pytestmark` in a folder's conftest.py would be ignored by pytest.
FOLDER_MARKERS = {"integration": "integration", "e2e": "e2e", "faults": "faults", "fuzz": "fuzz"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its folder's marker (see `FOLDER_MARKERS` and pyproject's markers)."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[parts[1]])


@pytest.fixture(scope="session")
def mongo_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB server for the whole run (or TEST_MONGO_URL when given)."""
    given = os.environ.get("TEST_MONGO_URL")
    if given:
        yield given
        return
    port = free_port()
    log = tmp_path_factory.mktemp("secantus") / "secantus.log"
    process = start_secantus(port, ":memory:", log)
    yield mongo_url(port)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # Seen once in five fault-suite runs: the server caught SIGTERM and never exited (its
        # threads all waiting on locks). The run's tests are over; do not leave it behind.
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The real RabbitMQ; the run fails loudly (no skip) when it is not there."""
    with Connection(BROKER_URL, connect_timeout=3) as conn:
        try:
            conn.ensure_connection(max_retries=2, interval_start=0.5)
        except Exception as err:
            pytest.fail(f"RabbitMQ is not reachable at {BROKER_URL}: {err} (make test starts it)")
    return BROKER_URL


@pytest.fixture
def settings(mongo_server_url: str, broker_url: str) -> Iterator[Settings]:
    """Settings isolated for one test: own databases, own exchange and queues, fast retries."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    test_settings = Settings.from_env(
        {
            "mongo_url": mongo_server_url,
            "broker_url": broker_url,
            "db_prefix": tag,
            "broker_namespace": tag,
            "retry_delays": (0.2, 0.4),
            "outbox_grace_seconds": 0.3,
            "outbox_relay_interval": 0.1,
            "publish_timeout": 3.0,
            "connect_timeout": 2.0,
        }
    )
    yield test_settings
    # Events this process's publishing thread still holds for the test go out before its exchange
    # and queues are deleted (afterwards they would fail against a namespace that is gone).
    PUBLISHING.drain(5.0)
    delete_broker_namespace(test_settings)
    # "Sent" marks this process still holds for the test's databases are moot once they are dropped
    # (a test that cut the database leaves some): the marking thread is shared by every test.
    SENT_MARKS.discard(tag)
    client = MongoClient(mongo_server_url)
    for name in client.list_database_names():
        if name.startswith(tag):
            client.drop_database(name)
    client.close()


@pytest.fixture
def smtp() -> Iterator[tuple[CapturingHandler, int]]:
    """A real SMTP server on a free port, keeping every message in memory."""
    port = free_port()
    controller, handler = start_sink(port)
    yield handler, port
    controller.stop()
