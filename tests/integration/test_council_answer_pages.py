"""Council's answering and consultation pages through the Flask test client on the real database and
broker: the resident's flow by slip code and by SMS code, errors at the field, the same page for
unknown and known flats, rate limits, and the staff's pages (create, add question, open, print, paper,
close) with CSRF on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council import consultations, slips
from services.council.app import create_app
from services.council.bootstrap import Council
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import utcnow
from tests.integration.council_support import committee, leader, new_questionnaire, seed_register


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)  # CSRF stays on: the forms carry their tokens


@pytest.fixture
def council(app: Flask) -> Council:
    council = app.extensions["council"]
    seed_register(council)
    return council


@pytest.fixture
def live(council: Council) -> dict:
    now = utcnow()
    doc = new_questionnaire(council, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=3))
    return consultations.open_(council, committee(), doc["_id"], now)


def csrf(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def staff_client(app: Flask, settings: Settings, staff: Staff) -> FlaskClient:
    client = app.test_client()
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def code_for(council: Council, consultation_id: str, flat_id: str) -> str:
    issued = slips.issue(council, committee(), consultation_id, flat_id[1], utcnow())
    return next(f["code"] for f in issued if f["flat_id"] == flat_id)


def test_a_resident_answers_by_slip_code_and_sees_what_was_recorded(
    app: Flask, council: Council, live: dict
) -> None:
    client = app.test_client()
    url = f"/c/{live['_id']}?lang=en"
    token = csrf(client, url)
    code = code_for(council, live["_id"], "f12")
    answer = client.post(
        f"/c/{live['_id']}/code", data={"csrf_token": token, "code": code}, follow_redirects=True
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Flat 1-1-102" in body and 'name="q-gate"' in body
    sent = client.post(
        f"/c/{live['_id']}/answer",
        data={"csrf_token": token, "q-gate": "no", "q-works": ["heat", "paint"], "q-remarks": "加装电梯"},
        follow_redirects=True,
    )
    done = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "your answer is recorded" in done
    assert "不同意" in done and "粉刷外墙、集中供暖" in done and "加装电梯" in done
    assert council.db.ballots.find_one({"flat_id": "f12"})["answers"]["works"] == ["paint", "heat"]
    # Changing it: the form comes back pre-filled.
    again = client.get(f"/c/{live['_id']}/answer?lang=en").get_data(as_text=True)
    assert 'value="no" checked' in again


def test_errors_are_shown_at_the_question_and_nothing_is_stored(
    app: Flask, council: Council, live: dict
) -> None:
    client = app.test_client()
    token = csrf(client, f"/c/{live['_id']}?lang=en")
    client.post(
        f"/c/{live['_id']}/code", data={"csrf_token": token, "code": code_for(council, live["_id"], "f11")}
    )
    page = client.post(f"/c/{live['_id']}/answer?lang=en", data={"csrf_token": token, "q-works": "paint"})
    body = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'id="q-gate" aria-describedby="q-gate-error" aria-invalid="true"' in body
    assert 'id="q-gate-error"' in body and "Please answer this question." in body
    assert 'value="paint" checked' in body  # what was ticked stays ticked
    assert council.db.ballots.count_documents({}) == 0


def test_a_wrong_code_is_refused_at_the_field_in_chinese(app: Flask, council: Council, live: dict) -> None:
    client = app.test_client()
    token = csrf(client, f"/c/{live['_id']}")
    page = client.post(f"/c/{live['_id']}/code", data={"csrf_token": token, "code": "ACDEF-GHJKM"})
    body = page.get_data(as_text=True)
    assert page.status_code == 422 and "答复码不对" in body and 'aria-invalid="true"' in body
    assert 'lang="zh-CN"' in body


def test_code_tries_are_rate_limited_per_client(app: Flask, council: Council, live: dict) -> None:
    client = app.test_client()
    token = csrf(client, f"/c/{live['_id']}?lang=en")
    statuses = [
        client.post(f"/c/{live['_id']}/code", data={"csrf_token": token, "code": "ACDEFGHJKM"}).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [422] * 10 and statuses[10:] == [429, 429]
    # Over the limit even the right code is not checked.
    right = client.post(
        f"/c/{live['_id']}/code", data={"csrf_token": token, "code": code_for(council, live["_id"], "f11")}
    )
    assert right.status_code == 429


def test_asking_for_an_sms_code_looks_the_same_for_any_flat(app: Flask, council: Council, live: dict) -> None:
    client = app.test_client()
    token = csrf(client, f"/c/{live['_id']}?lang=en")
    pages = []
    for flat in ("101", "102", "909"):  # a phone, no phone, no such flat
        page = client.post(
            f"/c/{live['_id']}/sms?lang=en",
            data={"csrf_token": token, "building": "1", "unit": "1", "flat": flat},
        )
        pages.append((page.status_code, page.get_data(as_text=True).replace(token, "")))
    assert (
        len(set(pages)) == 1 and pages[0][0] == 200 and "If this flat has a registered phone" in pages[0][1]
    )
    assert council.db.outbox.count_documents({"envelope.type": "consultation.code_requested"}) == 1


def test_a_post_without_its_csrf_token_is_refused(app: Flask, council: Council, live: dict) -> None:
    page = app.test_client().post(f"/c/{live['_id']}/code", data={"code": "ACDEFGHJKM"})
    assert page.status_code == 400


def test_a_draft_is_not_public_and_a_closed_one_says_so(app: Flask, council: Council, live: dict) -> None:
    draft = new_questionnaire(council)
    assert app.test_client().get(f"/c/{draft['_id']}").status_code == 404
    consultations.close(council, committee(), live["_id"], utcnow())
    page = app.test_client().get(f"/c/{live['_id']}?lang=en").get_data(as_text=True)
    assert "The consultation is not open." in page and f"/c/{live['_id']}/result" in page


def test_staff_create_add_a_question_open_print_enter_paper_and_close(
    app: Flask, settings: Settings, council: Council
) -> None:
    client = staff_client(app, settings, committee())
    token = csrf(client, "/consultations/new?community=lianhua&lang=en")
    created = client.post(
        "/consultations/new",
        data={
            "csrf_token": token,
            "community": "lianhua",
            "kind": "questionnaire",
            "title_zh": "停车收费标准征询",
            "title_en": "Parking fees",
            "opens_at": "2026-01-01T08:00",
            "closes_at": "2099-01-01T20:00",
        },
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    detail = created.headers["Location"]
    bad = client.post(
        f"{detail}/questions?lang=en",
        data={"csrf_token": token, "kind": "single", "prompt": "费用?", "options": "一个"},
    )
    assert bad.status_code == 422 and "A choice question needs at least two options." in bad.get_data(
        as_text=True
    )
    added = client.post(
        f"{detail}/questions",
        data={
            "csrf_token": token,
            "kind": "single",
            "prompt": "每月收费",
            "mandatory": "yes",
            "options": "100元\n150元",
        },
    )
    assert added.status_code == 303
    assert client.post(f"{detail}/open", data={"csrf_token": token}).status_code == 303
    (doc,) = council.db.consultations.find({"title.zh-CN": "停车收费标准征询"})
    assert doc["status"] == "open" and doc["questions"][0]["options"][1] == {"key": "o2", "label": "150元"}
    pdf = client.post(f"{detail}/slips", data={"csrf_token": token, "building": "2"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    paper = client.post(
        f"{detail}/paper",
        data={
            "csrf_token": token,
            "building": "2",
            "unit": "1",
            "flat": "101",
            "slip_number": "0004",
            "q-q1": "o2",
        },
    )
    assert paper.status_code == 303, paper.get_data(as_text=True)
    again = client.post(
        f"{detail}/paper?lang=en",
        data={
            "csrf_token": token,
            "building": "2",
            "unit": "1",
            "flat": "101",
            "slip_number": "0004",
            "q-q1": "o1",
        },
    )
    assert again.status_code == 409 and "cannot be replaced" in again.get_data(as_text=True)
    assert client.post(f"{detail}/close", data={"csrf_token": token}).status_code == 303
    closed = council.db.consultations.find_one({"_id": doc["_id"]})
    assert closed["status"] == "closed" and closed["result"]["answered"] == 1


def test_a_building_leader_may_print_only_their_building(
    app: Flask, settings: Settings, council: Council, live: dict
) -> None:
    client = staff_client(app, settings, leader(("1",)))
    page = client.get(f"/consultations/{live['_id']}?lang=en").get_data(as_text=True)
    assert '<option value="1">' in page and '<option value="2">' not in page
    assert "Close now" not in page
    token = csrf(client, f"/consultations/{live['_id']}")
    assert (
        client.post(
            f"/consultations/{live['_id']}/slips", data={"csrf_token": token, "building": "2"}
        ).status_code
        == 403
    )
