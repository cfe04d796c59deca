# Chinese texts use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Issue 14 item 2 on mediation's side, on a real database: an applicant who said "no" waits for
their recorded consent; a party's refusal recorded by the mediator ends the case not accepted with a
referral; a party's own withdrawal and request for another mediator (from intake's tracking page)
are applied once, tell the mediators, and keep the replaced mediator from taking the case back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.mediation import desk, party_requests, routing
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from shared.messaging.envelope import Envelope, make_envelope
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, T0, ZHOU, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_routing import submitted

pytestmark = pytest.mark.integration


def party_request(reference: str, request: str, reason: str = "", party: str = "applicant:0") -> Envelope:
    return make_envelope(
        "case.party_requested",
        {
            "reference": reference,
            "request_id": f"req-{request}-{reference}",
            "request": request,
            "party": party,
            "reason": reason,
            "requested_at": T0.isoformat(),
        },
        source="intake",
    )


def taken_case(m: Mediation) -> str:
    reference = accepted_case(m)
    desk.take(m, reference, MEDIATOR, now=T0)
    return reference


def snapshot(m: Mediation, reference: str) -> dict[str, Any]:
    return {"case": m.db.cases.find_one({"_id": reference}), "outbox": m.db.outbox.count_documents({})}


def test_an_applicant_who_said_no_waits_for_their_consent_before_anything_else(mediation: Mediation) -> None:
    event = submitted(agrees_to_mediation=False)
    routing.on_case_submitted(mediation, event, now=T0)
    reference = event.data["reference"]
    case = mediation.db.cases.find_one({"_id": reference})
    assert (case["status"], case["studio"]) == ("awaiting_consent", "zhihe")
    [assigned] = events(mediation, "case.assigned", reference)
    assert assigned["awaiting_consent"] is True  # the studio's message asks it to contact them
    [changed] = events(mediation, "case.status_changed", reference)
    assert (changed["status"], changed["public"]) == ("awaiting_consent", True)
    # Nothing starts before consent: no screening, no acceptance, nobody takes it; nothing changes.
    before = snapshot(mediation, reference)
    for actor, action in ((MEDIATOR, lc.START_SCREENING), (LEAD, lc.ACCEPT), (MEDIATOR, lc.TAKE)):
        with pytest.raises(desk.Conflict):
            desk.apply_action(mediation, reference, actor, action, now=T0)
    assert desk.take_next(mediation, MEDIATOR, now=T0) is None
    with pytest.raises(desk.Invalid):
        desk.apply_action(mediation, reference, MEDIATOR, lc.RECORD_CONSENT, {"consent_by": ""}, now=T0)
    assert snapshot(mediation, reference) == before
    # On the desk it waits among the cases to screen.
    assert [c["_id"] for c in desk.queue(mediation.db, MEDIATOR).screening] == [reference]
    # Any mediator of the studio records the consent; then the case goes its ordinary way.
    done = desk.apply_action(
        mediation, reference, ZHOU, lc.RECORD_CONSENT, {"consent_by": "张三，电话说明后同意"}, now=T0
    )
    assert done.case["status"] == "screening"
    assert events(mediation, "case.status_changed", reference)[-1]["status"] == "screening"
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT, now=T0)
    assert desk.take(mediation, reference, MEDIATOR, now=T0).case["status"] == "mediator_assigned"


def test_a_partys_clear_refusal_recorded_by_the_mediator_ends_it_not_accepted_with_a_referral(
    mediation: Mediation,
) -> None:
    reference = taken_case(mediation)
    with pytest.raises(desk.Invalid) as err:
        desk.apply_action(mediation, reference, MEDIATOR, lc.RECORD_REFUSAL, {"refused_by": "李四"}, now=T0)
    assert "referral" in err.value.errors
    done = desk.apply_action(
        mediation,
        reference,
        MEDIATOR,
        lc.RECORD_REFUSAL,
        {"refused_by": "李四（被申请人）", "referral": "可向某区人民法院起诉"},
        now=T0,
    )
    assert done.case["status"] == "not_accepted"
    [closed] = events(mediation, "case.closed", reference)
    assert (closed["outcome"], closed["public_note"]) == ("not_accepted", "可向某区人民法院起诉")


