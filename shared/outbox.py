"""The transactional outbox: events are stored with the state change that caused them.

A use case writes its change and `Outbox.add(...)` in one MongoDB transaction. After commit it
calls `Outbox.flush(...)` to publish right away; if the broker is unreachable the rows stay
`pending` and `OutboxRelay` publishes them later (after a crash, outage or restart). Publishing is
therefore at-least-once: consumers deduplicate by `message_id` (`shared.idempotency`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.config import Settings
from shared.messaging.envelope import Envelope, utcnow
from shared.messaging.publisher import Publisher, PublishError

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"


# Published events are kept a week for inspection, then MongoDB's TTL monitor removes them.
SENT_RETENTION_SECONDS = 7 * 24 * 3600


def ensure_outbox_indexes(db: Database) -> None:
    db.outbox.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
    db.outbox.create_index(
        "sent_at", expireAfterSeconds=SENT_RETENTION_SECONDS, partialFilterExpression={"status": SENT}
    )


class Outbox:
    """The `outbox` collection of one service's database."""

    def __init__(self, db: Database, publisher: Publisher, settings: Settings) -> None:
        self.db = db
        self.publisher = publisher
        self.settings = settings

    def add(self, envelopes: Iterable[Envelope], session: ClientSession) -> list[Envelope]:
        """Store events inside the caller's transaction; return them for `flush` after commit."""
        stored = list(envelopes)
        if stored:
            now = utcnow()
            self.db.outbox.insert_many(
                [
                    {
                        "_id": e.message_id,
                        "envelope": e.to_dict(),
                        "status": PENDING,
                        "created_at": now,
                        "attempts": 0,
                    }
                    for e in stored
                ],
                session=session,
            )
        return stored

    def flush(self, envelopes: Iterable[Envelope]) -> int:
        """Publish freshly committed events now, unless the broker just failed (relay's job).

        Never raises: it runs after the commit, so the state change has happened whatever
        becomes of this attempt; what it cannot finish (broker or database gone) the relay does.
        """
        if self.publisher.cooling_down:
            return 0
        sent = 0
        try:
            for envelope in envelopes:
                if not self._publish(envelope):
                    break
                sent += 1
        except PyMongoError as err:  # published but not marked sent: the relay republishes it
            log.warning("could not mark events sent; the relay will publish them", extra={"error": str(err)})
        return sent

    def relay_once(self, batch: int = 200) -> int:
        """Publish pending events older than the grace period, oldest first; return how many."""
        cutoff = utcnow() - timedelta(seconds=self.settings.outbox_grace_seconds)
        rows = list(
            self.db.outbox.find({"status": PENDING, "created_at": {"$lte": cutoff}})
            .sort("created_at", ASCENDING)
            .limit(batch)
        )
        sent = 0
        for row in rows:
            envelope = Envelope(**row["envelope"])
            if not self._publish(envelope):
                break
            sent += 1
        return sent

    def pending_count(self) -> int:
        return self.db.outbox.count_documents({"status": PENDING})

    def _publish(self, envelope: Envelope) -> bool:
        try:
            self.publisher.publish(envelope)
        except PublishError as err:
            log.warning("event left in outbox", extra={"message_id": envelope.message_id, "error": str(err)})
            self.db.outbox.update_one({"_id": envelope.message_id}, {"$inc": {"attempts": 1}})
            return False
        self.db.outbox.update_one(
            {"_id": envelope.message_id, "status": PENDING},
            {"$set": {"status": SENT, "sent_at": utcnow()}},
        )
        return True


class OutboxRelay(threading.Thread):
    """Background thread of a worker process that keeps draining the outbox."""

    def __init__(self, outbox: Outbox, interval: float) -> None:
        super().__init__(name="outbox-relay", daemon=True)
        self.outbox = outbox
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                while self.outbox.relay_once() and not self.stopping.is_set():
                    pass
            except Exception:  # database down: keep the thread alive and try again
                log.warning("outbox relay pass failed", exc_info=True)
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
