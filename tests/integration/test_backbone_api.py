"""The case API's contract: bad input gets a per-field error and stores nothing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.outbox import filed_events, pending_events
from tests.support.stack import wait_for


def stored(settings: Settings) -> tuple[int, int]:
    db = database(settings, "intake")
    return db.cases.count_documents({}), db.outbox.count_documents({})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "astrology"}, "category"),
        ({"community": "atlantis"}, "community"),
        ({"community": {"$ne": None}}, "community"),  # operator injection
        ({"consent": False}, "consent"),
        ({"applicants": []}, "applicants"),
        ({"applicants": [{"name": "张三", "phone": "not a phone"}]}, "applicants"),
        ({"respondents": "李四"}, "respondents"),
        ({"people_affected": "many"}, "people_affected"),
        ({"description": "   "}, "description"),
        ({"admin": True}, "admin"),  # unknown fields are refused, not ignored
        ({"building.$where": "1"}, "building.$where"),
    ],
)
def test_invalid_case_gets_422_naming_the_field_and_stores_nothing(
    intake_client: FlaskClient, stack_settings: Settings, change: dict, field: str
) -> None:
    response = intake_client.post("/api/v1/cases", json={**CASE, **change})
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert field in response.json["errors"]
    assert stored(stack_settings) == (0, 0)


def test_missing_fields_are_each_reported(intake_client: FlaskClient, stack_settings: Settings) -> None:
    response = intake_client.post("/api/v1/cases", json={})
    assert response.status_code == 422
    required = {"category", "community", "building", "description", "applicants", "respondents", "consent"}
    assert required <= set(response.json["errors"])
    assert stored(stack_settings) == (0, 0)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[]", "application/json", 422),
        ("x" * (3 * 1024 * 1024), "application/json", 413),
    ],
)
def test_malformed_or_oversized_body_gets_json_error(
    intake_client: FlaskClient, stack_settings: Settings, body: str, content_type: str, status: int
) -> None:
    response = intake_client.post("/api/v1/cases", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.is_json and response.json["code"] == status
    assert stored(stack_settings) == (0, 0)


def test_valid_case_is_stored_with_its_event_and_a_hashed_token(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    response = intake_client.post("/api/v1/cases", json=CASE)
    assert response.status_code == 201
    body = response.json
    assert body["reference"].startswith("LC-") and len(body["tracking_token"]) >= 20
    db = database(stack_settings, "intake")
    # Only its hash is kept: the applicant's link event the case carries loses the token once it is
    # on its way (marked sent, in a batch a moment after the filing).
    wait_for(lambda: pending_events(db, ("cases",)) == 0, what="the carried events marked sent")
    case = db.cases.find_one({"_id": body["reference"]})
    assert body["tracking_token"] not in str(case)
    [event] = filed_events(db)
    assert event["type"] == "case.submitted" and event["data"]["reference"] == body["reference"]
    assert event["correlation_id"] == response.headers["X-Correlation-ID"]


def test_references_are_sequential_per_year(intake_client: FlaskClient) -> None:
    first = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    second = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1


def test_unknown_reference_and_wrong_token_look_the_same(intake_client: FlaskClient) -> None:
    reference = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    wrong_token = intake_client.get(f"/api/v1/cases/{reference}?token=guess")
    unknown = intake_client.get("/api/v1/cases/LC-2026-999999?token=guess")
    assert wrong_token.status_code == unknown.status_code == 404
    assert wrong_token.json == unknown.json
    assert intake_client.get(f"/api/v1/cases/{reference}").status_code == 422  # token required


def test_taxonomy_lists_are_served(intake_client: FlaskClient) -> None:
    categories = intake_client.get("/api/v1/categories").json
    assert {
        "code": "property_management",
        "name_zh-CN": "物业",
        "name_en": "Property management",
    } in categories
    assert len(categories) == 15
    communities = intake_client.get("/api/v1/communities").json
    assert any(c["code"] == "lianhua" and c["street"] == "qinghe" for c in communities)


def test_rate_limit_sees_real_clients_behind_a_trusted_proxy(stack_settings: Settings) -> None:
    from dataclasses import replace

    from services.intake.app import create_app

    behind_proxy = replace(stack_settings, trusted_proxy_hops=1, intake_rate_limit="1/600")
    client = create_app(behind_proxy).test_client()

    def post(address: str) -> int:
        return client.post("/api/v1/cases", json=CASE, headers={"X-Forwarded-For": address}).status_code

    assert post("203.0.113.7") == 201
    assert post("203.0.113.8") == 201  # another resident behind the same ingress
    assert post("203.0.113.7") == 429
