"""Lanes of a worker's consumers: which queues each lane takes, its prefetch, and the per-key
order of messages handled by several lanes at once."""

from __future__ import annotations

import threading
import time

import pytest

from services.notify.bootstrap import Notify
from services.notify.worker import case_of, subscriptions
from shared.config import Settings
from shared.messaging.consumer import KeyedLocks, Subscription, lanes_of, prefetch_of
from shared.messaging.envelope import Envelope
from shared.messaging.topology import MEDIATION_INTAKE, NOTIFY_DELIVERIES, NOTIFY_EVENTS, NOTIFY_RETENTION


def _sub(spec, concurrency: int = 1) -> Subscription:
    return Subscription(spec, {}, concurrency=concurrency)


def test_lane_i_takes_the_queues_whose_concurrency_exceeds_i() -> None:
    events, deliveries, retention = _sub(NOTIFY_EVENTS, 3), _sub(NOTIFY_DELIVERIES, 2), _sub(NOTIFY_RETENTION)
    lanes = lanes_of([events, deliveries, retention])
    assert lanes == [[events, deliveries, retention], [events, deliveries], [events]]


def test_one_lane_when_every_queue_has_concurrency_one() -> None:
    subs = [_sub(MEDIATION_INTAKE), _sub(NOTIFY_RETENTION)]
    assert lanes_of(subs) == [subs]


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _sub(NOTIFY_EVENTS, 0)


def test_a_lone_lane_prefetches_as_configured_lanes_one_each() -> None:
    settings = Settings(consumer_prefetch=16)
    assert prefetch_of(_sub(NOTIFY_EVENTS), settings) == 16
    assert prefetch_of(_sub(NOTIFY_EVENTS, 4), settings) == 1


def test_notify_handles_events_and_deliveries_on_its_configured_lanes() -> None:
    notify = Notify(Settings(notify_consumers=3, db_prefix="lanes_unit"))
    by_queue = {sub.spec.name: sub for sub in subscriptions(notify)}
    assert by_queue[NOTIFY_EVENTS.name].concurrency == 3
    assert by_queue[NOTIFY_DELIVERIES.name].concurrency == 3
    assert by_queue[NOTIFY_RETENTION.name].concurrency == 1  # erasures: rare, one at a time
    assert by_queue[NOTIFY_EVENTS.name].ordering_key is case_of


def test_notify_defaults_to_four_lanes() -> None:
    assert Settings().notify_consumers == 4


def _event(event_type: str, data: dict) -> Envelope:
    return Envelope("m1", event_type, "2026-01-01T00:00:00+00:00", "test", "c1", 1, data)


def test_a_case_s_events_share_one_key_other_cases_and_unkeyed_events_do_not() -> None:
    submitted = _event("case.submitted", {"reference": "LC-2026-000001"})
    assigned = _event("case.assigned", {"reference": "LC-2026-000001"})
    other = _event("case.assigned", {"reference": "LC-2026-000002"})
    assert case_of(submitted) == case_of(assigned) == "LC-2026-000001"
    assert case_of(other) != case_of(assigned)
    assert case_of(_event("council.consultation_opened", {"consultation_id": "c1"})) == "c1"
    assert case_of(_event("case.assigned", {})) is None  # nothing to order by: no lock


def test_keyed_locks_serialize_one_key_and_let_others_run_at_once() -> None:
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    guard = threading.Lock()

    def work(key: str) -> None:
        with locks.hold(key):
            with guard:
                inside[key] += 1
                most[key] = max(most[key], inside[key])
            time.sleep(0.02)
            with guard:
                inside[key] -= 1

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(key,)) for key in "aaaabbbb"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == {"a": 1, "b": 1}  # never two of one key at once
    assert time.monotonic() - started < 0.16 * 0.9 + 0.05  # the two keys ran side by side
    assert len(locks) == 0  # nothing kept once no one holds or waits


def test_no_key_means_no_lock() -> None:
    locks = KeyedLocks()
    with locks.hold(None), locks.hold(None):  # would deadlock if None were a key
        assert len(locks) == 0


def test_a_key_is_released_when_its_handler_raises() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError), locks.hold("a"):
        raise RuntimeError("handler failed")
    with locks.hold("a"):
        assert len(locks) == 1
    assert len(locks) == 0
