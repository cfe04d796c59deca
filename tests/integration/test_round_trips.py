"""Database round trips a case costs, counted with pymongo's command monitoring (counts, not timings).

Every command the services send is one round trip to the database. The listener below counts
them per thread, so a request's own round trips (the thread that handles it) are told apart from
those of the process's background threads (batched "sent" marks, reference blocks).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from pymongo import monitoring

from services.intake.app import create_app as create_intake_app
from services.intake.filing import REFERENCE_BLOCK
from shared.config import Settings
from shared.db import close_clients
from shared.outbox import SENT_MARKS
from tests.integration.conftest import CASE, database
from tests.support.outbox import pending_events
from tests.support.stack import wait_for


class CommandCounter(monitoring.CommandListener):
    """Counts the commands each thread sends while `counting` is set."""

    def __init__(self) -> None:
        self.counting = False
        self.by_thread: Counter[str] = Counter()
        self.commands: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            with self.lock:
                name = threading.current_thread().name
                self.by_thread[name] += 1
                self.commands.append((name, event.command_name))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_COUNTER = CommandCounter()
monitoring.register(_COUNTER)  # for clients created from now on


@pytest.fixture
def counter() -> Iterator[CommandCounter]:
    close_clients()  # the next client of this process is created with the listener
    _COUNTER.by_thread.clear()
    _COUNTER.commands.clear()
    yield _COUNTER
    _COUNTER.counting = False


def intake_client(settings: Settings) -> FlaskClient:
    """Intake's app with a rate limit these tests stay under (the limiter still counts every hit)."""
    return create_intake_app(replace(settings, intake_rate_limit="100000/60")).test_client()


def count_request(counter: CommandCounter, client: FlaskClient, case: dict) -> tuple[int, list[str]]:
    """File one case; the round trips made by the thread that handled the request."""
    me = threading.current_thread().name
    counter.by_thread.clear()
    counter.commands.clear()
    counter.counting = True
    try:
        created = client.post("/api/v1/cases", json=case)
    finally:
        counter.counting = False
    assert created.status_code == 201, created.json
    return counter.by_thread[me], [name for thread, name in counter.commands if thread == me]


def test_a_filing_makes_at_most_two_round_trips_in_its_request(
    stack_settings: Settings, counter: CommandCounter
) -> None:
    client = intake_client(stack_settings)
    assert client.post("/api/v1/cases", json=CASE).status_code == 201  # indexes, first block
    filings = 3 * REFERENCE_BLOCK  # past two block boundaries: the next block comes in the background
    per_request = []
    for i in range(filings):
        trips, commands = count_request(counter, client, {**CASE, "building": str(i % 7)})
        per_request.append(trips)
        assert trips <= 2, f"filing {i} made {trips} round trips in its request: {commands}"
        wait_for(lambda: not SENT_MARKS._waiting, timeout=5, what="the batch of sent marks")
    assert max(per_request) == 2  # the rate limit and the insert: counted, not assumed away

    # Nothing is lost by leaving work to the background: every case stored, each event published
    # and marked sent, references distinct.
    intake = database(stack_settings, "intake")
    assert intake.cases.count_documents({}) == filings + 1
    assert len(set(intake.cases.distinct("_id"))) == filings + 1
    wait_for(lambda: pending_events(intake, ("cases",)) == 0, timeout=10, what="every event marked sent")


def test_background_round_trips_are_a_fraction_of_a_filing(
    stack_settings: Settings, counter: CommandCounter
) -> None:
    client = intake_client(stack_settings)
    assert client.post("/api/v1/cases", json=CASE).status_code == 201
    wait_for(lambda: not SENT_MARKS._waiting, timeout=5, what="the first marks")
    filings = 2 * REFERENCE_BLOCK
    me = threading.current_thread().name
    counter.by_thread.clear()
    counter.counting = True
    try:
        for i in range(filings):
            assert client.post("/api/v1/cases", json={**CASE, "building": str(i % 5)}).status_code == 201
        wait_for(lambda: not SENT_MARKS._waiting, timeout=5, what="the batch of sent marks")
    finally:
        counter.counting = False
    in_requests = counter.by_thread[me]
    background = sum(n for name, n in counter.by_thread.items() if name != me)
    assert in_requests == 2 * filings
    # The marks are batched (at most one per filing even if every batch held one case) and the
    # reference blocks cost one round trip per REFERENCE_BLOCK filings.
    assert 0 < background <= filings + 2
    assert counter.by_thread["reference-blocks"] == 2, counter.by_thread
