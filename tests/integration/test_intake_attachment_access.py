"""Issue 5 item 3: staff open a case's attachments from intake, which keeps them (real database and
broker). The studio a case is with comes from `case.assigned` as mediation publishes it."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from flask.testing import FlaskClient
from gridfs import GridFSBucket

from services.intake import tracking as intake_tracking
from services.intake.bootstrap import bootstrap as bootstrap_intake
from services.mediation import access_log as mediation_access_log
from services.mediation import routing as mediation_service
from services.mediation.bootstrap import bootstrap as bootstrap_mediation
from services.mediation.bootstrap import ensure_indexes as ensure_mediation_indexes
from services.mediation.domain.actor import Actor
from services.mediation.registry import seed_registry
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.images import strip_metadata
from shared.messaging.envelope import make_envelope, parse_envelope
from shared.outbox import EVENTS_FIELD
from tests.integration.conftest import database
from tests.integration.test_intake_web import PNG, csrf_token, valid_form
from tests.support.images import assert_no_metadata, carries_gps, jpeg_with_gps
from tests.support.outbox import filed_events

pytestmark = pytest.mark.integration

PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n" + bytes(range(256)) * 8


def _file_case(client: FlaskClient, settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    form = valid_form(csrf_token(client))
    form["attachments"] = [(io.BytesIO(PNG), "balcony.png"), (io.BytesIO(PDF_BYTES), "letter.pdf")]
    answer = client.post("/", data=form, content_type="multipart/form-data")
    assert answer.status_code == 303
    case = database(settings, "intake").cases.find_one({})
    return case["_id"], case["attachments"]


def _assign_through_mediation(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Mediation routes intake's real `case.submitted`; intake handles the real `case.assigned`."""
    intake_db = database(settings, "intake")
    submitted = parse_envelope(filed_events(intake_db)[0])
    mediation = bootstrap_mediation(settings)
    ensure_mediation_indexes(mediation.db)
    seed_registry(mediation.db)
    mediation_service.on_case_submitted(mediation, submitted)
    row = mediation.db.outbox.find_one({"envelope.type": "case.assigned"})
    assigned = parse_envelope(row["envelope"])
    intake_tracking.on_case_assigned(bootstrap_intake(settings), assigned)
    return assigned.data["studio"]["code"], assigned.data


def _as(client: FlaskClient, settings: Settings, role: str | None, studio: str | None = None) -> FlaskClient:
    client.delete_cookie(COOKIE_NAME)
    if role:
        staff = Staff(user_id=f"u-{role}-{studio}", name="Staff", roles=frozenset({role}), studio=studio)
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


@pytest.fixture
def assigned_case(intake_client: FlaskClient, stack_settings: Settings) -> dict[str, Any]:
    reference, files = _file_case(intake_client, stack_settings)
    studio, event = _assign_through_mediation(stack_settings)
    return {"reference": reference, "files": files, "studio": studio, "event": event}


def test_studio_code_is_recorded_from_mediations_case_assigned(
    assigned_case: dict[str, Any], stack_settings: Settings
) -> None:
    case = database(stack_settings, "intake").cases.find_one({"_id": assigned_case["reference"]})
    assert case["studio_code"] == assigned_case["studio"]
    assert case["status"] == "assigned" and case["studio_name"] == assigned_case["event"]["studio"]["name"]
    assert [e["status"] for e in case["timeline"]] == ["received", "assigned"]  # tracking unchanged


def test_newest_assignment_wins_whatever_the_order(
    assigned_case: dict[str, Any], stack_settings: Settings
) -> None:
    intake = bootstrap_intake(stack_settings)
    mediation = bootstrap_mediation(stack_settings)
    reference, first = assigned_case["reference"], assigned_case["studio"]
    target = next(s["_id"] for s in mediation.db.studios.find({}) if s["_id"] != first)
    admin = Actor("admin-1", frozenset({"district_admin"}), None)
    mediation_service.move_case(mediation, reference, target, "rebalancing", admin)
    row = mediation.db.outbox.find_one(
        {"envelope.type": "case.assigned", "envelope.data.rule": "moved by lead"}
    )
    moved = parse_envelope(row["envelope"])
    intake_tracking.on_case_assigned(intake, moved)
    assert intake.db.cases.find_one({"_id": reference})["studio_code"] == target

    # The first assignment delivered again late (a retry, a new message id) does not take the
    # case back to its old studio.
    late = make_envelope("case.assigned", assigned_case["event"], source="mediation")
    intake_tracking.on_case_assigned(intake, late)
    assert intake.db.cases.find_one({"_id": reference})["studio_code"] == target

    # A mediator taking the case later names the same studio: recorded, no public timeline entry.
    entries = len(intake.db.cases.find_one({"_id": reference})["timeline"])
    taken_at = datetime.fromisoformat(moved.data["assigned_at"]) + timedelta(minutes=5)
    taken = dict(
        moved.data, mediator={"user_id": "m-1", "name": "Mediator"}, assigned_at=taken_at.isoformat()
    )
    intake_tracking.on_case_assigned(intake, make_envelope("case.assigned", taken, source="mediation"))
    case = intake.db.cases.find_one({"_id": reference})
    assert case["studio_code"] == target
    assert len(case["timeline"]) == entries


