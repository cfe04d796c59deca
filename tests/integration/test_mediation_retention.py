# Chinese case text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Retention (PIPL Art 19) on the real database and broker, the clock moved forward: an archived case
keeps its personal data until its period ends (5 years by default, configurable), then the archive
job erases it from the case, its session records, patrol reports, scans and photos, replaces the
dossier by the anonymised one, and `case.personal_data_erased` makes intake and notify erase their
copies (each once, whatever is redelivered), the anonymous record staying for the statistics."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from gridfs import GridFSBucket

from devtools.smtp_sink import CapturingHandler
from services.intake import erasure as intake_erasure
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.mediation import archive_job, desk, retention, visits
from services.mediation.bootstrap import Mediation, bootstrap
from services.mediation.domain import lifecycle as lc
from services.notify import erasure as notify_erasure
from services.notify.bootstrap import bootstrap as notify_bootstrap
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.integration.conftest import CASE, database
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_dossier import written_case
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

PERSONAL = ("张三", "李四", "13800138000", "13900139000", "zhang@example.com", "2-301")


def archive(m: Mediation, reference: str) -> datetime:
    desk.apply_action(m, reference, LEAD, lc.ARCHIVE)
    return m.db.cases.find_one({"_id": reference})["archived_at"]


def withdrawn_case(m: Mediation) -> str:
    reference = accepted_case(m)
    desk.apply_action(m, reference, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    return reference


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "d.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def stored_dossier(m: Mediation, reference: str) -> bytes:
    row = m.db.cases.find_one({"_id": reference})["dossier"]
    return GridFSBucket(m.db, bucket_name="dossiers").open_download_stream(ObjectId(row["id"])).read()


def test_personal_data_is_kept_until_the_period_ends_then_erased_once(
    mediation: Mediation, tmp_path: Path
) -> None:
    reference = written_case(mediation)
    desk.add_note(mediation, reference, MEDIATOR, "张三来电，说李四已付款。", shared=False)
    photo = io.BytesIO(b"\xff\xd8\xff photo bytes")
    mediation.db.patrol_tasks.insert_one(
        {
            "_id": "task-r1",
            "reference": reference,
            "building": "3",
            "unit": "2-301",
            "report": {"findings": "张三与李四在楼道争吵", "people_met": "张三, 李四"},
        }
    )
    mediation.db.task_photos.insert_one(
        {"_id": "p1", "task_id": "task-r1", "index": 0, "data": photo.getvalue()}
    )
    visit = {"how": "phone", "performed": "performed", "satisfied": 5, "renewed_conflict": False}
    visits.record_visit(
        mediation, f"{reference}:visit:applicant-1", MEDIATOR, {**visit, "note": "张三说李四已付款"}
    )
    archived = archive(mediation, reference)
    assert archive_job.run_once(mediation) == {"erased": 0, "dossiers": 1}
    first_dossier = mediation.db.cases.find_one({"_id": reference})["dossier"]
    scan_id = mediation.db.cases.find_one({"_id": reference})["agreement"]["scan"]["id"]
    assert "张三" in pdf_text(stored_dossier(mediation, reference), tmp_path)

    # A day short of five years: nothing happens.
    before = mediation.db.cases.find_one({"_id": reference})
    assert retention.run_once(mediation, now=archived + timedelta(days=5 * 365)) == 0
    assert mediation.db.cases.find_one({"_id": reference}) == before
    assert events(mediation, "case.personal_data_erased") == []

    # Five years on: erased, once, even when the job runs again.
    five_years = archived.replace(year=archived.year + 5)
    assert retention.run_once(mediation, now=five_years) == 1
    assert retention.run_once(mediation, now=five_years + timedelta(days=1)) == 0
    case = mediation.db.cases.find_one({"_id": reference})
    flat = repr(case)
    for personal in (*PERSONAL, "李四装修噪音扰民", "每日20时后停止施工", "张三来电"):
        assert personal not in flat, personal
    assert [p["role"] for p in case["parties"]] == ["applicant", "respondent"]
    assert (case["category"], case["community"], case["status"]) == ("neighbours", "lianhua", "archived")
    assert case["agreement"]["number"] and case["personal_data_erased_at"] == five_years
    session = mediation.db.sessions.find_one({"reference": reference})
    assert session["record"]["statements"] == "" and session["record"]["attended"] == []
    assert session["record"]["result"] == "agreement"  # the anonymous record stays
    task = mediation.db.patrol_tasks.find_one({"_id": "task-r1"})
    assert task["unit"] == "" and task["report"] == {"findings": "", "people_met": ""}
    assert mediation.db.task_photos.count_documents({}) == 0
    followed = mediation.db.follow_up_tasks.find_one({"_id": f"{reference}:visit:applicant-1"})
    assert followed["record"]["note"] == "" and followed["record"]["satisfied"] == 5  # counted still
    agreements_files = GridFSBucket(mediation.db, bucket_name="agreements")
    assert list(agreements_files.find({"_id": ObjectId(scan_id)})) == []
    [erased] = events(mediation, "case.personal_data_erased", reference)
    assert erased == {
        "reference": reference,
        "erased_at": five_years.isoformat(),
        "archived_at": archived.isoformat(),
    }

    # The dossier: the old one deleted, the anonymised one in its place.
    new = mediation.db.cases.find_one({"_id": reference})["dossier"]
    assert new["anonymised"] and new["id"] != first_dossier["id"]
    assert mediation.db["dossiers.files"].count_documents({}) == 1
    text = pdf_text(stored_dossier(mediation, reference), tmp_path)
    assert "个人信息已于保存期限届满后删除" in text and reference in text and "邻里" in text
    for personal in PERSONAL:
        assert personal not in text, personal


def test_the_period_is_a_setting(settings: Settings, mediation: Mediation) -> None:
    one_year = bootstrap(replace(settings, personal_data_retention_years=1))
    reference = withdrawn_case(one_year)
    archived = archive(one_year, reference)
    assert retention.run_once(one_year, now=archived + timedelta(days=364)) == 0
    assert retention.run_once(mediation, now=archived + timedelta(days=366)) == 0  # five years here
    assert retention.run_once(one_year, now=archived + timedelta(days=366)) == 1
    # A case that is not archived is never erased, however old.
    open_case = accepted_case(one_year)
    assert retention.run_once(one_year, now=archived + timedelta(days=3650)) == 0
    assert one_year.db.cases.find_one({"_id": open_case})["parties"][0]["name"] == "张三"


def test_intake_and_notify_erase_their_copies_through_the_workers(
    stack_settings: Settings,
    workers: Workers,
    intake_client,
    mailbox: CapturingHandler,
    mediation: Mediation,
    tmp_path: Path,
) -> None:
    workers.start("intake")
    workers.start("mediation", DESK_JOB_INTERVAL="1")  # the archive job builds the dossier
    workers.start("notify")
    reference = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    wait_for(lambda: mediation.db.cases.find_one({"_id": reference}), timeout=30, what="routing")
    intake_db = database(stack_settings, "intake")
    notify_db = database(stack_settings, "notify")
    wait_for(lambda: notify_db.contacts.find_one({"_id": reference}), timeout=30, what="notify's contacts")
    wait_for(lambda: mailbox.to("zhang@example.com"), timeout=30, what="the applicant's first email")
    for action, payload in (
        (lc.START_SCREENING, {}),
        (lc.ACCEPT, {}),
        (lc.WITHDRAW, {"withdrawn_by": "张三"}),
    ):
        desk.apply_action(mediation, reference, LEAD, action, payload)
    archived = archive(mediation, reference)
    # The worker's archive job makes the dossier: the archived case ends up with it.
    wait_for(
        lambda: (mediation.db.cases.find_one({"_id": reference}) or {}).get("dossier"),
        timeout=30,
        what="dossier",
    )
    wait_for(
        lambda: notify_db.deliveries.count_documents({"reference": reference, "status": "sent"}) >= 2,
        timeout=30,
        what="deliveries sent",
    )
    assert intake_db.cases.find_one({"_id": reference})["parties"][0]["name"] == "张三"

    assert retention.run_once(mediation, now=archived.replace(year=archived.year + 5)) == 1

    def intake_erased() -> bool:
        return bool((intake_db.cases.find_one({"_id": reference}) or {}).get("personal_data_erased_at"))

    wait_for(intake_erased, timeout=30, what="intake's copy erased")
    wait_for(
        lambda: notify_db.contacts.find_one({"_id": reference}) is None,
        timeout=30,
        what="notify's contacts erased",
    )
    wait_for(
        lambda: (
            notify_db.deliveries.count_documents({"reference": reference, "personal_data_erased_at": None})
            == 0
        ),
        timeout=30,
        what="notify's deliveries erased",
    )
    intake_case = intake_db.cases.find_one({"_id": reference})
    notify_rows = list(notify_db.deliveries.find({"reference": reference}))
    for personal in (*PERSONAL, "Loud renovation"):
        assert personal not in repr(intake_case), personal
        assert personal not in repr(notify_rows), personal
    assert intake_case["category"] == "neighbours" and intake_case["timeline"]  # the tracking record stays
    assert all(row["status"] and row["channel"] and row["template"] for row in notify_rows)  # the log stays
    assert notify_db.preferences.count_documents({"_id": {"$regex": f"^{reference}:"}}) == 0
    assert "dossier_generated" in {r["what"] for r in mediation.db.access_log.find({"reference": reference})}


def test_the_consumers_are_idempotent(stack_settings: Settings, intake_client, mediation: Mediation) -> None:
    """The same erasure message twice (a redelivery) has one effect in each service; a new filing of
    the same people in another case is untouched."""
    intake = intake_bootstrap(stack_settings)
    notify = notify_bootstrap(stack_settings)
    first = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    other = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
    notify.db.contacts.insert_many(
        [{"_id": first, "parties": CASE["applicants"]}, {"_id": other, "parties": []}]
    )
    notify.db.deliveries.insert_one(
        {
            "_id": "d1",
            "reference": first,
            "status": "sent",
            "channel": "email",
            "template": "t",
            "recipient": {"key": "applicant:0", "address": "zhang@example.com"},
            "content": {"body": "张三"},
        }
    )
    envelope = make_envelope(
        "case.personal_data_erased",
        {"reference": first, "erased_at": datetime.now(UTC).isoformat(), "archived_at": None},
        source="mediation",
    )
    for _ in range(2):
        intake_erasure.on_personal_data_erased(intake, envelope)
        notify_erasure.on_personal_data_erased(notify, envelope)
    assert intake.db.processed.count_documents({"_id": {"$regex": envelope.message_id}}) == 1
    assert notify.db.processed.count_documents({"_id": {"$regex": envelope.message_id}}) == 1
    erased = intake.db.cases.find_one({"_id": first})
    assert erased["parties"] == [
        {"role": "applicant", "erased": True},
        {"role": "respondent", "erased": True},
    ]
    assert intake.db.cases.find_one({"_id": other})["parties"][0]["name"] == "张三"
    assert notify.db.contacts.find_one({"_id": first}) is None and notify.db.contacts.find_one({"_id": other})
    row = notify.db.deliveries.find_one({"_id": "d1"})
    assert row["recipient"]["address"] is None and "content" not in row and row["status"] == "sent"


def test_a_case_archived_before_archived_at_was_kept_is_judged_by_its_timeline(mediation: Mediation) -> None:
    reference = withdrawn_case(mediation)
    archived = archive(mediation, reference)
    mediation.db.cases.update_one({"_id": reference}, {"$unset": {"archived_at": ""}})
    assert retention.run_once(mediation, now=archived + timedelta(days=30)) == 0
    # Stored from the timeline on the first look, so later passes select it by its date.
    assert mediation.db.cases.find_one({"_id": reference})["archived_at"] == archived
    assert retention.run_once(mediation, now=archived.replace(year=archived.year + 5)) == 1
