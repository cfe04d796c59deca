"""Intake's filing use case: submit a case (reference, duplicate awareness, attachments, its event)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from services.intake.attachments import Attachment, discard_attachments, store_attachments
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from shared.db import upsert_retrying
from shared.messaging.envelope import make_envelope, utcnow

log = logging.getLogger(__name__)


def next_reference(intake: Intake, now: datetime) -> str:
    """Allocate the next reference of the year (outside the case's transaction: a gap after a
    failed insert is harmless, a counter inside every transaction would serialise them)."""
    counter = upsert_retrying(
        lambda: intake.db.counters.find_one_and_update(
            {"_id": f"case-reference-{now.year}"},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    )
    return case_rules.format_reference(now.year, counter["value"])


def possible_duplicates(intake: Intake, data: dict[str, Any], now: datetime) -> list[str]:
    """References of open cases the new one may duplicate (newest first, at most 5)."""
    query = case_rules.duplicate_query(data["community"], data["building"], data["category"], now)
    rows = intake.db.cases.find(query, {"_id": 1}).limit(5)
    return sorted((row["_id"] for row in rows), reverse=True)


def submit_case(
    intake: Intake,
    data: dict[str, Any],
    attachments: Sequence[Attachment] = (),
    *,
    channel: str = "api",
    organisation: str | None = None,
    open311_token: str | None = None,
    filer_account: str | None = None,
) -> dict[str, Any]:
    """Store a validated case, its attachments and its `case.submitted` event atomically, then
    publish. `channel` is web, api or open311; `organisation` is the Open311 key's owner;
    `filer_account` the signed-in building leader who filed it (their page lists it)."""
    now = utcnow()
    reference = next_reference(intake, now)
    token = case_rules.new_tracking_token()
    duplicates = possible_duplicates(intake, data, now)
    parties = [{"role": "applicant", **applicant} for applicant in data["applicants"]] + [
        {"role": "respondent", **respondent} for respondent in data["respondents"]
    ]
    details = {k: v for k, v in data.items() if k not in {"applicants", "respondents", "consent", "filer"}}
    # Whoever filed for the residents is personal data: stored with the case and sent to notify,
    # never logged and never on the public tracking page.
    filer = data.get("filer")
    case = {
        "_id": reference,
        "reference": reference,
        "token_hash": case_rules.hash_token(token),
        "status": case_rules.RECEIVED,
        "status_at": now,
        "received_at": now,
        "updated_at": now,
        "consent_at": now,
        "open": True,
        "channel": channel,
        "organisation": organisation,
        "possible_duplicates": duplicates,
        "timeline": [case_rules.timeline_entry(case_rules.RECEIVED, now)],
        **details,
        "parties": parties,
        "filer": filer,
    }
    if open311_token:
        case["open311_token"] = open311_token
    if filer_account:
        case["filer_account"] = filer_account
    files = store_attachments(intake.db, reference, list(attachments)) if attachments else []
    case["attachments"] = files
    event = make_envelope(
        "case.submitted",
        {
            "reference": reference,
            "received_at": now.isoformat(),
            **details,
            "parties": [{**p, "language": data["language"]} for p in parties],
            "channel": channel,
            "possible_duplicates": duplicates,
            "attachments": files,
            "filer": {**filer, "language": data["language"]} if filer else None,
        },
        source=SERVICE,
    )
    events = intake.outbox.embed(case, [event])  # one insert stores the case and its event
    try:
        intake.db.cases.insert_one(case)
    except Exception:
        discard_attachments(intake.db, files)
        raise
    intake.outbox.flush_embedded("cases", reference, events)
    log.info(
        "case submitted",
        extra={"reference": reference, "category": data["category"], "channel": channel},
    )
    return {
        "reference": reference,
        "tracking_token": token,
        "status": case_rules.RECEIVED,
        "related_case_exists": bool(duplicates),
    }
