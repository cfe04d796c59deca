"""Intake's filing use case: submit a case (reference, duplicate awareness, attachments, its event)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from services.intake.attachments import Attachment, discard_attachments, store_attachments
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from shared.db import upsert_retrying
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)


# References are reserved in blocks, one counter round trip per block, and the next block is
# reserved in the background while half of the current one is left, so a filing's request
# normally makes no counter round trip at all. The price: a process that stops forfeits the rest
# of its blocks (gaps, harmless: a reference is a name, not a count), and two processes number
# their filings from different blocks (references are not in filing order across processes;
# `received_at` is).
REFERENCE_BLOCK = 20


class ReferenceBlocks:
    """This process's reserved reference numbers, per counter (one counter per year)."""

    def __init__(self, size: int = REFERENCE_BLOCK) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._blocks: dict[tuple[str, str], list[range]] = {}  # (database, counter) → current, next
        self._reserving: set[tuple[str, str]] = set()
        self._pid: int | None = None

    def take(self, counters: Collection, name: str) -> int:
        """The next reserved number of counter `name`, reserving a block if none is left."""
        key = (counters.database.name, name)
        with self._lock:
            if self._pid != os.getpid():  # blocks reserved before a fork belong to the parent
                self._pid, self._blocks, self._reserving = os.getpid(), {}, set()
            blocks = self._blocks.setdefault(key, [])
            while blocks and not blocks[0]:
                blocks.pop(0)
            if blocks:
                number = blocks[0][0]
                blocks[0] = blocks[0][1:]
                if len(blocks) == 1 and len(blocks[0]) <= self.size // 2 and key not in self._reserving:
                    self._reserving.add(key)
                    threading.Thread(
                        target=self._reserve_ahead,
                        args=(counters, name, key),
                        name="reference-blocks",
                        daemon=True,
                    ).start()
                return number
        block = self._reserve(counters, name)  # none left (first filing, or a burst outran the thread)
        with self._lock:
            self._blocks.setdefault(key, []).append(block[1:])
        return block[0]

    def _reserve(self, counters: Collection, name: str) -> range:
        counter = upsert_retrying(
            lambda: counters.find_one_and_update(
                {"_id": name},
                {"$inc": {"value": self.size}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        return range(counter["value"] - self.size + 1, counter["value"] + 1)

    def _reserve_ahead(self, counters: Collection, name: str, key: tuple[str, str]) -> None:
        try:
            block = self._reserve(counters, name)
            with self._lock:
                self._blocks.setdefault(key, []).append(block)
        except Exception:  # database down: the next filing that finds no number reserves one itself
            log.warning("could not reserve the next block of references", exc_info=True)
        finally:
            with self._lock:
                self._reserving.discard(key)


REFERENCES = ReferenceBlocks()


def next_reference(intake: Intake, now: datetime) -> str:
    """The next reference of the year, from this process's reserved block (outside the case's
    insert: a gap after a failed insert is harmless, a counter in every write would serialise them)."""
    return case_rules.format_reference(
        now.year, REFERENCES.take(intake.db.counters, f"case-reference-{now.year}")
    )


def possible_duplicates(db: Database, case: dict[str, Any]) -> list[str]:
    """References of other open cases `case` may duplicate (newest first, at most 5).

    Asked where the answer is shown (the resident's confirmation and tracking), not while the
    case is filed: the filing's request stays at its two round trips (rate limit, insert).
    """
    received = case["received_at"]
    query = case_rules.duplicate_query(case["community"], case["building"], case["category"], received)
    query["received_at"]["$lt"] = received  # filed before this one: a pair is flagged once, on the later case
    rows = db.cases.find(query, {"_id": 1}).limit(5)
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
    `filer_account` the signed-in building leader who filed it (their page lists it).

    The reference comes from this process's reserved block (`REFERENCES`), the duplicate lookup is
    left to where its answer is shown (`possible_duplicates`; mediation looks for its own), and the
    published events are marked sent in a batch (`shared.outbox.SentMarks`). One database round
    trip: the insert of the case carrying its events (the caller's rate limit is the request's
    second)."""
    now = utcnow()
    reference = next_reference(intake, now)
    token = case_rules.new_tracking_token()
    parties = [{"role": "applicant", **applicant} for applicant in data["applicants"]] + [
        {"role": "respondent", **respondent} for respondent in data["respondents"]
    ]
    details = {k: v for k, v in data.items() if k not in {"applicants", "respondents", "consent", "filer"}}
    # Whoever filed for the residents is personal data: stored with the case and sent to notify,
    # never logged and never on the public tracking page.
    filer = data.get("filer")
    # Each applicant's own tracking link (only hashes are stored; the tokens travel to notify once,
    # in `case.tracking_link` events the case carries, whose copies drop them once published).
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
            "attachments": files,
            "filer": {**filer, "language": data["language"]} if filer else None,
        },
        source=SERVICE,
    )
    # The case carries its case.submitted and each applicant's link: one insert, atomic without a
    # transaction. A link's token leaves the carried copy when it is marked sent
    # (`shared.outbox.mark_carriers_sent`), so the case never keeps the secret.
    links = tracking_links(intake, reference, data, tokens, "filed", now)
    events = intake.outbox.embed(case, [event, *links])
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
    }
