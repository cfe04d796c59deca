"""Council consultations on a real MongoDB-wire server and the real broker: authoring, the lock of
questions by the first answer (enforced in the update's filter), opening with the electorate and
`consultation.opened` in the outbox, extending, and closing in one transaction with the frozen result
and `consultation.closed`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.council import answering, consultations
from services.council.bootstrap import Council, bootstrap
from services.council.errors import Refused
from shared.config import Settings
from tests.integration.council_support import (
    COMMUNITY,
    NOW,
    OTHER,
    QUESTIONS,
    admin,
    committee,
    leader,
    new_questionnaire,
    opened,
    seed_register,
)


@pytest.fixture
def council(settings: Settings) -> Council:
    council = bootstrap(settings)
    seed_register(council)
    return council


def events(council: Council, kind: str) -> list[dict]:
    return [row["envelope"] for row in council.db.outbox.find({"envelope.type": kind})]


def slip_pass(council: Council, consultation_id: str, flat_id: str) -> answering.Pass:
    """A web pass as a slip code gives it (the code issued directly, as slips.issue does)."""
    from services.council import slips

    staff = committee()
    building = council.db.flats.find_one({"_id": flat_id})["building"]
    issued = slips.issue(council, staff, consultation_id, building, NOW)
    code = next(f["code"] for f in issued if f["flat_id"] == flat_id)
    return answering.verify_code(council, consultation_id, code, NOW)


# --- authoring -------------------------------------------------------------------------------------------


def test_a_committee_member_creates_a_draft_questionnaire(council: Council) -> None:
    doc = new_questionnaire(council)
    stored = council.db.consultations.find_one({"_id": doc["_id"]})
    assert stored["status"] == "draft" and stored["locked"] is False
    assert [q["key"] for q in stored["questions"]] == ["gate", "works", "remarks"]
    assert stored["questions"][0]["mandatory"] is True


def test_a_vote_gets_its_one_for_against_abstain_question(council: Council) -> None:
    doc = new_questionnaire(council, kind="vote", vote_item=7, questions=None)
    assert doc["vote_item"] == 7
    assert [o["key"] for o in doc["questions"][0]["options"]] == ["for", "against", "abstain"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"kind": "poll"}, "bad_kind"),
        ({"community": "nowhere"}, "unknown_community"),
        ({"title": {"zh-CN": " ", "en": ""}}, "bad_field"),
        ({"closes_at": NOW - timedelta(days=1)}, "bad_window"),
        ({"kind": "vote", "vote_item": 10, "questions": None}, "bad_vote_item"),
        ({"questions": [{**QUESTIONS[0], "options": [{"key": "yes", "label": "同意"}]}]}, "bad_questions"),
    ],
)
def test_bad_definitions_are_refused_and_nothing_is_stored(council: Council, change: dict, code: str) -> None:
    with pytest.raises(Refused) as refused:
        new_questionnaire(council, **change)
    assert refused.value.code == code and refused.value.status == 422
    assert council.db.consultations.count_documents({}) == 0


def test_only_the_communitys_committee_and_district_admins_may_create(council: Council) -> None:
    with pytest.raises(Refused) as refused:
        new_questionnaire(council, staff=committee(OTHER))
    assert refused.value.status == 403
    with pytest.raises(Refused):
        new_questionnaire(council, staff=leader())
    assert new_questionnaire(council, staff=admin())["community"] == COMMUNITY
    assert council.db.consultations.count_documents({}) == 1


def test_a_draft_is_edited_and_a_question_added_and_removed(council: Council) -> None:
    doc = new_questionnaire(council)
    staff = committee()
    after = consultations.edit(council, staff, doc["_id"], {"title": {"zh-CN": "新标题", "en": "New"}})
    assert after["title"]["zh-CN"] == "新标题" and after["revision"] == doc["revision"] + 1
    after = consultations.add_question(
        council, staff, doc["_id"], {"key": "name", "kind": "short_text", "prompt": "称呼"}
    )
    assert [q["key"] for q in after["questions"]][-1] == "name"
    after = consultations.remove_question(council, staff, doc["_id"], "works")
    assert [q["key"] for q in after["questions"]] == ["gate", "remarks", "name"]


def test_a_stale_revision_is_refused(council: Council) -> None:
    doc = new_questionnaire(council)
    consultations.edit(council, committee(), doc["_id"], {"title": {"zh-CN": "一", "en": ""}})
    with pytest.raises(Refused) as refused:
        consultations.edit(
            council, committee(), doc["_id"], {"title": {"zh-CN": "二", "en": ""}}, doc["revision"]
        )
    assert refused.value.code == "changed"
    assert council.db.consultations.find_one({"_id": doc["_id"]})["title"]["zh-CN"] == "一"


def test_questions_are_locked_by_the_database_filter_once_an_answer_exists(council: Council) -> None:
    doc = new_questionnaire(council)
    # An operator reopened a consultation from a backup as a draft, under its answers: the `locked`
    # flag in the update's filter refuses the edit even though the status allows it.
    council.db.consultations.update_one({"_id": doc["_id"]}, {"$set": {"locked": True}})
    with pytest.raises(Refused) as refused:
        consultations.edit(council, committee(), doc["_id"], {"questions": QUESTIONS[:1]})
    assert refused.value.code == "has_answers"
    assert len(council.db.consultations.find_one({"_id": doc["_id"]})["questions"]) == 3


# --- opening -------------------------------------------------------------------------------------------


def test_opening_snapshots_the_electorate_and_writes_the_opened_event(council: Council) -> None:
    council.db.building_groups.insert_one(
        {"community": COMMUNITY, "building": "1", "webhook_url": "https://qyapi.example/hook/1"}
    )
    doc = opened(council)
    assert doc["status"] == "open" and doc["eligible"] == 6 and doc["buildings"] == ["1", "2"]
    flats = consultations.electorate(council, doc["_id"])
    assert [f["label"] for f in flats][:3] == ["1-1-101", "1-1-102", "1-1-103"]
    assert [f["slip_number"] for f in flats][:2] == ["0001", "0002"]
    assert "other1" not in {f["flat_id"] for f in flats}  # another community's flat
    (event,) = events(council, "consultation.opened")
    data = event["data"]
    assert data["consultation_id"] == doc["_id"] and data["url"].endswith(f"/c/{doc['_id']}")
    assert {h["flat_id"] for h in data["households"]} == {f["flat_id"] for f in flats}
    assert next(h for h in data["households"] if h["flat_id"] == "f11")["phones"] == ["13800001001"]
    assert data["building_groups"] == [{"building": "1", "webhook_url": "https://qyapi.example/hook/1"}]


def test_opening_is_refused_without_questions_or_twice(council: Council) -> None:
    empty = new_questionnaire(council, questions=[])
    with pytest.raises(Refused) as refused:
        consultations.open_(council, committee(), empty["_id"], NOW)
    assert refused.value.code == "no_questions"
    doc = opened(council)
    with pytest.raises(Refused) as again:
        consultations.open_(council, committee(), doc["_id"], NOW)
    assert again.value.code == "not_draft"
    assert len(events(council, "consultation.opened")) == 1


def test_an_open_consultation_cannot_be_edited(council: Council) -> None:
    doc = opened(council)
    with pytest.raises(Refused) as refused:
        consultations.edit(council, committee(), doc["_id"], {"questions": QUESTIONS[:1]})
    assert refused.value.code == "not_draft"


# --- extending ---------------------------------------------------------------------------------------------


def test_extend_only_later_and_only_while_open(council: Council) -> None:
    doc = opened(council)
    later = doc["closes_at"] + timedelta(days=2)
    assert consultations.extend(council, committee(), doc["_id"], later, NOW)["closes_at"] == later
    with pytest.raises(Refused) as earlier:
        consultations.extend(council, committee(), doc["_id"], later - timedelta(days=1), NOW)
    assert earlier.value.code == "end_not_later"
    consultations.close(council, committee(), doc["_id"], NOW)
    with pytest.raises(Refused) as closed:
        consultations.extend(council, committee(), doc["_id"], later + timedelta(days=1), NOW)
    assert closed.value.code == "not_open"
    assert council.db.consultations.find_one({"_id": doc["_id"]})["closes_at"] == later


# --- closing ---------------------------------------------------------------------------------------


def test_closing_freezes_the_result_and_writes_the_closed_event(council: Council) -> None:
    doc = opened(council)
    answering.submit_web(
        council, slip_pass(council, doc["_id"], "f11"), {"gate": "yes", "works": ["paint"]}, NOW
    )
    answering.submit_web(council, slip_pass(council, doc["_id"], "f21"), {"gate": "no"}, NOW)
    closed = consultations.close(council, committee(), doc["_id"], NOW + timedelta(hours=1))
    assert closed["status"] == "closed" and closed["closed_by"] == "wei"
    result = closed["result"]
    assert result["eligible"] == 6 and result["answered"] == 2
    assert result["by_building"] == {"1": {"eligible": 3, "answered": 1}, "2": {"eligible": 3, "answered": 1}}
    gate = {o["key"]: o["count"] for o in result["questions"]["gate"]["options"]}
    assert gate == {"yes": 1, "no": 1}
    assert result["vote"] is None
    (event,) = events(council, "consultation.closed")
    assert event["data"]["answered"] == 2 and event["data"]["eligible"] == 6
    assert event["data"]["url"].endswith(f"/c/{doc['_id']}/result")
    # Every household of the electorate is told the result, as at opening (with its phones).
    (opening,) = events(council, "consultation.opened")
    told = {h["flat_id"]: h["phones"] for h in event["data"]["households"]}
    assert told == {h["flat_id"]: h["phones"] for h in opening["data"]["households"]} and len(told) == 6


def test_closing_a_vote_counts_it_under_art_278(council: Council) -> None:
    doc = opened(council, kind="vote", vote_item=7, questions=None)
    for flat in ("f11", "f12", "f13", "f22", "f23"):
        answering.submit_web(council, slip_pass(council, doc["_id"], flat), {"decision": "for"}, NOW)
    closed = consultations.close(council, committee(), doc["_id"], NOW)
    vote = closed["result"]["vote"]
    assert vote["item"] == 7 and vote["outcome"] == "passed"
    (event,) = events(council, "consultation.closed")
    assert event["data"]["outcome"] == "passed" and event["data"]["reason"]["en"]


def test_closing_is_refused_twice_and_for_other_staff(council: Council) -> None:
    doc = opened(council)
    with pytest.raises(Refused) as refused:
        consultations.close(council, leader(), doc["_id"], NOW)
    assert refused.value.status == 403
    with pytest.raises(Refused) as hidden:
        consultations.close(council, committee(OTHER), doc["_id"], NOW)
    assert hidden.value.status == 404
    consultations.close(council, committee(), doc["_id"], NOW)
    with pytest.raises(Refused) as again:
        consultations.close(council, committee(), doc["_id"], NOW)
    assert again.value.code == "not_open"
    assert len(events(council, "consultation.closed")) == 1


def test_the_closing_job_closes_only_ended_windows(council: Council) -> None:
    doc = opened(council)
    assert consultations.close_due(council, NOW) == []
    assert consultations.close_due(council, doc["closes_at"]) == [doc["_id"]]
    assert council.db.consultations.find_one({"_id": doc["_id"]})["closed_by"] == "closing-job"
