# Chinese message text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The deadline job's judicial-confirmation reminders (PML Art 33), on the real database and broker:
a signed written agreement is reminded 23 and 30 days after signing, each reminder once even with
several replicas of the job at once (threads and processes), never after the window closed, never
once confirmation was applied for or the case archived; and notify really delivers them to the
parties and the mediator, saying the day the window closes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools.smtp_sink import CapturingHandler
from services.mediation import agreements, deadlines, desk
from services.mediation.bootstrap import Mediation, bootstrap
from services.mediation.domain import lifecycle as lc
from shared.config import Settings
from tests.integration.conftest import CASE
from tests.integration.notify_fakes import FakeProvider
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, ZHOU, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
SIGNED = datetime(2026, 3, 6, 16, tzinfo=SH)  # day 23 is 29 March; day 30, the last, 5 April
DRAFT = {
    "facts": "李四装修噪音扰民。",
    "issues": "施工时间。",
    "responsibility": "李四负主要责任。",
    "terms": "每日20时后停止施工。",
    "performance_method": "自觉履行",
    "performance_place": "莲花社区",
    "performance_deadline": "签订之日起",
}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def _to_agreement(m: Mediation, reference: str, mediator: Any, at: datetime) -> None:
    """Take the case, explain rights, mediate, draft the agreement (everything before `at`)."""
    desk.take(m, reference, mediator, now=at)
    desk.apply_action(m, reference, mediator, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]}, now=at)
    desk.apply_action(m, reference, mediator, lc.START_MEDIATION, now=at)
    m.db.cases.update_one({"_id": reference}, {"$push": {"parties": {"role": "respondent", "name": "李四"}}})
    agreements.save_draft(m, reference, mediator, DRAFT)


def signed_case(m: Mediation, signed: datetime = SIGNED) -> str:
    reference = accepted_case(m, now=signed - timedelta(days=10))
    _to_agreement(m, reference, MEDIATOR, signed - timedelta(days=1))
    agreements.sign(m, reference, MEDIATOR, now=signed)
    return reference


def reminders(m: Mediation, reference: str) -> list[dict[str, Any]]:
    return events(m, "agreement.confirmation_due", reference)


def _run_in_threads(m: Mediation, now: datetime, count: int = 2) -> list[int]:
    barrier = threading.Barrier(count)
    claimed: list[int] = []

    def run() -> None:
        barrier.wait()
        claimed.append(deadlines.run_once(m, now=now).reminded)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return claimed


def _job_replica(settings: Settings, now: datetime, start: Any, results: Any) -> None:
    """One replica of the deadline job in its own process, with its own database and broker
    clients (as in a second worker pod)."""
    replica = bootstrap(settings)
    start.wait(timeout=60)
    results.put(deadlines.run_once(replica, now=now).reminded)


def _run_in_processes(settings: Settings, now: datetime, count: int = 2) -> list[int]:
    context = multiprocessing.get_context("spawn")  # pymongo clients must not cross a fork
    start, results = context.Barrier(count), context.Queue()
    processes = [
        context.Process(target=_job_replica, args=(settings, now, start, results)) for _ in range(count)
    ]
    for p in processes:
        p.start()
    claimed = [results.get(timeout=90) for _ in processes]
    for p in processes:
        p.join(timeout=30)
        assert p.exitcode == 0
    return claimed


def test_reminders_on_day_23_and_30_once_each_across_replicas_delivered_by_notify(
    stack_settings: Settings,
    workers: Workers,
    intake_client,
    mailbox: CapturingHandler,
    mediation: Mediation,
) -> None:
    sms = FakeProvider(ok_body={"ok": True}).start()
    try:
        _reminder_path(stack_settings, workers, intake_client, mailbox, mediation, sms)
    finally:
        sms.stop()


