"""What mediation records for council's board: the prevention counts a mediator gives when ending a
case (desk page, API, agreement signing; optional, validated, nothing changed when refused), on
case.closed; the case's source and the patrol's "found early" on their events."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.domain import lifecycle as lc
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import InvalidMessage
from shared.messaging.events import validate_data
from tests.integration.test_mediation_desk import MEDIATOR, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation

LEAD = Staff("lead", "王立", frozenset({"studio_lead"}), studio="zhihe")
PATROL = Staff("patrol", "马军", frozenset({"patrol_member"}), team="qinghe-patrol")
S_MEDIATOR = Staff("mediator", "陈敏", frozenset({"mediator"}), studio="zhihe")


@pytest.fixture
def client(settings: Settings, mediation) -> FlaskClient:
    c = create_app(settings).test_client()
    c.set_cookie(COOKIE_NAME, issue_token(settings, S_MEDIATOR))
    return c


def in_mediation(m) -> str:
    reference = accepted_case(m)
    desk.take(m, reference, MEDIATOR)
    desk.apply_action(m, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    return reference


def test_api_ending_records_the_counts_on_the_case_and_case_closed(client, mediation) -> None:
    reference = in_mediation(mediation)
    url = f"/api/v1/desk/cases/{reference}/actions"
    before = mediation.db.cases.find_one({"_id": reference})
    for bad in (-1, "three", 10000, 2.5, True):
        refused = client.post(
            url, json={"action": "fail", "payload": {"note": "起诉", "criminal_prevented_persons": bad}}
        )
        assert refused.status_code == 422, bad
        assert "criminal_prevented_persons" in refused.json["errors"]
    assert mediation.db.cases.find_one({"_id": reference}) == before
    assert events(mediation, "case.closed", reference) == []
    done = client.post(
        url,
        json={
            "action": "fail",
            "payload": {"note": "起诉", "criminal_prevented_persons": 3, "petition_prevented_persons": "12"},
        },
    )
    assert done.status_code == 200, done.json
    [closed] = events(mediation, "case.closed", reference)
    assert (closed["criminal_prevented_persons"], closed["petition_prevented_persons"]) == (3, 12)
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["prevention"] == {"criminal_prevented_persons": 3, "petition_prevented_persons": 12}


def test_page_form_offers_the_counts_blank_means_none(client, mediation) -> None:
    reference = in_mediation(mediation)
    page = client.get(f"/desk/cases/{reference}?lang=en").get_data(as_text=True)
    assert 'id="fail-criminal_prevented_persons"' in page and "Prevention (optional)" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "expected_state": "rights_notified", "note": "起诉"}
    refused = client.post(
        f"/desk/cases/{reference}/actions/fail", data={**form, "petition_prevented_persons": "many"}
    )
    assert refused.status_code == 422 and events(mediation, "case.closed", reference) == []
    client.post(
        f"/desk/cases/{reference}/actions/fail",
        data={**form, "criminal_prevented_persons": "", "petition_prevented_persons": " 7 "},
    )
    [closed] = events(mediation, "case.closed", reference)
    assert (closed["criminal_prevented_persons"], closed["petition_prevented_persons"]) == (0, 7)


def test_event_schemas_carry_source_counts_and_found_early() -> None:
    base = {
        "reference": "LC-2026-000001",
        "received_at": "2026-11-03T10:00:00+08:00",
        "category": "neighbours",
        "community": "lianhua",
        "building": "3",
        "description": "x",
        "parties": [{"role": "applicant", "name": "张三"}],
    }
    assert validate_data("case.submitted", 1, base)["source"] == "application"  # older messages
    assert (
        validate_data("case.submitted", 1, {**base, "source": "referred_police"})["source"]
        == "referred_police"
    )
    with pytest.raises(InvalidMessage):
        validate_data("case.submitted", 1, {**base, "source": "gossip"})
    closed = {"reference": "LC-2026-000001", "outcome": "failed", "closed_at": "2026-11-03T10:00:00+08:00"}
    assert validate_data("case.closed", 1, closed)["criminal_prevented_persons"] == 0
    with pytest.raises(InvalidMessage):
        validate_data("case.closed", 1, {**closed, "petition_prevented_persons": -2})


def test_patrol_report_found_early_from_the_form(settings, mediation) -> None:
    client = create_app(settings).test_client()
    client.set_cookie(COOKIE_NAME, issue_token(settings, LEAD))
    sweep = client.post(
        "/api/v1/patrol/sweeps", json={"community": "xinyuan", "team": "qinghe-patrol", "every_days": 7}
    ).json
    client.set_cookie(COOKIE_NAME, issue_token(settings, PATROL))
    client.post(f"/api/v1/patrol/tasks/{sweep['id']}/accept")
    page = client.get(f"/patrol/tasks/{sweep['id']}?lang=en").get_data(as_text=True)
    assert 'name="found_early"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        f"/patrol/tasks/{sweep['id']}/report",
        data={
            "csrf_token": token,
            "findings": "Two neighbours arguing",
            "calmed": "yes",
            "found_early": "yes",
        },
    )
    [reported] = [
        row["envelope"]["data"] for row in mediation.db.outbox.find({"envelope.type": "patrol.reported"})
    ]
    assert reported["found_early"] is True and reported["community"] == "xinyuan"
    task = mediation.db.patrol_tasks.find_one({"_id": sweep["id"]})
    assert task["report"]["found_early"] is True
