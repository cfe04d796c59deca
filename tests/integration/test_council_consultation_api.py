"""Consultations' JSON API on the real database and broker: create, edit, open, extend, paper entry,
close, each refusal in shared/http.py's one error shape, and the OpenAPI document listing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council.app import create_app
from services.council.bootstrap import Council
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.council_support import QUESTIONS, committee, leader, seed_register


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def council(app: Flask) -> Council:
    council = app.extensions["council"]
    seed_register(council)
    return council


def as_staff(app: Flask, settings: Settings, staff: Staff) -> FlaskClient:
    client = app.test_client()
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def body(**extra: object) -> dict:
    now = datetime.now(UTC)
    return {
        "community": "lianhua",
        "kind": "questionnaire",
        "title": {"zh-CN": "停车收费", "en": "Parking fees"},
        "questions": QUESTIONS,
        "opens_at": (now - timedelta(hours=1)).isoformat(),
        "closes_at": (now + timedelta(days=5)).isoformat(),
        **extra,
    }


def test_the_lifecycle_through_the_api(app: Flask, settings: Settings, council: Council) -> None:
    client = as_staff(app, settings, committee())
    created = client.post("/api/v1/consultations", json=body())
    assert created.status_code == 201, created.json
    cid = created.json["id"]
    assert created.json["status"] == "draft" and created.json["title"] == {
        "zh-CN": "停车收费",
        "en": "Parking fees",
    }
    patched = client.patch(f"/api/v1/consultations/{cid}", json={"questions": QUESTIONS[:1], "revision": 1})
    assert patched.status_code == 200 and len(patched.json["questions"]) == 1
    stale = client.patch(f"/api/v1/consultations/{cid}", json={"questions": QUESTIONS, "revision": 1})
    assert stale.status_code == 409 and stale.json["code"] == 409 and "message" in stale.json
    opened = client.post(f"/api/v1/consultations/{cid}/open")
    assert opened.status_code == 200 and opened.json["eligible"] == 6
    later = (datetime.fromisoformat(opened.json["closes_at"]) + timedelta(days=1)).isoformat()
    assert client.post(f"/api/v1/consultations/{cid}/extend", json={"closes_at": later}).status_code == 200
    paper = as_staff(app, settings, leader(("1",))).post(
        f"/api/v1/consultations/{cid}/paper",
        json={"building": "1", "unit": "1", "flat": "102", "slip_number": "0002", "answers": {"gate": "yes"}},
    )
    assert paper.status_code == 201 and paper.json["channel"] == "paper" and paper.json["version"] == 1
    closed = client.post(f"/api/v1/consultations/{cid}/close")
    assert closed.status_code == 200 and closed.json["result"]["answered"] == 1
    listed = client.get("/api/v1/consultations?community=lianhua")
    assert [c["id"] for c in listed.json] == [cid] and "questions" not in listed.json[0]


def test_refusals_use_the_one_error_shape(app: Flask, settings: Settings, council: Council) -> None:
    client = as_staff(app, settings, committee())
    bad = client.post("/api/v1/consultations", json=body(questions=[{**QUESTIONS[0], "options": []}]))
    assert bad.status_code == 422
    assert bad.json["status"] == "Unprocessable Entity" and "questions.gate" in bad.json["errors"]
    unknown = client.post("/api/v1/consultations", json=body(colour="red"))
    assert unknown.status_code == 422
    cid = client.post("/api/v1/consultations", json=body()).json["id"]
    assert as_staff(app, settings, leader()).post(f"/api/v1/consultations/{cid}/open").status_code == 403
    assert as_staff(app, settings, committee("heping")).get(f"/api/v1/consultations/{cid}").status_code == 404
    assert app.test_client().get(f"/api/v1/consultations/{cid}").status_code == 401
    wrong = client.post(
        f"/api/v1/consultations/{cid}/paper",
        json={"building": "1", "unit": "1", "flat": "101", "slip_number": "0001", "answers": {"gate": "yes"}},
    )
    assert wrong.status_code == 409  # a draft takes no answers
    assert council.db.ballots.count_documents({}) == 0 and council.db.consultations.count_documents({}) == 1


def test_the_openapi_document_lists_the_consultation_paths(app: Flask) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/consultations", "/api/v1/consultations/{consultation_id}/close"} <= set(paths)
