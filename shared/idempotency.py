"""Idempotent consumption: a message's effect and the record that it was processed are stored in
one transaction, so a redelivered or duplicated message has no second effect."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.db import transaction
from shared.messaging.envelope import Envelope, utcnow

# How long a processed message is remembered. Redeliveries come within seconds to minutes (retry
# tiers, reconnects); only a message replayed by hand from a dead-letter queue after this long
# would be processed again, and handlers also guard their effects by business keys.
PROCESSED_RETENTION_SECONDS = 90 * 24 * 3600


def ensure_processed_indexes(db: Database) -> None:
    db.processed.create_index("processed_at", expireAfterSeconds=PROCESSED_RETENTION_SECONDS)


def process_once(
    db: Database, consumer: str, envelope: Envelope, effect: Callable[[ClientSession], None]
) -> bool:
    """Run `effect` in a transaction unless `consumer` already processed this message.

    Returns False for a duplicate. Two concurrent deliveries of one message conflict on the
    marker's unique `_id`: one commits, the other raises and is retried, then sees the marker.
    """
    key = f"{consumer}:{envelope.message_id}"
    try:
        with transaction(db) as session:
            # The marker first, without looking for it: its unique `_id` is the check (one round
            # trip instead of a find and an insert). A duplicate key aborts the transaction.
            try:
                db.processed.insert_one(
                    {"_id": key, "type": envelope.type, "processed_at": utcnow()}, session=session
                )
            except DuplicateKeyError as err:
                raise _AlreadyProcessed(err) from err
            effect(session)
    except _AlreadyProcessed as duplicate:
        # Only a committed marker means "done": a server that reported another transaction's
        # uncommitted insert as a duplicate key must not make this message be dropped.
        if db.processed.find_one({"_id": key}, {"_id": 1}) is None:
            raise duplicate.error from None
        return False
    return True


class _AlreadyProcessed(Exception):
    """The message's marker exists: leave the transaction without effect."""

    def __init__(self, error: DuplicateKeyError) -> None:
        super().__init__(str(error))
        self.error = error
