"""Staff access to a case's attachments, which intake keeps in its own GridFS.

Mediation's case page links here (`INTAKE_PUBLIC_URL`): staff identity is the shared staff token
(`shared.auth`). A district admin may open any case's files; a mediator or studio lead only those
of a case with their studio (the studio code intake keeps from `case.assigned`). An unknown case
and an unknown file answer the same 404. Every download is recorded in `attachment_access`
(reference, file id, user id, time), which carries an `attachment.downloaded` event to mediation's
access log; the logs carry no personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, cast

from bson import ObjectId
from bson.errors import InvalidId
from flask import Blueprint, Response, abort, current_app
from flask_login import current_user
from gridfs import GridFSBucket
from gridfs.errors import NoFile

from services.intake.attachments import ALLOWED, BUCKET
from services.intake.bootstrap import SERVICE, Intake
from shared.auth import Staff, requires_role
from shared.messaging.envelope import make_envelope, new_id, utcnow

bp = Blueprint("staff", __name__, url_prefix="/staff")
log = logging.getLogger(__name__)

STUDIO_ROLES = ("mediator", "studio_lead")
ACCESS_ROLES = ("district_admin", *STUDIO_ROLES)
CHUNK_BYTES = 255 * 1024


def _intake() -> Intake:
    return current_app.extensions["intake"]


def may_open(staff: Staff, case: dict[str, Any]) -> bool:
    """District admins: any case; mediators and leads: the cases with their studio."""
    if staff.has_role("district_admin"):
        return True
    studio = case.get("studio_code")
    return bool(studio) and staff.has_role(*STUDIO_ROLES) and staff.studio == studio


@bp.get("/cases/<string:reference>/attachments/<string:file_id>")
@requires_role(*ACCESS_ROLES)
def attachment(reference: str, file_id: str) -> Any:
    """Stream one attachment of a case as a download with a generated name."""
    db = _intake().db
    case = db.cases.find_one({"_id": reference}, {"attachments": 1, "studio_code": 1})
    staff = cast(Staff, current_user)
    # Another studio's case answers like an unknown one (as the desk does): no enumeration.
    if case is None or not may_open(staff, case):
        abort(404)
    ids = [item["id"] for item in case.get("attachments") or []]
    if file_id not in ids:
        abort(404)
    try:
        stream = GridFSBucket(db, bucket_name=BUCKET).open_download_stream(ObjectId(file_id))
    except (InvalidId, NoFile):
        abort(404)
    metadata = stream.metadata or {}
    if metadata.get("case") != reference:
        stream.close()
        abort(404)
    content_type = metadata.get("content_type")
    if content_type not in ALLOWED:  # stored files were checked; never serve anything else as-is
        content_type = "application/octet-stream"
    extension = ALLOWED.get(content_type, (".bin",))[0]
    filename = f"{reference}-{ids.index(file_id) + 1}{extension}"  # generated: no resident's name
    # The row carries its event (one atomic insert): mediation's access log, which the studio
    # lead reads, learns of every download.
    at = utcnow()
    row: dict[str, Any] = {
        "_id": new_id(),
        "reference": reference,
        "file_id": file_id,
        "user_id": staff.user_id,
        "at": at,
    }
    event = make_envelope(
        "attachment.downloaded",
        {
            "reference": reference,
            "file_id": file_id,
            "user_id": staff.user_id,
            "downloaded_at": at.isoformat(),
        },
        source=SERVICE,
    )
    intake = _intake()
    events = intake.outbox.embed(row, [event])
    db.attachment_access.insert_one(row)
    intake.outbox.flush_embedded("attachment_access", row["_id"], events)
    log.info("attachment opened", extra={"reference": reference, "file_id": file_id})

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk
        finally:
            stream.close()

    response = Response(chunks(), mimetype=content_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(stream.length)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
