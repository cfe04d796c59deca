"""The publishing thread of carried events (`shared.outbox.Publishing`), without I/O: batches,
a refused batch left to the relay, and a request waiting for room when the backlog is full."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.publisher import PublishError
from shared.outbox import Publishing


class _Publisher:
    """Refuses every batch (so nothing is marked sent), after `gate` opens."""

    cooling_down = False

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.batches: list[list[str]] = []

    def publish_many(self, envelopes: list[Envelope]) -> None:
        self.gate.wait(10)
        self.batches.append([e.message_id for e in envelopes])
        raise PublishError("refused")


def _event(n: int) -> Envelope:
    return Envelope(f"m{n}", "case.status_changed", "2026-11-30T00:00:00+00:00", "test", "c", 1, {})


def _outbox(publisher: _Publisher, publish_timeout: float = 5.0) -> Any:
    return SimpleNamespace(publisher=publisher, settings=replace(Settings(), publish_timeout=publish_timeout))


def test_what_gathers_goes_out_in_one_batch_in_order_and_a_refusal_is_the_relays() -> None:
    publishing = Publishing(batch=100, keep=100)
    publisher = _Publisher()
    publishing.add(_outbox(publisher), "cases", "a", [_event(1), _event(2)])  # taken at once
    time.sleep(0.2)
    for n in range(3, 9, 2):  # these gather while the first batch waits for the broker
        # Each request builds its own Outbox around the process's one publisher: one batch still.
        publishing.add(_outbox(publisher), "cases", f"doc{n}", [_event(n), _event(n + 1)])
    assert not publishing.idle()
    publisher.gate.set()
    assert publishing.drain(5)
    assert publisher.batches == [["m1", "m2"], [f"m{n}" for n in range(3, 9)]]


def test_a_full_backlog_makes_the_request_wait_then_leaves_the_document_to_the_relay() -> None:
    publishing = Publishing(batch=1, keep=1)
    publisher = _Publisher()
    outbox = _outbox(publisher, publish_timeout=0.3)
    publishing.add(outbox, "cases", "taken", [_event(1)])  # taken by the thread, which then waits
    time.sleep(0.2)
    publishing.add(outbox, "cases", "waits", [_event(2)])  # room for one
    started = time.monotonic()
    publishing.add(outbox, "cases", "no room", [_event(3)])  # waits for room, in vain
    assert 0.25 < time.monotonic() - started < 3
    publisher.gate.set()
    assert publishing.drain(5)
    assert publisher.batches == [["m1"], ["m2"]]  # "no room" stays pending: the relay publishes it
