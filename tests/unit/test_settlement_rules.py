""" "Is it settled?" (issue 14.4), the pure parts: which ended cases are asked and when, the answer's
window, the lead's linked case, and notify's planning of the survey (its token kept apart, an
opt-out respected) and of the lead's email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.domain import settlement as intake_rules
from services.mediation.domain import settlement as rules
from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory
from services.notify.messages import CODE_PLACEHOLDER
from services.notify.planning import PlanConfig, plan
from services.notify.preferences import preference_key
from shared.messaging.envelope import make_envelope
from shared.messaging.events import validate_data
from shared.messaging.topology import (
    COUNCIL_SETTLEMENT,
    INTAKE_SETTLEMENT,
    MEDIATION_SETTLEMENT,
    NOTIFY_EVENTS,
)
from tests.support.notify_events import data_for as event_data

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="k",
    public_url="https://concord.example",
)


def ended(days_ago: float, outcome: str = "agreement_written", **extra: Any) -> dict[str, Any]:
    return {"ended_at": NOW - timedelta(days=days_ago), "outcome": outcome, "status": outcome, **extra}


def test_a_case_is_asked_once_the_studio_s_days_have_passed_since_its_ending() -> None:
    assert rules.check_days({}) == rules.DEFAULT_CHECK_DAYS == 28
    assert rules.check_days({"settlement_check_days": 14}) == 14
    for broken in (0, 400, "7", True, None):
        assert rules.check_days({"settlement_check_days": broken}) == 28
    assert rules.check_due(ended(28), NOW, 28)
    assert not rules.check_due(ended(27.9), NOW, 28)
    assert rules.check_due(ended(14), NOW, 14)
    for outcome in ("agreement_oral", "failed", "referred"):
        assert rules.check_due(ended(40, outcome), NOW, 28)


def test_withdrawn_not_accepted_merged_or_asked_cases_are_never_asked() -> None:
    assert not rules.check_due(ended(40, "withdrawn"), NOW, 28)
    assert not rules.check_due(ended(40, "not_accepted"), NOW, 28)
    assert not rules.check_due({**ended(40), "status": "merged"}, NOW, 28)
    assert not rules.check_due(ended(40, settlement_check={"asked_at": NOW}), NOW, 28)
    assert not rules.check_due({"outcome": "failed"}, NOW, 28)  # still open: no ending
    assert not intake_rules.should_ask({"outcome": "withdrawn", "parties": [{"role": "applicant"}]})
    assert not intake_rules.should_ask({"merged_into": "LC-2026-000001", "parties": [{"role": "applicant"}]})
    assert not intake_rules.should_ask({"parties": [{"role": "applicant", "erased": True}]})
    assert intake_rules.should_ask({"outcome": "failed", "parties": [{"role": "applicant", "name": "张三"}]})


def test_the_form_s_days_are_a_whole_number_in_range() -> None:
    assert rules.parse_check_days(" 21 ") == 21
    for bad in ("", "0", "366", "2.5", "-3", "abc"):
        assert rules.parse_check_days(bad) is None


def test_an_answer_can_be_changed_within_the_window_and_then_stands() -> None:
    window = timedelta(hours=48)
    survey: dict[str, Any] = {"expires_at": NOW + timedelta(days=60), "first_answered_at": None}
    assert intake_rules.state(survey, NOW, window) == intake_rules.ANSWERABLE
    assert intake_rules.state(survey, NOW + timedelta(days=61), window) == intake_rules.EXPIRED
    answered = {**survey, "first_answered_at": NOW}
    assert intake_rules.state(answered, NOW + timedelta(hours=47), window) == intake_rules.CHANGEABLE
    assert intake_rules.state(answered, NOW + timedelta(hours=48, seconds=1), window) == intake_rules.FIXED
    # An answer given before the link's expiry stays changeable for its window even past it.
    late = {"expires_at": NOW, "first_answered_at": NOW - timedelta(hours=1)}
    assert intake_rules.state(late, NOW + timedelta(hours=1), window) == intake_rules.CHANGEABLE
    assert intake_rules.survey_id("LC-2026-000001", "applicant:0") == "LC-2026-000001:applicant:0"
    assert intake_rules.clean_comment("  ok \n") == "ok"


def test_the_latest_answer_wins_whatever_order_the_messages_arrive_in() -> None:
    assert rules.is_newer(NOW, None)
    assert rules.is_newer(NOW, {"answered_at": NOW - timedelta(seconds=1)})
    assert not rules.is_newer(NOW, {"answered_at": NOW})  # the same message again
    assert not rules.is_newer(NOW - timedelta(minutes=1), {"answered_at": NOW})  # overtaken


def test_a_linked_case_needs_an_answer_not_settled_and_is_opened_once() -> None:
    case: dict[str, Any] = {"settlement": {"answers": {"applicant:0": {"answer": "not_settled"}}}}
    assert rules.reopen_refusal(case, "applicant:0") is None
    assert rules.reopen_refusal(case, "applicant:1") == "not_not_settled"
    settled = {"settlement": {"answers": {"applicant:0": {"answer": "settled"}}}}
    assert rules.reopen_refusal(settled, "applicant:0") == "not_not_settled"
    assert rules.reopen_refusal({}, "applicant:0") == "not_not_settled"
    requested = {
        "settlement": {**case["settlement"], "reopen_requests": {"applicant:0": {"request_id": "x"}}}
    }
    assert rules.reopen_refusal(requested, "applicant:0") == "already_linked"
    assert rules.task_id("LC-2026-000001", "applicant:0") == "LC-2026-000001:not_settled:applicant:0"
    assert rules.reopen_request_id("LC-2026-000001", "applicant:0") == "LC-2026-000001:reopen:applicant:0"


def test_the_events_reach_their_consumers_and_validate() -> None:
    assert set(INTAKE_SETTLEMENT.routing_keys) == {"case.settlement_check_due", "case.reopen_requested"}
    assert set(MEDIATION_SETTLEMENT.routing_keys) == {"case.settlement_answered", "case.linked"}
    assert COUNCIL_SETTLEMENT.routing_keys == ("case.settlement_answered",)
    for event_type in ("case.settlement_survey", "case.not_settled"):
        assert event_type in NOTIFY_EVENTS.routing_keys and event_type in r.RULES
    answered = {
        "reference": "LC-2026-000001",
        "party": "applicant:0",
        "answer": "not_settled",
        "answered_at": NOW.isoformat(),
    }
    assert validate_data("case.settlement_answered", 1, answered)["commented"] is False
    try:
        validate_data("case.settlement_answered", 1, {**answered, "answer": "maybe"})
    except Exception as err:  # an answer outside the three never travels
        assert "answer" in str(err)
    else:
        raise AssertionError("an unknown answer was accepted")


def survey_plan(preferences: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    data = event_data("case.settlement_survey")
    envelope = make_envelope("case.settlement_survey", data, source="test")
    wanted = preference_key(data["reference"], "applicant:0")
    return plan(envelope, None, lambda key: preferences if key == wanted else None, CONFIG, now=NOW)


def test_the_survey_goes_by_sms_and_email_with_its_token_kept_out_of_the_delivery() -> None:
    token = event_data("case.settlement_survey")["code"]
    deliveries = survey_plan()
    assert {d["channel"] for d in deliveries} == {"sms", "email"}
    for d in deliveries:
        assert d["has_secret"] and not d["essential"] and d["template"] == "settlement_survey"
        assert token not in str(d["content"]) and CODE_PLACEHOLDER in d["content"]["body"]
        assert d["recipient"]["key"] == "applicant:0"  # their own place: their own preferences
    email = next(d for d in deliveries if d["channel"] == "email")["content"]["body"]
    for answer in ("settled", "not_settled", "not_sure"):
        assert f"http://intake.example/settled/{answer}?token={CODE_PLACEHOLDER}" in email
    sms = next(d for d in deliveries if d["channel"] == "sms")["content"]["body"]
    assert f"http://intake.example/settled?token={CODE_PLACEHOLDER}" in sms


def test_an_applicant_who_opted_out_is_not_asked() -> None:
    assert survey_plan({"opt_out": True}) == []
    only_email = survey_plan({"channels": ["email"]})
    assert [d["channel"] for d in only_email] == ["email"]


def test_the_lead_is_emailed_when_an_applicant_says_not_settled() -> None:
    data = event_data("case.not_settled")
    [email] = plan(
        make_envelope("case.not_settled", data, source="test"), None, lambda _k: None, CONFIG, now=NOW
    )
    assert email["channel"] == "email" and email["recipient"]["audience"] == r.STUDIO_LEAD
    assert data["reference"] in email["content"]["subject"] and "未化解" in email["content"]["subject"]
