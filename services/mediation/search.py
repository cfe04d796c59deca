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

from pymongo import UpdateOne
from pymongo.database import Database

from services.mediation import access_log, desk, registry
from services.mediation.domain import search as rules
from services.mediation.domain.actor import Actor

# A page of results; the rest is reached by narrowing the search (newest first).
MAX_RESULTS = 100
# Rows the driving query may return before the search asks to be narrowed (see `Plan`).
MAX_SCAN = 5000
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


@dataclass(frozen=True)
class Plan:
    """How a search runs: one indexed query (`drive`, its fields a prefix of one of the indexes in
    `bootstrap.ensure_indexes`), then every criterion checked on the rows it returns (`wanted`).
    SecantusDB, the test and benchmark server, plans a query with a field outside the index it
    would use as a full scan, and fetches every row an index matches before applying a limit:
    so the most selective criterion drives, alone, and the rest is filtered here (at most
    MAX_SCAN rows). MongoDB would plan the full query as well; this costs it nothing."""

    drive: dict[str, Any]
    wanted: dict[str, Any]
    matched_on: str | None


def _day_bounds(db: Database, criteria: Criteria) -> dict[str, str]:
    if not (criteria.received_from or criteria.received_to):
        return {}
    tz = registry.timezone(db)
    bounds: dict[str, str] = {}
    if criteria.received_from:
        bounds["$gte"] = _local_day_start(criteria.received_from, tz)
    if criteria.received_to:
        bounds["$lt"] = _local_day_start(criteria.received_to + timedelta(days=1), tz)
    return bounds


def plan(db: Database, actor: Actor, criteria: Criteria, secret: str) -> Plan:
    """The search's plan. Staff search their own studio; a district admin every studio, or one."""
    scope: dict[str, Any] = {}
    if desk.is_admin(actor):
        if criteria.studio:
            scope["studio"] = criteria.studio
    else:
        scope["studio"] = actor.studio
    wanted: dict[str, Any] = dict(scope)
    match = rules.interpret(criteria.q, secret)
    if match is not None:
        wanted["_id" if match.kind == rules.BY_REFERENCE else "search_keys"] = match.value
    for name in ("community", "category"):
        if getattr(criteria, name):
            wanted[name] = getattr(criteria, name)
    if criteria.building and criteria.building.strip():
        wanted["building"] = criteria.building.strip()
    states = rules.STATE_GROUPS.get(criteria.state or "")
    if states:
        wanted["status"] = {"$in": list(states)}
    bounds = _day_bounds(db, criteria)
    if bounds:
        wanted["received_at"] = bounds
    # The most selective criterion first, with the index it has.
    if "_id" in wanted:
        drive = {"_id": wanted["_id"]}
    elif "search_keys" in wanted:
        drive = {**scope, "search_keys": wanted["search_keys"]}
    elif "community" in wanted and "building" in wanted:
        drive = {**scope, "community": wanted["community"], "building": wanted["building"]}
    elif bounds:
        drive = {**scope, "received_at": bounds}
    elif "community" in wanted:
        drive = {**scope, "community": wanted["community"]}
    elif "category" in wanted:
        drive = {**scope, "category": wanted["category"], **({"status": wanted["status"]} if states else {})}
    elif states:
        drive = {**scope, "status": wanted["status"]}
    else:
        drive = dict(scope)
    return Plan(drive, wanted, match.kind if match else None)


def _passes(case: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a row meets every criterion (the subset of MongoDB's operators `plan` writes)."""
    for name, condition in wanted.items():
        value = case.get(name)
        if isinstance(condition, dict):
            if "$in" in condition and value not in condition["$in"]:
                return False
            if "$gte" in condition and not (value is not None and value >= condition["$gte"]):
                return False
            if "$lt" in condition and not (value is not None and value < condition["$lt"]):
                return False
        elif name == "search_keys":
            if condition not in (value or []):
                return False
        elif value != condition:
            return False
    return True


def search(db: Database, actor: Actor, criteria: Criteria, secret: str) -> Result:
    """The cases `actor` may see that match, newest first (at most MAX_RESULTS). A match on a
    phone or name is logged for each case found (PIPL: who looked a person up)."""
    if criteria.is_empty():
        return Result()
    how = plan(db, actor, criteria, secret)
    rows = db.cases.find(how.drive, {**desk.LIST_FIELDS, "search_keys": 1}).limit(MAX_SCAN)
    scanned, found = 0, []
    for row in rows:
        scanned += 1
        if _passes(row, how.wanted):
            row.pop("search_keys", None)
            found.append(row)
    found.sort(key=lambda c: str(c.get("received_at") or ""), reverse=True)
    result = Result(found[:MAX_RESULTS], how.matched_on, len(found) > MAX_RESULTS or scanned >= MAX_SCAN)
    if how.matched_on in rules.PERSONAL_KINDS and result.cases:
        access_log.record_search(db, actor, how.matched_on, result.cases)
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