def test_a_party_withdraws_once_and_their_mediator_is_told(mediation: Mediation) -> None:
    reference = taken_case(mediation)
    request = party_request(reference, "withdraw")
    party_requests.on_party_requested(mediation, request, now=T0 + timedelta(hours=1))
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["status"] == "withdrawn"
    assert case["timeline"][-1]["by"] == "party:applicant:0"
    [closed] = events(mediation, "case.closed", reference)
    assert closed["outcome"] == "withdrawn"
    [handled] = events(mediation, "case.party_request_handled", reference)
    assert handled["applied"] is True and handled["request"] == "withdraw"
    assert [m["user_id"] for m in handled["mediators"]] == ["mediator"]
    # Delivered again: no second effect.
    before = snapshot(mediation, reference)
    party_requests.on_party_requested(mediation, request, now=T0 + timedelta(hours=2))
    assert snapshot(mediation, reference) == before
    # A second request on the ended case: refused, recorded internally, intake hears so.
    again = party_request(reference, "withdraw", party="applicant:1")
    party_requests.on_party_requested(mediation, again, now=T0 + timedelta(hours=3))
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["status"] == "withdrawn" and case["timeline"][-1]["action"] == "party_request_refused"
    refused = events(mediation, "case.party_request_handled", reference)[-1]
    assert refused["applied"] is False and refused["mediators"] == []
    assert len(events(mediation, "case.closed", reference)) == 1


def test_another_mediator_sends_the_case_back_to_the_pool_out_of_the_replaced_mediators_reach(
    mediation: Mediation,
) -> None:
    reference = taken_case(mediation)
    party_requests.on_party_requested(
        mediation, party_request(reference, "other_mediator", "他与对方是亲戚"), now=T0 + timedelta(hours=1)
    )
    case = mediation.db.cases.find_one({"_id": reference})
    assert (case["status"], case["owner"], case["mediators"]) == ("accepted", None, [])
    assert case["excluded_mediators"] == ["mediator"]
    [handled] = events(mediation, "case.party_request_handled", reference)
    assert handled["applied"] and handled["reason"] == "他与对方是亲戚"
    assert [m["user_id"] for m in handled["mediators"]] == ["mediator"]
    # The replaced mediator can take it neither next nor by name; nothing changes.
    before = snapshot(mediation, reference)
    assert desk.take_next(mediation, MEDIATOR, now=T0) is None
    with pytest.raises(desk.Forbidden, match="another mediator"):
        desk.take(mediation, reference, MEDIATOR, now=T0)
    assert snapshot(mediation, reference) == before
    # Another mediator takes it next; and the lead may still give it back to the first one.
    assert desk.take_next(mediation, ZHOU, now=T0).case["_id"] == reference
    desk.apply_action(mediation, reference, ZHOU, lc.RELEASE, {"note": "休假"}, now=T0)
    done = desk.apply_action(mediation, reference, LEAD, lc.ASSIGN, {"mediators": ["mediator"]}, now=T0)
    assert done.case["owner"] == "mediator"


def test_another_mediator_before_any_mediator_is_refused_with_nothing_changed(mediation: Mediation) -> None:
    reference = accepted_case(mediation)
    before = mediation.db.cases.find_one({"_id": reference})
    party_requests.on_party_requested(mediation, party_request(reference, "other_mediator", "x"), now=T0)
    after = mediation.db.cases.find_one({"_id": reference})
    assert after["status"] == before["status"] == "accepted" and after.get("excluded_mediators") is None
    assert after["timeline"][:-1] == before["timeline"]
    assert events(mediation, "case.party_request_handled", reference)[-1]["applied"] is False
