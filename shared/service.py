"""What every service's composition root starts from: its settings, its own database (opened
lazily, per process, after any fork), its publisher and its outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pymongo.database import Database

from shared.config import Settings
from shared.db import get_database
from shared.idempotency import ensure_processed_indexes
from shared.messaging.publisher import Publisher
from shared.outbox import Outbox, ensure_outbox_indexes


@dataclass
class ServiceContext:
    """Subclassed once per service (`Intake`, `Mediation`, `Notify`) with `name` set."""

    name: ClassVar[str]
    # Collections whose new documents carry their own events (`Outbox.embed`).
    carriers: ClassVar[tuple[str, ...]] = ()
    settings: Settings
    publisher: Publisher = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.settings)

    @property
    def db(self) -> Database:
        return get_database(self.settings, self.name)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db, self.publisher, self.settings, self.carriers)


def ensure_messaging_indexes(db: Database, carriers: tuple[str, ...] = ()) -> None:
    """The indexes of the collections every service has: its outbox and processed markers."""
    ensure_outbox_indexes(db, carriers)
    ensure_processed_indexes(db)
