"""Composition root of council."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.database import Database

from shared.config import Settings
from shared.service import ServiceContext, ensure_messaging_indexes
from shared.web.ratelimit import ensure_rate_limit_indexes

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
    # Results and participation read one consultation's ballots (by flat) and reviews.
    db.result_reviews.create_index([("consultation_id", ASCENDING)])
    db.reminders.create_index([("consultation_id", ASCENDING)])
    db.building_groups.create_index([("community", ASCENDING), ("building", ASCENDING)])
    # Consultations: a community's list; ballots (one per flat: _id "<consultation>:<flat>") and
    # answer codes read per consultation; rate-limit windows expire by themselves.
    db.consultations.create_index([("community", ASCENDING), ("created_at", ASCENDING)])
    db.consultations.create_index([("status", ASCENDING), ("closes_at", ASCENDING)])
    db.ballots.create_index([("consultation_id", ASCENDING), ("building", ASCENDING)])
    db.answer_codes.create_index([("consultation_id", ASCENDING), ("flat_id", ASCENDING)])
    ensure_rate_limit_indexes(db.rate_limits)
    db.register_changes.create_index([("flat_id", ASCENDING), ("at", ASCENDING)])
    # The board's read model: a case's facts are found together (by the hash of its reference).
    db.mediation_facts.create_index([("case", ASCENDING)])
    # A previewed file (its rows hold names and phones) is dropped when it was never confirmed.
    db.register_imports.create_index(
        "expires_at", expireAfterSeconds=0, partialFilterExpression={"status": "previewed"}
    )
    # The plan and the public accounts are read per community (public pages, the board).
    db.plan_items.create_index([("community", ASCENDING), ("position", ASCENDING)])
    db.plan_timeline.create_index([("community", ASCENDING), ("at", ASCENDING)])
    db.account_entries.create_index([("community", ASCENDING), ("day", ASCENDING)])
    db.account_questions.create_index([("community", ASCENDING), ("entry_id", ASCENDING)])
    db.resident_codes.create_index([("community", ASCENDING)])
    # Meetings: a community's list by time; wrong check-in codes are counted per client for a
    # short window (the rate limit), then forgotten.
    db.meetings.create_index([("community", ASCENDING), ("starts_at", ASCENDING)])
    db.checkin_failures.create_index([("meeting_id", ASCENDING), ("client", ASCENDING)])
    db.checkin_failures.create_index("at", expireAfterSeconds=3600)


def bootstrap(settings: Settings | None = None) -> Council:
    """The council context for this process (settings from the environment unless given)."""
    return Council(settings or Settings.from_env())
