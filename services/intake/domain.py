"""Pure rules of intake: case references, tracking tokens, and the public status timeline."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

REFERENCE_PREFIX = "LC"

RECEIVED = "received"
ASSIGNED = "assigned"


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


def timeline_entry(status: str, at: datetime, note: str | None = None) -> dict:
    entry: dict = {"status": status, "at": at}
    if note:
        entry["note"] = note
    return entry


def is_newer(event_at: datetime, status_at: datetime | None) -> bool:
    """Events can arrive out of order (retries): only a newer event moves the current status."""
    return status_at is None or event_at >= status_at
