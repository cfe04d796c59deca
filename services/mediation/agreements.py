"""The written agreement of a case: drafted on the desk, rendered to PDF (zh-CN or en) from the
case by `agreement_pdf.render_pdf`, marked signed (the lifecycle's `agree_written`, which ends the case),
and its signed scan uploaded (checked by content, stored in mediation's GridFS bucket `agreements`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from bson import ObjectId
from gridfs import GridFSBucket
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation import desk, registry
from services.mediation.agreement_pdf import AgreementData, InvalidAgreement, Party, render_pdf
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import visits as visit_rules
from services.mediation.domain.actor import Actor
from shared.messaging.envelope import utcnow
from shared.taxonomy import communities
from shared.uploads import MB, PDF, PHOTOS, Upload, UploadError, check_uploads

BUCKET = "agreements"
MAX_SCAN_BYTES = 10 * MB
TEXT_FIELDS = (
    "facts",
    "issues",
    "responsibility",
    "performance_method",
    "performance_place",
    "performance_deadline",
)
DRAFTABLE = (lc.IN_MEDIATION,)


def _may_write(actor: Actor, case: dict[str, Any]) -> None:
    if not (desk.on_case(actor, case) or desk.is_lead_of(actor, case)):
        raise desk.Forbidden("Only the case's own mediators or their studio lead write its agreement.")


def _next_number(db: Database, studio: str, year: int) -> str:
    counter = db.counters.find_one_and_update(
        {"_id": f"agreement-{studio}-{year}"},
        {"$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return f"{studio.upper()}-{year}-{counter['value']:04d}"


def save_draft(mediation: Mediation, reference: str, actor: Actor, form: dict[str, Any]) -> dict[str, Any]:
    """Store (or update) the agreement's text; the number is given once, on the first save."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    _may_write(actor, case)
    if case.get("status") not in DRAFTABLE:
        raise desk.Conflict("An agreement is drafted while the case is in mediation.")
    if (case.get("agreement") or {}).get("signed_at"):
        raise desk.Conflict("The agreement is signed; it can no longer be changed.")
    # The page sends one field per term (`terms` as a list) with its optional due date beside it
    # (`term_dues`, same positions); the API and older forms may send the terms as lines of text.
    raw_terms = form.get("terms", "")
    lines = (
        [str(t) for t in raw_terms] if isinstance(raw_terms, list | tuple) else str(raw_terms).splitlines()
    )
    dues = [str(d or "") for d in form.get("term_dues") or []]
    terms, errors = visit_rules.parse_terms(lines, dues)
    errors.update({name: ["Required."] for name in TEXT_FIELDS if not str(form.get(name, "")).strip()})
    if not terms:
        errors["terms"] = ["Write at least one agreed term (one per line)."]
    if errors:
        raise desk.Invalid("The agreement lacks what the law requires it to state.", errors)
    number = (case.get("agreement") or {}).get("number") or _next_number(db, case["studio"], utcnow().year)
    agreement = {
        **{name: str(form[name]).strip()[:4000] for name in TEXT_FIELDS},
        "terms": terms[:30],
        "number": number,
        "updated_at": utcnow(),
        "updated_by": actor.user_id,
    }
    result = db.cases.update_one(
        {"_id": reference, "status": case["status"], "agreement.signed_at": None},
        {"$set": {"agreement": agreement, "touched_at": utcnow()}},
    )
    if result.matched_count != 1:
        raise desk.Conflict("The case changed in the meantime; nothing was changed.")
    return agreement


def _address(case: dict[str, Any]) -> str:
    community = next(
        (c.zh for c in communities() if c.code == case.get("community")), case.get("community", "")
    )
    unit = f"{case.get('unit')}室" if case.get("unit") else ""
    return f"{community}{case.get('building', '')}栋{unit}"


def agreement_data(db: Database, case: dict[str, Any]) -> AgreementData:
    """The printed agreement, from the case: parties, mediators, the studio, the drafted text."""
    draft = case.get("agreement") or {}
    studio = db.studios.find_one({"_id": case["studio"]}) or {"name": {"zh-CN": case["studio"]}}
    address = _address(case)

    def party(p: dict[str, Any]) -> Party:
        return Party(name=p.get("name", ""), address=p.get("address") or address, phone=p.get("phone") or "")

    mediators = [desk.staff_ref(db, m)["name"] for m in case.get("mediators") or []]
    signed = draft.get("signed_at")
    tz = registry.timezone(db)
    return AgreementData(
        number=draft.get("number", ""),
        case_reference=case["_id"],
        signed_on=signed.astimezone(tz).date()
        if isinstance(signed, datetime)
        else utcnow().astimezone(tz).date(),
        committee=studio["name"]["zh-CN"],
        applicants=tuple(party(p) for p in case.get("parties", []) if p.get("role") == "applicant"),
        respondents=tuple(party(p) for p in case.get("parties", []) if p.get("role") == "respondent"),
        facts=draft.get("facts", ""),
        issues=draft.get("issues", ""),
        responsibility=draft.get("responsibility", ""),
        terms=tuple(visit_rules.term_text(t) for t in draft.get("terms", ())),
        term_dues=tuple(
            due.isoformat() if (due := visit_rules.term_due(t)) else None for t in draft.get("terms", ())
        ),
        performance_method=draft.get("performance_method", ""),
        performance_place=draft.get("performance_place", ""),
        performance_deadline=draft.get("performance_deadline", ""),
        mediators=tuple(mediators),
        recorder=mediators[0] if mediators else "",
    )


