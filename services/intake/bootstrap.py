"""Composition root of intake: builds the adapters once and hands them to entrypoints."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from shared.config import Settings
from shared.db import get_database
from shared.messaging.publisher import Publisher
from shared.outbox import Outbox, ensure_outbox_indexes

SERVICE = "intake"


@dataclass
class Intake:
    """Everything intake's use cases need; the database client is opened lazily per process."""

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
    """Create intake's indexes (idempotent; run at start-up)."""
    ensure_outbox_indexes(db)
    db.cases.create_index("reference", unique=True)
    db.cases.create_index(
        [
            ("community", ASCENDING),
            ("building", ASCENDING),
            ("category", ASCENDING),
            ("received_at", DESCENDING),
        ]
    )


def bootstrap(settings: Settings | None = None) -> Intake:
    return Intake(settings or Settings.from_env())
