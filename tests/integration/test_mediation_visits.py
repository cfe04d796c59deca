"""Follow-up after an ending (回访, issue 14.3) on the real database: an ending gives one visit task
per party in its own transaction (not for cases not accepted); the desk's lists show each member of
staff their tasks; a visit is recorded once, refused with nothing changed when it is another
studio's, a colleague's, incomplete or repeated; a renewed conflict raises the risk and tells the
lead; a visit that found the agreement performed counts in the MoJ report, and satisfaction beside
it; agreement terms with a due date give a term-check task and a reminder once across replicas.
The whole path through the real notify worker is at the end."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools.smtp_sink import CapturingHandler
from services.mediation import agreements, deadlines, desk, reports, routing, visits
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from shared.config import Settings
from tests.integration.conftest import CASE
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, OTHER, T0, ZHOU, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_routing import submitted
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor("admin", frozenset({"district_admin"}))
TWO_PARTIES = [
    {"role": "applicant", "name": "张三", "phone": "13800138000"},
    {"role": "respondent", "name": "李四", "phone": "13900139000"},
]
DRAFT = {
    "facts": "李四装修噪音扰民。",
    "issues": "施工时间。",
    "responsibility": "李四负主要责任。",
    "terms": "每日20时后停止施工。\n李四向张三赔偿500元。",
    "term_dues": ["", "2026-12-10"],
    "performance_method": "自觉履行",
    "performance_place": "莲花社区",
    "performance_deadline": "签订之日起",
}
VISIT = {
    "how": "phone",
    "performed": "performed",
    "satisfied": 4,
    "renewed_conflict": False,
    "note": "已履行",
}


def tasks(m: Mediation, reference: str) -> list[dict[str, Any]]:
    return list(m.db.follow_up_tasks.find({"case_id": reference}).sort("_id"))


def in_mediation(m: Mediation, mediator: Actor = MEDIATOR, at: datetime = T0) -> str:
    reference = accepted_case(m, now=at, parties=TWO_PARTIES)
    desk.take(m, reference, mediator, now=at)
    desk.apply_action(m, reference, mediator, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]}, now=at)
    desk.apply_action(m, reference, mediator, lc.START_MEDIATION, now=at)
    return reference


def oral_agreement(m: Mediation, at: datetime = T0) -> str:
    reference = in_mediation(m, at=at)
    desk.apply_action(m, reference, MEDIATOR, lc.AGREE_ORAL, {"content": "停止夜间施工"}, now=at)
    return reference


def snapshot(m: Mediation, reference: str) -> tuple[Any, ...]:
    return (m.db.cases.find_one({"_id": reference}), tasks(m, reference), m.db.outbox.count_documents({}))


def test_endings_give_one_visit_per_party_due_after_the_studio_days(mediation) -> None:
    mediation.db.studios.update_one({"_id": "zhihe"}, {"$set": {"follow_up_days": 10}})
    ended_at = T0 + timedelta(days=3)
    failed = in_mediation(mediation)
    desk.apply_action(mediation, failed, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉"}, now=ended_at)
    applicant, respondent = tasks(mediation, failed)
    assert [applicant["_id"], respondent["_id"]] == [
        f"{failed}:visit:applicant-1",
        f"{failed}:visit:respondent-1",
    ]
    for task in (applicant, respondent):
        assert (task["kind"], task["assignee"], task["assignee_role"]) == ("visit", "mediator", "mediator")
        assert task["due"] == ended_at + timedelta(days=10) and task["done_at"] is None
        assert task["studio"] == "zhihe" and task["detail"]["outcome"] == "failed"
        assert "张三" not in str(task) and "13800138000" not in str(task)  # never a name or a phone
    # Not accepted: the parties were referred at screening; no visits.
    declined = desk_declined(mediation)
    assert tasks(mediation, declined) == []
    # Withdrawn from the pool, no mediator named: the studio lead's tasks.
    withdrawn = accepted_case(mediation, parties=TWO_PARTIES)
    desk.apply_action(mediation, withdrawn, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"}, now=ended_at)
    assert {(t["assignee"], t["assignee_role"]) for t in tasks(mediation, withdrawn)} == {
        (None, "studio_lead")
    }
    assert len(tasks(mediation, withdrawn)) == 2
    # A refused ending (a failing transaction) leaves no task behind.
    refused = in_mediation(mediation)
    with pytest.raises(desk.Invalid):
        desk.apply_action(mediation, refused, MEDIATOR, lc.FAIL, {"note": ""})
    assert tasks(mediation, refused) == []


def desk_declined(m: Mediation) -> str:
    """A case the lead declined at screening (not accepted, with a referral)."""
    event = submitted(parties=TWO_PARTIES)
    routing.on_case_submitted(m, event, now=T0)
    reference = event.data["reference"]
    desk.apply_action(m, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(m, reference, LEAD, lc.NOT_ACCEPT, {"reason": "out_of_scope", "referral": "派出所"})
    return reference


def test_the_desk_lists_each_their_tasks_overdue_first(mediation) -> None:
    early = oral_agreement(mediation, at=T0 - timedelta(days=30))  # its visits are overdue at T0
    late = oral_agreement(mediation, at=T0)
    lead_only = accepted_case(mediation, parties=TWO_PARTIES)
    desk.apply_action(mediation, lead_only, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"}, now=T0)
    now = T0 + timedelta(days=1)
    mine = visits.open_tasks(mediation.db, MEDIATOR, now)
    assert [t["case_id"] for t in mine] == [early, early, late, late]
    assert [t["overdue"] for t in mine] == [True, True, False, False]
    assert visits.open_tasks(mediation.db, ZHOU, now) == []  # a colleague's are not mine
    assert visits.open_tasks(mediation.db, OTHER, now) == []  # another studio's neither
    assert {t["case_id"] for t in visits.open_tasks(mediation.db, LEAD, now)} == {lead_only}
    assert {t["case_id"] for t in visits.open_tasks(mediation.db, ADMIN, now)} == {early, late, lead_only}


def test_a_visit_is_recorded_once_and_misuse_changes_nothing(mediation) -> None:
    reference = oral_agreement(mediation)
    task_id = f"{reference}:visit:applicant-1"
    before = snapshot(mediation, reference)
    with pytest.raises(desk.NotFound):  # another studio's task
        visits.record_visit(mediation, task_id, OTHER, VISIT)
    with pytest.raises(desk.Forbidden):  # a colleague's
        visits.record_visit(mediation, task_id, ZHOU, VISIT)
    with pytest.raises(desk.Forbidden):  # district admins oversee, they record no casework
        visits.record_visit(mediation, task_id, ADMIN, VISIT)
    with pytest.raises(desk.Invalid) as missing:  # after an agreement: was it performed?
        visits.record_visit(mediation, task_id, MEDIATOR, {**VISIT, "performed": None})
    assert "performed" in missing.value.errors
    with pytest.raises(desk.NotFound):
        visits.record_visit(mediation, f"{reference}:visit:applicant-9", MEDIATOR, VISIT)
    with pytest.raises(desk.Conflict):  # a visit has its own form
        visits.close_task(mediation, task_id, MEDIATOR, "done")
    assert snapshot(mediation, reference) == before
    at = T0 + timedelta(days=14)
    done = visits.record_visit(mediation, task_id, MEDIATOR, VISIT, now=at)
    assert done["record"] == {**VISIT, "performed": "performed"} and done["done_by"] == "mediator"
    stored = mediation.db.follow_up_tasks.find_one({"_id": task_id})
    assert stored["done_at"] == at and stored["record"]["satisfied"] == 4
    entry = mediation.db.cases.find_one({"_id": reference})["timeline"][-1]
    assert (entry["action"], entry["party"], entry["performance"], entry["public"]) == (
        "visit_recorded",
        "applicant-1",
        "performed",
        False,
    )
    again = snapshot(mediation, reference)
    with pytest.raises(desk.Conflict) as twice:
        visits.record_visit(mediation, task_id, MEDIATOR, {**VISIT, "satisfied": 1}, now=at)
    assert "already recorded" in str(twice.value)
    assert snapshot(mediation, reference) == again
    assert [t["_id"] for t in visits.open_tasks(mediation.db, MEDIATOR, at)] == [
        f"{reference}:visit:respondent-1"
    ]


def test_a_renewed_conflict_raises_the_risk_and_tells_the_lead(mediation) -> None:
    reference = oral_agreement(mediation)
    renewed = {**VISIT, "performed": "partly", "renewed_conflict": True, "satisfied": 2}
    visits.record_visit(
        mediation, f"{reference}:visit:applicant-1", MEDIATOR, renewed, now=T0 + timedelta(days=1)
    )
    case = mediation.db.cases.find_one({"_id": reference})
    assert (case["risk_level"], case["risk_rank"]) == ("yellow", 1)  # at least yellow
    [changed] = events(mediation, "case.risk_changed", reference)
    assert (changed["previous_level"], changed["level"], changed["changed_by"]) == (
        "none",
        "yellow",
        "mediator",
    )
    [told] = events(mediation, "follow_up.renewed_conflict", reference)
    assert (told["party"], told["level"], told["previous_level"]) == ("applicant-1", "yellow", "none")
    assert told["studio"]["lead_email"] == "zhihe-lead@studios.concord.local"
    assert told["reported_by"]["user_id"] == "mediator" and "张三" not in str(told)
    # Raised already: one level up (orange asks the patrol for a visit today).
    visits.record_visit(
        mediation, f"{reference}:visit:respondent-1", MEDIATOR, renewed, now=T0 + timedelta(days=2)
    )
    assert mediation.db.cases.find_one({"_id": reference})["risk_level"] == "orange"
    assert [e["level"] for e in events(mediation, "case.risk_changed", reference)] == ["yellow", "orange"]
    assert len(events(mediation, "follow_up.renewed_conflict", reference)) == 2
    assert mediation.db.patrol_tasks.count_documents({"reference": reference}) == 1


def test_visits_feed_the_report_performed_and_satisfaction(mediation) -> None:
    reference = oral_agreement(mediation, at=datetime(2026, 10, 20, 2, tzinfo=UTC))
    at = datetime(2026, 11, 3, 2, tzinfo=UTC)  # November in Beijing
    visits.record_visit(mediation, f"{reference}:visit:applicant-1", MEDIATOR, VISIT, now=at)
    partly = {**VISIT, "performed": "partly", "satisfied": 3}
    visits.record_visit(
        mediation, f"{reference}:visit:respondent-1", MEDIATOR, partly, now=at + timedelta(hours=1)
    )
    case = mediation.db.cases.find_one({"_id": reference}, reports.CASE_FIELDS)
    assert reports.case_row(case, {"lianhua": "huayuan"}, at).performed_at == at
    scope = reports.Scope("studio", "zhihe")
    november = reports.build(mediation.db, scope, "2026-11", now=at + timedelta(days=1))
    assert november.total.figures.value("performed") == 1
    assert november.satisfaction == {"count": 2, "average": 3.5}
    october = reports.build(mediation.db, scope, "2026-10", now=at + timedelta(days=1))
    assert october.total.figures.value("performed") == 0 and october.satisfaction["count"] == 0
    other = reports.build(mediation.db, reports.Scope("studio", "heping-rc"), "2026-11", now=at)
    assert other.satisfaction == {"count": 0, "average": None}


def signed_with_terms(m: Mediation, mediator: Actor = MEDIATOR, at: datetime = T0) -> str:
    reference = in_mediation(m, mediator=mediator, at=at)
    agreements.save_draft(m, reference, mediator, DRAFT)
    agreements.sign(m, reference, mediator, now=at)
    return reference


def test_a_term_due_gives_one_task_and_one_reminder_across_replicas(mediation) -> None:
    reference = signed_with_terms(mediation)
    terms = mediation.db.cases.find_one({"_id": reference})["agreement"]["terms"]
    assert terms == [
        {"text": "每日20时后停止施工。", "due": None},
        {"text": "李四向张三赔偿500元。", "due": "2026-12-10"},
    ]
    assert deadlines.run_once(mediation, now=datetime(2026, 12, 10, 8, 59, tzinfo=SH)).term_checks == 0
    due_day = datetime(2026, 12, 10, 9, 30, tzinfo=SH)
    barrier = threading.Barrier(2)
    claimed: list[int] = []

    def replica() -> None:
        barrier.wait()
        claimed.append(visits.check_terms(mediation, due_day))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claimed) == [0, 1]
    assert deadlines.run_once(mediation, now=due_day + timedelta(days=1)).term_checks == 0
    [task] = [t for t in tasks(mediation, reference) if t["kind"] == "term_check"]
    assert (task["_id"], task["assignee"], task["detail"]["term"], task["detail"]["term_due"]) == (
        f"{reference}:term:2",
        "mediator",
        2,
        "2026-12-10",
    )
    [reminder] = events(mediation, "follow_up.term_due", reference)
    assert (reminder["term"], reminder["due"], reminder["mediators"][0]["user_id"]) == (
        2,
        "2026-12-10",
        "mediator",
    )
    assert mediation.db.cases.find_one({"_id": reference})["agreement"]["term_check_next"] is None
    # Closed with a note, once; a bad answer changes nothing.
    with pytest.raises(desk.Invalid):
        visits.close_task(mediation, task["_id"], MEDIATOR, " ")
    with pytest.raises(desk.Invalid):
        visits.close_task(mediation, task["_id"], MEDIATOR, "已付", performed="maybe")
    closed = visits.close_task(mediation, task["_id"], MEDIATOR, "已付清", performed="performed")
    assert closed["record"] == {"note": "已付清", "performed": "performed"}
    with pytest.raises(desk.Conflict):
        visits.close_task(mediation, task["_id"], MEDIATOR, "again")
    # Bad due dates are refused with the draft unchanged.
    reference2 = in_mediation(mediation)
    with pytest.raises(desk.Invalid) as bad:
        agreements.save_draft(
            mediation, reference2, MEDIATOR, {**DRAFT, "term_dues": ["2026-13-01", "", "2027-01-01"]}
        )
    assert set(bad.value.errors) == {"term_due-1", "term_due-3"}
    assert mediation.db.cases.find_one({"_id": reference2}).get("agreement") is None


def test_end_to_end_the_lead_and_the_mediator_hear_of_it_from_notify(
    stack_settings: Settings,
    workers: Workers,
    intake_client,
    mailbox: CapturingHandler,
    mediation: Mediation,
) -> None:
    workers.start("intake")
    workers.start("mediation", DESK_JOB_INTERVAL="3600")  # the test runs the job itself
    workers.start("notify")
    reference = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    wait_for(lambda: mediation.db.cases.find_one({"_id": reference}), timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.take(mediation, reference, ZHOU)  # zhou has an email address
    desk.apply_action(mediation, reference, ZHOU, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, reference, ZHOU, lc.START_MEDIATION)
    agreements.save_draft(mediation, reference, ZHOU, DRAFT)
    agreements.sign(mediation, reference, ZHOU)
    assert {t["party"] for t in tasks(mediation, reference)} == {"applicant-1", "respondent-1"}
    renewed = {**VISIT, "renewed_conflict": True, "performed": "not_performed", "satisfied": 1}
    visits.record_visit(mediation, f"{reference}:visit:respondent-1", ZHOU, renewed)
    assert visits.check_terms(mediation, datetime(2026, 12, 10, 10, tzinfo=SH)) == 1

    def lead_mail() -> list[Any]:
        return [
            m
            for m in mailbox.to("zhihe-lead@studios.concord.local")
            if "回访发现矛盾反复" in str(m["Subject"])
        ]

    def term_mail() -> list[Any]:
        return [m for m in mailbox.to("zhou@x.cn") if "今日到期" in str(m["Subject"])]

    wait_for(lambda: len(lead_mail()) == 1, timeout=30, what="the lead told of the renewed conflict")
    wait_for(lambda: len(term_mail()) == 1, timeout=30, what="the mediator reminded of the term")
    assert visits.check_terms(mediation, datetime(2026, 12, 10, 11, tzinfo=SH)) == 0
    time.sleep(1.0)  # a duplicate would have arrived by now
    assert len(lead_mail()) == 1 and len(term_mail()) == 1
    body = lead_mail()[0].get_body(preferencelist=("plain",)).get_content()
    assert reference in body and "被申请人1" in body and "由无提升为黄色" in body
    assert "李四" not in body and "13900139000" not in body
    term = term_mail()[0].get_body(preferencelist=("plain",)).get_content()
    assert "第2条" in term and "2026年12月10日" in term