def pdf(mediation: Mediation, reference: str, actor: Actor, language: str) -> tuple[str, bytes]:
    """The agreement's PDF (the case's own mediators and their lead; the view is logged)."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    if not desk.may_see_personal(actor, case):
        raise desk.Forbidden("Only the case's own mediators or their studio lead open its agreement.")
    if not case.get("agreement"):
        raise desk.NotFound("No agreement has been drafted for this case.")
    try:
        data = agreement_data(db, case).validate()
    except InvalidAgreement as err:
        raise desk.Invalid(
            "The agreement lacks what the law requires it to state.",
            {"agreement": list(err.problems)},
            detail=str(err),
        ) from err
    desk.record_access(db, case, actor, f"agreement_pdf:{language}")
    return data.number, render_pdf(data, "en" if language == "en" else "zh-CN")


def sign(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    *,
    signed_on: date | None = None,
    expected_state: str | None = None,
    now: datetime | None = None,
    prevention: Mapping[str, Any] | None = None,
) -> desk.Done:
    """The parties signed: the agreement takes effect and the case ends as a written agreement.
    `prevention`: the optional counts of `desk.PREVENTION_FIELDS` the mediator records at closing."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    draft = case.get("agreement") or {}
    if not draft.get("number"):
        raise desk.Conflict("Draft the agreement before marking it signed.")
    try:
        agreement_data(db, case).validate()
    except InvalidAgreement as err:
        raise desk.Invalid(
            "The agreement lacks what the law requires it to state.",
            {"agreement": list(err.problems)},
            detail=str(err),
        ) from err

    def extra(session: ClientSession, c: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        # Terms with a due date are checked on that day (`visits.check_terms`, the desk's job).
        terms = (c.get("agreement") or {}).get("terms") or []
        return {
            "agreement.signed_at": at,
            "agreement.signed_by": actor.user_id,
            "agreement.term_check_next": visit_rules.next_term_check(
                terms, (), registry.timezone(db, session)
            ),
            "agreement.terms_checked": [],
        }

    return desk.act(
        mediation,
        reference,
        actor,
        lc.AGREE_WRITTEN,
        {
            **{k: v for k, v in (prevention or {}).items() if k in desk.PREVENTION_FIELDS},
            "agreement_number": draft["number"],
        },
        expected_state=expected_state,
        now=now,
        extra=extra,
    )


def upload_scan(mediation: Mediation, reference: str, actor: Actor, upload: Upload) -> dict[str, Any]:
    """Store the signed agreement's scan (a PDF or a photo, checked by content) in GridFS."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    _may_write(actor, case)
    if not (case.get("agreement") or {}).get("signed_at"):
        raise desk.Conflict("Mark the agreement signed before uploading its scan.")
    try:
        [checked] = check_uploads(
            [upload],
            {**PDF, **PHOTOS},
            max_files=1,
            max_bytes=MAX_SCAN_BYTES,
            type_message="Upload the signed agreement as a PDF or a photo (JPEG, PNG, WebP, HEIC).",
        ) or [None]
    except UploadError as err:
        raise desk.Invalid(err.message, {"scan": [str(err)]}, err.params) from err
    if checked is None:
        raise desk.Invalid("Choose the file to upload.", {"scan": ["Choose the file to upload."]})
    bucket = GridFSBucket(db, bucket_name=BUCKET)
    file_id = bucket.upload_from_stream(
        f"{reference}-signed{checked.extension}",
        checked.content,
        metadata={"case": reference, "content_type": checked.content_type, "sha256": checked.sha256},
    )
    scan = {
        "id": str(file_id),
        "content_type": checked.content_type,
        "size": checked.size,
        "at": utcnow(),
        "by": actor.user_id,
    }
    previous = (case.get("agreement") or {}).get("scan")
    # Conditional on the scan read above: of two uploads at once (a repeated API call), one is
    # stored and the other refused with its file removed, so no file is left orphaned and the
    # replaced one is deleted once.
    result = db.cases.update_one(
        {"_id": reference, "agreement.scan.id": previous["id"] if previous else None},
        {
            "$set": {"agreement.scan": scan},
            "$push": {"timeline": {"at": scan["at"], "action": "agreement_scan", "by": actor.user_id}},
        },
    )
    if result.matched_count != 1:
        bucket.delete(file_id)
        raise desk.Conflict("The scan was replaced in the meantime; nothing was changed. Reload the case.")
    if previous:  # a re-upload replaces the scan
        bucket.delete(ObjectId(previous["id"]))
    return scan


def scan_file(mediation: Mediation, reference: str, actor: Actor) -> tuple[str, bytes]:
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    if not desk.may_see_personal(actor, case):
        raise desk.Forbidden("Only the case's own mediators or their studio lead open its agreement.")
    scan = (case.get("agreement") or {}).get("scan")
    if not scan:
        raise desk.NotFound("No signed scan uploaded.")
    desk.record_access(db, case, actor, "agreement_scan")
    data = GridFSBucket(db, bucket_name=BUCKET).open_download_stream(ObjectId(scan["id"])).read()
    return scan["content_type"], data
