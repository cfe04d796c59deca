"""Waiting is not failing: a message that cannot be handled *yet* (its delivery is leased by a
worker that died, the database is down, a dead process's transaction still holds a document)
waits in the retry queues without using up its attempts, so it is never dead-lettered for it.

Found by the fault-injection tests (tests/faults): a notify worker killed mid-send left its
delivery leased; the redelivered command hit the lease on every attempt and the delivery was
dead-lettered and marked failed, so the email was never sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from services.notify.bootstrap import bootstrap as notify_bootstrap
from services.notify.delivery import DeliveryBusy, send_delivery, takeover_grace
from shared.config import Settings
from shared.messaging.consumer import ATTEMPT_HEADER, DEFERRALS_HEADER, RetryLater
from shared.messaging.envelope import Envelope, make_envelope, utcnow
from shared.messaging.publisher import Publisher
from shared.messaging.topology import Topology
from tests.integration.test_backbone_poison import drain
from tests.integration.test_backbone_retry import SPEC, run_consumer, status_event  # noqa: F401
from tests.support.stack import wait_for

LEASE = 1.5  # seconds; the takeover grace is as long
FAILURES = 6  # more than the attempts the test settings allow (1 + 2 retry tiers)


def write_conflict() -> OperationFailure:
    return OperationFailure(
        "WriteConflict", code=112, details={"errorLabels": ["TransientTransactionError"], "code": 112}
    )


def test_waiting_messages_keep_their_attempts_and_are_never_dead_lettered(
    settings: Settings,
    run_consumer,  # noqa: F811
) -> None:
    reasons = [
        RetryLater("leased elsewhere", delay=0.1),
        ServerSelectionTimeoutError("db down"),
        write_conflict(),
    ]
    calls: list[int] = []

    def not_yet(envelope: Envelope) -> None:
        calls.append(1)
        if len(calls) <= FAILURES:
            raise reasons[len(calls) % len(reasons)]

    consumer = run_consumer(not_yet)
    Publisher(settings).publish(status_event())
    wait_for(lambda: len(calls) > FAILURES and consumer.handled >= FAILURES + 1, timeout=20, what="success")
    assert len(calls) == FAILURES + 1
    assert drain(settings, Topology(settings).dead_queue_name(SPEC)) == []


def test_a_real_failure_still_dead_letters_after_its_attempts(settings: Settings, run_consumer) -> None:  # noqa: F811
    calls: list[int] = []

    def broken(envelope: Envelope) -> None:
        calls.append(1)
        raise ValueError("a bug, not a wait")

    run_consumer(broken)
    Publisher(settings).publish(status_event())
    dead = wait_for(
        lambda: drain(settings, Topology(settings).dead_queue_name(SPEC)), timeout=15, what="dead"
    )
    assert len(calls) == 1 + len(settings.retry_delays)
    assert dead[0].headers[ATTEMPT_HEADER] == len(settings.retry_delays)
    assert DEFERRALS_HEADER not in dead[0].headers


def test_delivery_leased_by_a_dead_worker_is_taken_over_when_the_lease_ends(settings: Settings, smtp) -> None:
    mailbox, port = smtp
    notify = notify_bootstrap(replace(_with_smtp(settings, port), notify_sending_lease=LEASE))
    now = utcnow()
    notify.db.deliveries.insert_one(
        {
            "_id": "d1",
            "reference": "LC-2026-000001",
            "channel": "email",
            "recipient": {"key": "applicant:0", "audience": "applicants", "address": "a@example.com"},
            "content": {"subject": "LC-2026-000001", "body": "hello"},
            "status": "sending",  # claimed by a worker that was then killed
            "lease_until": now + timedelta(seconds=LEASE),
            "attempts": 1,
            "attempt_log": [],
        }
    )
    command = make_envelope("notify.delivery_due", {"delivery_id": "d1"}, source="test")
    try:
        send_delivery(notify, command)
    except DeliveryBusy as busy:
        assert isinstance(busy, RetryLater)
        assert 0.5 < busy.delay <= 1.5  # come back when the lease ends
    else:
        raise AssertionError("a leased delivery must not be sent again before its lease ends")
    assert mailbox.messages == []
    wait_for(lambda: utcnow() > now + timedelta(seconds=1.6), timeout=5)
    # The lease ended: the takeover waits its grace first, in case the sender is alive and only
    # waiting for the database to record what it sent (tests/integration/test_notify_sent_record.py).
    with pytest.raises(DeliveryBusy) as grace:
        send_delivery(notify, command)
    assert 0 < grace.value.delay <= takeover_grace(LEASE)
    assert mailbox.messages == []
    wait_for(lambda: utcnow() > now + timedelta(seconds=1.7 + takeover_grace(LEASE)), timeout=5)
    send_delivery(notify, command)
    assert len(mailbox.messages) == 1
    assert notify.db.deliveries.find_one({"_id": "d1"})["status"] == "sent"


def _with_smtp(settings: Settings, port: int) -> Settings:
    return replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
