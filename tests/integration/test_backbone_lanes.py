"""A worker's lanes (`ConsumerGroup`): several messages of a queue in flight at once, each lane
with its own broker connection; one key's messages one at a time; a message that overtook an
earlier one of its key is handled again after it, without spending an attempt; a failure is
retried as by a lone consumer; a stop lets every lane finish the message in hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.messaging.consumer import ConsumerGroup, Overtaken, Subscription
from shared.messaging.envelope import Envelope, make_envelope
from shared.messaging.publisher import Publisher
from shared.messaging.topology import ConsumerSpec, Topology
from shared.metrics import MESSAGES
from tests.support.stack import delete_broker_namespace, wait_for

SPEC = ConsumerSpec("test.lanes", ("case.status_changed",))
LANES = 3


def status_event(reference: str, status: str = "investigating") -> Envelope:
    return make_envelope(
        "case.status_changed",
        {"reference": reference, "status": status, "changed_at": "2026-11-25T09:00:00+00:00"},
        source="test",
    )


def counted(settings: Settings, outcome: str) -> float:
    queue = Topology(settings).queue_name(SPEC)
    return MESSAGES.labels(queue, "case.status_changed", outcome)._value.get()


@pytest.fixture
def run_group(settings: Settings) -> Iterator:
    started: list[tuple[ConsumerGroup, threading.Thread]] = []

    def start(handler) -> ConsumerGroup:
        sub = Subscription(
            SPEC,
            {"case.status_changed": handler},
            concurrency=LANES,
            ordering_key=lambda envelope: envelope.data["reference"],
        )
        group = ConsumerGroup(settings, [sub])
        thread = threading.Thread(target=group.run, daemon=True)
        thread.start()
        started.append((group, thread))
        wait_for(group.is_ready, timeout=10, what="every lane consuming")
        return group

    yield start
    for group, thread in started:
        group.should_stop = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the lanes did not stop"
    delete_broker_namespace(settings, (SPEC,))


def test_lanes_handle_messages_at_once_but_one_key_at_a_time(settings: Settings, run_group) -> None:
    lock = threading.Lock()
    inside: dict[str, int] = {}
    most_per_key: dict[str, int] = {}
    most = [0, 0]  # now, most at once
    threads: set[str] = set()

    def slow(envelope: Envelope) -> None:
        key = envelope.data["reference"]
        with lock:
            inside[key] = inside.get(key, 0) + 1
            most_per_key[key] = max(most_per_key.get(key, 0), inside[key])
            most[0] += 1
            most[1] = max(most[1], most[0])
            threads.add(threading.current_thread().name)
        time.sleep(0.3)
        with lock:
            inside[key] -= 1
            most[0] -= 1

    group = run_group(slow)
    assert len(group.lanes) == LANES
    publisher = Publisher(settings)
    keys = ("LC-2026-000001", "LC-2026-000002", "LC-2026-000003")
    started = time.monotonic()
    for _ in range(2):
        for key in keys:
            publisher.publish(status_event(key))
    wait_for(lambda: group.handled == 6, timeout=15, what="every message handled")
    elapsed = time.monotonic() - started
    assert most[1] == LANES  # three keys: three at once
    assert len(threads) == LANES
    assert set(most_per_key.values()) == {1}  # never two of one key
    assert elapsed < 6 * 0.3  # faster than one at a time


def test_an_overtaking_message_goes_after_the_one_it_overtook_without_a_retry(
    settings: Settings, run_group
) -> None:
    """The later message gets the key's lock first and finds the earlier one's effect missing:
    it is handled again once the earlier one, waiting for the lock, is done."""
    done: list[str] = []
    calls: list[str] = []
    group_box: list[ConsumerGroup] = []

    def handler(envelope: Envelope) -> None:
        status = envelope.data["status"]
        calls.append(status)
        if status == "closed" and "investigating" not in done:
            # Hold the key until the earlier message waits for it, as when two lanes take a
            # case's two events at the same moment and the later one wins the lock.
            key = f"{SPEC.name}:{envelope.data['reference']}"
            wait_for(lambda: group_box[0].ordering.others_waiting(key), timeout=10, what="the earlier one")
            raise Overtaken("the earlier status is not stored yet")
        done.append(status)

    group = run_group(handler)
    group_box.append(group)
    retried_before = counted(settings, "retried")
    publisher = Publisher(settings)
    publisher.publish(status_event("LC-2026-000009", "closed"))
    time.sleep(0.3)  # the later one is in hand first
    publisher.publish(status_event("LC-2026-000009", "investigating"))
    wait_for(lambda: group.handled == 2, timeout=15, what="both handled")
    assert done == ["investigating", "closed"]
    assert calls == ["closed", "investigating", "closed"]
    assert counted(settings, "retried") == retried_before  # no attempt spent, no retry tier


def test_overtaken_with_nothing_waiting_is_a_failed_attempt_retried_later(
    settings: Settings, run_group
) -> None:
    calls: list[float] = []

    def handler(envelope: Envelope) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise Overtaken("the earlier message is elsewhere")

    group = run_group(handler)
    retried_before = counted(settings, "retried")
    Publisher(settings).publish(status_event("LC-2026-000010"))
    wait_for(lambda: group.handled == 2, timeout=15, what="the retried message handled")  # parked, then acked
    assert len(calls) == 2
    assert counted(settings, "retried") == retried_before + 1


def test_stop_lets_every_lane_finish_its_message(settings: Settings, run_group) -> None:
    finished: list[str] = []
    entered = threading.Semaphore(0)

    def slow(envelope: Envelope) -> None:
        entered.release()
        time.sleep(1.0)
        finished.append(envelope.data["reference"])

    group = run_group(slow)
    publisher = Publisher(settings)
    for i in range(LANES):
        publisher.publish(status_event(f"LC-2026-00002{i}"))
    for _ in range(LANES):
        assert entered.acquire(timeout=10), "a lane did not take its message"
    group.should_stop = True
    wait_for(lambda: group.handled == LANES, timeout=10, what="the messages in hand finished and acked")
    assert len(finished) == LANES


def test_a_lane_that_dies_stops_the_others_and_its_message_is_not_lost(settings: Settings) -> None:
    """An error no lane can handle (here SystemExit from a handler) ends `run` with that error,
    after stopping every lane, so the process exits and is restarted rather than running on with
    fewer lanes; the message it held, never acked, is delivered again to the next consumer."""
    seen: list[str] = []

    def dies(envelope: Envelope) -> None:
        seen.append(envelope.message_id)
        raise SystemExit("a lane dies")

    sub = Subscription(SPEC, {"case.status_changed": dies}, concurrency=LANES)
    group = ConsumerGroup(settings, [sub])
    raised: list[BaseException] = []

    def run() -> None:
        try:
            group.run()
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(group.is_ready, timeout=10, what="every lane consuming")
        event = status_event("LC-2026-000030")
        Publisher(settings).publish(event)
        thread.join(timeout=20)
        assert not thread.is_alive(), "the other lanes did not stop"
        assert len(raised) == 1 and isinstance(raised[0], SystemExit)
        assert all(lane.should_stop for lane in group.lanes)

        handled: list[str] = []
        again = ConsumerGroup(
            settings, [Subscription(SPEC, {"case.status_changed": lambda e: handled.append(e.message_id)})]
        )
        rerun = threading.Thread(target=again.run, daemon=True)
        rerun.start()
        wait_for(lambda: handled, timeout=15, what="the message delivered again")
        assert handled == [event.message_id]
        # Requeued as the dying lane closed its channel, it may have reached (and ended) others.
        assert set(seen) == {event.message_id} and len(seen) <= LANES
        again.should_stop = True
        rerun.join(timeout=10)
    finally:
        group.should_stop = True
        delete_broker_namespace(settings, (SPEC,))
