"""Composition root of notify."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo import ASCENDING
from pymongo.database import Database

from services.notify.channels.email import EmailChannel
from shared.config import Settings
from shared.db import get_database
from shared.messaging.publisher import Publisher
from shared.outbox import Outbox, ensure_outbox_indexes

SERVICE = "notify"


@dataclass
class Notify:
    settings: Settings
    publisher: Publisher = field(init=False)
    channels: dict = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.settings)
        self.channels = {"email": EmailChannel(self.settings.smtp_url, self.settings.mail_from)}

    @property
    def db(self) -> Database:
        return get_database(self.settings, SERVICE)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db, self.publisher, self.settings)


def ensure_indexes(db: Database) -> None:
    ensure_outbox_indexes(db)
    db.deliveries.create_index([("reference", ASCENDING), ("created_at", ASCENDING)])
    db.deliveries.create_index([("status", ASCENDING), ("created_at", ASCENDING)])


def bootstrap(settings: Settings | None = None) -> Notify:
    return Notify(settings or Settings.from_env())
