"""Intake's pure rules, without I/O: form shapes, duplicates, attachments, languages, catalogs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from services.intake.attachments import MAX_FILE_BYTES, AttachmentError, Upload, check_attachments
from services.intake.domain import case_rules
from services.intake.http import forms
from services.intake.http.open311_api import _xml
from services.intake.http.schemas import CaseCreateSchema
from shared.web.i18n import compile_catalogs, html_lang, normalise
from shared.web.ratelimit import RateLimit
from tests.support.images import plain

ROOT = Path(__file__).resolve().parents[2]
PNG = plain("PNG")
JPEG = plain("JPEG")


def test_form_to_payload_builds_parties_and_types() -> None:
    form = {
        "applicants_count": "2",
        "respondents_count": "2",
        "applicants-0-name": " 张三 ",
        "applicants-0-phone": "13800138000",
        "applicants-0-email": "",
        "applicants-1-name": "",
        "applicants-1-phone": "",
        "respondents-0-name": "李四",
        "respondents-1-name": "王五",
        "respondents-1-phone": "13900139000",
        "amount": "12.5",
        "people_affected": "3",
        "threat_of_violence": "yes",
        "agrees_to_mediation": "no",
        "consent": "yes",
        "category": "neighbours",
        "unit": "",
    }
    payload = forms.form_to_payload(form)
    assert payload["applicants"] == [{"name": "张三", "phone": "13800138000"}]
    assert payload["respondents"] == [{"name": "李四"}, {"name": "王五", "phone": "13900139000"}]
    assert payload["amount"] == 12.5 and payload["people_affected"] == 3
    assert payload["threat_of_violence"] is True and payload["agrees_to_mediation"] is False
    assert payload["consent"] is True and "unit" not in payload


def test_form_payload_with_bad_numbers_fails_in_the_schema_next_to_the_field() -> None:
    payload = forms.form_to_payload({"people_affected": "many", "amount": "x", "threat_of_violence": "maybe"})
    errors = CaseCreateSchema().validate(payload)
    flat = forms.flatten_errors(errors)
    assert {"people_affected", "amount", "threat_of_violence", "consent", "applicants-0-name"} <= set(flat)
    assert flat["applicants-0-phone"] == ["Missing data for required field."]


def test_party_count_is_bounded() -> None:
    assert forms.party_count({"applicants_count": "9999"}, "applicants") == forms.MAX_APPLICANTS
    assert forms.party_count({"applicants_count": "-3"}, "applicants") == 1
    assert forms.party_count({"applicants_count": "x"}, "applicants") == 1


def test_flatten_errors_maps_list_errors_to_the_first_row() -> None:
    assert forms.flatten_errors({"applicants": ["Length must be between 1 and 20."]}) == {
        "applicants-0-name": ["Length must be between 1 and 20."]
    }


def test_duplicate_query_is_same_place_and_category_open_in_30_days() -> None:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    query = case_rules.duplicate_query("lianhua", "3", "neighbours", now)
    assert query["open"] is True and query["received_at"] == {"$gte": datetime(2026, 3, 1, tzinfo=UTC)}
    assert (query["community"], query["building"], query["category"]) == ("lianhua", "3", "neighbours")


def test_open311_status_and_references() -> None:
    assert case_rules.open311_status("in_mediation") == "open"
    assert case_rules.open311_status("closed") == case_rules.open311_status("not_accepted") == "closed"
    assert case_rules.is_reference("LC-2026-000001") and not case_rules.is_reference("LC-2026-1' || '1")


def test_attachments_are_checked_by_content() -> None:
    checked = check_attachments([Upload("a.PNG", PNG), Upload("b.jpeg", JPEG), Upload("", b"")])
    # Photos are re-encoded (without metadata) and stored as JPEG, whatever they came as.
    assert [a.content_type for a in checked] == ["image/jpeg", "image/jpeg"]
    assert [a.extension for a in checked] == [".jpg", ".jpg"]
    with pytest.raises(AttachmentError, match="cannot be read"):
        check_attachments([Upload("fake.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32)])
    with pytest.raises(AttachmentError, match="Only photos"):
        check_attachments([Upload("evil.png", b"<script>alert(1)</script>")])
    with pytest.raises(AttachmentError, match="Only photos"):
        check_attachments([Upload("photo.pdf", PNG)])  # content and extension disagree
    with pytest.raises(AttachmentError, match="at most"):
        check_attachments([Upload(f"{i}.png", PNG) for i in range(4)])
    with pytest.raises(AttachmentError, match="MB"):
        check_attachments([Upload("big.png", PNG + b"\x00" * MAX_FILE_BYTES)])


def test_language_choice_normalises_tags() -> None:
    assert normalise("zh-CN") == normalise("zh_cn") == normalise("zh") == "zh_CN"
    assert normalise("en-GB") == "en" and normalise("fr") is None and normalise("") is None
    assert html_lang("zh_Hans_CN") == "zh-CN" and html_lang("en") == "en"


def test_rate_limit_parse() -> None:
    assert RateLimit.parse("30/600") == RateLimit(30, 600)
    with pytest.raises(ValueError):
        RateLimit.parse("0/60")


def test_open311_xml_nests_lists_as_the_spec_does() -> None:
    xml = _xml("service_definition", None, {"attributes": [{"code": "a", "values": [{"key": "k"}]}]}).decode()
    assert "<attributes><attribute><code>a</code><values><value><key>k</key></value></values>" in xml
    assert (
        _xml("errors", "error", [{"code": 400, "description": "<bad>"}])
        .decode()
        .endswith("<errors><error><code>400</code><description>&lt;bad&gt;</description></error></errors>")
    )


def test_catalogs_compile_to_a_cache_and_recompile_when_stale(tmp_path: Path) -> None:
    source = tmp_path / "translations"
    po = source / "zh_CN" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Hi"\nmsgstr "你好"\n'
    )
    root = compile_catalogs(source, tmp_path / "cache")
    mo = root / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
    assert "你好".encode() in mo.read_bytes()
    po.write_text(po.read_text().replace("你好", "您好"))
    import os

    os.utime(po, (mo.stat().st_mtime + 5, mo.stat().st_mtime + 5))
    compile_catalogs(source, tmp_path / "cache")
    assert "您好".encode() in mo.read_bytes()


def test_every_message_of_intake_has_a_chinese_translation(tmp_path: Path) -> None:
    pot = tmp_path / "intake.pot"
    # pybabel's own extraction, with the project's mapping (templates and Python).
    CommandLineInterface().run(
        ["pybabel", "extract", "-F", str(ROOT / "services/intake/babel.cfg"), "-k", "lazy_gettext",
         "-o", str(pot), str(ROOT / "services/intake")]
    )  # fmt: skip
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    catalogs = [ROOT / "services/intake/translations", ROOT / "shared/web/translations"]
    translated: dict[str, str] = {}
    for folder in catalogs:
        with (folder / "zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
            translated.update({m.id: m.string for m in read_po(f) if m.id and m.string})
    missing = sorted(m for m in wanted if m not in translated)
    assert missing == []
    # Placeholders survive translation.
    for msgid, text in translated.items():
        assert set(re.findall(r"%\(\w+\)[sd]", msgid)) == set(re.findall(r"%\(\w+\)[sd]", text)), msgid


def test_moved_and_cancelled_sessions_are_marked_by_their_sequence_not_by_arrival() -> None:
    at = datetime(2026, 11, 25, 2, tzinfo=UTC)

    def entry(status: str, session_id: str | None, sequence: int, minute: int) -> dict:
        details = {"session_id": session_id, "sequence": sequence} if session_id else {}
        return case_rules.timeline_entry(status, at.replace(minute=minute), **details)

    timeline = [
        entry(case_rules.RECEIVED, None, 0, 0),
        entry(case_rules.SESSION_SCHEDULED, "a", 0, 1),
        entry(case_rules.SESSION_SCHEDULED, "b", 0, 2),
        entry(case_rules.SESSION_RESCHEDULED, "a", 1, 3),
        # A cancellation that arrived before the move it follows (a retried event) still wins.
        entry(case_rules.SESSION_CANCELLED, "a", 3, 4),
        entry(case_rules.SESSION_RESCHEDULED, "a", 2, 5),
        {"status": case_rules.SESSION_SCHEDULED, "at": at},  # an older case's entry, without an id
    ]
    marked = case_rules.mark_superseded_sessions(timeline)
    assert [e.get("superseded_by") for e in marked] == [
        None,
        case_rules.SESSION_CANCELLED,
        None,  # session b is untouched
        case_rules.SESSION_CANCELLED,
        None,
        case_rules.SESSION_CANCELLED,
        None,
    ]
    assert "superseded_by" not in timeline[1]  # the stored entries are not changed
    moved_only = case_rules.mark_superseded_sessions(timeline[:4])
    assert (
        moved_only[1]["superseded_by"] == case_rules.SESSION_RESCHEDULED
        and "superseded_by" not in moved_only[3]
    )


def test_filer_fields_become_the_filer_object_only_when_given() -> None:
    blank = forms.form_to_payload({"filer-name": " ", "filer-phone": "", "filer-email": ""})
    assert "filer" not in blank
    given = forms.form_to_payload({"filer-name": " 王楼长 ", "filer-phone": "13600136000", "filer-email": ""})
    assert given["filer"] == {"name": "王楼长", "phone": "13600136000"}
    errors = {"filer": ["whole"], "building": ["x"]}
    assert forms.flatten_errors(errors) == {"filer-name": ["whole"], "building": ["x"]}
    assert forms.flatten_errors({"filer": {"phone": ["bad"]}}) == {"filer-phone": ["bad"]}


def test_a_session_entry_without_an_id_is_struck_out_by_the_move_or_cancellation_of_its_time() -> None:
    at = datetime(2026, 11, 25, 2, tzinfo=UTC)
    old_time, other_time = datetime(2026, 12, 6, 1, 30, tzinfo=UTC), datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
    hall, other_hall = "莲花社区议事厅", "荷花社区议事厅"
    # Booked before events carried session ids: no session_id, no sequence.
    booked = {"status": case_rules.SESSION_SCHEDULED, "at": at, "starts_at": old_time, "place": hall}
    elsewhere = {"status": case_rules.SESSION_SCHEDULED, "at": at, "starts_at": old_time, "place": other_hall}
    untouched = {"status": case_rules.SESSION_SCHEDULED, "at": at, "starts_at": other_time, "place": hall}
    moved = case_rules.timeline_entry(
        case_rules.SESSION_RESCHEDULED,
        at.replace(hour=3),
        starts_at=other_time.replace(day=9),
        previous_starts_at=old_time,
        place=hall,
        session_id="s-old",
        sequence=1,
    )
    marked = case_rules.mark_superseded_sessions([booked, elsewhere, untouched, moved])
    assert [e.get("superseded_by") for e in marked] == [case_rules.SESSION_RESCHEDULED, None, None, None]
    assert "session_id" not in booked  # the stored entry is not changed
    cancelled = case_rules.timeline_entry(
        case_rules.SESSION_CANCELLED,
        at.replace(hour=4),
        starts_at=other_time,
        place=hall,
        session_id="s-other",
        sequence=1,
    )
    marked = case_rules.mark_superseded_sessions([booked, untouched, cancelled])
    assert [e.get("superseded_by") for e in marked] == [None, case_rules.SESSION_CANCELLED, None]


def test_a_shared_note_is_its_own_line_and_an_old_one_stops_repeating_the_state() -> None:
    at = datetime(2026, 11, 25, 2, tzinfo=UTC)
    timeline = [
        case_rules.timeline_entry("in_mediation", at),
        case_rules.timeline_entry(case_rules.SESSION_SCHEDULED, at.replace(minute=1), starts_at=at),
        # Recorded before shared notes had an entry of their own: the state again, with the note.
        case_rules.timeline_entry("in_mediation", at.replace(minute=2), "请带上物业费收据。"),
        case_rules.timeline_entry(case_rules.NOTE_SHARED, at.replace(minute=3), "已联系物业。"),
        case_rules.timeline_entry("waiting_for_party", at.replace(minute=4)),
        # A studio named twice (the case moved) stays two assignments.
        case_rules.timeline_entry(case_rules.ASSIGNED, at.replace(minute=5), "至和调解工作室"),
        case_rules.timeline_entry(case_rules.ASSIGNED, at.replace(minute=6), "莲花调解工作室"),
    ]
    assert [e["status"] for e in case_rules.mark_shared_notes(timeline)] == [
        "in_mediation",
        case_rules.SESSION_SCHEDULED,
        case_rules.NOTE_SHARED,
        case_rules.NOTE_SHARED,
        "waiting_for_party",
        case_rules.ASSIGNED,
        case_rules.ASSIGNED,
    ]


def test_an_english_reader_sees_the_studio_and_the_hall_by_their_english_names() -> None:
    at = datetime(2026, 11, 25, 2, tzinfo=UTC)
    timeline = [
        case_rules.timeline_entry(
            case_rules.ASSIGNED, at, "至和调解工作室", studio_name_en="Zhihe Mediation Studio"
        ),
        case_rules.timeline_entry(
            case_rules.SESSION_SCHEDULED,
            at,
            starts_at=at,
            place="莲花社区议事厅",
            place_en="Lianhua Council Hall",
        ),
        case_rules.timeline_entry(case_rules.SESSION_SCHEDULED, at, starts_at=at, place="荷花社区议事厅"),
    ]
    english = case_rules.in_language(timeline, "en")
    assert [english[0]["note"], english[1]["place"], english[2]["place"]] == [
        "Zhihe Mediation Studio",
        "Lianhua Council Hall",
        "荷花社区议事厅",  # recorded before events carried the English name
    ]
    chinese = case_rules.in_language(timeline, "zh-CN")
    assert [chinese[0]["note"], chinese[1]["place"]] == ["至和调解工作室", "莲花社区议事厅"]
