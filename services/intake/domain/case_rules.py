"""Pure rules of intake: case references, tracking tokens, the public status timeline and
duplicate awareness. (The risk level the urgency answers raise is mediation's rule.)"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

REFERENCE_PREFIX = "LC"
REFERENCE_PATTERN = re.compile(r"^[A-Z]{2}-\d{4}-\d{6}$")

RECEIVED = "received"
ASSIGNED = "assigned"
SESSION_SCHEDULED = "session_scheduled"
SESSION_RESCHEDULED = "session_rescheduled"
SESSION_CANCELLED = "session_cancelled"
SESSION_ENTRIES = (SESSION_SCHEDULED, SESSION_RESCHEDULED, SESSION_CANCELLED)
# A note the mediators shared with the parties: a timeline entry of its own, not a state change
# (mediation sends it as a `case.status_changed` that keeps the status).
NOTE_SHARED = "note_shared"
# A party's own requests from the tracking page, and mediation's answer when it could not act.
WITHDRAWAL_REQUESTED = "withdrawal_requested"
OTHER_MEDIATOR_REQUESTED = "other_mediator_requested"
PARTY_REQUEST_NOT_CARRIED_OUT = "party_request_not_carried_out"
CLOSED = "closed"
MERGED = "merged"  # closed as a duplicate: the dispute continues in another case (`merged_into`)
# Every state a resident may see, in lifecycle order (mediation's public status changes).
PUBLIC_STATES = (
    RECEIVED,
    "awaiting_consent",
    "screening",
    "accepted",
    "not_accepted",
    ASSIGNED,
    "mediator_assigned",
    "rights_notified",
    "investigating",
    "in_mediation",
    SESSION_SCHEDULED,
    SESSION_RESCHEDULED,
    SESSION_CANCELLED,
    NOTE_SHARED,
    "waiting_for_party",
    WITHDRAWAL_REQUESTED,
    OTHER_MEDIATOR_REQUESTED,
    PARTY_REQUEST_NOT_CARRIED_OUT,
    "follow_up",
    CLOSED,
    MERGED,
    "confirmation_applied",
    "confirmation_confirmed",
    "confirmation_rejected",
    "archived",
)
# States after which a case is no longer "open" (for duplicates and Open311).
FINAL_STATES = frozenset({CLOSED, MERGED, "not_accepted", "archived"})

DUPLICATE_WINDOW = timedelta(days=30)


def is_reference(value: str) -> bool:
    """True for a well-formed case reference such as `LC-2026-000123`."""
    return bool(REFERENCE_PATTERN.match(value))


def duplicate_query(community: str, building: str, category: str, now: datetime) -> dict[str, Any]:
    """The filter of open cases a new one may duplicate: same community, building and category,
    received in the last 30 days. It flags; it never rejects (the mediators decide)."""
    return {
        "community": community,
        "building": building,
        "category": category,
        "open": True,
        "received_at": {"$gte": now - DUPLICATE_WINDOW},
    }


def open311_status(status: str) -> str:
    """Open311 knows only `open` and `closed`; the detailed state goes in status_notes."""
    return "closed" if status in FINAL_STATES else "open"


def format_reference(year: int, sequence: int) -> str:
    """`LC-2026-000123`: the human-readable case reference."""
    return f"{REFERENCE_PREFIX}-{year:04d}-{sequence:06d}"


def new_tracking_token() -> str:
    """A secret the resident keeps to see their case; only its hash is stored."""
    return secrets.token_urlsafe(18)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), token_hash)


def timeline_entry(status: str, at: datetime, note: str | None = None, **details: Any) -> dict:
    """One public timeline entry; `details` (outcome, starts_at, place) are kept when given."""
    entry: dict = {"status": status, "at": at}
    if note:
        entry["note"] = note
    entry.update({key: value for key, value in details.items() if value is not None})
    return entry


def is_newer(event_at: datetime, status_at: datetime | None) -> bool:
    """Events can arrive out of order (retries): only a newer event moves the current status."""
    return status_at is None or event_at >= status_at


def _adopt_session_ids(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Session entries recorded before events carried a session id, matched to the session a later
    move or cancellation names by their time and hall: a move's previous time (or a cancelled
    session's time) in the same hall is that entry's session. Such an entry takes the session's
    id and comes before every entry that has one (sequence -1). Unmatched ones stay as they are."""
    known = [e for e in timeline if e.get("status") in SESSION_ENTRIES and e.get("session_id")]
    adopted = []
    for entry in timeline:
        if entry.get("status") in SESSION_ENTRIES and not entry.get("session_id") and entry.get("starts_at"):
            match = next(
                (
                    later
                    for later in known
                    if later.get("place") == entry.get("place")
                    and (
                        later.get("previous_starts_at") == entry["starts_at"]
                        or (
                            later["status"] == SESSION_CANCELLED
                            and later.get("starts_at") == entry["starts_at"]
                        )
                    )
                ),
                None,
            )
            if match is not None:
                entry = {**entry, "session_id": match["session_id"], "sequence": -1}
        adopted.append(entry)
    return adopted


