"""The events every case brings are planned and sent by the planning worker at once (issue 17,
item 3), without giving up what "How a message is never lost, and never has two effects" promises:
a redelivered event plans and sends nothing twice, a worker that died between planning and sending
is taken over once its lease has run out, what the SMTP server accepted is recorded "sent" however
long the database is away, and a replayed case.assigned never reopens a case in the digest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from devtools.smtp_sink import CapturingHandler
from devtools.tcp_proxy import TcpProxy
from services.notify import delivery, secrets
from services.notify.bootstrap import Notify, ensure_indexes
from services.notify.bootstrap import bootstrap as notify_bootstrap
from shared.config import Settings
from shared.messaging.envelope import Envelope, utcnow
from tests.support.notify_events import REFERENCE, event
from tests.support.stack import wait_for

LEASE = 0.6  # seconds: a takeover waits this, then the grace (as long, at most 5 s)


@pytest.fixture
def notify(stack_settings: Settings) -> Notify:
    running = notify_bootstrap(replace(stack_settings, notify_sending_lease=LEASE))
    ensure_indexes(running.db)
    return running


def commands_in_outbox(notify: Notify) -> list[Envelope]:
    return [
        Envelope(**row["envelope"]) for row in notify.db.outbox.find({"envelope.type": "notify.delivery_due"})
    ]


def send_until_done(notify: Notify, command: Envelope, timeout: float = 10.0) -> None:
    """Run a delivery command as the worker would, waiting out its `DeliveryBusy` answers."""
    deadline = utcnow() + timedelta(seconds=timeout)
    while True:
        try:
            delivery.send_delivery(notify, command)
            return
        except delivery.DeliveryBusy as busy:
            assert utcnow() < deadline, "the delivery stayed busy"
            threading.Event().wait(min(max(busy.delay, 0.05), 0.5))


def test_a_case_is_planned_and_sent_without_commands(notify: Notify, mailbox: CapturingHandler) -> None:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    delivery.handle_event(notify, event("case.assigned"))
    stored = list(notify.db.deliveries.find({"reference": REFERENCE}))
    assert len(stored) == 2 and {d["status"] for d in stored} == {"sent"}
    assert {d["attempts"] for d in stored} == {1}
    assert all("lease_until" not in d for d in stored)
    assert [e["outcome"] for d in stored for e in d["attempt_log"]] == ["sent", "sent"]
    assert len(mailbox.messages) == 2
    assert commands_in_outbox(notify) == []  # nothing went through the broker
    assert notify.db.processed.count_documents({}) == 0  # the deliveries' ids are the marker


def test_a_redelivered_event_plans_and_sends_nothing_twice(notify: Notify, mailbox: CapturingHandler) -> None:
    submitted = event("case.submitted", filer=None, filed_by="resident")
    assigned = event("case.assigned")
    for envelope in (submitted, assigned, submitted, assigned):
        delivery.handle_event(notify, envelope)
    assert notify.db.deliveries.count_documents({}) == 2
    # The second handling handed the deliveries it found to their commands, which find them sent.
    commands = commands_in_outbox(notify)
    assert len(commands) == 2
    for command in commands:
        delivery.send_delivery(notify, command)
    assert len(mailbox.messages) == 2
    assert {d["attempts"] for d in notify.db.deliveries.find()} == {1}


def test_a_worker_that_died_after_planning_is_taken_over_once(
    notify: Notify, mailbox: CapturingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    assigned = event("case.assigned")

    def die(*_: object) -> None:
        raise SystemExit("killed between planning and sending")

    with monkeypatch.context() as patched:
        patched.setattr(delivery, "_send_now", die)
        with pytest.raises(SystemExit):
            delivery.handle_event(notify, assigned)
    planned = list(notify.db.deliveries.find())
    assert len(planned) == 2 and {d["status"] for d in planned} == {"sending"}  # claimed, leased
    # The event was not acked: it comes again, finds its deliveries planned and hands them on.
    delivery.handle_event(notify, assigned)
    commands = commands_in_outbox(notify)
    assert len(commands) == 2 and mailbox.messages == []
    with pytest.raises(delivery.DeliveryBusy):  # the dead worker's lease still runs
        delivery.send_delivery(notify, commands[0])
    for command in commands:
        send_until_done(notify, command)
    stored = list(notify.db.deliveries.find())
    assert {d["status"] for d in stored} == {"sent"} and {d["attempts"] for d in stored} == {2}
    assert len(mailbox.messages) == 2


def test_a_tracking_link_carries_its_code_which_is_kept_apart_for_a_resend(
    notify: Notify, mailbox: CapturingHandler
) -> None:
    link = event("case.tracking_link")
    link.data["expires_at"] = (utcnow() + timedelta(days=7)).isoformat()
    delivery.handle_event(notify, link)
    code = link.data["code"]
    sent = list(notify.db.deliveries.find({"template": "tracking_link", "channel": "email"}))
    assert len(sent) == 1 and sent[0]["status"] == "sent"
    assert code not in str(sent[0])  # never in the delivery log
    assert code in mailbox.messages[0].get_body(("plain",)).get_content()
    secrets.SECRETS.flush()  # the background batch, now
    assert notify.db.delivery_secrets.find_one({"_id": sent[0]["_id"]})["code"] == code
    copy = delivery.resend(notify, sent[0]["_id"], requested_by="u-admin")
    [command] = [c for c in commands_in_outbox(notify) if c.data["delivery_id"] == copy["_id"]]
    delivery.send_delivery(notify, command)
    emails = [m for m in mailbox.messages if m["To"] == sent[0]["recipient"]["address"]]
    assert len(emails) == 2 and code in emails[1].get_body(("plain",)).get_content()


def test_a_replayed_assignment_never_reopens_a_closed_case(notify: Notify, mailbox: CapturingHandler) -> None:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    assigned = event("case.assigned")
    delivery.handle_event(notify, assigned)
    delivery.handle_event(notify, event("case.closed"))
    assert notify.db.studio_cases.find_one({"_id": REFERENCE})["open"] is False
    delivery.handle_event(notify, assigned)  # redelivered late
    assert notify.db.studio_cases.find_one({"_id": REFERENCE})["open"] is False
    later = event("case.assigned")
    later.data["assigned_at"] = "2026-12-01T09:00:00+00:00"  # a new assignment does reopen it
    delivery.handle_event(notify, later)
    projected = notify.db.studio_cases.find_one({"_id": REFERENCE})
    assert projected["open"] is True and projected["assigned_at"].isoformat().startswith("2026-12-01T09:00")


@pytest.fixture
def database_proxy(stack_settings: Settings) -> Iterator[TcpProxy]:
    parts = urlsplit(stack_settings.mongo_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 27017))
    yield proxy
    proxy.close()


def test_what_the_smtp_server_accepted_is_recorded_after_a_database_outage(
    stack_settings: Settings, mailbox: CapturingHandler, database_proxy: TcpProxy
) -> None:
    url = f"mongodb://127.0.0.1:{database_proxy.port}/?retryWrites=false&directConnection=true"
    notify = notify_bootstrap(replace(stack_settings, mongo_url=url, notify_sending_lease=LEASE))
    ensure_indexes(notify.db)
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    mailbox.after_accept = database_proxy.cut  # the database goes away as the first email is taken
    outcome: list[BaseException | None] = []

    def handle() -> None:
        try:
            delivery.handle_event(notify, event("case.assigned"))
            outcome.append(None)
        except BaseException as err:  # reported by the assertion below
            outcome.append(err)

    handling = threading.Thread(target=handle, daemon=True)
    handling.start()
    wait_for(lambda: mailbox.messages, timeout=10, what="the SMTP server accepting the first email")
    mailbox.after_accept = None
    threading.Event().wait(3 * LEASE)  # longer than the lease
    assert not outcome, f"the worker gave up while the database was away: {outcome}"
    database_proxy.restore()
    handling.join(timeout=30)
    assert outcome, "the worker never finished"
    stored = list(notify_bootstrap(stack_settings).db.deliveries.find())
    sent = [d for d in stored if d["status"] == "sent"]
    # The email accepted before the cut is recorded sent, once; nothing is sent twice.
    assert sent and all(d["attempts"] == 1 for d in sent)
    addresses = [str(m["To"]) for m in mailbox.messages]
    assert len(addresses) == len(set(addresses))
