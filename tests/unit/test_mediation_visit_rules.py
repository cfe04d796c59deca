"""The pure rules of follow-up visits (回访, `services.mediation.domain.visits`): which endings make
which tasks and for whom, when they are due, the risk a renewed conflict gives, who sees and acts on
a task, and agreement terms with a due date (old plain-string terms still read)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.mediation.domain import lifecycle as lc
from services.mediation.domain import visits as v

ENDED = datetime(2026, 11, 25, 2, tzinfo=UTC)
SH = ZoneInfo("Asia/Shanghai")
CASE = {
    "_id": "LC-2026-000123",
    "studio": "zhihe",
    "owner": "zhou",
    "mediators": ["zhou", "li"],
    "parties": [
        {"role": "applicant", "name": "张三", "phone": "13800138000"},
        {"role": "respondent", "name": "李四"},
        {"role": "applicant", "name": "王五"},
    ],
}


@pytest.mark.parametrize("state", v.VISIT_ENDINGS)
def test_every_ending_of_mediation_gives_one_visit_per_party(state: str) -> None:
    tasks = v.visit_tasks(CASE, state, ENDED, 14)
    assert [t["_id"] for t in tasks] == [
        "LC-2026-000123:visit:applicant-1",
        "LC-2026-000123:visit:respondent-1",
        "LC-2026-000123:visit:applicant-2",
    ]
    for task in tasks:
        assert (task["kind"], task["assignee"], task["assignee_role"]) == ("visit", "zhou", "mediator")
        assert task["due"] == ENDED + timedelta(days=14) and task["created_at"] == ENDED
        assert task["done_at"] is None and task["record"] is None
        assert task["detail"]["outcome"] == lc.OUTCOME_OF[state]
        assert "张三" not in str(task) and "13800138000" not in str(task)


@pytest.mark.parametrize("state", [lc.NOT_ACCEPTED, lc.MERGED, lc.PERFORMED, lc.ARCHIVED, lc.IN_MEDIATION])
def test_no_visits_for_cases_not_accepted_merged_or_not_ending(state: str) -> None:
    assert v.visit_tasks(CASE, state, ENDED, 14) == []
    assert not v.gets_visits(state)


def test_without_a_mediator_the_tasks_are_the_studio_leads() -> None:
    tasks = v.visit_tasks({**CASE, "owner": None, "mediators": []}, lc.WITHDRAWN, ENDED, 7)
    assert {(t["assignee"], t["assignee_role"]) for t in tasks} == {(None, "studio_lead")}
    # The first mediator named when the owner field is empty (a case reassigned meanwhile).
    tasks = v.visit_tasks({**CASE, "owner": None}, lc.FAILED, ENDED, 7)
    assert {t["assignee"] for t in tasks} == {"zhou"}


def test_follow_up_days_come_from_the_studio_with_a_default() -> None:
    assert v.follow_up_days({"follow_up_days": 30}) == 30
    for broken in ({}, None, {"follow_up_days": 0}, {"follow_up_days": 999}, {"follow_up_days": "7"}):
        assert v.follow_up_days(broken) == v.DEFAULT_FOLLOW_UP_DAYS == 14


def test_party_keys_count_within_each_role_and_skip_others() -> None:
    parties = [{"role": "respondent"}, {"role": "applicant"}, {"role": "witness"}, {"role": "respondent"}]
    assert v.party_keys(parties) == [
        ("respondent-1", "respondent"),
        ("applicant-1", "applicant"),
        ("respondent-2", "respondent"),
    ]


def test_a_renewed_conflict_raises_the_risk_at_least_to_yellow_then_one_level() -> None:
    assert [v.raised_level(level) for level in ("none", "yellow", "orange", "red")] == [
        "yellow",
        "orange",
        "red",
        "red",
    ]
    assert v.raised_level(None) == "yellow" and v.raised_level("unknown") == "yellow"


def test_performance_is_asked_only_after_an_agreement() -> None:
    assert v.asks_performance("agreement_written") and v.asks_performance("agreement_oral")
    assert not any(v.asks_performance(o) for o in ("failed", "withdrawn", "referred", None))


def test_open_tasks_overdue_first_then_by_due() -> None:
    now = ENDED
    rows = [
        {"_id": "c", "due": now + timedelta(days=2), "done_at": None},
        {"_id": "b", "due": now - timedelta(days=1), "done_at": None},
        {"_id": "a", "due": now + timedelta(days=1), "done_at": None},
        {"_id": "d", "due": now - timedelta(days=3), "done_at": None},
    ]
    assert [t["_id"] for t in v.ordered(rows, now)] == ["d", "b", "a", "c"]
    assert v.is_overdue(rows[1], now) and not v.is_overdue(rows[0], now)
    assert not v.is_overdue({**rows[1], "done_at": now}, now)


def test_who_sees_and_who_acts() -> None:
    assert v.visibility("zhou", {"mediator"}, "zhihe") == {"done_at": None, "assignee": "zhou"}
    lead = v.visibility("lead", {"studio_lead"}, "zhihe")
    assert lead == {
        "done_at": None,
        "$or": [{"assignee": "lead"}, {"studio": "zhihe", "assignee_role": "studio_lead"}],
    }
    assert v.visibility("admin", {"district_admin"}, None) == {"done_at": None}
    assert v.visibility("p", {"patrol_member"}, None) is None
    task = {"studio": "zhihe", "assignee": "zhou"}
    assert v.may_act("zhou", {"mediator"}, "zhihe", task) is None
    assert v.may_act("lead", {"studio_lead"}, "zhihe", task) is None
    assert v.may_act("li", {"mediator"}, "zhihe", task) == "forbidden"
    assert v.may_act("zhao", {"mediator"}, "heping-rc", task) == "not_found"
    assert v.may_act("lead2", {"studio_lead"}, "heping-rc", task) == "not_found"
    assert v.may_act("admin", {"district_admin"}, None, task) == "forbidden"


def test_terms_old_and_new_are_read_and_parsed() -> None:
    assert v.term_text("旧条款") == "旧条款" and v.term_due("旧条款") is None
    assert v.term_text({"text": "付款", "due": "2026-12-10"}) == "付款"
    assert v.term_due({"text": "付款", "due": "2026-12-10"}) == date(2026, 12, 10)
    assert v.term_due({"text": "x", "due": "garbage"}) is None
    terms, problems = v.parse_terms(["一", "", "  二 ", "三"], ["", "2026-12-10", "2027-01-01"])
    assert terms == [
        {"text": "一", "due": None},
        {"text": "二", "due": "2026-12-10"},
        {"text": "三", "due": "2027-01-01"},
    ]
    assert problems == {}
    _, problems = v.parse_terms(["一", "二"], ["2026-02-30", "", "2026-12-01"])
    assert problems == {
        "term_due-1": ["A date as YYYY-MM-DD."],
        "term_due-3": ["There is no term with this number."],
    }


def test_term_checks_on_the_due_day_at_nine_each_once() -> None:
    terms = ["无期限", {"text": "付款", "due": "2026-12-10"}, {"text": "道歉", "due": "2026-12-01"}]
    assert v.next_term_check(terms, (), SH) == datetime(2026, 12, 1, 9, tzinfo=SH)
    assert v.next_term_check(terms, (3,), SH) == datetime(2026, 12, 10, 9, tzinfo=SH)
    assert v.next_term_check(terms, (2, 3), SH) is None
    assert v.terms_due(terms, (), datetime(2026, 12, 1, 8, 59, tzinfo=SH), SH) == []
    assert v.terms_due(terms, (), datetime(2026, 12, 1, 9, tzinfo=SH), SH) == [(3, terms[2])]
    assert v.terms_due(terms, (3,), datetime(2026, 12, 11, tzinfo=SH), SH) == [(2, terms[1])]
    assert v.term_task_id("LC-2026-000123", 2) == "LC-2026-000123:term:2"
