# Chinese labels use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The archive dossier (卷宗) of an archived case: one PDF of the whole case file, built from the case
in the order a dossier is kept (`dossier_pdf.SECTIONS`), with the signed agreement scan and the
patrol photos of the case appended; stored in mediation's GridFS (bucket `dossiers`) and named on
the case (`dossier`), its generation and every download kept in the case's access log.

Archiving never waits for it: the archive job (`archive_job.py`, a thread of the mediation worker)
builds the dossier of every archived case that has none yet, so a failing render or a worker that
was down delays the dossier, never the archive action, and every archived case ends up with one.
Several replicas may race on a case: the case update is conditional on "no dossier yet", and the
loser deletes the file it stored.

Language: the stored dossier, the archive's record copy, is in Chinese (the language the committee
keeps its records in). An English rendering is made on request from the same case (not stored).

The case's intake attachments stay in intake (services share no database): the dossier's last
section lists them (type and size), it does not append them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo.database import Database

from services.mediation import agreements, desk, registry
from services.mediation.agreement_pdf import format_date
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import visits as visit_rules
from services.mediation.domain.actor import Actor
from services.mediation.dossier_pdf import SECTIONS, Appendix, DossierData, Item, Section, render_pdf
from services.mediation.dossier_pdf.render import language_of
from shared.messaging.envelope import utcnow
from shared.taxonomy import CATEGORIES, communities

log = logging.getLogger(__name__)

BUCKET = "dossiers"
ARCHIVE_LANGUAGE = "zh-CN"
SYSTEM = Actor("system:dossier")
# The lifecycle actions recorded in each section (timeline entries, in their order).
ENDING_ACTIONS = (lc.AGREE_WRITTEN, lc.AGREE_ORAL, lc.FAIL, lc.WITHDRAW, lc.REFER, lc.NOT_ACCEPT, lc.MERGE)
FOLLOW_UP_ACTIONS = (lc.RECORD_PERFORMED, lc.RECORD_BREACHED)
CONFIRMATION_ACTIONS = (lc.APPLY_CONFIRMATION, lc.CONFIRM, lc.REJECT_CONFIRMATION)
SESSION_RESULTS: Mapping[str, Mapping[str, str]] = {
    "agreement": {"zh-CN": "达成协议", "en": "Agreement"},
    "partial": {"zh-CN": "部分达成协议", "en": "Partial agreement"},
    "no_agreement": {"zh-CN": "未达成协议", "en": "No agreement"},
    "adjourned": {"zh-CN": "择期再调", "en": "Adjourned"},
}
SOURCES: Mapping[str, Mapping[str, str]] = {
    "application": {"zh-CN": "当事人申请", "en": "Application"},
    "own_initiative": {"zh-CN": "主动调解", "en": "Own initiative"},
    "patrol_discovery": {"zh-CN": "巡查发现", "en": "Found on patrol"},
    "reception_day": {"zh-CN": "接待日", "en": "Reception day"},
    "referred_court": {"zh-CN": "法院委托移送", "en": "Referred by a court"},
    "referred_police": {"zh-CN": "公安机关移送", "en": "Referred by the police"},
    "referred_petition": {"zh-CN": "信访部门移送", "en": "Referred by the petition office"},
    "follow_up": {"zh-CN": "回访后重新立案", "en": "Reopened after a follow-up"},
}
_YES_NO = {"zh-CN": ("是", "否"), "en": ("yes", "no")}
_ERASED = {"zh-CN": "（已删除）", "en": "(erased)"}


class DossierMissing(desk.NotFound):
    """The case has no dossier (yet): it is not archived, or the archive job has not run."""


