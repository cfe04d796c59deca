"""Intake's filing use case: submit a case (reference, duplicate awareness, attachments, its event)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.client_session import ClientSession

from services.intake.attachments import Attachment, discard_attachments, store_attachments
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from shared.db import in_transaction, upsert_retrying
from shared.messaging.envelope import Envelope, make_envelope, utcnow

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


def tracking_links(
    intake: Intake,
    reference: str,
    data: dict[str, Any],
    tokens: Sequence[tuple[str, str]],
    occasion: str,
    now: datetime,
) -> list[Envelope]:
    """One `case.tracking_link` per applicant: their reference and own link, by SMS and email
    (where given), in the language of the filing. Never logged: the token is the link's secret."""
    url = f"{intake.settings.intake_public_url.rstrip('/')}/track/{reference}"
    expires = (now + case_rules.TRACKING_LINK_RESEND_WINDOW).isoformat()
    language = data.get("language") or "zh-CN"
    by_key = {case_rules.party_key(i): a for i, a in enumerate(data["applicants"])}
    return [
        make_envelope(
            "case.tracking_link",
            {
                "reference": reference,
                "recipient": {
                    "name": by_key[key]["name"],
                    "phone": by_key[key].get("phone"),
                    "email": by_key[key].get("email"),
                    "language": language,
                },
                "url": url,
                "code": token,
                "expires_at": expires,
                "occasion": occasion,
            },
            source=SERVICE,
        )
        for key, token in tokens
        if key in by_key
    ]


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
    # Each applicant's own tracking link (only hashes are stored; the tokens travel to notify once,
    # in `case.tracking_link` events from the outbox, whose copies drop them once published).
    tokens = case_rules.party_tokens(len(data["applicants"]), data.get("filed_by") or "resident", token)
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
        "party_tokens": [{"party": key, "hash": case_rules.hash_token(t)} for key, t in tokens],
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
    events = intake.outbox.embed(case, [event])  # the case carries its case.submitted
    links = tracking_links(intake, reference, data, tokens, "filed", now)

    def store(session: ClientSession) -> None:
        # The links' events go to the outbox collection (not embedded): their copies there lose
        # the secret once published, while a case document keeps what it carries.
        intake.db.cases.insert_one(case, session=session)
        intake.outbox.add(links, session)

    try:
        in_transaction(intake.db, store)
    except Exception:
        discard_attachments(intake.db, files)
        raise
    intake.outbox.flush_embedded("cases", reference, events)
    intake.outbox.flush(links)
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
