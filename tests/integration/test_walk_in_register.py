# Chinese test data uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The reception-day walk-in register (issue 14.6) on the real database and broker: a clerk records
visitors in one form; a case is filed (source: reception day) and its tracking code shown once; a
collective matter reaches the council's committee and every walk-in the public board's counts —
through the real workers. Bad input and repeated posts change nothing; names never leave intake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council.app import create_app as create_council_app
from services.intake.app import create_app as create_intake_app
from services.intake.domain import walk_ins as rules
from services.intake.http.schemas import CaseCreateSchema
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.conftest import database
from tests.support.outbox import carried_events
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

CLERK = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")
VISITOR = {
    "name": "钱多多",
    "phone": "13700137000",
    "community": "lianhua",
    "building": "3",
    "unit": "1-202",
    "matter": "楼上漏水，物业不处理。",
    "category": "neighbours",
}


@pytest.fixture
def intake(stack_settings: Settings) -> Flask:
    return create_intake_app(stack_settings)


def as_staff(app: Flask, settings: Settings, staff: Staff | None, language: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def form_of(client: FlaskClient) -> dict[str, str]:
    page = client.get("/reception").get_data(as_text=True)
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "walk_in_id": re.search(r'name="walk_in_id" value="([^"]+)"', page).group(1),
    }


def record(client: FlaskClient, **fields: str) -> Any:
    return client.post("/reception", data={**form_of(client), **VISITOR, **fields})


def outbox(settings: Settings, event_type: str) -> list[dict[str, Any]]:
    rows = database(settings, "intake").outbox.find({"envelope.type": event_type}).sort("created_at")
    return [row["envelope"]["data"] for row in rows]


def test_a_walk_in_turned_into_a_case_is_filed_once_with_its_tracking_code(intake, stack_settings) -> None:
    clerk = as_staff(intake, stack_settings, CLERK)
    form = {**form_of(clerk), **VISITOR, "outcome": "case", "other_party": "楼上住户"}
    first = clerk.post("/reception", data=form)
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    reference = re.search(r'id="walk-in-reference">([^<]+)<', html).group(1)
    assert first.headers["Cache-Control"] == "no-store"
    # The visitor's own tracking link goes to their phone (filing's `case.tracking_link`).
    carried = carried_events(database(stack_settings, "intake"), _id=reference)
    [link] = [e["data"] for e in carried if e["type"] == "case.tracking_link"]
    assert link["recipient"]["phone"] == "13700137000" and "walk-in-link-sent" in html
    [submitted] = [e for e in carried if e["type"] == "case.submitted"]
    data = submitted["data"]
    assert (data["source"], data["filed_by"], data["filer"]) == ("reception_day", "clerk", None)
    assert database(stack_settings, "intake").walk_ins.find_one({"reference": reference})["clerk"] == "wei"
    assert data["parties"][0]["name"] == "钱多多" and data["parties"][1]["name"] == "楼上住户"

    # The same form posted again (a double click): the first record, no second case, no code again.
    again = clerk.post("/reception", data=form)
    assert "Already recorded" in again.get_data(as_text=True)
    assert database(stack_settings, "intake").cases.count_documents({}) == 1
    [fact] = outbox(stack_settings, "walk_in.recorded")
    assert fact["outcome"] == "case" and "钱多多" not in str(fact) and "13700137000" not in str(fact)

    # Today's list masks the visitor.
    listed = clerk.get("/reception").get_data(as_text=True)
    assert "钱多多" not in listed and "13700137000" not in listed and reference in listed


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"outcome": "referred", "referred_to": ""}, "referred_to"),
        ({"outcome": "case", "other_party": ""}, "other_party"),
        ({"outcome": "answered", "phone": "not a phone"}, "phone"),
        ({"outcome": "answered", "matter": ""}, "matter"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_records_nothing(intake, stack_settings, fields, field) -> None:
    response = record(as_staff(intake, stack_settings, CLERK), **fields)
    assert response.status_code == 422
    assert f'href="#{field}' in response.get_data(as_text=True)
    db = database(stack_settings, "intake")
    assert db.walk_ins.count_documents({}) == 0 and db.cases.count_documents({}) == 0


def test_only_clerks_keep_the_register(intake, stack_settings) -> None:
    anonymous = intake.test_client().get("/reception")
    assert anonymous.status_code == 401 and "/login" in anonymous.get_data(as_text=True)
    leader = Staff("zhao", "赵强", frozenset({"building_leader"}), community="lianhua", buildings=("1",))
    assert as_staff(intake, stack_settings, leader).get("/reception").status_code == 403
    chinese = as_staff(intake, stack_settings, CLERK, "zh-CN").get("/reception").get_data(as_text=True)
    assert "来访登记" in chinese


def test_walk_ins_reach_the_board_and_the_committee_through_the_workers(
    intake, stack_settings, tmp_path: Path
) -> None:
    workers = Workers(stack_settings, tmp_path)
    workers.start("intake")
    workers.start("council")
    try:
        clerk = as_staff(intake, stack_settings, CLERK)
        for outcome, extra in [
            ("answered", {}),
            ("referred", {"referred_to": "街道司法所"}),
            ("collective", {"matter": "3号楼门口停车收费没有公示。"}),
        ]:
            assert record(clerk, outcome=outcome, **extra).status_code == 200
        council_db = database(stack_settings, "council")
        wait_for(lambda: council_db.walk_in_facts.count_documents({}) == 3, timeout=30)
        wait_for(lambda: council_db.raised_matters.count_documents({}) == 1, timeout=30)
        [matter] = list(council_db.raised_matters.find())
        assert matter["matter"] == "3号楼门口停车收费没有公示。" and "钱多多" not in str(matter)

        council = create_council_app(stack_settings)
        committee = as_staff(council, stack_settings, CLERK)
        page = committee.get("/communities/lianhua/raised-matters?lang=zh-CN").get_data(as_text=True)
        assert "3号楼门口停车收费没有公示。" in page
        other = Staff("sun", "孙", frozenset({"committee_member"}), community="heping")
        assert (
            as_staff(council, stack_settings, other).get("/communities/lianhua/raised-matters").status_code
            == 403
        )
        # Three walk-ins, one per outcome: each a small count, shown as "<5" on the public board.
        board = council.test_client().get("/board/lianhua?lang=en").get_data(as_text=True)
        walk_ins = board[board.index('id="walk-ins"') :]
        assert "Reception-day walk-ins" in board and walk_ins.count("&lt;5") >= 3
    finally:
        workers.kill_all()


def test_a_walk_in_case_is_a_valid_filing() -> None:
    walk_in = {**VISITOR, "other_party": "物业公司", "outcome": "case"}
    payload = rules.case_payload(walk_in)
    loaded = CaseCreateSchema().load(payload)
    assert loaded["source"] == "reception_day" and loaded["filed_by"] == "clerk"
