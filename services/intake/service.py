"""Intake's use cases: submit a case, read its public status, follow events from mediation."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.client_session import ClientSession

from services.intake import domain
from services.intake.bootstrap import SERVICE, Intake
from shared.db import transaction
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)


def next_reference(intake: Intake, now: datetime) -> str:
    """Allocate the next reference of the year (outside the case's transaction: a gap after a
    failed insert is harmless, a counter inside every transaction would serialise them)."""
    counter = intake.db.counters.find_one_and_update(
        {"_id": f"case-reference-{now.year}"},
        {"$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return domain.format_reference(now.year, counter["value"])


def submit_case(intake: Intake, data: dict[str, Any]) -> dict[str, str]:
    """Store a validated case and its `case.submitted` event atomically, then publish."""
    now = utcnow()
    reference = next_reference(intake, now)
    token = domain.new_tracking_token()
    parties = [{"role": "applicant", **applicant} for applicant in data["applicants"]] + [
        {"role": "respondent", **respondent} for respondent in data["respondents"]
    ]
    case = {
        "_id": reference,
        "reference": reference,
        "token_hash": domain.hash_token(token),
        "status": domain.RECEIVED,
        "status_at": now,
        "received_at": now,
        "consent_at": now,
        "timeline": [domain.timeline_entry(domain.RECEIVED, now)],
        **{k: v for k, v in data.items() if k not in {"applicants", "respondents", "consent"}},
        "parties": parties,
    }
    event = make_envelope(
        "case.submitted",
        {
            "reference": reference,
            "received_at": now.isoformat(),
            **{k: v for k, v in data.items() if k not in {"applicants", "respondents", "consent"}},
            "parties": [{**p, "language": data["language"]} for p in parties],
        },
        source=SERVICE,
    )
    with transaction(intake.db) as session:
        intake.db.cases.insert_one(case, session=session)
        events = intake.outbox.add([event], session=session)
    intake.outbox.flush(events)
    log.info("case submitted", extra={"reference": reference, "category": data["category"]})
    return {"reference": reference, "tracking_token": token, "status": domain.RECEIVED}


def public_status(intake: Intake, reference: str, token: str) -> dict[str, Any] | None:
    """The resident's view of a case, or None when the reference or the token is wrong
    (deliberately indistinguishable)."""
    case = intake.db.cases.find_one({"_id": reference})
    if case is None or not domain.token_matches(token, case["token_hash"]):
        return None
    return {
        "reference": case["reference"],
        "status": case["status"],
        "category": case["category"],
        "community": case["community"],
        "received_at": case["received_at"],
        "timeline": sorted(case["timeline"], key=lambda e: e["at"]),
    }


def _record_status(intake: Intake, envelope: Envelope, status: str, at: datetime, note: str | None) -> None:
    reference = envelope.data["reference"]

    def effect(session: ClientSession) -> None:
        case = intake.db.cases.find_one({"_id": reference}, {"status_at": 1}, session=session)
        if case is None:
            # Intake wrote the case before publishing its first event, so this is a real fault.
            raise LookupError(f"event for unknown case {reference}")
        update: dict[str, Any] = {"$push": {"timeline": domain.timeline_entry(status, at, note)}}
        if domain.is_newer(at, case.get("status_at")):
            update["$set"] = {"status": status, "status_at": at}
        intake.db.cases.update_one({"_id": reference}, update, session=session)

    process_once(intake.db, "intake.tracking", envelope, effect)


def on_case_assigned(intake: Intake, envelope: Envelope) -> None:
    at = datetime.fromisoformat(envelope.data["assigned_at"])
    studio = envelope.data["studio"]["name"]
    _record_status(intake, envelope, domain.ASSIGNED, at, studio)


def on_case_status_changed(intake: Intake, envelope: Envelope) -> None:
    if not envelope.data.get("public", True):
        return
    at = datetime.fromisoformat(envelope.data["changed_at"])
    _record_status(intake, envelope, envelope.data["status"], at, envelope.data.get("note"))