def test_the_studios_mediator_downloads_the_exact_bytes_and_the_access_is_kept(
    assigned_case: dict[str, Any], intake_client: FlaskClient, stack_settings: Settings
) -> None:
    reference, files = assigned_case["reference"], assigned_case["files"]
    client = _as(intake_client, stack_settings, "mediator", assigned_case["studio"])
    for index, (item, content, extension) in enumerate(
        [(files[0], strip_metadata(PNG), ".jpg"), (files[1], PDF_BYTES, ".pdf")], start=1
    ):
        answer = client.get(f"/staff/cases/{reference}/attachments/{item['id']}")
        assert answer.status_code == 200
        assert answer.data == content
        assert answer.headers["Content-Type"] == item["content_type"]
        assert answer.headers["Content-Disposition"] == f"attachment; filename={reference}-{index}{extension}"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "private, no-store"
    accesses = list(database(stack_settings, "intake").attachment_access.find({}, {"_id": 0}).sort("at", 1))
    assert [(a["reference"], a["file_id"], a["user_id"]) for a in accesses] == [
        (reference, files[0]["id"], f"u-mediator-{assigned_case['studio']}"),
        (reference, files[1]["id"], f"u-mediator-{assigned_case['studio']}"),
    ]
    assert all(a["at"] for a in accesses)

    lead = _as(intake_client, stack_settings, "studio_lead", assigned_case["studio"])
    assert lead.get(f"/staff/cases/{reference}/attachments/{files[0]['id']}").status_code == 200


def test_who_else_may_open_an_attachment(
    assigned_case: dict[str, Any], intake_client: FlaskClient, stack_settings: Settings
) -> None:
    reference, file_id = assigned_case["reference"], assigned_case["files"][0]["id"]
    path = f"/staff/cases/{reference}/attachments/{file_id}"
    other = "another-studio" if assigned_case["studio"] != "another-studio" else "yet-another"
    assert _as(intake_client, stack_settings, "mediator", other).get(path).status_code == 404
    assert _as(intake_client, stack_settings, "studio_lead", other).get(path).status_code == 404
    assert (
        _as(intake_client, stack_settings, "patrol_member", assigned_case["studio"]).get(path).status_code
        == 403
    )
    assert _as(intake_client, stack_settings, None).get(path).status_code == 401
    admin = _as(intake_client, stack_settings, "district_admin", None).get(path)
    assert admin.status_code == 200 and admin.data == strip_metadata(PNG)
    kept = database(stack_settings, "intake").attachment_access.find({}, {"user_id": 1})
    assert [a["user_id"] for a in kept] == ["u-district_admin-None"]  # refusals serve nothing


def test_unknown_case_and_unknown_file_look_the_same(
    assigned_case: dict[str, Any], intake_client: FlaskClient, stack_settings: Settings
) -> None:
    reference, files = assigned_case["reference"], assigned_case["files"]
    client = _as(intake_client, stack_settings, "mediator", assigned_case["studio"])
    paths = [
        f"/staff/cases/{reference}/attachments/000000000000000000000000",
        f"/staff/cases/{reference}/attachments/not-an-id",
        f"/staff/cases/LC-2026-999999/attachments/{files[0]['id']}",
    ]
    answers = [client.get(path) for path in paths]
    assert [a.status_code for a in answers] == [404, 404, 404]
    # The same page (its language links repeat the path, the only difference).
    assert (
        len({a.get_data(as_text=True).replace(path, "") for a, path in zip(answers, paths, strict=True)}) == 1
    )
    assert database(stack_settings, "intake").attachment_access.count_documents({}) == 0


