"""Staff tokens withdrawn before they expire: a disabled account, a changed role, a reset password.

A staff token is signed and carries its holder's roles, so every service verifies it without
reading mediation's accounts (`shared.auth`). Left alone, a token issued before an account was
disabled or its role changed would keep working until it expires (`auth.TOKEN_MAX_AGE`, a working
day). So mediation, where accounts change, records "tokens of this account issued before this
moment are void" in its own database and publishes `staff.access_revoked`; intake, notify and
council keep the same record in theirs. Each service's request loader asks `Revocations`, an
in-process copy of that small collection refreshed every few seconds, so checking a token costs no
database round trip per request.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.db import retry_transient
from shared.messaging.envelope import Envelope, make_envelope

log = logging.getLogger(__name__)

COLLECTION = "staff_revocations"
EVENT = "staff.access_revoked"
# How stale a service's copy of the revocations may be: the longest a withdrawn token still works
# after the event reached the service.
REFRESH_SECONDS = 5.0


def record(db: Database, username: str, not_before: datetime, session: ClientSession | None = None) -> None:
    """Void `username`'s tokens issued before `not_before`. `$max` keeps the latest moment, so a
    redelivered or late event has one effect and never brings an older token back."""
    db[COLLECTION].update_one(
        {"_id": username}, {"$max": {"not_before": not_before.timestamp()}}, upsert=True, session=session
    )


def revoked_event(username: str, not_before: datetime, source: str) -> Envelope:
    """The event that tells the other services to void `username`'s earlier tokens."""
    return make_envelope(EVENT, {"username": username, "not_before": not_before.isoformat()}, source=source)


def on_access_revoked(db: Database, envelope: Envelope) -> None:
    """A service's handler of `staff.access_revoked`: keep the revocation in its own database."""
    at = datetime.fromisoformat(envelope.data["not_before"])
    retry_transient(lambda: record(db, envelope.data["username"], at))


class Revocations:
    """One process's copy of the revocations collection, read again after `refresh_seconds`.

    When the database cannot be read the previous copy is kept and the next request tries again:
    a request that needs the database fails on its own anyway, and a revocation is never dropped.
    """

    def __init__(self, db: Database, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self._not_before: dict[str, float] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def not_before(self, username: str) -> float | None:
        """The moment (epoch seconds) before which `username`'s tokens are void, if any."""
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            self._refresh()
        return self._not_before.get(username)

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._read_at < self.refresh_seconds:
                return  # another thread just read it
            try:
                rows: list[dict[str, Any]] = list(self.db[COLLECTION].find({}, {"not_before": 1}))
            except PyMongoError as err:
                log.warning("could not read staff revocations", extra={"error": str(err)})
                self._read_at = time.monotonic() - self.refresh_seconds + 1.0  # try again in a second
                return
            self._not_before = {row["_id"]: float(row["not_before"]) for row in rows}
            self._read_at = time.monotonic()
