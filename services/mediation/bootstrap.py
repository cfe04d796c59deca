"""Composition root of mediation."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo import ASCENDING
from pymongo.database import Database

from shared.config import Settings
from shared.db import get_database
from shared.idempotency import ensure_processed_indexes
from shared.messaging.publisher import Publisher
from shared.outbox import Outbox, ensure_outbox_indexes

SERVICE = "mediation"


@dataclass
class Mediation:
    """Everything mediation's use cases need; the database client is opened lazily per process."""

    settings: Settings
    publisher: Publisher = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.settings)

    @property
    def db(self) -> Database:
        return get_database(self.settings, SERVICE)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db, self.publisher, self.settings)


def ensure_indexes(db: Database) -> None:
    """Indexes of mediation's collections (idempotent; run by the app and the worker)."""
    ensure_outbox_indexes(db)
    ensure_processed_indexes(db)
    db.cases.create_index([("studio", ASCENDING), ("status", ASCENDING)])
    db.cases.create_index([("community", ASCENDING), ("status", ASCENDING)])
    db.studios.create_index("code", unique=True)
    # Selective filters: SecantusDB sorts in memory, so a team's task list must match few rows.
    db.patrol_tasks.create_index([("team", ASCENDING), ("status", ASCENDING)])
    db.patrol_tasks.create_index([("reference", ASCENDING), ("status", ASCENDING)])
    db.task_photos.create_index([("task_id", ASCENDING), ("index", ASCENDING)])
    db.audit.create_index([("entity", ASCENDING), ("key", ASCENDING)])
    db.routing_failures.create_index("at")


def bootstrap(settings: Settings | None = None) -> Mediation:
    return Mediation(settings or Settings.from_env())
