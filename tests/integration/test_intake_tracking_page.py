"""The resident's tracking page, kept from mediation's events: the studio's and the hall's names in
the reader's language, shared notes as lines of their own, and sessions booked before events
carried session ids struck out when they are moved."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from services.intake import tracking
from services.intake.bootstrap import bootstrap
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.integration.conftest import CASE, database
from tests.support.notify_events import data_for

pytestmark = pytest.mark.integration


def _event(event_type: str, reference: str, **data: object):
    return make_envelope(event_type, data_for(event_type, reference, **data), source="mediation")


def _timeline_items(page: str) -> list[str]:
    found = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', page, re.S)
    assert found is not None
    return [re.sub(r"\s+", " ", item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def test_english_page_names_the_studio_and_hall_in_english_and_shows_a_shared_note_once(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    created = intake_client.post("/api/v1/cases", json=CASE).json
    reference, token = created["reference"], created["tracking_token"]
    intake = bootstrap(stack_settings)
    # Dated after the filing, so each moves the current state (older events only add entries).
    tracking.on_case_assigned(
        intake, _event("case.assigned", reference, assigned_at="2099-01-01T01:00:00+00:00")
    )
    tracking.on_case_status_changed(
        intake,
        _event(
            "case.status_changed",
            reference,
            status="in_mediation",
            previous_status="rights_notified",
            changed_at="2099-01-02T02:00:00+00:00",
            note=None,
        ),
    )
    tracking.on_session_scheduled(intake, _event("session.scheduled", reference))
    shared = _event(
        "case.status_changed",
        reference,
        status="in_mediation",
        previous_status="in_mediation",
        changed_at="2099-01-03T02:00:00+00:00",
        note="Please bring the receipts of the property fees.",
    )
    tracking.on_case_status_changed(intake, shared)
    tracking.on_case_status_changed(intake, shared)  # redelivered: one entry

    english = intake_client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)
    assert "Zhihe Mediation Studio" in english and "Lianhua Council Hall" in english
    assert "至和调解工作室" not in english and "莲花社区议事厅" not in english
    items = _timeline_items(english)
    assert sum("In mediation" in item for item in items) == 1
    [note] = [item for item in items if "Message from the mediation studio" in item]
    assert "Please bring the receipts of the property fees." in note
    assert english.count("Please bring the receipts") == 1

    chinese = intake_client.get(f"/track/{reference}?token={token}&lang=zh-CN").get_data(as_text=True)
    assert "至和调解工作室" in chinese and "莲花社区议事厅" in chinese and "调解工作室留言" in chinese
    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    assert status["status"] == "in_mediation"
    assert [e["status"] for e in status["timeline"]][-1] == "note_shared"


def test_a_session_booked_before_session_ids_is_struck_out_when_moved(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    created = intake_client.post("/api/v1/cases", json=CASE).json
    reference, token = created["reference"], created["tracking_token"]
    intake = bootstrap(stack_settings)
    old_time = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    # What intake stored for a session booked before events carried session ids, and an old
    # shared note (the state repeated with the note).
    database(stack_settings, "intake").cases.update_one(
        {"_id": reference},
        {
            "$push": {
                "timeline": {
                    "$each": [
                        {"status": "in_mediation", "at": datetime(2026, 11, 21, tzinfo=UTC)},
                        {
                            "status": "session_scheduled",
                            "at": datetime(2026, 11, 22, tzinfo=UTC),
                            "starts_at": old_time,
                            "place": "莲花社区议事厅",
                        },
                        {
                            "status": "in_mediation",
                            "at": datetime(2026, 11, 23, tzinfo=UTC),
                            "note": "请带上物业费收据。",
                        },
                    ]
                }
            }
        },
    )
    page = intake_client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)
    assert "<del>" not in page  # nothing moved yet: the time holds
    tracking.on_session_rescheduled(intake, _event("session.rescheduled", reference, session_id="s-legacy"))

    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    sessions = [e for e in status["timeline"] if e["status"].startswith("session_")]
    assert [(e["status"], e.get("superseded_by")) for e in sessions] == [
        ("session_scheduled", "session_rescheduled"),
        ("session_rescheduled", None),
    ]
    items = _timeline_items(
        intake_client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)
    )
    [booked] = [item for item in items if "Mediation session scheduled" in item]
    assert "<del><time" in booked and "This time no longer holds: the session was moved." in booked
    assert sum("In mediation" in item for item in items) == 1
    assert any("Message from the mediation studio" in i and "请带上物业费收据。" in i for i in items)
