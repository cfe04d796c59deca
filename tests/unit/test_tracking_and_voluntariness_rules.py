"""Issue 14 items 1 and 2, the pure parts: intake's tracking tokens per applicant, phones, recovery
codes and when a party may ask; notify's planning of a tracking link (its token kept out of the
delivery) and of a party's request (who is told)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.intake.domain import case_rules as cr
from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory
from services.notify.messages import CODE_PLACEHOLDER
from services.notify.planning import PlanConfig, plan
from shared.messaging.envelope import make_envelope
from shared.messaging.topology import INTAKE_TRACKING, MEDIATION_PARTIES, NOTIFY_EVENTS
from tests.support.notify_events import data_for as event_data

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(webhook_urls=("https://systems.example/hook",)),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="k",
    public_url="https://concord.example",
)


def test_each_applicant_has_their_own_token_and_a_resident_filer_keeps_the_cases() -> None:
    resident = cr.party_tokens(2, "resident", "case-token")
    assert [key for key, _ in resident] == ["applicant:0", "applicant:1"]
    assert resident[0][1] == "case-token" and resident[1][1] != "case-token"
    clerk = cr.party_tokens(2, "clerk", "case-token")
    assert "case-token" not in {token for _, token in clerk} and len({t for _, t in clerk}) == 2
    case = {
        "token_hash": cr.hash_token("case-token"),
        "party_tokens": [{"party": key, "hash": cr.hash_token(token)} for key, token in clerk],
    }
    assert cr.token_holder(clerk[1][1], case) == "applicant:1"
    assert cr.token_holder("case-token", case) is None  # the filer's copy: nobody's in particular
    assert cr.token_holder("guess", case) is False
    assert cr.token_holder("case-token", {"token_hash": cr.hash_token("case-token")}) is None  # older cases


def test_phones_compare_as_typed_and_codes_are_bound_to_reference_and_phone() -> None:
    assert cr.normalise_phone("+86 138-0013-8000") == cr.normalise_phone("13800138000") == "13800138000"
    code = cr.new_recovery_code()
    assert len(code) == 6 and code.isdigit()
    mine = cr.recovery_code_hash("s", "LC-2026-000001", "138 0013 8000", code)
    assert mine == cr.recovery_code_hash("s", "LC-2026-000001", "13800138000", code)
    assert mine != cr.recovery_code_hash("s", "LC-2026-000002", "13800138000", code)
    assert mine != cr.recovery_code_hash("s", "LC-2026-000001", "13900139000", code)
    assert mine != cr.recovery_code_hash("other-secret", "LC-2026-000001", "13800138000", code)
    assert code not in mine


def test_when_a_party_may_ask() -> None:
    open_case: dict[str, Any] = {"status": "assigned", "open": True}
    assert cr.party_request_refusal("withdraw", open_case) is None
    assert cr.party_request_refusal("other_mediator", open_case) == "no_mediator"
    with_mediator = {"status": "in_mediation", "open": True}
    assert cr.party_request_refusal("other_mediator", with_mediator) is None
    asked = {**with_mediator, "pending_requests": {"other_mediator": {"id": "r"}}}
    assert cr.party_request_refusal("other_mediator", asked) == "already_asked"
    assert cr.party_request_refusal("withdraw", asked) is None  # withdrawing is still possible
    leaving = {**with_mediator, "pending_requests": {"withdraw": {"id": "r"}}}
    assert cr.party_request_refusal("withdraw", leaving) == "withdrawal_pending"
    assert cr.party_request_refusal("other_mediator", leaving) == "withdrawal_pending"
    for ended in ({"status": "closed", "open": False}, {"status": "merged", "open": True}):
        assert cr.party_request_refusal("withdraw", ended) == "ended"
    assert cr.party_request_refusal("reopen", open_case) == "unknown"


def test_the_events_reach_their_consumers() -> None:
    for event_type in ("case.tracking_link", "case.tracking_code_requested", "case.party_request_handled"):
        assert event_type in NOTIFY_EVENTS.routing_keys and event_type in r.RULES
    assert MEDIATION_PARTIES.routing_keys == ("case.party_requested",)
    assert "case.party_request_handled" in INTAKE_TRACKING.routing_keys


def planned(event_type: str, **changes: Any) -> list[dict[str, Any]]:
    data = {**event_data(event_type), **changes}
    return plan(make_envelope(event_type, data, source="test"), None, lambda _k: None, CONFIG, now=NOW)


def test_a_tracking_link_goes_by_sms_and_email_with_its_token_kept_out_of_the_delivery() -> None:
    token = event_data("case.tracking_link")["code"]
    deliveries = planned(
        "case.tracking_link", recipient={"name": "张三", "phone": "13800138000", "email": "z@x.cn"}
    )
    assert sorted(d["channel"] for d in deliveries) == ["email", "sms"]  # never a webhook
    for d in deliveries:
        assert d["has_secret"] and d["essential"] and d["template"] == "tracking_link"
        text = str(d["content"])
        assert token not in text and f"track/LC-2026-000042?token={CODE_PLACEHOLDER}" in text
    # No email given: SMS only.
    only_sms = planned("case.tracking_link", recipient={"name": "张三", "phone": "13800138000"})
    assert [d["channel"] for d in only_sms] == ["sms"]
    recovered = planned("case.tracking_link", occasion="recovered")
    assert "新的查询链接" in next(d for d in recovered if d["channel"] == "sms")["content"]["body"]


def test_a_partys_request_tells_the_mediators_and_for_another_mediator_the_lead_with_the_reason() -> None:
    other = planned("case.party_request_handled")
    by_audience = {(d["recipient"]["audience"], d["channel"]) for d in other}
    assert by_audience == {("mediators", "email"), ("studio_lead", "email")}
    lead = next(d for d in other if d["recipient"]["audience"] == "studio_lead")
    assert "He knows the other party well." in lead["content"]["body"]
    mediator = next(d for d in other if d["recipient"]["audience"] == "mediators")
    assert "He knows the other party well." not in mediator["content"]["body"]
    withdrawn = planned("case.party_request_handled", request="withdraw")
    assert {d["recipient"]["audience"] for d in withdrawn} == {"mediators"}
    assert planned("case.party_request_handled", applied=False) == []  # nothing happened: nobody told
