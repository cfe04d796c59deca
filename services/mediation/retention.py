"""Retention (PIPL Art 19): the personal data of an archived case is erased once its retention period
(`Settings.personal_data_retention_years`, 5 by default, counted from archiving) has ended; the
anonymous record stays for the statistics. The rules are `domain/retention.py`; this is the job's
step, run by the archive job (`archive_job.py`) with the clock it is given.

Per case, in this order, so that a crash at any point leaves nothing personal behind once a later
pass completes (the case is picked up again until its erasure is committed):
1. the files are deleted (the signed agreement scan, the patrol photos, the dossier PDF);
2. one transaction erases the case (`domain.retention.case_changes`), its session records and patrol
   reports, clears its dossier row, and writes `case.personal_data_erased` to the outbox, so intake
   and notify erase their copies (their consumers are idempotent); the update is conditional on
   "not erased yet", so of several replicas one erases and tells the others' services once;
3. the dossier is rebuilt from the erased case: the anonymised cover and the anonymous record
   (should that fail, the archive job's dossier step builds it on its next pass).

The dossier is not kept whole: PML Art 27 asks for the records to be archived, PIPL Art 19 and 47
for personal data to be deleted when its period ends, so the stored dossier is replaced by the
anonymised one.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo.client_session import ClientSession

from services.mediation import agreements, dossier
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import retention as rules
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)


def _delete(bucket: GridFSBucket, file_id: str | None) -> None:
    if file_id:
        with contextlib.suppress(NoFile):  # deleted by an earlier pass that did not finish
            bucket.delete(ObjectId(file_id))


def erase(mediation: Mediation, reference: str, now: datetime | None = None) -> bool:
    """Erase the personal data of one archived case whose period has ended; True when this call
    erased it (False: not archived, not due yet, or erased already, e.g. by another replica)."""
    db = mediation.db
    now = now or utcnow()
    years = mediation.settings.personal_data_retention_years
    case = db.cases.find_one({"_id": reference})
    if case is None or case.get("status") != lc.ARCHIVED or case.get("personal_data_erased_at"):
        return False
    archived = dossier.archived_at(case)
    if archived is not None and not case.get("archived_at"):
        # Archived before the field was kept: stored now, so later passes select it by its date.
        db.cases.update_one({"_id": reference, "archived_at": None}, {"$set": {"archived_at": archived}})
    if not rules.due(archived, now, years):
        return False

    scan = (case.get("agreement") or {}).get("scan") or {}
    _delete(GridFSBucket(db, bucket_name=agreements.BUCKET), scan.get("id"))
    _delete(GridFSBucket(db, bucket_name=dossier.BUCKET), (case.get("dossier") or {}).get("id"))
    tasks = [t["_id"] for t in db.patrol_tasks.find({"reference": reference}, {"_id": 1})]
    if tasks:
        db.task_photos.delete_many({"task_id": {"$in": tasks}})
    published: list[Envelope] = []

    def work(session: ClientSession) -> bool:
        published.clear()
        current = db.cases.find_one({"_id": reference, "personal_data_erased_at": None}, session=session)
        if current is None:
            return False
        changes = {**rules.case_changes(current, now), "dossier": None}
        result = db.cases.update_one(
            {"_id": reference, "personal_data_erased_at": None}, {"$set": changes}, session=session
        )
        if result.matched_count != 1:
            return False
        db.sessions.update_many(
            {"reference": reference, "record": {"$ne": None}},
            {"$set": {"record.attended": [], "record.statements": ""}},
            session=session,
        )
        # The lead's "not settled" task shows the applicant's comment: erased with the case.
        db.follow_up_tasks.update_many(
            {"case_id": reference, "kind": "not_settled"}, {"$set": {"detail.comment": ""}}, session=session
        )
        erased_report: dict[str, Any] = {f"report.{k}": "" for k in rules.PATROL_REPORT_TEXTS}
        db.patrol_tasks.update_many(
            {"reference": reference},
            {"$set": {**dict.fromkeys(rules.PATROL_TASK_FIELDS, ""), "personal_data_erased_at": now}},
            session=session,
        )
        db.patrol_tasks.update_many(
            {"reference": reference, "report": {"$ne": None}}, {"$set": erased_report}, session=session
        )
        # Follow-up tasks: the notes written at a visit or a closing and an agreement term's wording
        # may name people; the codes, dates and satisfaction stay for the statistics.
        db.follow_up_tasks.update_many(
            {"case_id": reference, "record.note": {"$exists": True}},
            {"$set": {"record.note": ""}},
            session=session,
        )
        db.follow_up_tasks.update_many(
            {"case_id": reference, "detail.text": {"$exists": True}},
            {"$set": {"detail.text": ""}},
            session=session,
        )
        db.follow_up_tasks.update_many(
            {"case_id": reference, "detail.comment": {"$exists": True}},
            {"$set": {"detail.comment": ""}},
            session=session,
        )
        event = make_envelope(
            "case.personal_data_erased",
            {
                "reference": reference,
                "erased_at": now.isoformat(),
                "archived_at": archived.isoformat() if archived else None,
            },
            source=SERVICE,
        )
        published.extend(mediation.outbox.add([event], session=session))
        return True

    if not in_transaction(db, work):
        return False
    mediation.outbox.flush(published)
    log.info("personal data erased", extra={"reference": reference})
    try:
        dossier.generate(mediation, reference)
    except Exception:  # the archive job's dossier step builds it on its next pass
        log.exception("anonymised dossier failed", extra={"reference": reference})
    return True


def run_once(mediation: Mediation, now: datetime | None = None, limit: int = 200) -> int:
    """Erase every archived case whose period has ended by `now` (up to `limit` per pass); the
    number erased. Cases archived before `archived_at` was kept are judged by their timeline."""
    db = mediation.db
    now = now or utcnow()
    years = mediation.settings.personal_data_retention_years
    # Archived at or before this moment: possibly due now (`erase` applies the exact rule).
    try:
        latest = now.replace(year=now.year - years)
    except ValueError:  # 29 February: its day `years` before does not exist
        latest = now.replace(year=now.year - years, month=3, day=1)
    query = {
        "status": lc.ARCHIVED,
        "personal_data_erased_at": None,
        "$or": [{"archived_at": {"$lte": latest}}, {"archived_at": None}],
    }
    erased = 0
    for case in db.cases.find(query, {"_id": 1}).limit(limit):
        try:
            erased += erase(mediation, case["_id"], now)
        except Exception:  # one case must not stop the others; retried next pass
            log.exception("erasure failed", extra={"reference": case["_id"]})
    return erased