def mark_superseded_sessions(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline with every session entry that a later one replaced (the session was moved or
    cancelled) marked `superseded_by` that entry's status, so the page never shows an old time as
    if it still held. "Later" is the invitation's sequence, not the order events arrived in
    (retries can reorder them). Entries without a session id (older cases) are matched to their
    session by time and hall (`_adopt_session_ids`); the ones that match nothing stay as they are."""
    timeline = _adopt_session_ids(timeline)
    latest: dict[str, dict[str, Any]] = {}
    for entry in timeline:
        session_id = entry.get("session_id")
        if entry.get("status") in SESSION_ENTRIES and session_id:
            known = latest.get(session_id)
            if known is None or entry.get("sequence", 0) > known.get("sequence", 0):
                latest[session_id] = entry
    marked = []
    for entry in timeline:
        newest = latest.get(entry.get("session_id") or "")
        if newest is not None and entry.get("sequence", 0) < newest.get("sequence", 0):
            entry = {**entry, "superseded_by": newest["status"]}
        marked.append(entry)
    return marked


def mark_shared_notes(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline (in time order) with the shared notes recorded before they had an entry of
    their own (a repeat of the current state carrying the note) shown as notes: a state line
    appears once, where the case reached it."""
    marked = []
    current: str | None = None
    for entry in timeline:
        status = entry.get("status")
        if status in SESSION_ENTRIES or status == NOTE_SHARED:
            marked.append(entry)
            continue
        if status == current and entry.get("note") and status not in (ASSIGNED, CLOSED, MERGED):
            entry = {**entry, "status": NOTE_SHARED}
        else:
            current = status
        marked.append(entry)
    return marked


def in_language(timeline: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The timeline as a reader of `language` sees it: the studio's and the hall's English names on
    an English page, when mediation's events carried them (older entries keep the Chinese name)."""
    if language != "en":
        return timeline
    shown = []
    for entry in timeline:
        if entry.get("place_en"):
            entry = {**entry, "place": entry["place_en"]}
        if entry.get("status") == ASSIGNED and entry.get("studio_name_en"):
            entry = {**entry, "note": entry["studio_name_en"]}
        shown.append(entry)
    return shown


# Tracking links reach the people, and a lost one is found again -------------------------------
# How long notify may keep an applicant's link (to send it, and resend it from the delivery log).
TRACKING_LINK_RESEND_WINDOW = timedelta(days=7)
# A code to find a lost link again: short-lived, and only so many wrong tries.
RECOVERY_CODE_TTL = timedelta(minutes=15)
RECOVERY_CODE_DIGITS = 6
APPLICANT = "applicant"


def party_key(index: int) -> str:
    """Which applicant a tracking link belongs to, e.g. "applicant:0" (their place in the filing)."""
    return f"{APPLICANT}:{index}"


def party_tokens(applicants: int, filed_by: str, case_token: str) -> list[tuple[str, str]]:
    """Each applicant's own tracking token, as (party key, token). A resident filing for themselves
    is the first applicant and already holds the case's token (shown on the confirmation); everyone
    else gets a new one, so a building leader's or clerk's copy is never the applicants' own."""
    tokens = []
    for index in range(applicants):
        own = case_token if (index == 0 and filed_by == "resident") else new_tracking_token()
        tokens.append((party_key(index), own))
    return tokens


def token_holder(token: str, case: dict[str, Any]) -> str | bool | None:
    """Who holds `token` for this case: an applicant's party key, None for the case's own token when
    it is nobody's in particular (the filer's), or False when it matches nothing."""
    hashed = hash_token(token)
    for entry in case.get("party_tokens") or []:
        if hmac.compare_digest(hashed, entry["hash"]):
            return entry["party"]
    if hmac.compare_digest(hashed, case.get("token_hash") or ""):
        return None
    return False


def normalise_phone(value: str) -> str:
    """A phone as typed, compared with the one filed: spaces, dashes and a +86 prefix do not count."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def new_recovery_code() -> str:
    """A six-digit one-time code for the phone an applicant filed with."""
    return f"{secrets.randbelow(10**RECOVERY_CODE_DIGITS):0{RECOVERY_CODE_DIGITS}d}"


def recovery_code_hash(secret: str, reference: str, phone: str, code: str) -> str:
    """Only a keyed hash of a recovery code is stored, bound to its reference and phone."""
    message = f"{reference}|{normalise_phone(phone)}|{code.strip()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# What a party may ask from the tracking page, and when (intake's view of the state; mediation's
# lifecycle decides again).
PARTY_REQUESTS = ("withdraw", "other_mediator")
# Where a mediator is on the case (mediation's MEDIATOR_STATES, and waiting for a party).
MEDIATOR_ON_CASE_STATES = frozenset(
    {"mediator_assigned", "rights_notified", "investigating", "in_mediation", "waiting_for_party"}
)
MAX_REQUEST_REASON = 1000


def party_request_refusal(kind: str, case: dict[str, Any]) -> str | None:
    """Why a party's request cannot be made now (a code for the page's message), or None."""
    if kind not in PARTY_REQUESTS:
        return "unknown"
    if not case.get("open", True) or case.get("status") in FINAL_STATES:
        return "ended"
    pending = case.get("pending_requests") or {}
    if pending.get("withdraw"):
        return "withdrawal_pending"
    if kind == "other_mediator":
        if pending.get("other_mediator"):
            return "already_asked"
        if case.get("status") not in MEDIATOR_ON_CASE_STATES:
            return "no_mediator"
    return None
