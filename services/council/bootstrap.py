"""Composition root of council."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.database import Database

from shared.config import Settings
from shared.service import ServiceContext, ensure_messaging_indexes

SERVICE = "council"


@dataclass
class Council(ServiceContext):
    """Everything council's use cases need; the database client is opened lazily per process."""

    name = SERVICE


def ensure_indexes(db: Database) -> None:
    """Indexes of council's collections (idempotent; run by the app and the worker)."""
    ensure_messaging_indexes(db)
    # One row per flat: the register's identity, enforced by the database (also across imports).
    db.flats.create_index(
        [("community", ASCENDING), ("building", ASCENDING), ("unit", ASCENDING), ("flat", ASCENDING)],
        unique=True,
        name="one_row_per_flat",
    )
    # Counting owners and a building leader's list read one community's flats, by building.
    db.flats.create_index([("community", ASCENDING), ("owner_key", ASCENDING)])
    db.access_log.create_index([("flat_id", ASCENDING), ("at", ASCENDING)])
    db.register_changes.create_index([("flat_id", ASCENDING), ("at", ASCENDING)])
    # A previewed file (its rows hold names and phones) is dropped when it was never confirmed.
    db.register_imports.create_index(
        "expires_at", expireAfterSeconds=0, partialFilterExpression={"status": "previewed"}
    )
    # Meetings: a community's list by time; wrong check-in codes are counted per client for a
    # short window (the rate limit), then forgotten.
    db.meetings.create_index([("community", ASCENDING), ("starts_at", ASCENDING)])
    db.checkin_failures.create_index([("meeting_id", ASCENDING), ("client", ASCENDING)])
    db.checkin_failures.create_index("at", expireAfterSeconds=3600)


def bootstrap(settings: Settings | None = None) -> Council:
    """The council context for this process (settings from the environment unless given)."""
    return Council(settings or Settings.from_env())