def _local(db: Database, value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.astimezone(registry.timezone(db))


def _day(db: Database, value: Any, lang: str) -> str:
    at = _local(db, value)
    return format_date(at.date(), lang) if at else ""


def _moment(db: Database, value: Any) -> str:
    at = _local(db, value)
    return at.strftime("%Y-%m-%d %H:%M") if at else ""


def _sep(lang: str) -> str:
    return "、" if lang == "zh-CN" else ", "


def _label(table: Mapping[str, Mapping[str, str]], code: Any, lang: str) -> str:
    return lc.label(str(code or ""), lang, table) if code else ""


def archived_at(case: Mapping[str, Any]) -> datetime | None:
    """When the case was archived: its `archived_at`, or (cases archived before that field was kept)
    the archive entry of its timeline."""
    if case.get("archived_at"):
        return case["archived_at"]
    entries = [e for e in case.get("timeline") or [] if e.get("action") == lc.ARCHIVE]
    return entries[-1]["at"] if entries else None


def _entries(case: Mapping[str, Any], actions: tuple[str, ...]) -> list[dict[str, Any]]:
    return [e for e in case.get("timeline") or [] if e.get("action") in actions]


class _Names:
    """Staff names by user id, looked up once each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.known: dict[str, str] = {}

    def __call__(self, user_id: str | None) -> str:
        if not user_id:
            return ""
        if user_id.startswith("system"):
            return user_id
        if user_id not in self.known:
            self.known[user_id] = desk.staff_ref(self.db, user_id)["name"]
        return self.known[user_id]


def _party_text(party: Mapping[str, Any], lang: str, with_contacts: bool) -> str:
    if party.get("erased"):
        return _ERASED[lang]
    bits = [party.get("name") or ""]
    if with_contacts:
        bits += [party.get(k) for k in ("phone", "email", "address") if party.get(k)]
    return " ".join(b for b in bits if b)


def _address(case: Mapping[str, Any], lang: str) -> str:
    community = next((c for c in communities() if c.code == case.get("community")), None)
    name = community.name(lang) if community else str(case.get("community") or "")
    building, unit = case.get("building"), case.get("unit")
    if lang == "zh-CN":
        return name + (f"{building}栋" if building else "") + (f"{unit}室" if unit else "")
    return ", ".join(x for x in (name, f"building {building}" if building else "", unit or "") if x)


def _outcome(case: Mapping[str, Any], lang: str) -> tuple[str, Any]:
    """The case's ending (its label) and when it ended, from the timeline; the current state too
    when follow-up moved it on."""
    ended = next(
        (e for e in case.get("timeline") or [] if e.get("to") in (*lc.ENDING_STATES, *lc.MERGED_STATES)), None
    )
    if ended is None:
        return "", None
    label = lc.label(ended["to"], lang)
    last = next(
        (e["to"] for e in reversed(case.get("timeline") or []) if e.get("to") in lc.FOLLOW_UP_STATES), None
    )
    if last:
        label += _sep(lang) + lc.label(last, lang)
    return label, ended["at"]


def dossier_data(
    db: Database, case: Mapping[str, Any], language: str = ARCHIVE_LANGUAGE, *, with_appendices: bool = True
) -> DossierData:
    """The dossier of `case` in `language` (its texts as entered, its labels in that language)."""
    lang = language_of(language)
    names = _Names(db)
    sep = _sep(lang)
    studio = db.studios.find_one({"_id": case.get("studio")}) or {}
    committee = (studio.get("name") or {}).get(lang) or str(case.get("studio") or "")
    parties = case.get("parties") or []
    applicants = [p for p in parties if p.get("role") == "applicant"]
    respondents = [p for p in parties if p.get("role") == "respondent"]
    category = next((c.name(lang) for c in CATEGORIES if c.code == case.get("category")), "")
    mediators = sep.join(names(m) for m in case.get("mediators") or [])
    outcome, closed_at = _outcome(case, lang)
    accepted_at = (case.get("deadline") or {}).get("accepted_at")
    cover = (
        ("applicants", sep.join(_party_text(p, lang, False) for p in applicants)),
        ("respondents", sep.join(_party_text(p, lang, False) for p in respondents)),
        ("category", category),
        ("community", _address(case, lang)),
        ("received", _day(db, case.get("received_at"), lang)),
        ("accepted", _day(db, accepted_at, lang)),
        ("closed", _day(db, closed_at, lang)),
        ("archived", _day(db, archived_at(case), lang)),
        ("mediators", mediators),
        ("outcome", outcome),
    )

    application = Item(
        _day(db, case.get("received_at"), lang),
        (
            ("applicants", sep.join(_party_text(p, lang, True) for p in applicants)),
            ("respondents", sep.join(_party_text(p, lang, True) for p in respondents)),
            ("category", category),
            ("community", _address(case, lang)),
            ("source", _label(SOURCES, case.get("source") or "application", lang)),
            ("description", str(case.get("description") or "")),
            ("claims", str(case.get("claims") or "")),
            ("amount", "" if case.get("amount") is None else f"{case['amount']:g}"),
        ),
    )

    def entry_item(entry: Mapping[str, Any], fields: tuple[tuple[str, str], ...] = ()) -> Item:
        title = f"{_moment(db, entry.get('at'))}　{lc.label(entry['action'], lang, lc.ACTION_LABELS)}"
        return Item(title, (("by", names(entry.get("by"))), *fields))

    rights = tuple(
        entry_item(e, (("acknowledged_by", sep.join((e.get("details") or {}).get("acknowledged_by") or [])),))
        for e in _entries(case, (lc.NOTIFY_RIGHTS,))
    )

    yes, no = _YES_NO[lang]
    session_items = []
    for s in db.sessions.find({"reference": case["_id"], "record": {"$ne": None}}).sort("starts_at", 1):
        record = s.get("record") or {}
        place = s.get("place") or {}
        where = (place.get("name_en") if lang == "en" else None) or place.get("name") or s.get("room", "")
        session_items.append(
            Item(
                f"{_moment(db, s.get('starts_at'))}　{where}",
                (
                    ("attended", sep.join(record.get("attended") or [])),
                    ("statements", str(record.get("statements") or "")),
                    ("result", _label(SESSION_RESULTS, record.get("result"), lang)),
                    ("acknowledged_by", yes if record.get("rights_notice_given") else no),
                    ("by", names(record.get("recorded_by"))),
                ),
            )
        )

    ending_items = []
    for e in _entries(case, ENDING_ACTIONS):
        details = e.get("details") or {}
        action = e["action"]
        if action == lc.AGREE_WRITTEN:
            draft = case.get("agreement") or {}
            ending_items.append(
                Item(
                    entry_item(e).title,
                    (
                        ("number", str(draft.get("number") or details.get("agreement_number") or "")),
                        ("signed", _day(db, draft.get("signed_at") or e.get("at"), lang)),
                        ("facts", str(draft.get("facts") or "")),
                        ("issues", str(draft.get("issues") or "")),
                        ("responsibility", str(draft.get("responsibility") or "")),
                        (
                            "performance",
                            " / ".join(
                                str(draft.get(k) or "")
                                for k in ("performance_method", "performance_place", "performance_deadline")
                            ),
                        ),
                        ("mediators", mediators),
                        (
                            "terms",
                            "\n".join(
                                f"{n}. {visit_rules.term_text(t)}"
                                for n, t in enumerate(draft.get("terms") or (), start=1)
                            ),
                        ),
                    ),
                )
            )
            continue
        fields: list[tuple[str, str]] = []
        if action == lc.AGREE_ORAL:
            fields.append(("content", str(details.get("content") or "")))
        elif action == lc.FAIL:
            fields.append(("note", str(details.get("note") or "")))
        elif action == lc.REFER:
            target = _label(lc.REFERRAL_TARGET_LABELS, details.get("target"), lang)
            fields.append(("target", f"{target} {details.get('target_name') or ''}".strip()))
        elif action == lc.NOT_ACCEPT:
            fields += [
                ("reason", _label(lc.NOT_ACCEPTED_REASON_LABELS, details.get("reason"), lang)),
                ("referral", str(details.get("referral") or "")),
            ]
        elif action == lc.WITHDRAW:
            fields.append(("withdrawn_by", str(details.get("withdrawn_by") or "")))
        elif action == lc.MERGE:
            fields.append(("reference", str(details.get("into") or case.get("merged_into") or "")))
        ending_items.append(entry_item(e, tuple(fields)))

    follow_up = tuple(
        entry_item(e, (("note", str((e.get("details") or {}).get("note") or "")),))
        for e in _entries(case, FOLLOW_UP_ACTIONS)
    )
    confirmation = tuple(
        entry_item(
            e,
            tuple(
                (k, str((e.get("details") or {}).get(k)))
                for k in ("court", "reason")
                if (e.get("details") or {}).get(k)
            ),
        )
        for e in _entries(case, CONFIRMATION_ACTIONS)
    )

    files, index = _appendices(db, case, lang) if with_appendices else ((), ())
    tz = registry.timezone(db)
    return DossierData(
        reference=case["_id"],
        committee=committee,
        cover=cover,
        sections=tuple(
            Section(key, items)
            for key, items in zip(
                SECTIONS,
                (
                    (application,),
                    rights,
                    tuple(session_items),
                    tuple(ending_items),
                    follow_up,
                    confirmation,
                    index,
                ),
                strict=True,
            )
        ),
        generated_on=format_date(utcnow().astimezone(tz).date(), lang),
        appendices=files,
        anonymised=bool(case.get("personal_data_erased_at")),
    ).validate()


def _appendices(
    db: Database, case: Mapping[str, Any], lang: str
) -> tuple[tuple[Appendix, ...], tuple[Item, ...]]:
    """The files appended after the sections (the signed agreement scan, the patrol photos of the
    case) and the index that names them, with the intake attachments kept by intake."""
    zh = lang == "zh-CN"
    files: list[Appendix] = []
    index: list[Item] = []
    scan = (case.get("agreement") or {}).get("scan")
    if scan:
        title = "调解协议书（签字盖章扫描件）" if zh else "Signed agreement (scan)"
        try:
            content = (
                GridFSBucket(db, bucket_name=agreements.BUCKET)
                .open_download_stream(ObjectId(scan["id"]))
                .read()
            )
            files.append(Appendix(title, scan["content_type"], content))
            kept = "附于卷末" if zh else "appended"
        except NoFile:
            kept = "文件缺失" if zh else "file missing"
        index.append(
            Item(title, (("type", scan["content_type"]), ("size", f"{scan['size']:,} B"), ("kept_by", kept)))
        )
    for task in db.patrol_tasks.find({"reference": case["_id"]}, {"_id": 1}).sort("_id", 1):
        for photo in db.task_photos.find({"task_id": task["_id"]}).sort("index", 1):
            title = f"{'巡查照片' if zh else 'Patrol photo'} {photo['_id']}"
            files.append(Appendix(title, photo.get("content_type") or "", bytes(photo["data"])))
            index.append(
                Item(
                    title,
                    (
                        ("type", photo.get("content_type") or ""),
                        ("size", f"{photo.get('size', 0):,} B"),
                        ("kept_by", "附于卷末" if zh else "appended"),
                    ),
                )
            )
    for attachment in case.get("attachments") or []:
        title = f"{'申请附件' if zh else 'Application attachment'} {attachment.get('id', '')}"
        index.append(
            Item(
                title,
                (
                    ("type", str(attachment.get("content_type") or "")),
                    ("size", f"{attachment.get('size', 0):,} B"),
                    ("kept_by", "受理平台（intake）" if zh else "kept by intake"),
                ),
            )
        )
    return tuple(files), tuple(index)


def generate(mediation: Mediation, reference: str, *, replace: bool = False) -> dict[str, Any] | None:
    """Build and store the dossier of an archived case; its row on the case (`dossier`), or None when
    the case is not archived. Idempotent: a case with a dossier keeps it unless `replace` (retention
    replaces it with the anonymised one). Logged in the case's access log as `dossier_generated`."""
    db = mediation.db
    case = db.cases.find_one({"_id": reference})
    if case is None or case.get("status") != lc.ARCHIVED:
        return None
    previous = case.get("dossier")
    if previous and not replace:
        return previous
    content = render_pdf(dossier_data(db, case, ARCHIVE_LANGUAGE), ARCHIVE_LANGUAGE)
    bucket = GridFSBucket(db, bucket_name=BUCKET)
    file_id = bucket.upload_from_stream(
        f"{reference}-dossier.pdf", content, metadata={"case": reference, "content_type": "application/pdf"}
    )
    row = {
        "id": str(file_id),
        "language": ARCHIVE_LANGUAGE,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "generated_at": utcnow(),
        "anonymised": bool(case.get("personal_data_erased_at")),
    }
    # Conditional on the dossier read above: of two replicas, one stores its row, the other
    # removes its file, so a case never points at two files nor leaves one orphaned.
    guard = {"_id": reference, "dossier.id": previous["id"] if previous else None}
    if db.cases.update_one(guard, {"$set": {"dossier": row}}).matched_count != 1:
        bucket.delete(file_id)
        return db.cases.find_one({"_id": reference}, {"dossier": 1}).get("dossier")
    if previous:
        with contextlib.suppress(NoFile):
            bucket.delete(ObjectId(previous["id"]))
    desk.record_access(db, case, SYSTEM, "dossier_generated")
    log.info("dossier generated", extra={"reference": reference, "size": row["size"]})
    return row


def run_once(mediation: Mediation, limit: int = 200) -> int:
    """Build the dossier of every archived case that has none yet (up to `limit` per pass); the
    number built. One case that fails to render is logged and retried next pass, never blocking
    the others."""
    built = 0
    for case in mediation.db.cases.find({"status": lc.ARCHIVED, "dossier.id": None}, {"_id": 1}).limit(limit):
        try:
            built += generate(mediation, case["_id"]) is not None
        except Exception:
            log.exception("dossier failed", extra={"reference": case["_id"]})
    return built


def _may_download(actor: Actor, case: Mapping[str, Any]) -> None:
    # The dossier holds the parties' personal data: those who may see it on the case page.
    if not desk.may_see_personal(actor, case):
        raise desk.Forbidden("Only the case's own mediators or their studio lead open its dossier.")


def download(mediation: Mediation, reference: str, actor: Actor, language: str | None = None) -> bytes:
    """The dossier's PDF for `actor` (the case's mediators and their studio lead), the download kept
    in the access log. The stored Chinese dossier; `language="en"` renders the English one from the
    case (not stored)."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    _may_download(actor, case)
    stored = case.get("dossier")
    if case.get("status") != lc.ARCHIVED or not stored:
        raise DossierMissing("This case has no dossier yet: it is made once the case is archived.")
    lang = language_of(language or ARCHIVE_LANGUAGE)
    if lang == ARCHIVE_LANGUAGE:
        try:
            content = GridFSBucket(db, bucket_name=BUCKET).open_download_stream(ObjectId(stored["id"])).read()
        except NoFile as err:
            # Cleared, so the archive job's next pass builds it again.
            db.cases.update_one({"_id": reference, "dossier.id": stored["id"]}, {"$set": {"dossier": None}})
            raise DossierMissing("The dossier's file is missing; it is being rebuilt.") from err
    else:
        content = render_pdf(dossier_data(db, case, lang), lang)
    desk.record_access(db, case, actor, f"dossier_download:{lang}")
    return content
