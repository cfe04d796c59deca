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


def mark_superseded_sessions(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline with every session entry that a later one replaced (the session was moved or
    cancelled) marked `superseded_by` that entry's status, so the page never shows an old time as
    if it still held. "Later" is the invitation's sequence, not the order events arrived in
    (retries can reorder them). Entries without a session id (older cases) stay as they are."""
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
