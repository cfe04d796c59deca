"""Once a provider accepted a message, notify keeps what it knows (issue 17, item 1).

The SMTP server takes the message, and at that very moment the database becomes unreachable
(the line to it is cut by a TCP proxy) for longer than the delivery's lease. The sending worker
must keep trying to record the delivery as sent until the database answers, and a second worker
that finds the lease run out once the database is back must not send it again: one copy only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from pymongo.errors import ConnectionFailure

from devtools.smtp_sink import CapturingHandler
from devtools.tcp_proxy import TcpProxy
from services.notify.bootstrap import bootstrap as notify_bootstrap
from services.notify.delivery import DeliveryBusy, send_delivery, takeover_grace
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import make_envelope, utcnow
from tests.support.stack import wait_for

LEASE = 1.0  # seconds; the outage below lasts longer
OUTAGE = 3.0


@pytest.fixture
def database_proxy(settings: Settings) -> Iterator[TcpProxy]:
    parts = urlsplit(settings.mongo_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 27017))
    yield proxy
    proxy.close()


def via(proxy: TcpProxy, settings: Settings) -> Settings:
    """The settings of a worker that reaches the database through `proxy` only."""
    url = f"mongodb://127.0.0.1:{proxy.port}/?retryWrites=false&directConnection=true"
    return replace(settings, mongo_url=url, notify_sending_lease=LEASE)


def planned_delivery(settings: Settings, did: str, address: str) -> None:
    get_database(settings, "notify").deliveries.insert_one(
        {
            "_id": did,
            "reference": "LC-2026-000042",
            "channel": "email",
            "recipient": {"key": "applicant:0", "audience": "applicants", "address": address},
            "content": {"subject": "LC-2026-000042", "body": "Your case was received."},
            "status": "pending",
            "attempts": 0,
            "attempt_log": [],
            "created_at": utcnow(),
        }
    )


def test_sent_is_recorded_after_a_database_outage_and_never_sent_again(
    stack_settings: Settings, mailbox: CapturingHandler, database_proxy: TcpProxy
) -> None:
    worker_settings = via(database_proxy, stack_settings)
    sender, contender = notify_bootstrap(worker_settings), notify_bootstrap(worker_settings)
    planned_delivery(stack_settings, "d-outage", "a@example.com")
    command = make_envelope("notify.delivery_due", {"delivery_id": "d-outage"}, source="test")
    cut_at: list[float] = []

    def cut_database() -> None:
        database_proxy.cut()
        cut_at.append(1)

    mailbox.after_accept = cut_database
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            send_delivery(sender, command)
            outcome.append(None)
        except BaseException as err:  # reported by the assertion below
            outcome.append(err)

    sending = threading.Thread(target=send, daemon=True)
    sending.start()
    wait_for(lambda: cut_at, timeout=10, what="the SMTP server accepting the message")
    # The lease runs out while the database is away; a second worker cannot even look.
    with pytest.raises(ConnectionFailure):
        send_delivery(contender, command)
    threading.Event().wait(OUTAGE)
    assert not outcome, f"the sender gave up while the database was away: {outcome}"
    database_proxy.restore()
    # Back: whichever worker gets there first, the second one never sends the message again.
    deadline = utcnow() + timedelta(seconds=15)
    while utcnow() < deadline:
        try:
            send_delivery(contender, command)
            break
        except DeliveryBusy as busy:
            assert busy.delay <= takeover_grace(LEASE) + 0.01
            threading.Event().wait(min(busy.delay, 0.2))
        except ConnectionFailure:
            threading.Event().wait(0.1)
    sending.join(timeout=15)
    assert outcome == [None]
    stored = get_database(stack_settings, "notify").deliveries.find_one({"_id": "d-outage"})
    assert stored["status"] == "sent"
    assert stored["attempts"] == 1
    assert [entry["outcome"] for entry in stored["attempt_log"]] == ["sent"]
    assert "lease_until" not in stored and "takeover_after" not in stored
    assert len(mailbox.to("a@example.com")) == 1


def test_a_sender_that_outlived_its_lease_wins_over_a_takeover(
    stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    """The takeover grace: a worker finding the lease run out waits before claiming, and a sender
    that records "sent" meanwhile (the database was back) makes the takeover a no-op."""
    notify = notify_bootstrap(replace(stack_settings, notify_sending_lease=LEASE))
    deliveries = get_database(stack_settings, "notify").deliveries
    planned_delivery(stack_settings, "d-grace", "b@example.com")
    expired = utcnow() - timedelta(seconds=5)
    deliveries.update_one(
        {"_id": "d-grace"}, {"$set": {"status": "sending", "lease_until": expired, "attempts": 1}}
    )
    command = make_envelope("notify.delivery_due", {"delivery_id": "d-grace"}, source="test")
    with pytest.raises(DeliveryBusy) as busy:
        send_delivery(notify, command)
    assert 0 < busy.value.delay <= takeover_grace(LEASE)
    assert deliveries.find_one({"_id": "d-grace"})["takeover_after"] > utcnow()
    with pytest.raises(DeliveryBusy):  # still within the grace
        send_delivery(notify, command)
    # The sender that outlived its lease records its success within the grace.
    deliveries.update_one(
        {"_id": "d-grace"},
        {"$set": {"status": "sent"}, "$unset": {"lease_until": "", "takeover_after": ""}},
    )
    threading.Event().wait(takeover_grace(LEASE) + 0.1)
    send_delivery(notify, command)
    assert mailbox.to("b@example.com") == []