def test_a_case_not_yet_assigned_is_for_district_admins_only(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    reference, files = _file_case(intake_client, stack_settings)
    path = f"/staff/cases/{reference}/attachments/{files[0]['id']}"
    assert _as(intake_client, stack_settings, "mediator", "zhihe").get(path).status_code == 404
    assert _as(intake_client, stack_settings, "district_admin").get(path).status_code == 200


def test_the_desk_case_page_links_each_attachment_to_intake(
    assigned_case: dict[str, Any], stack_settings: Settings
) -> None:
    from dataclasses import replace

    from services.mediation.app import create_app as create_mediation_app

    settings = replace(stack_settings, intake_public_url="https://intake.example.org/")
    client = create_mediation_app(settings).test_client()
    _as(client, settings, "district_admin")
    reference = assigned_case["reference"]
    page = client.get(f"/desk/cases/{reference}?lang=en").get_data(as_text=True)
    for item in assigned_case["files"]:
        assert f'href="https://intake.example.org/staff/cases/{reference}/attachments/{item["id"]}"' in page


def test_a_photo_with_gps_is_stored_without_its_exif(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    """Issue 15 item 8: the resident's phone photo reaches intake's GridFS re-encoded, no GPS."""
    original = jpeg_with_gps()
    assert carries_gps(original)  # the test photo does carry GPS, so the check below can fail
    form = valid_form(csrf_token(intake_client))
    form["attachments"] = [(io.BytesIO(original), "balcony.jpg")]
    assert intake_client.post("/", data=form, content_type="multipart/form-data").status_code == 303
    db = database(stack_settings, "intake")
    case = db.cases.find_one({})
    [item] = case["attachments"]
    assert item["content_type"] == "image/jpeg"
    stored = GridFSBucket(db, bucket_name="attachments").open_download_stream(ObjectId(item["id"])).read()
    assert_no_metadata(stored)
    assert item["size"] == len(stored)
    served = _as(intake_client, stack_settings, "district_admin", None).get(
        f"/staff/cases/{case['_id']}/attachments/{item['id']}"
    )
    assert served.status_code == 200 and served.data == stored


def test_a_download_reaches_mediations_access_log_once(
    assigned_case: dict[str, Any], intake_client: FlaskClient, stack_settings: Settings
) -> None:
    """Issue 15 item 6: intake's download row carries `attachment.downloaded`; mediation keeps it in
    the access log the studio lead reads (a redelivered message adds no second row)."""
    reference, file_id = assigned_case["reference"], assigned_case["files"][1]["id"]
    lead = _as(intake_client, stack_settings, "studio_lead", assigned_case["studio"])
    assert lead.get(f"/staff/cases/{reference}/attachments/{file_id}").status_code == 200
    row = database(stack_settings, "intake").attachment_access.find_one({})
    [carried] = row[EVENTS_FIELD]
    envelope = parse_envelope(carried)
    assert envelope.type == "attachment.downloaded"
    assert envelope.data == {
        "reference": reference,
        "file_id": file_id,
        "user_id": f"u-studio_lead-{assigned_case['studio']}",
        "downloaded_at": envelope.data["downloaded_at"],
    }
    mediation = bootstrap_mediation(stack_settings)
    mediation_access_log.on_attachment_downloaded(mediation, envelope)
    mediation_access_log.on_attachment_downloaded(mediation, envelope)  # delivered twice
    [kept] = mediation.db.access_log.find({"what": "attachment"})
    assert (kept["reference"], kept["file_id"], kept["by"], kept["studio"]) == (
        reference,
        file_id,
        f"u-studio_lead-{assigned_case['studio']}",
        assigned_case["studio"],
    )
    lead_actor = Actor("lead", frozenset({"studio_lead"}), assigned_case["studio"])
    rows = mediation_access_log.rows(
        mediation.db, lead_actor, mediation_access_log.Filters(what="attachment")
    )
    assert [r["file_id"] for r in rows] == [file_id]


def test_an_event_delivered_twice_or_late_has_one_effect(
    assigned_case: dict[str, Any], stack_settings: Settings
) -> None:
    """The tracking view takes an event in one conditional update (the message id kept on the
    case): a redelivery adds nothing, an older event adds its entry without moving the status."""
    intake = bootstrap_intake(stack_settings)
    reference = assigned_case["reference"]
    event = make_envelope("case.assigned", assigned_case["event"], source="mediation")
    again = parse_envelope(event.to_dict())
    intake_tracking.on_case_assigned(intake, event)
    before = intake.db.cases.find_one({"_id": reference})
    intake_tracking.on_case_assigned(intake, again)  # the same message id: nothing changes
    assert intake.db.cases.find_one({"_id": reference}) == before
    assert before["processed_events"].count(event.message_id) == 1

    # A status change older than the assignment (a retry arriving late): its entry, not its status.
    earlier = datetime.fromisoformat(assigned_case["event"]["assigned_at"]) - timedelta(seconds=1)
    late = make_envelope(
        "case.status_changed",
        {
            "reference": reference,
            "status": "awaiting_consent",
            "previous_status": "received",
            "changed_at": earlier.isoformat(),
            "public": True,
        },
        source="mediation",
    )
    intake_tracking.on_case_status_changed(intake, late)
    intake_tracking.on_case_status_changed(intake, parse_envelope(late.to_dict()))
    case = intake.db.cases.find_one({"_id": reference})
    assert case["status"] == "assigned"
    assert [e["status"] for e in case["timeline"]].count("awaiting_consent") == 1
    assert len(case["timeline"]) == len(before["timeline"]) + 1

    with pytest.raises(LookupError):
        intake_tracking.on_case_assigned(
            intake,
            make_envelope(
                "case.assigned", {**assigned_case["event"], "reference": "LC-2026-999999"}, source="mediation"
            ),
        )
