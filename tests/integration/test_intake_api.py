"""Intake's JSON API contract, bad input (nothing stored), the public timeline kept from events,
and the admin page for Open311 keys."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from services.intake import tracking
from services.intake.app import create_app
from services.intake.bootstrap import bootstrap, ensure_indexes
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.integration.conftest import CASE, database
from tests.support.outbox import filed_events

pytestmark = pytest.mark.integration


def nothing_stored(settings: Settings) -> bool:
    db = database(settings, "intake")
    return db.cases.count_documents({}) == 0 and db.outbox.count_documents({}) == 0


def test_create_answers_the_contract_and_status_hides_parties(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    created = intake_client.post("/api/v1/cases", json=CASE)
    assert created.status_code == 201
    assert set(created.json) == {"reference", "tracking_token", "status"}
    reference, token = created.json["reference"], created.json["tracking_token"]
    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    assert status["reference"] == reference and status["status"] == "received"
    assert status["related_case_exists"] is False
    assert "张三" not in str(status) and "13800138000" not in str(status)
    [envelope] = filed_events(database(stack_settings, "intake"))
    assert envelope["data"]["channel"] == "api" and envelope["data"]["agrees_to_mediation"] is True

    # The duplicate lookup is asked where it is shown (the status), not while the case is filed.
    again = intake_client.post("/api/v1/cases", json=CASE).json
    status = intake_client.get(f"/api/v1/cases/{again['reference']}?token={again['tracking_token']}").json
    assert status["related_case_exists"] is True
    first = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    assert first["related_case_exists"] is False  # flagged on the later case only


def test_openapi_document_and_docs_page(intake_client: FlaskClient) -> None:
    spec = intake_client.get("/api/v1/openapi.json").json
    assert "/api/v1/cases" in spec["paths"] and "/api/v1/cases/{reference}" in spec["paths"]
    assert intake_client.get("/api/v1/docs").status_code == 200


def _with(**changes: object) -> dict:
    body = copy.deepcopy(CASE)
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with(category="parking"), "category"),
        (_with(community="atlantis"), "community"),
        (_with(community={"$ne": ""}), "community"),  # operator injection
        (_with(**{"$where": "sleep(1000)"}), "$where"),
        (_with(**{"a.b": 1}), "a.b"),
        (_with(applicants=[{"name": "x", "phone": "13800138000", "$gt": ""}]), "applicants"),
        (_with(applicants=[]), "applicants"),
        (_with(applicants=[{"name": "x", "phone": "call me"}]), "applicants"),
        (_with(description=""), "description"),
        (_with(description="x" * 5001), "description"),
        (_with(description="bell\x07"), "description"),
        (_with(people_affected="12"), "people_affected"),
        (_with(amount=-1), "amount"),
        (_with(consent=False), "consent"),
        ({k: v for k, v in CASE.items() if k != "consent"}, "consent"),
        (_with(threat_of_violence="maybe"), "threat_of_violence"),
    ],
)
def test_bad_input_is_refused_with_field_errors_and_stores_nothing(
    intake_client: FlaskClient, stack_settings: Settings, body: dict, field: str
) -> None:
    answer = intake_client.post("/api/v1/cases", json=body)
    assert answer.status_code == 422
    assert answer.json["code"] == 422 and answer.json["status"] == "Unprocessable Entity"
    assert field in answer.json["errors"]
    assert nothing_stored(stack_settings)


def test_malformed_and_oversized_bodies(intake_client: FlaskClient, stack_settings: Settings) -> None:
    broken = intake_client.post("/api/v1/cases", data="{not json", content_type="application/json")
    assert broken.status_code in (400, 422) and broken.json["code"] == broken.status_code
    listed = intake_client.post("/api/v1/cases", json=[CASE])
    assert listed.status_code == 422
    huge = intake_client.post(
        "/api/v1/cases", data=b"{" + b" " * (3 * 1024 * 1024) + b"}", content_type="application/json"
    )
    assert huge.status_code == 413 and huge.json["code"] == 413
    assert nothing_stored(stack_settings)


def test_script_in_text_is_stored_as_text_and_escaped_on_the_page(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    created = intake_client.post("/api/v1/cases", json=_with(building="<img src=x onerror=alert(1)>")).json
    case = database(stack_settings, "intake").cases.find_one({"_id": created["reference"]})
    assert case["building"] == "<img src=x onerror=alert(1)>"  # kept as typed, never interpreted


def test_wrong_token_and_unknown_reference_answer_the_same(intake_client: FlaskClient) -> None:
    created = intake_client.post("/api/v1/cases", json=CASE).json
    wrong = intake_client.get(f"/api/v1/cases/{created['reference']}?token=nope")
    unknown = intake_client.get("/api/v1/cases/LC-2099-000001?token=nope")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json == unknown.json
    assert intake_client.get(f"/api/v1/cases/{created['reference']}").status_code == 422
    assert intake_client.get(f"/api/v1/cases/{created['reference']}?token[$ne]=x").status_code == 422


def test_api_rate_limit(stack_settings: Settings) -> None:
    client = create_app(replace(stack_settings, intake_rate_limit="1/600")).test_client()
    assert client.post("/api/v1/cases", json=CASE).status_code == 201
    limited = client.post("/api/v1/cases", json=CASE)
    assert limited.status_code == 429 and limited.json["code"] == 429


def test_timeline_follows_public_events_once_each(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    created = intake_client.post("/api/v1/cases", json=CASE).json
    reference, token = created["reference"], created["tracking_token"]
    intake = bootstrap(stack_settings)
    now = datetime.now(UTC)
    studio = {"code": "zhihe", "name": "至和调解工作室"}
    assigned = make_envelope(
        "case.assigned",
        {"reference": reference, "studio": studio, "assigned_at": now.isoformat(), "rule": "area+category"},
        source="mediation",
    )
    internal = make_envelope(
        "case.status_changed",
        {
            "reference": reference,
            "status": "investigating",
            "changed_at": now.isoformat(),
            "public": False,
            "note": "internal: party seems hostile",
        },
        source="mediation",
    )
    session = make_envelope(
        "session.scheduled",
        {
            "reference": reference,
            "session_id": "s1",
            "starts_at": (now + timedelta(days=3)).isoformat(),
            "ends_at": (now + timedelta(days=3, hours=1)).isoformat(),
            "place": {"code": "hall", "name": "莲花社区议事厅"},
            "mediators": [{"user_id": "u1", "name": "王调解", "phone": "13600000000"}],
        },
        source="mediation",
    )
    closed = make_envelope(
        "case.closed",
        {
            "reference": reference,
            "outcome": "agreement_written",
            "closed_at": (now + timedelta(days=4)).isoformat(),
            "public_note": "Agreement signed.",
        },
        source="mediation",
    )
    tracking.on_case_assigned(intake, assigned)
    tracking.on_case_assigned(intake, assigned)  # redelivered: no second entry
    tracking.on_case_status_changed(intake, internal)
    tracking.on_session_scheduled(intake, session)
    tracking.on_case_closed(intake, closed)

    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    assert [e["status"] for e in status["timeline"]] == [
        "received",
        "assigned",
        "session_scheduled",
        "closed",
    ]
    assert status["status"] == "closed" and status["outcome"] == "agreement_written"
    assert "internal" not in str(status) and "王调解" not in str(status) and "13600000000" not in str(status)
    assert status["timeline"][2]["place"] == "莲花社区议事厅"

    page = intake_client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)
    assert "Written agreement reached" in page and "Agreement signed." in page
    assert database(stack_settings, "intake").cases.find_one({"_id": reference})["open"] is False
    # A closed case is no longer a duplicate candidate.
    later = intake_client.post("/api/v1/cases", json=CASE).json
    status = intake_client.get(f"/api/v1/cases/{later['reference']}?token={later['tracking_token']}").json
    assert status["related_case_exists"] is False


def test_admin_page_issues_and_revokes_keys_for_district_admins_only(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    assert intake_client.get("/admin/api-keys").status_code == 401
    mediator = Staff("m1", "Mediator", frozenset({"mediator"}))
    intake_client.set_cookie(COOKIE_NAME, issue_token(stack_settings, mediator))
    assert intake_client.get("/admin/api-keys").status_code == 403

    admin = Staff("a1", "Admin", frozenset({"district_admin"}))
    intake_client.set_cookie(COOKIE_NAME, issue_token(stack_settings, admin))
    page = intake_client.get("/admin/api-keys?lang=en").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    issued = intake_client.post(
        "/admin/api-keys?lang=en", data={"csrf_token": csrf, "organisation": "Grid office"}
    )
    key = re.search(r'id="new-key">([^<]+)<', issued.get_data(as_text=True)).group(1)
    record = database(stack_settings, "intake").api_keys.find_one({"organisation": "Grid office"})
    assert record["issued_by"] == "a1" and key not in str(record)
    intake_client.post(f"/admin/api-keys/{record['_id']}/revoke", data={"csrf_token": csrf})
    assert (
        database(stack_settings, "intake").api_keys.find_one({"_id": record["_id"]})["revoked_at"] is not None
    )
    empty = intake_client.post("/admin/api-keys?lang=en", data={"csrf_token": csrf, "organisation": " "})
    assert empty.status_code == 422


FILER = {"name": "王楼长", "phone": "13600136000", "email": "wang@example.com"}


def test_building_leader_filer_is_stored_and_sent_but_never_shown_or_logged(
    intake_client: FlaskClient, stack_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        created = intake_client.post(
            "/api/v1/cases", json=_with(filed_by="building_leader", filer=FILER, language="en")
        )
    assert created.status_code == 201, created.json
    reference, token = created.json["reference"], created.json["tracking_token"]
    db = database(stack_settings, "intake")
    assert db.cases.find_one({"_id": reference})["filer"] == {**FILER}
    [data] = [e["data"] for e in filed_events(db)]
    assert data["filed_by"] == "building_leader"
    assert data["filer"] == {**FILER, "language": "en"}
    assert all(p["role"] in ("applicant", "respondent") for p in data["parties"])  # not a party
    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    page = intake_client.get(f"/track/{reference}?token={token}").get_data(as_text=True)
    logged = " ".join(str(vars(record)) for record in caplog.records)  # messages and extras
    assert reference in logged  # the submission is logged, by reference only
    for shown in (str(status), page, logged):
        assert "王楼长" not in shown and "13600136000" not in shown and "wang@example.com" not in shown


def test_clerk_may_give_a_filer_or_not(intake_client: FlaskClient, stack_settings: Settings) -> None:
    without = intake_client.post("/api/v1/cases", json=_with(filed_by="clerk"))
    assert without.status_code == 201
    with_filer = intake_client.post(
        "/api/v1/cases", json=_with(filed_by="clerk", filer={"name": "接待员", "phone": "13500135000"})
    )
    assert with_filer.status_code == 201
    rows = [e["data"] for e in filed_events(database(stack_settings, "intake"))]
    filers = {r["reference"]: r["filer"] for r in rows}
    assert filers[without.json["reference"]] is None
    assert filers[with_filer.json["reference"]] == {
        "name": "接待员",
        "phone": "13500135000",
        "email": None,
        "language": "zh-CN",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_with(filed_by="building_leader"), "must give their own name and phone"),
        (_with(filed_by="building_leader", filer=None), "must give their own name and phone"),
        (_with(filer=FILER), "only when filing on behalf of someone"),
        (_with(filed_by="resident", filer=FILER), "only when filing on behalf of someone"),
    ],
)
def test_filer_must_match_who_files(
    intake_client: FlaskClient, stack_settings: Settings, body: dict, message: str
) -> None:
    answer = intake_client.post("/api/v1/cases", json=body)
    assert answer.status_code == 422
    assert message in " ".join(answer.json["errors"]["filer"])
    assert nothing_stored(stack_settings)


@pytest.mark.parametrize(
    ("filer", "field"),
    [
        ({"name": "王楼长"}, "phone"),
        ({"phone": "13600136000"}, "name"),
        ({**FILER, "phone": "call me"}, "phone"),
        ({**FILER, "email": "not-an-email"}, "email"),
        ({**FILER, "language": "en"}, "language"),  # strict: the case's language is used
        ({**FILER, "name": "x" * 101}, "name"),
    ],
)
def test_bad_filer_is_refused_field_by_field(
    intake_client: FlaskClient, stack_settings: Settings, filer: dict, field: str
) -> None:
    answer = intake_client.post("/api/v1/cases", json=_with(filed_by="building_leader", filer=filer))
    assert answer.status_code == 422
    assert field in answer.json["errors"]["filer"]
    assert nothing_stored(stack_settings)


def test_source_is_an_application_unless_staff_say_otherwise(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    """The board counts cases by source: a resident's filing is an application; a referral or a
    discovery is staff's to record, and travels on case.submitted."""
    refused = intake_client.post("/api/v1/cases", json=_with(source="referred_police"))
    assert refused.status_code == 422 and "Only staff" in " ".join(refused.json["errors"]["source"])
    unknown = intake_client.post("/api/v1/cases", json=_with(source="rumour"))
    assert unknown.status_code == 422 and "source" in unknown.json["errors"]
    assert nothing_stored(stack_settings)

    assert intake_client.post("/api/v1/cases", json=CASE).status_code == 201
    clerk = Staff(user_id="clerk-1", name="Clerk", roles=frozenset({"mediator"}), studio="zhihe")
    token = issue_token(stack_settings, clerk)
    referred = intake_client.post(
        "/api/v1/cases", json=_with(source="referred_police"), headers={"Authorization": f"Bearer {token}"}
    )
    assert referred.status_code == 201, referred.json
    sources = [e["data"]["source"] for e in filed_events(database(stack_settings, "intake"))]
    assert sorted(sources) == ["application", "referred_police"]


def test_cases_keep_no_redundant_index(stack_settings: Settings) -> None:
    """`_id` is the reference and nothing reads by `updated_at`: an older version's indexes on
    them are dropped at start-up (each made every write of a case dearer), the others kept."""
    cases = database(stack_settings, "intake").cases
    cases.create_index("reference", unique=True)
    cases.create_index([("updated_at", -1)])
    ensure_indexes(cases.database)
    names = set(cases.index_information())
    assert "reference_1" not in names and "updated_at_-1" not in names
    assert {"_id_", "open311_token_1", "outbox_pending_at_1"} <= names
    ensure_indexes(cases.database)  # again, with nothing left to drop
    assert set(cases.index_information()) == names
