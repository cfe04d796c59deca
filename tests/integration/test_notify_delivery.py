"""Notify's worker against real providers: SMTP (aiosmtpd), and local HTTP servers standing in for
the SMS gateway, WeChat Work robots and a webhook receiver that checks signatures. Failures are
injected — provider down, slow, 500 then 200, permanent refusal, duplicated events — and no
message is lost and none is sent twice."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kombu import Connection

from devtools.smtp_sink import CapturingHandler
from services.notify.bootstrap import SERVICE
from services.notify.channels.webhook import DELIVERY_HEADER
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import make_envelope
from shared.messaging.publisher import Publisher
from shared.messaging.topology import NOTIFY_DELIVERIES, Topology
from tests.integration.notify_fakes import FakeProvider, providers
from tests.support.notify_events import STUDIO, event
from tests.support.stack import Workers, wait_for

SECRET = "webhook-test-secret"


@pytest.fixture
def publish(stack_settings: Settings) -> Iterator:
    publisher = Publisher(stack_settings)
    yield publisher.publish
    publisher.close()


def deliveries(settings: Settings, **query) -> list[dict]:
    return list(get_database(settings, SERVICE).deliveries.find(query))


def start_notify(
    workers: Workers,
    sms: FakeProvider | None = None,
    hook: FakeProvider | None = None,
    duty: FakeProvider | None = None,
    timeout: float = 2.0,
) -> None:
    env = {"CHANNEL_TIMEOUT": str(timeout), "SMS_GATEWAY_TOKEN": "sms-token"}
    if sms:
        env["SMS_GATEWAY_URL"] = sms.url
    if hook:
        env["WEBHOOK_URLS"] = hook.url
        env["WEBHOOK_SECRET"] = SECRET
    if duty:
        env["WECHAT_WORK_WEBHOOK_URL"] = duty.url
    workers.start("notify", **env)


def settled(settings: Settings, count: int) -> list[dict]:
    """Wait until `count` deliveries exist and none is still on its way."""

    def done() -> list[dict] | None:
        found = deliveries(settings)
        if len(found) == count and all(d["status"] in ("sent", "failed") for d in found):
            return found
        return None

    return wait_for(done, timeout=20, what=f"{count} deliveries settled")


def test_every_channel_delivers_once_in_the_recipients_language(
    workers: Workers, stack_settings: Settings, mailbox: CapturingHandler, publish
) -> None:
    with providers(
        sms=FakeProvider(ok_body={"ok": True}),
        group=FakeProvider(),
        duty=FakeProvider(),
        hook=FakeProvider(secret=SECRET),
    ) as fake:
        start_notify(workers, sms=fake["sms"], hook=fake["hook"], duty=fake["duty"])
        studio = {**STUDIO, "wechat_webhook": fake["group"].url}
        publish(event("case.submitted", language="en"))
        publish(event("case.assigned", studio=studio, risk_level="red"))
        publish(event("session.scheduled", studio=studio))
        # assigned: studio email+group, applicant email+sms, filer email+sms, duty group, webhook;
        # submitted: filer email+sms, webhook; session: 2 parties x 2, mediator email, webhook.
        found = settled(stack_settings, 8 + 3 + 6)
        assert {d["status"] for d in found} == {"sent"} and {d["attempts"] for d in found} == {1}

        applicant_mail = wait_for(lambda: mailbox.to("zhang@example.com"), what="applicant mail")
        assert len(applicant_mail) == 2  # assigned + session
        invitation = next(m for m in applicant_mail if "session" in str(m["Subject"]).lower())
        assert invitation.get_body(preferencelist=("plain",)).get_content().startswith("Dear 张三")
        assert "<!DOCTYPE html>" in invitation.get_body(preferencelist=("html",)).get_content()
        ics = [part for part in invitation.iter_attachments() if part.get_filename() == "session.ics"]
        assert ics and "UID:s-1@concord.local" in ics[0].get_content()
        assert len(mailbox.to("li@example.com")) == 1 and len(mailbox.to("zhao@studios.example")) == 1
        assert len(mailbox.to("wang@example.com")) == 2 and len(mailbox.to("zhihe@studios.example")) == 1

        texts = [r.json() for r in fake["sms"].accepted()]
        assert sorted(t["to"] for t in texts) == sorted(
            ["13600136000", "13600136000", "13800138000", "13800138000", "13900139000"]
        )
        assert all(r.headers["Authorization"] == "Bearer sms-token" for r in fake["sms"].accepted())
        assert all(t["client_ref"] and "LC-2026-000042" in t["text"] for t in texts)
        assert any(t["text"].startswith("Concord:") for t in texts)  # English for the English case

        group = fake["group"].accepted()
        assert len(group) == 1 and group[0].json()["msgtype"] == "markdown"
        assert "LC-2026-000042" in group[0].json()["markdown"]["content"]
        duty = fake["duty"].accepted()
        assert len(duty) == 1 and "红色预警" in duty[0].json()["markdown"]["content"]

        hooks = fake["hook"].accepted()  # the fake refuses any request with a bad signature
        assert sorted(h.json()["event"] for h in hooks) == [
            "case.assigned",
            "case.submitted",
            "session.scheduled",
        ]
        assert all(h.headers[DELIVERY_HEADER] == h.json()["id"] for h in hooks)

        time.sleep(1.0)  # nothing more arrives, however long we wait
        assert (
            len(mailbox.messages) == 7 and len(fake["sms"].received) == 5 and len(fake["hook"].received) == 3
        )


def test_provider_answering_500_then_200_gets_the_message_exactly_once(
    workers: Workers, stack_settings: Settings, publish
) -> None:
    with providers(sms=FakeProvider(script=[500, 503])) as fake:
        start_notify(workers, sms=fake["sms"])
        publish(event("case.submitted", filer=None, filed_by="resident"))
        publish(event("case.status_changed"))
        found = settled(stack_settings, 2)  # applicant email + sms
        sms = next(d for d in found if d["channel"] == "sms")
        assert sms["status"] == "sent" and sms["attempts"] == 3
        assert [a["outcome"] for a in sms["attempt_log"]] == ["retrying", "retrying", "sent"]
        assert "HTTP 500" in sms["attempt_log"][0]["error"] and sms["provider_response"].startswith(
            "HTTP 200"
        )
        assert len(fake["sms"].received) == 3 and len(fake["sms"].accepted()) == 1


def test_provider_down_is_retried_then_dead_lettered_and_visible_without_blocking_others(
    workers: Workers, stack_settings: Settings, mailbox: CapturingHandler, publish
) -> None:
    down = FakeProvider()  # never started: connection refused
    studio = {**STUDIO, "wechat_webhook": down.url}
    start_notify(workers)
    publish(event("case.submitted", filer=None, filed_by="resident"))
    publish(event("case.assigned", studio=studio))
    found = settled(stack_settings, 3)  # studio email + group, applicant email
    group = next(d for d in found if d["channel"] == "wechat_work")
    assert group["status"] == "failed" and group["dead_lettered"] is True
    assert group["attempts"] == len(stack_settings.retry_delays) + 1
    assert "unreachable" in group["last_error"] or "gave up" in group["last_error"]
    assert [d["status"] for d in found if d["channel"] == "email"] == ["sent", "sent"]
    assert len(mailbox.messages) == 2
    topology = Topology(stack_settings)
    with Connection(stack_settings.broker_url) as conn:
        dead = conn.SimpleQueue(topology.dead_queue(NOTIFY_DELIVERIES))
        parked = dead.get(timeout=5)
        assert parked.payload["data"]["delivery_id"] == group["_id"]
        parked.ack()
        dead.close()


def test_hanging_provider_times_out_without_holding_up_other_deliveries(
    workers: Workers, stack_settings: Settings, mailbox: CapturingHandler, publish
) -> None:
    with providers(hook=FakeProvider(secret=SECRET, script=[("sleep", 3.0)])) as fake:
        start_notify(workers, hook=fake["hook"], timeout=0.5)
        publish(event("case.submitted", filer=None, filed_by="resident"))
        started = time.monotonic()
        publish(event("case.assigned"))
        wait_for(lambda: len(mailbox.messages) == 2, timeout=10, what="both emails")
        assert time.monotonic() - started < 3.0  # not waiting for the 3 s hang
        found = settled(stack_settings, 4)  # 2 webhooks, 2 emails (SMS is not configured here)
        hooks = [d for d in found if d["channel"] == "webhook"]
        assert {d["status"] for d in hooks} == {"sent"}
        slow = next(d for d in hooks if d["attempts"] > 1)
        assert "timed out" in slow["attempt_log"][0]["error"]
        # The receiver keys on the delivery id, the same on every try: each event is taken once.
        assert len(fake["hook"].accepted_deliveries()) == 2


def test_permanent_refusals_are_not_retried(
    workers: Workers, stack_settings: Settings, mailbox: CapturingHandler, publish
) -> None:
    with providers(sms=FakeProvider(script=[400])) as fake:
        start_notify(workers, sms=fake["sms"])
        mailbox.fail_next.append("550 5.1.1 No such user")
        publish(event("case.submitted", filer=None, filed_by="resident"))
        publish(event("case.status_changed"))
        found = settled(stack_settings, 2)
        assert {(d["channel"], d["status"], d["attempts"]) for d in found} == {
            ("email", "failed", 1),
            ("sms", "failed", 1),
        }
        assert "550" in next(d for d in found if d["channel"] == "email")["last_error"]
        time.sleep(1.0)  # longer than every retry tier: nothing comes back
        assert len(fake["sms"].received) == 1 and mailbox.messages == []


def test_redelivered_events_and_commands_never_send_twice(
    workers: Workers, stack_settings: Settings, mailbox: CapturingHandler, publish
) -> None:
    start_notify(workers)
    submitted = event("case.submitted", filer=None, filed_by="resident")
    assigned = event("case.assigned")
    for envelope in (submitted, assigned, submitted, assigned):
        publish(envelope)
    found = settled(stack_settings, 2)
    for d in found:  # a duplicated send command as well
        publish(make_envelope("notify.delivery_due", {"delivery_id": d["_id"]}, source="test"))
    time.sleep(1.5)
    assert len(mailbox.messages) == 2
    assert {d["attempts"] for d in deliveries(stack_settings)} == {1}
