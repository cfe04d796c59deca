# Chinese case text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The archive dossier (卷宗) on the real database: archiving succeeds at once and the archive job
then builds one PDF of the whole case file in the dossier's order, with the signed scan and patrol
photos appended; stored in GridFS, built once even when run twice, rebuilt after a failed pass, its
generation and downloads in the access log; downloadable by the case's mediators and their lead
only; English on request. The PDFs are read back with pdftotext."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from gridfs import GridFSBucket
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from services.mediation import agreements, desk, dossier, sessions
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from shared.uploads import Upload
from tests.integration.test_confirmation_reminders import DRAFT
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, OTHER, ZHOU, accepted_case
from tests.integration.test_mediation_desk import mediation as mediation

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, the day after NOW


def scan_pdf(text: str = "SIGNED SCAN PAGE") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(100, 700, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "dossier.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def written_case(m: Mediation) -> str:
    """A case taken, rights notified, one session held, a written agreement signed with its scan,
    performance followed up, judicial confirmation granted."""
    reference = accepted_case(m, now=NOW - timedelta(days=2))
    desk.take(m, reference, MEDIATOR, now=NOW - timedelta(days=2))
    desk.apply_action(
        m, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三", "李四"]}, now=NOW
    )
    desk.apply_action(m, reference, MEDIATOR, lc.START_MEDIATION, now=NOW)
    m.db.cases.update_one({"_id": reference}, {"$push": {"parties": {"role": "respondent", "name": "李四"}}})
    booked = sessions.schedule(m, reference, MEDIATOR, START, START + timedelta(hours=1), now=NOW)
    sessions.record(
        m,
        reference,
        booked["_id"],
        MEDIATOR,
        attended=["张三", "李四"],
        statements="双方陈述噪音问题，李四同意调整施工时间。",
        result="agreement",
        rights_notice_given=True,
        now=START + timedelta(hours=1),
    )
    agreements.save_draft(m, reference, MEDIATOR, DRAFT)
    agreements.sign(m, reference, MEDIATOR, now=START + timedelta(hours=2))
    agreements.upload_scan(m, reference, MEDIATOR, Upload("signed.pdf", scan_pdf()))
    desk.apply_action(m, reference, MEDIATOR, lc.APPLY_CONFIRMATION, {"court": "莲湖区人民法院"})
    desk.apply_action(m, reference, MEDIATOR, lc.CONFIRM)
    desk.apply_action(m, reference, MEDIATOR, lc.RECORD_PERFORMED)
    return reference


def test_archiving_then_the_job_builds_the_whole_dossier_once(mediation: Mediation, tmp_path: Path) -> None:
    reference = written_case(mediation)
    with pytest.raises(desk.NotFound):  # not archived yet: no dossier
        dossier.download(mediation, reference, MEDIATOR)
    done = desk.apply_action(mediation, reference, LEAD, lc.ARCHIVE)
    case = mediation.db.cases.find_one({"_id": reference})
    # The archive action succeeded on its own; the dossier is the job's.
    assert done.case["status"] == lc.ARCHIVED and case.get("dossier") is None
    assert isinstance(case["archived_at"], datetime)

    assert dossier.run_once(mediation) == 1
    assert dossier.run_once(mediation) == 0  # built once
    row = mediation.db.cases.find_one({"_id": reference})["dossier"]
    assert row["language"] == "zh-CN" and not row["anonymised"]
    stored = (
        GridFSBucket(mediation.db, bucket_name="dossiers").open_download_stream(ObjectId(row["id"])).read()
    )
    assert len(stored) == row["size"] and stored.startswith(b"%PDF")
    assert mediation.db["dossiers.files"].count_documents({}) == 1

    text = pdf_text(stored, tmp_path)
    # Cover: reference, parties, category, mediator, outcome.
    for expected in (
        reference,
        "人民调解卷宗",
        "张三",
        "李四",
        "邻里",
        "陈敏",
        "达成书面协议",
        "司法确认有效",
    ):
        assert expected in text, expected
    # The sections in the dossier's order, each with its records.
    order = [
        "一、调解申请",
        "Loud music every night.",
        "二、权利义务告知",
        "三、调解记录",
        "双方陈述噪音问题",
        "四、调解协议",
        "每日20时后停止施工",
        "五、回访记录",
        "回访：已履行",
        "六、司法确认",
        "莲湖区人民法院",
        "七、附件",
        "附件1",
        "SIGNED SCAN PAGE",
    ]
    body = text[text.index("一、调解申请", text.index("卷内目录") + 20) :]
    positions = [body.index(marker) for marker in order]
    assert positions == sorted(positions), list(zip(order, positions, strict=True))
    # The application carries the contacts (the dossier is the full record); the scan's page is last.
    assert "13800138000" in text
    pages = PdfReader(io.BytesIO(stored)).pages
    assert "SIGNED SCAN PAGE" in pages[-1].extract_text()

    generated = list(mediation.db.access_log.find({"reference": reference, "what": "dossier_generated"}))
    assert len(generated) == 1 and generated[0]["by"] == "system:dossier"


def test_downloads_by_the_cases_own_staff_only_logged_and_in_english_on_request(
    mediation: Mediation, tmp_path: Path
) -> None:
    reference = accepted_case(mediation, now=NOW)
    desk.take(mediation, reference, MEDIATOR, now=NOW)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, reference, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉。"})
    desk.apply_action(mediation, reference, LEAD, lc.ARCHIVE)
    dossier.run_once(mediation)

    with pytest.raises(desk.NotFound):  # another studio: not even its existence
        dossier.download(mediation, reference, OTHER)
    with pytest.raises(desk.Forbidden):  # a colleague not on the case
        dossier.download(mediation, reference, ZHOU)
    before = mediation.db.access_log.count_documents({"what": {"$regex": "^dossier_download"}})
    assert before == 0
    zh = dossier.download(mediation, reference, MEDIATOR)
    assert "可向人民法院起诉" in pdf_text(zh, tmp_path) and "调解不成" in pdf_text(zh, tmp_path)
    en = dossier.download(mediation, reference, LEAD, "en")
    english = pdf_text(en, tmp_path)
    assert "People's Mediation Case File" in english and "Mediation failed" in english
    assert "1. Application" in english and "可向人民法院起诉" in english  # texts as entered
    whats = [row["what"] for row in mediation.db.access_log.find({"reference": reference}).sort("at", 1)]
    assert whats[-2:] == ["dossier_download:zh-CN", "dossier_download:en"]
    with pytest.raises(ValueError):
        dossier.download(mediation, reference, LEAD, "fr")


def test_a_failed_pass_leaves_the_archive_done_and_the_next_pass_builds_it(
    mediation: Mediation, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = accepted_case(mediation, now=NOW)
    desk.apply_action(mediation, reference, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    real = dossier.render_pdf

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("font missing")

    monkeypatch.setattr(dossier, "render_pdf", broken)
    desk.apply_action(mediation, reference, LEAD, lc.ARCHIVE)
    assert dossier.run_once(mediation) == 0
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["status"] == lc.ARCHIVED and case.get("dossier") is None
    monkeypatch.setattr(dossier, "render_pdf", real)
    assert dossier.run_once(mediation) == 1
    assert mediation.db.cases.find_one({"_id": reference})["dossier"]["size"] > 0


def test_patrol_photos_are_appended_as_pages_without_their_metadata(mediation: Mediation) -> None:
    reference = accepted_case(mediation, now=NOW)
    photo = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(photo, "JPEG", exif=exif)
    task_id = "task-dossier-1"
    mediation.db.patrol_tasks.insert_one({"_id": task_id, "reference": reference, "status": "closed"})
    mediation.db.task_photos.insert_one(
        {
            "_id": "photo-1",
            "task_id": task_id,
            "index": 0,
            "content_type": "image/jpeg",
            "data": photo.getvalue(),
        }
    )
    # A damaged upload is named, never a reason to leave the case without its dossier.
    mediation.db.task_photos.insert_one(
        {
            "_id": "photo-2",
            "task_id": task_id,
            "index": 1,
            "content_type": "image/jpeg",
            "data": b"\xff\xd8junk",
        }
    )
    desk.apply_action(mediation, reference, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    desk.apply_action(mediation, reference, LEAD, lc.ARCHIVE)
    assert dossier.run_once(mediation) == 1
    row = mediation.db.cases.find_one({"_id": reference})["dossier"]
    content = (
        GridFSBucket(mediation.db, bucket_name="dossiers").open_download_stream(ObjectId(row["id"])).read()
    )
    reader = PdfReader(io.BytesIO(content))
    assert "巡查照片 photo-1" in reader.pages[-2].extract_text()
    assert reader.pages[-2].images, "the photo is on its page"
    assert "无法附入" in reader.pages[-1].extract_text()
    assert b"SecretCameraMaker" not in content


def test_case_page_links_the_dossier_and_the_api_serves_it(
    mediation: Mediation, settings, tmp_path: Path
) -> None:
    from services.mediation.app import create_app
    from tests.integration.test_mediation_desk_api import S_LEAD, S_OTHER, S_ZHOU, login

    client = create_app(settings).test_client()
    reference = accepted_case(mediation, now=NOW)
    desk.apply_action(mediation, reference, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    desk.apply_action(mediation, reference, LEAD, lc.ARCHIVE)
    login(client, settings, S_LEAD)
    page = client.get(f"/desk/cases/{reference}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="dossier-pending"' in page and 'id="dossier-zh"' not in page
    assert client.get(f"/api/v1/desk/cases/{reference}/dossier").status_code == 404  # not built yet

    dossier.run_once(mediation)
    page = client.get(f"/desk/cases/{reference}").get_data(as_text=True)
    link = f'href="/desk/cases/{reference}/dossier.pdf"'
    assert link in page and 'id="dossier-en"' in page
    from_page = client.get(f"/desk/cases/{reference}/dossier.pdf")
    assert from_page.status_code == 200 and from_page.mimetype == "application/pdf"
    assert from_page.headers["Cache-Control"] == "private, no-store"
    api = client.get(f"/api/v1/desk/cases/{reference}/dossier?language=en")
    assert api.status_code == 200 and "People's Mediation Case File" in pdf_text(api.data, tmp_path)
    assert client.get(f"/api/v1/desk/cases/{reference}/dossier?language=fr").status_code == 422

    login(client, settings, S_ZHOU)  # a colleague not on the case: no link, no file
    page = client.get(f"/desk/cases/{reference}").get_data(as_text=True)
    assert link not in page
    assert client.get(f"/desk/cases/{reference}/dossier.pdf").status_code == 403
    assert client.get(f"/api/v1/desk/cases/{reference}/dossier").status_code == 403
    login(client, settings, S_OTHER)
    assert client.get(f"/api/v1/desk/cases/{reference}/dossier").status_code == 404
    downloads = mediation.db.access_log.count_documents(
        {"reference": reference, "what": {"$regex": "^dossier_d"}}
    )
    assert downloads == 2