def _reminder_path(
    settings: Settings,
    workers: Workers,
    intake_client,
    mailbox: CapturingHandler,
    mediation: Mediation,
    sms: FakeProvider,
) -> None:
    workers.start("intake")
    workers.start("mediation", DESK_JOB_INTERVAL="3600")  # the test runs the job's replicas itself
    workers.start("notify", SMS_GATEWAY_URL=sms.url, SMS_GATEWAY_TOKEN="sms-token")
    reference = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    wait_for(lambda: mediation.db.cases.find_one({"_id": reference}), timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    _to_agreement(mediation, reference, ZHOU, datetime.now(UTC))  # zhou has an email address
    agreements.sign(mediation, reference, ZHOU)
    # Signed in the past: the 30 days of the window are run through with the job's `now`.
    mediation.db.cases.update_one({"_id": reference}, {"$set": {"agreement.signed_at": SIGNED}})

    assert deadlines.run_once(mediation, now=local(2026, 3, 29, 8, 59)).reminded == 0
    # Day 23: two replicas at once, then the job again, twice.
    assert sorted(_run_in_threads(mediation, local(2026, 3, 29, 10))) == [0, 1]
    assert deadlines.run_once(mediation, now=local(2026, 3, 29, 10, 1)).reminded == 0
    assert deadlines.run_once(mediation, now=local(2026, 4, 4, 23)).reminded == 0
    [first] = reminders(mediation, reference)
    assert (first["reminder_day"], first["final"], first["last_day"]) == (23, False, "2026-04-05")
    assert datetime.fromisoformat(first["deadline"]) == local(2026, 4, 6)  # exclusive
    assert [m["user_id"] for m in first["mediators"]] == ["zhou"] and first["mediators"][0]["email"]
    # Day 30, the window's last day: two replicas in two processes, then once more.
    assert sorted(_run_in_processes(settings, local(2026, 4, 5, 12))) == [0, 1]
    assert deadlines.run_once(mediation, now=local(2026, 4, 5, 12, 1)).reminded == 0
    # The window has closed: nothing more.
    assert deadlines.run_once(mediation, now=local(2026, 4, 6, 0, 30)).reminded == 0
    first, last = reminders(mediation, reference)
    assert (last["reminder_day"], last["final"], last["last_day"]) == (30, True, "2026-04-05")
    assert mediation.db.escalations.count_documents({"kind": "confirmation_reminder"}) == 2
    case = mediation.db.cases.find_one({"_id": reference})
    assert [e.get("day") for e in case["timeline"] if e["action"] == "confirmation_reminder"] == [23, 30]

    # Notify delivers both to the applicant (email), the respondent (SMS) and the mediator (email).
    def about_confirmation(address: str) -> list[Any]:
        return [m for m in mailbox.to(address) if "司法确认" in str(m["Subject"])]

    def texts() -> list[str]:
        return [r.json()["text"] for r in sms.accepted() if r.json()["to"] == "13900139000"]

    for address in ("zhang@example.com", "zhou@x.cn"):
        wait_for(
            lambda a=address: len(about_confirmation(a)) == 2, timeout=30, what=f"two reminders to {address}"
        )
    wait_for(lambda: len([t for t in texts() if "司法确认" in t]) == 2, timeout=30, what="two texts")
    time.sleep(1.0)  # a duplicate would have arrived by now
    for address in ("zhang@example.com", "zhou@x.cn"):
        week, today = sorted(about_confirmation(address), key=lambda m: "今天" in str(m["Subject"]))
        assert "2026年4月5日" in str(week["Subject"]) and "今天" in str(today["Subject"])
        assert (
            "申请期限至2026年4月5日（含当日）届满" in week.get_body(preferencelist=("plain",)).get_content()
        )
        assert (
            "今天（2026年4月5日）是申请期限的最后一天"
            in today.get_body(preferencelist=("plain",)).get_content()
        )
    reminder_texts = [t for t in texts() if "司法确认" in t]
    assert len(reminder_texts) == 2 and all("2026年4月5日" in t for t in reminder_texts)


def test_no_reminder_once_confirmation_is_applied_for_or_the_case_archived(mediation) -> None:
    applied, archived, breached, plain = (signed_case(mediation) for _ in range(4))
    desk.apply_action(mediation, applied, MEDIATOR, lc.APPLY_CONFIRMATION, {"court": "某区人民法院"})
    desk.apply_action(mediation, archived, LEAD, lc.ARCHIVE)
    # A breached agreement is when confirmation matters most: follow-up does not stop reminders.
    desk.apply_action(mediation, breached, MEDIATOR, lc.RECORD_BREACHED, {"note": "未按期付款"})
    assert deadlines.run_once(mediation, now=local(2026, 3, 29, 10)).reminded == 2
    assert reminders(mediation, applied) == [] and reminders(mediation, archived) == []
    assert [r["reminder_day"] for r in reminders(mediation, breached)] == [23]
    assert [r["reminder_day"] for r in reminders(mediation, plain)] == [23]
    # The parties of `plain` apply before the last day: no day-30 reminder for them.
    desk.apply_action(mediation, plain, MEDIATOR, lc.APPLY_CONFIRMATION, {"court": "某区人民法院"})
    assert deadlines.run_once(mediation, now=local(2026, 4, 5, 10)).reminded == 1
    assert [r["reminder_day"] for r in reminders(mediation, breached)] == [23, 30]
    assert [r["reminder_day"] for r in reminders(mediation, plain)] == [23]


def test_the_studio_reminder_schedule_is_followed(mediation) -> None:
    # Configured per studio, as the one-month period is (a studio's registry entry).
    mediation.db.studios.update_one(
        {"_id": "zhihe"}, {"$set": {"confirmation_reminder_days": [27, 20], "confirmation_reminder_hour": 10}}
    )
    reference = signed_case(mediation)
    sent = [
        deadlines.run_once(mediation, now=now).reminded
        for now in (
            local(2026, 3, 26, 9, 59),  # day 20, before 10:00
            local(2026, 3, 26, 10),  # day 20
            local(2026, 3, 29, 10),  # day 23: not in this studio's schedule
            local(2026, 4, 2, 10),  # day 27
            local(2026, 4, 5, 10),  # day 30: not in this studio's schedule
        )
    ]
    assert sent == [0, 1, 0, 1, 0]
    assert [(r["reminder_day"], r["final"]) for r in reminders(mediation, reference)] == [
        (20, False),
        (27, False),
    ]
