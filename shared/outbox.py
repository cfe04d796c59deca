"""The transactional outbox: events are stored with the state change that caused them.

A use case writes its change and `Outbox.add(...)` in one MongoDB transaction. After commit it
calls `Outbox.flush(...)` to publish right away; if the broker is unreachable the rows stay
`pending` and `OutboxRelay` publishes them later (after a crash, outage or restart). Publishing is
therefore at-least-once: consumers deduplicate by `message_id` (`shared.idempotency`).

A use case whose whole change is the insert of one new document (intake's filing, the hot path)
may instead `Outbox.embed(...)` the events in that document: a single-document write is atomic
without a transaction, which saves the outbox insert and the commit (two of a filing's database
round trips). The document then carries `outbox_events` and, until they are published,
`outbox_pending_at`; the service names such collections as its `carriers` and the relay scans
them as it scans the `outbox` collection. Their events are published off the request, by a
background thread of the process (`Publishing`: whatever has gathered goes out in one batch with
one confirm wait, so the request waits for no broker and each message costs the broker and us less
CPU), and once published such documents are marked sent in batches by another (`SentMarks`): a
batch costs one round trip, and a mark or a publish lost with the process only makes the relay
publish those events (again: consumers deduplicate).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.config import Settings
from shared.messaging.envelope import Envelope, utcnow
from shared.messaging.publisher import Publisher, PublishError

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"

# Fields of a document that carries its own events (`Outbox.embed`).
EVENTS_FIELD = "outbox_events"
PENDING_AT_FIELD = "outbox_pending_at"
SENT_AT_FIELD = "outbox_sent_at"


# Published events are kept a week for inspection, then MongoDB's TTL monitor removes them.
SENT_RETENTION_SECONDS = 7 * 24 * 3600


def ensure_outbox_indexes(db: Database, carriers: Iterable[str] = ()) -> None:
    """The outbox collection's indexes, and the pending marker's in each carrier collection."""
    db.outbox.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
    db.outbox.create_index(
        "sent_at", expireAfterSeconds=SENT_RETENTION_SECONDS, partialFilterExpression={"status": SENT}
    )
    for name in carriers:
        db[name].create_index(PENDING_AT_FIELD, sparse=True)


class Outbox:
    """The `outbox` collection of one service's database."""

    def __init__(
        self, db: Database, publisher: Publisher, settings: Settings, carriers: tuple[str, ...] = ()
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.settings = settings
        self.carriers = carriers

    def add(self, envelopes: Iterable[Envelope], session: ClientSession | None = None) -> list[Envelope]:
        """Store events inside the caller's transaction (or, without `session`, on their own: the caller
        then knows what makes a lost row harmless); return them for `flush` after commit."""
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

    def embed(self, document: dict[str, Any], envelopes: Iterable[Envelope]) -> list[Envelope]:
        """Store events in `document`, a new document of one of the `carriers` the caller then
        inserts; return them for `flush_embedded` after the insert."""
        if document.get("_id") is None:
            raise ValueError("a document carrying events needs its _id before it is inserted")
        stored = list(envelopes)
        document[EVENTS_FIELD] = [e.to_dict() for e in stored]
        document[PENDING_AT_FIELD] = utcnow()
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
                if not self._publish(envelope, mark=False):
                    break
                # Marked by the process's batch thread, well within the relay's grace period.
                SENT_MARKS.add(
                    self.db.outbox, envelope.message_id, OUTBOX_ROW, self.settings.outbox_grace_seconds
                )
                sent += 1
        except PyMongoError as err:  # published, its failure not counted: the relay publishes it
            log.warning("could not count a failed publish", extra={"error": str(err)})
        return sent

    def flush_embedded(self, collection: str, document_id: Any, envelopes: Sequence[Envelope]) -> int:
        """`flush` for events `embed`ded in a document just inserted into `collection`: handed to
        the process's publishing thread (`PUBLISHING`), which publishes them within moments, in a
        batch with other documents' events and one confirm wait, and has the document marked sent.
        Returns how many were handed over (none while the broker cools down: the relay's job).

        Never raises and never waits for the broker: the document, stored with its events, is
        what makes them reach it at least once (the relay publishes whatever is left unmarked)."""
        if self.publisher.cooling_down or not envelopes:
            return 0
        PUBLISHING.add(self, collection, document_id, envelopes)
        return len(envelopes)

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
                return sent
            sent += 1
        for name in self.carriers:
            carried = self.db[name].find({PENDING_AT_FIELD: {"$lte": cutoff}}, {EVENTS_FIELD: 1}).limit(batch)
            done: list[Any] = []
            try:
                for row in carried:
                    envelopes = [Envelope(**event) for event in row.get(EVENTS_FIELD, [])]
                    published = self._publish_embedded(envelopes)
                    sent += published
                    if published < len(envelopes):
                        return sent
                    done.append(row["_id"])
            finally:
                if done:  # at once, so the relay's next pass does not publish them again
                    mark_carriers_sent(self.db[name], done)
        return sent

    def pending_count(self) -> int:
        """Events stored but not yet published: outbox rows and carrier documents' events."""
        pending = self.db.outbox.count_documents({"status": PENDING})
        for name in self.carriers:
            for row in self.db[name].find({PENDING_AT_FIELD: {"$gte": datetime.min}}, {EVENTS_FIELD: 1}):
                pending += len(row.get(EVENTS_FIELD, []))
        return pending

    def _publish_embedded(self, envelopes: Sequence[Envelope]) -> int:
        """Publish a document's events in order; return how many the broker confirmed."""
        for index, envelope in enumerate(envelopes):
            try:
                self.publisher.publish(envelope)
            except PublishError as err:
                log.warning(
                    "event left in its document", extra={"message_id": envelope.message_id, "error": str(err)}
                )
                return index
        return len(envelopes)

    def _publish(self, envelope: Envelope, mark: bool = True) -> bool:
        try:
            self.publisher.publish(envelope)
        except PublishError as err:
            log.warning("event left in outbox", extra={"message_id": envelope.message_id, "error": str(err)})
            self.db.outbox.update_one({"_id": envelope.message_id}, {"$inc": {"attempts": 1}})
            return False
        if mark:
            mark_outbox_sent(self.db.outbox, [envelope.message_id])
        return True


def mark_carriers_sent(collection: Collection, document_ids: list[Any]) -> None:
    """Record that the events carried by these documents are published (one round trip). A
    one-time code or link token (`data.code`) leaves the carried copies as it leaves outbox rows."""
    unset = {PENDING_AT_FIELD: "", f"{EVENTS_FIELD}.$[].data.code": ""}
    _mark(collection, document_ids, {"$unset": unset, "$set": {SENT_AT_FIELD: utcnow()}})


def mark_outbox_sent(outbox: Collection, message_ids: list[Any]) -> None:
    """Record that these outbox rows are published (one round trip; by `_id` alone: a second
    marking by the relay only moves `sent_at`). A one-time code or link token (`data.code`) is not
    kept once it is on its way."""
    _mark(
        outbox,
        message_ids,
        {"$set": {"status": SENT, "sent_at": utcnow()}, "$unset": {"envelope.data.code": ""}},
    )


CARRIER = "carrier"
OUTBOX_ROW = "outbox"
_MARKERS = {CARRIER: mark_carriers_sent, OUTBOX_ROW: mark_outbox_sent}


def _mark(collection: Collection, document_ids: list[Any], update: dict[str, Any]) -> None:
    if len(document_ids) == 1:
        collection.update_one({"_id": document_ids[0]}, update)
    else:
        # One `update` command of point updates: far cheaper than `$in` on SecantusDB, which
        # reads the whole collection for it.
        collection.bulk_write([UpdateOne({"_id": i}, update) for i in document_ids], ordered=False)


class SentMarks:
    """What this process has published, marked sent in batches: documents carrying their events
    (`CARRIER`) and outbox rows (`OUTBOX_ROW`).

    A background thread (started on first use, again after a fork) marks what has gathered every
    `interval` seconds, or at once when `batch` documents wait, in one round trip per collection.
    The interval must stay well under the relay's grace period (`OUTBOX_GRACE_SECONDS`), or the
    relay would publish the events again; a batch the database refuses is kept and retried.
    """

    def __init__(self, interval: float = 0.5, batch: int = 200, keep: int = 20_000) -> None:
        self.interval = interval
        self.batch = batch
        self.keep = keep  # beyond this (database down for long) the relay's republish takes over
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._waiting: dict[tuple[str, str, str], tuple[Collection, list[Any]]] = {}
        self._pid: int | None = None
        self._discarded: tuple[str, ...] = ()  # prefixes of dropped databases (`discard`)

    def add(self, collection: Collection, document_id: Any, kind: str = CARRIER, grace: float = 2.0) -> None:
        """Mark `document_id` of `collection` sent soon, well within the relay's `grace` period
        (a quarter of it at most), without a round trip now (never raises)."""
        try:
            key = (collection.database.name, collection.name, kind)
        except Exception:  # never fail the caller: unmarked events are the relay's to publish again
            log.warning("could not queue a sent mark", exc_info=True)
            return
        with self._lock:
            self.interval = min(self.interval, grace / 4)
            if self._pid != os.getpid():  # first use, or a forked child: its own thread
                self._pid = os.getpid()
                self._waiting = {}
                threading.Thread(target=self._run, name="outbox-sent-marks", daemon=True).start()
            _, ids = self._waiting.setdefault(key, (collection, []))
            if len(ids) < self.keep:
                ids.append(document_id)
            if len(ids) >= self.batch:
                self._wake.set()

    def discard(self, database_prefix: str) -> None:
        """Forget the marks waiting for databases whose names start with `database_prefix` (they
        were dropped: a test's databases), so the thread does not wait on them again and again."""
        with self._lock:
            self._discarded = (*self._discarded, database_prefix)
            for key in [k for k in self._waiting if k[0].startswith(database_prefix)]:
                del self._waiting[key]

    def flush(self) -> int:
        """Mark everything waiting now; return how many documents were marked."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        marked = 0
        for key, (collection, ids) in waiting.items():
            try:
                _MARKERS[key[2]](collection, ids)
                marked += len(ids)
            except PyMongoError as err:  # keep them for the next pass (or the relay's republish)
                log.warning("could not mark carried events sent", extra={"error": str(err)})
                with self._lock:
                    if key[0].startswith(self._discarded):  # dropped while this pass tried it
                        continue
                    _, again = self._waiting.setdefault(key, (collection, []))
                    again[:0] = ids[: max(0, self.keep - len(again))]
        return marked

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the thread die: the next pass tries again
                log.warning("marking carried events sent failed", exc_info=True)


SENT_MARKS = SentMarks()
atexit.register(SENT_MARKS.flush)  # a clean stop leaves nothing for the relay to republish


class Publishing:
    """Events of documents just inserted (`Outbox.flush_embedded`), published by a background
    thread of the process (started on first use, again after a fork) in batches: every event
    waiting is published in order, then one wait for the broker's confirms of them all
    (`Publisher.publish_many`); each document whose events were all confirmed is marked sent
    (`SENT_MARKS`). The thread starts a batch as soon as one waits, so under light load a batch
    is one document and the events leave as fast as a confirmed publish in the request would.

    When `keep` documents already wait (the broker or this thread slower than the requests), a
    request waits for room, at most `publish_timeout`: the backlog stays short, as it did when each
    request published its own events, instead of growing past the relay's grace period.

    Nothing here is the only copy: a batch the broker refuses, a document that found no room in
    time and whatever a stopped process still held are left to the relay, which publishes
    unmarked documents' events once they are older than its grace period. A document published
    here after waiting longer than that may go out twice (consumers deduplicate).
    """

    def __init__(self, batch: int = 50, keep: int = 50) -> None:
        self.batch = batch  # documents per batch
        self.keep = keep  # documents waiting at most
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._waiting: list[tuple[Outbox, str, Any, Sequence[Envelope]]] = []
        self._busy = False
        self._pid: int | None = None

    def add(self, outbox: Outbox, collection: str, document_id: Any, envelopes: Sequence[Envelope]) -> None:
        """Publish `envelopes` (carried by `document_id` of `collection`) soon (never raises)."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: its own thread
                self._pid = os.getpid()
                self._waiting, self._busy = [], False
                threading.Thread(target=self._run, name="outbox-publishing", daemon=True).start()
            room = self._room.wait_for(
                lambda: len(self._waiting) < self.keep, timeout=outbox.settings.publish_timeout
            )
            if room:  # else the relay's (the document stays pending)
                self._waiting.append((outbox, collection, document_id, envelopes))
                self._ready.notify()

    def idle(self) -> bool:
        """True when nothing waits to be published or is being published (tests, shutdown)."""
        with self._lock:
            return not self._waiting and not self._busy

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for what waits to be published; True when done."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline or self._pid != os.getpid():
                return False
            time.sleep(0.01)
        return True

    def publish_waiting(self) -> int:
        """Publish one batch of what waits (the thread's work); return how many documents'
        events were confirmed."""
        with self._lock:
            batch, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            self._busy = bool(batch)
            self._room.notify_all()
        try:
            return sum(self._publish(items) for items in _by_publisher(batch))
        finally:
            with self._lock:
                self._busy = False

    def _publish(self, items: list[tuple[Outbox, str, Any, Sequence[Envelope]]]) -> int:
        outbox = items[0][0]
        if outbox.publisher.cooling_down:  # the broker just failed: the relay's job
            return 0
        try:
            outbox.publisher.publish_many([e for item in items for e in item[3]])
        except PublishError as err:
            log.warning("events left in their documents", extra={"count": len(items), "error": str(err)})
            return 0
        for owner, collection, document_id, _ in items:
            SENT_MARKS.add(owner.db[collection], document_id, CARRIER, owner.settings.outbox_grace_seconds)
        return len(items)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._ready.wait()
            try:
                self.publish_waiting()
            except Exception:  # never let the thread die: what it held is the relay's to publish
                log.warning("publishing carried events failed", exc_info=True)


def _by_publisher(
    items: list[tuple[Outbox, str, Any, Sequence[Envelope]]],
) -> list[list[tuple[Outbox, str, Any, Sequence[Envelope]]]]:
    """Items grouped by their outbox's publisher (one per service and process: a request builds
    a new `Outbox` around it each time), in order within each."""
    groups: dict[int, list[tuple[Outbox, str, Any, Sequence[Envelope]]]] = {}
    for item in items:
        groups.setdefault(id(item[0].publisher), []).append(item)
    return list(groups.values())


PUBLISHING = Publishing()
# At a clean stop, what waits is published first, then marked (atexit runs the last registered first).
atexit.register(PUBLISHING.drain, 2.0)


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
