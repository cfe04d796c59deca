"""Bounded retries through the broker: a failing message is retried per tier, then parked in the
dead-letter queue with its error; it never loops and never vanishes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.messaging.consumer import ATTEMPT_HEADER, ERROR_HEADER, EventConsumer, Subscription
from shared.messaging.envelope import Envelope, make_envelope
from shared.messaging.publisher import Publisher
from shared.messaging.topology import ConsumerSpec, Topology
from shared.metrics import MESSAGES
from tests.integration.test_backbone_poison import drain
from tests.support.stack import delete_broker_namespace, wait_for

SPEC = ConsumerSpec("test.retry", ("case.status_changed",))


def status_event() -> Envelope:
    return make_envelope(
        "case.status_changed",
        {"reference": "LC-2026-000007", "status": "investigating", "changed_at": "2026-11-25T09:00:00+00:00"},
        source="test",
    )


@pytest.fixture
def run_consumer(settings: Settings) -> Iterator:
    started: list[tuple[EventConsumer, threading.Thread]] = []

    def start(handler, on_dead_letter=None) -> EventConsumer:
        consumer = EventConsumer(
            settings, [Subscription(SPEC, {"case.status_changed": handler}, on_dead_letter)]
        )
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        started.append((consumer, thread))
        assert consumer.ready.wait(10), "consumer did not start"
        return consumer

    yield start
    for consumer, thread in started:
        consumer.should_stop = True
        thread.join(timeout=10)
    delete_broker_namespace(settings, (SPEC,))


def test_always_failing_message_ends_in_dead_letter_queue_after_every_tier(
    settings: Settings, run_consumer
) -> None:
    calls: list[str] = []
    hooked: list[str] = []

    def always_fails(envelope: Envelope) -> None:
        calls.append(envelope.message_id)
        raise RuntimeError("database said no")

    run_consumer(always_fails, lambda envelope, reason: hooked.append(reason))
    event = status_event()
    Publisher(settings).publish(event)

    dead_queue = Topology(settings).dead_queue_name(SPEC)
    dead = wait_for(lambda: drain(settings, dead_queue), timeout=15, what="the dead letter")
    attempts = 1 + len(settings.retry_delays)
    assert calls == [event.message_id] * attempts
    assert len(dead) == 1
    assert dead[0].headers[ATTEMPT_HEADER] == len(settings.retry_delays)
    assert "database said no" in dead[0].headers[ERROR_HEADER]
    assert f"gave up after {attempts} attempts" in dead[0].headers[ERROR_HEADER]
    assert dead[0].properties["message_id"] == event.message_id
    assert len(hooked) == 1
    queue = Topology(settings).queue_name(SPEC)
    counted = {
        outcome: MESSAGES.labels(queue, "case.status_changed", outcome)._value.get()
        for outcome in ("ok", "retried", "dead_lettered")
    }
    assert counted == {"ok": 0, "retried": len(settings.retry_delays), "dead_lettered": 1}


def test_message_failing_once_is_processed_on_retry(settings: Settings, run_consumer) -> None:
    calls: list[int] = []

    def fails_first(envelope: Envelope) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("flaky")

    consumer = run_consumer(fails_first)
    Publisher(settings).publish(status_event())
    wait_for(lambda: consumer.handled == 2, what="one retry then success")  # parked once, acked once
    assert len(calls) == 2
    assert drain(settings, Topology(settings).dead_queue_name(SPEC)) == []
