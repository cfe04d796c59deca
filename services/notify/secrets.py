"""One-time codes and link tokens kept apart from their deliveries (`delivery_secrets`).

A delivery that carries a code (a tracking link's token, an SMS code) is rendered with a
placeholder; the code itself waits in `delivery_secrets` until it expires (TTL index), for a retry
or a staff resend. When the planning worker sent the delivery at once with the code the event
carried, nothing needs the stored copy right away, so it is written by a background thread in
batches (`SecretKeeper`, one round trip per batch) instead of in the event's handling. A batch the
database refuses is kept and tried again; a `kill -9` in the seconds before a batch is
written loses those codes, which only makes a staff resend of such a delivery fail ("the code has
expired") — the resident asks for the link again by SMS code. A delivery that is not sent at once
has its code stored before its `notify.delivery_due` command (`store_now`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReplaceOne
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from shared.messaging.envelope import utcnow

log = logging.getLogger(__name__)

# The background thread's name: bench/instrument.py counts its round trips as the cases' own.
THREAD_NAME = "delivery-secrets"


def secret_document(did: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A one-time code kept apart from its delivery (never in `deliveries`, so never in the delivery
    log, its API or a preview), removed by the TTL index once the code has expired."""
    try:
        expires_at = datetime.fromisoformat(data["expires_at"])
    except (KeyError, TypeError, ValueError):
        expires_at = utcnow() + timedelta(hours=1)
    return {"_id": did, "code": data["code"], "expires_at": expires_at}


def store_now(collection: Collection, documents: list[dict[str, Any]]) -> None:
    """Store codes now (one round trip); storing one again (a redelivered event) changes nothing."""
    if documents:
        collection.bulk_write(
            [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents], ordered=False
        )


class SecretKeeper:
    """Codes of deliveries already sent, stored in batches by a background thread of the process
    (started on first use, again after a fork) every `interval` seconds."""

    def __init__(self, interval: float = 5.0, keep: int = 20_000) -> None:
        self.interval = interval
        self.keep = keep  # beyond this (database down for long) newer codes are not kept
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], tuple[Collection, list[dict[str, Any]]]] = {}
        self._pid: int | None = None

    def add(self, collection: Collection, documents: list[dict[str, Any]]) -> None:
        """Store `documents` soon, without a round trip now (never raises)."""
        if not documents:
            return
        key = (collection.database.name, collection.name)
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: its own thread
                self._pid = os.getpid()
                self._waiting = {}
                threading.Thread(target=self._run, name=THREAD_NAME, daemon=True).start()
            _, waiting = self._waiting.setdefault(key, (collection, []))
            waiting.extend(documents[: max(0, self.keep - len(waiting))])

    def flush(self) -> int:
        """Store everything waiting now; return how many codes were stored."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        stored = 0
        for key, (collection, documents) in waiting.items():
            try:
                store_now(collection, documents)
                stored += len(documents)
            except PyMongoError as err:  # keep them for the next pass
                log.warning("could not store delivery codes yet", extra={"error": type(err).__name__})
                with self._lock:
                    _, again = self._waiting.setdefault(key, (collection, []))
                    again[:0] = documents[: max(0, self.keep - len(again))]
        return stored

    def discard(self, database_prefix: str) -> None:
        """Forget codes waiting for databases whose names start with `database_prefix` (dropped)."""
        with self._lock:
            for key in [k for k in self._waiting if k[0].startswith(database_prefix)]:
                del self._waiting[key]

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # never let the thread die: the next pass tries again
                log.warning("storing delivery codes failed", exc_info=True)


SECRETS = SecretKeeper()
atexit.register(SECRETS.flush)  # a clean stop leaves no code unstored
