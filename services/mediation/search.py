"""The desk's search: any case of the searcher's studio (district admins: every studio) by
reference, a party's name or phone (full or last four digits), community and building, category,
state (open, ended, archived) and the date it was received.

Results are lists as the queue shows them (`desk.LIST_FIELDS`: no names, phones or flat numbers).
A search that matched on a phone or a name is written to the access log, one row per case found,
with what it matched on, never the phone or name typed (`access_log`). How names and phones are
matched without keeping more plain personal data: `domain.search`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo import DESCENDING, UpdateOne
from pymongo.database import Database

from services.mediation import access_log, desk, registry
from services.mediation.domain import search as rules
from services.mediation.domain.actor import Actor

# A page of results; the rest is reached by narrowing the search (newest first).
MAX_RESULTS = 100
BACKFILL_BATCH = 500


@dataclass(frozen=True)
class Criteria:
    """One search: the query box and the filters beside it (all optional, all combined)."""

    q: str = ""
    community: str | None = None
    building: str | None = None
    category: str | None = None
    state: str | None = None  # open | ended | archived
    received_from: date | None = None
    received_to: date | None = None  # inclusive
    studio: str | None = None  # district admins only: one studio

    def is_empty(self) -> bool:
        return not (
            self.q.strip()
            or self.community
            or self.building
            or self.category
            or self.state
            or self.received_from
            or self.received_to
            or self.studio
        )


@dataclass
class Result:
    cases: list[dict[str, Any]] = field(default_factory=list)
    matched_on: str | None = None  # what the query box was read as (`domain.search` kinds)
    truncated: bool = False


def _local_day_start(day: date, tz: Any) -> str:
    """The UTC ISO-8601 instant a local day starts: cases keep `received_at` as such a string."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC).isoformat()


def query_for(
    db: Database, actor: Actor, criteria: Criteria, secret: str
) -> tuple[dict[str, Any], str | None]:
    """The MongoDB filter of a search and the kind the query box matched as. Every filter starts
    with the studio (the indexes' first field) unless a district admin searches them all."""
    query: dict[str, Any] = {}
    if desk.is_admin(actor):
        if criteria.studio:
            query["studio"] = criteria.studio
    else:
        query["studio"] = actor.studio
    match = rules.interpret(criteria.q, secret)
    if match is not None:
        if match.kind == rules.BY_REFERENCE:
            query["_id"] = {"$gte": match.value, "$lt": match.value + "\uffff"}
        else:
            query["search_keys"] = match.value
    if criteria.community:
        query["community"] = criteria.community
    if criteria.building:
        query["building"] = criteria.building.strip()
    if criteria.category:
        query["category"] = criteria.category
    if criteria.state in rules.STATE_GROUPS:
        query["status"] = {"$in": list(rules.STATE_GROUPS[criteria.state])}
    if criteria.received_from or criteria.received_to:
        tz = registry.timezone(db)
        bounds: dict[str, str] = {}
        if criteria.received_from:
            bounds["$gte"] = _local_day_start(criteria.received_from, tz)
        if criteria.received_to:
            bounds["$lt"] = _local_day_start(criteria.received_to + timedelta(days=1), tz)
        query["received_at"] = bounds
    return query, match.kind if match else None


def search(db: Database, actor: Actor, criteria: Criteria, secret: str) -> Result:
    """The cases `actor` may see that match, newest first (at most MAX_RESULTS). A match on a
    phone or name is logged for each case found (PIPL: who looked a person up)."""
    if criteria.is_empty():
        return Result()
    query, kind = query_for(db, actor, criteria, secret)
    rows = list(db.cases.find(query, desk.LIST_FIELDS).sort("received_at", DESCENDING).limit(MAX_RESULTS + 1))
    result = Result(rows[:MAX_RESULTS], kind, len(rows) > MAX_RESULTS)
    if kind in rules.PERSONAL_KINDS and result.cases:
        access_log.record_search(db, actor, kind, result.cases)
    return result


# Keeping the keys -----------------------------------------------------------------------------------
def keys_for(case: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """The fields a new or re-indexed case carries for the search."""
    return {"search_keys": rules.case_keys(case, secret), "search_kid": rules.key_id(secret)}


def backfill(db: Database, secret: str, batch: int = BACKFILL_BATCH) -> int:
    """Give every case without keys of the current secret its `search_keys` (cases routed before
    the search existed, or after the secret was rotated). Idempotent; returns how many changed."""
    kid = rules.key_id(secret)
    done = 0
    while True:
        rows = list(
            db.cases.find(
                {"search_kid": {"$ne": kid}}, {"parties.name": 1, "parties.phone": 1, "filer": 1}
            ).limit(batch)
        )
        if not rows:
            return done
        db.cases.bulk_write(
            [UpdateOne({"_id": row["_id"]}, {"$set": keys_for(row, secret)}) for row in rows], ordered=False
        )
        done += len(rows)
