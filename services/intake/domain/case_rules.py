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
CLOSED = "closed"
MERGED = "merged"  # closed as a duplicate: the dispute continues in another case (`merged_into`)
# Every state a resident may see, in lifecycle order (mediation's public status changes).
PUBLIC_STATES = (
    RECEIVED,
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
