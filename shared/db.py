"""MongoDB access: one client per process, created on first use (never at import time).

pymongo clients are not fork-safe, so the client is keyed by the process id: a gunicorn worker
forked from a master that already touched the database gets a fresh client of its own.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import AutoReconnect, DuplicateKeyError, PyMongoError

from shared.config import Settings

_lock = threading.Lock()
_clients: dict[tuple[int, str, float], MongoClient] = {}

IndexSetup = Callable[[Database], None]
T = TypeVar("T")
MAX_CONFLICT_ATTEMPTS = 50


def get_client(mongo_url: str, operation_timeout: float = 10.0) -> MongoClient:
    """The process's client for `mongo_url`, created lazily after any fork.

    Every wait on the database is bounded, unless the URL itself says otherwise: finding the
    server and opening a connection 3 s each (readiness probes and requests fail fast while it is
    away), and an answer `operation_timeout` seconds (`DB_TIMEOUT`): a server that stops
    answering without closing its connections (a partition, a hung host) gives a `NetworkTimeout`,
    answered 503 by requests and waited out by workers, instead of holding them forever.
    """
    key = (os.getpid(), mongo_url, operation_timeout)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                defaults = {
                    "serverSelectionTimeoutMS": 3000,
                    "connectTimeoutMS": 3000,
                    "socketTimeoutMS": round(operation_timeout * 1000),
                }
                timeouts = {
                    option: value
                    for option, value in defaults.items()
                    if option.lower() not in mongo_url.lower()
                }
                client = MongoClient(mongo_url, tz_aware=True, uuidRepresentation="standard", **timeouts)
                _clients[key] = client
    return client


def get_database(settings: Settings, service: str) -> Database:
    """The database `service` owns; no service opens another's."""
    return get_client(settings.mongo_url, settings.db_timeout)[settings.database_name(service)]


def close_clients() -> None:
    """Close this process's clients (tests, clean shutdown)."""
    with _lock:
        for key, client in list(_clients.items()):
            if key[0] == os.getpid():
                client.close()
                del _clients[key]


@contextmanager
def transaction(db: Database) -> Iterator[ClientSession]:
    """A session with a transaction: everything written with `session=` commits or none does."""
    with db.client.start_session() as session, session.start_transaction():
        yield session


def is_transient(err: PyMongoError) -> bool:
    return err.has_error_label("TransientTransactionError") or err.has_error_label(
        "UnknownTransactionCommitResult"
    )


def retry_transient(work: Callable[[], T], attempts: int = MAX_CONFLICT_ATTEMPTS) -> T:
    """Run `work` (which opens its own transaction) again while it fails with a transient error.

    Two writers touching the same document in transactions conflict by design (a round-robin
    cursor, a load counter): one commits, the other must run again on fresh data. That is retried
    here, in-process with jitter, rather than spending a consumer's few retry tiers on an
    expected race. After `attempts` the error propagates: never a silent drop.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except PyMongoError as err:
            if not is_transient(err) or attempt == attempts:
                raise
            # Jittered back-off so two replicas do not collide again in lock-step.
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
    raise AssertionError("unreachable")


def in_transaction(db: Database, work: Callable[[ClientSession], T]) -> T:
    """`work(session)` in one transaction, retried on write conflicts."""

    def once() -> T:
        with transaction(db) as session:
            return work(session)

    return retry_transient(once)


def upsert_retrying(work: Callable[[], T | None]) -> T:
    """Run a `find_one_and_update(upsert=True, return_document=AFTER)` once more if it lost the
    race to create its document, and never hand back None.

    Two concurrent upserts of a missing document can both try to insert it; the loser gets a
    duplicate key error, and running it again finds the document and updates it. An upsert that
    answers no document at all (seen from a server in the middle of restarting) is reported as
    the database being unavailable, which callers answer with 503, not a crash.
    """
    try:
        result = work()
    except DuplicateKeyError:
        result = work()
    if result is None:
        raise AutoReconnect("an upsert returned no document; the database is not answering properly")
    return result


def ping(db: Database) -> bool:
    """True when the database answers within the client's selection timeout."""
    try:
        db.command("ping")
    except PyMongoError:
        return False
    return True


def without_dollar_keys(value: Any) -> bool:
    """True when no mapping key inside `value` starts with '$' or contains '.'.

    Stored documents are built from validated input, but this guards against operator
    injection wherever free-form mappings reach a query.
    """
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and not k.startswith("$") and "." not in k and without_dollar_keys(v)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return all(without_dollar_keys(v) for v in value)
    return True
