"""The access log of personal data (PIPL Art 51, 55): who viewed which case's personal data (the
desk's case page, `desk.record_access`), who downloaded which attachment (intake keeps the files
and tells us by `attachment.downloaded`), who searched by a phone or a name (`search`), and the
viewer studio leads (their studio) and district admins read and export as CSV.

A row is `{reference, studio, by, at, what}`; a search adds `matched_on` (`phone`, `phone_last4`,
`name`), never what was typed. Rows are written by the use cases, never changed or deleted here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo import DESCENDING, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation import desk, registry
from services.mediation.bootstrap import Mediation
from services.mediation.domain.actor import Actor
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, new_id, utcnow

VIEWED = "personal_data"
SEARCHED = "search"
DOWNLOADED = "attachment"
KINDS = (VIEWED, SEARCHED, DOWNLOADED)
# Rows on one page of the viewer; the export carries up to EXPORT_ROWS.
PAGE_ROWS = 200
EXPORT_ROWS = 50_000


class Refused(desk.Forbidden):
    """Only studio leads and district admins read the access log."""


def record_search(db: Database, actor: Actor, matched_on: str, cases: Iterable[Mapping[str, Any]]) -> None:
    """One row per case a phone or name search found (one insert for them all)."""
    at = utcnow()
    rows = [
        {
            "_id": new_id(),
            "reference": case["_id"],
            "studio": case.get("studio"),
            "by": actor.user_id,
            "at": at,
            "what": SEARCHED,
            "matched_on": matched_on,
        }
        for case in cases
    ]
    if rows:
        db.access_log.insert_many(rows, ordered=False)


@dataclass(frozen=True)
class Filters:
    """The viewer's filters (all optional, combined)."""

    by: str | None = None
    reference: str | None = None
    what: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    studio: str | None = None  # district admins only


def may_read(actor: Actor) -> bool:
    return desk.is_admin(actor) or (desk.lc.STUDIO_LEAD in actor.roles and bool(actor.studio))


def query_for(db: Database, actor: Actor, filters: Filters) -> dict[str, Any]:
    """The rows `actor` may read that pass `filters`; a lead's are their own studio's."""
    if not may_read(actor):
        raise Refused("Only studio leads and district admins read the access log.")
    query: dict[str, Any] = {}
    if desk.is_admin(actor):
        if filters.studio:
            query["studio"] = filters.studio
    else:
        query["studio"] = actor.studio
    if filters.by:
        query["by"] = filters.by.strip()
    if filters.reference:
        query["reference"] = filters.reference.strip().upper()
    if filters.what in KINDS:
        query["what"] = filters.what
    if filters.since or filters.until:
        tz = registry.timezone(db)
        bounds: dict[str, datetime] = {}
        if filters.since:
            bounds["$gte"] = _utc(datetime.combine(filters.since, time.min, tzinfo=tz))
        if filters.until:
            bounds["$lt"] = _utc(datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=tz))
        query["at"] = bounds
    return query


def _utc(moment: datetime) -> datetime:
    """Naive UTC, as the rows keep their times (pymongo reads them so)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _passes(row: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for name, condition in query.items():
        value = row.get(name)
        if isinstance(condition, dict):
            at = value.replace(tzinfo=None) if isinstance(value, datetime) else value
            if at is None or ("$gte" in condition and at < condition["$gte"]):
                return False
            if "$lt" in condition and at >= condition["$lt"]:
                return False
        elif value != condition:
            return False
    return True


def rows(db: Database, actor: Actor, filters: Filters, limit: int = PAGE_ROWS) -> list[dict[str, Any]]:
    """The newest rows first. As the search does (`search.Plan`), the most selective filter with
    an index drives the query alone (with the dates), and the others are checked here: SecantusDB
    scans the whole log for a query with a field outside the index it would use."""
    query = query_for(db, actor, filters)
    dates = {"at": query["at"]} if "at" in query else {}
    for name in ("reference", "by", "studio"):
        if name in query:
            drive = {name: query[name], **dates}
            break
    else:
        drive = dates
    found = db.access_log.find(drive).sort("at", DESCENDING).limit(EXPORT_ROWS)
    return [row for row in found if _passes(row, query)][:limit]


CSV_COLUMNS = ("at", "by", "what", "matched_on", "reference", "studio", "file_id")


def to_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    """The rows as CSV (UTF-8 with a BOM added by the caller for spreadsheet programs); times UTC."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in entries:
        at = row.get("at")
        writer.writerow(
            [
                at.replace(tzinfo=UTC).isoformat() if isinstance(at, datetime) else "",
                *(_cell(row.get(name)) for name in CSV_COLUMNS[1:]),
            ]
        )
    return out.getvalue()


def _cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection): user ids are free text."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def backfill_studios(db: Database, batch: int = 500) -> int:
    """Rows written before the log kept the studio get it from their case (the viewer filters a
    lead's rows by studio). Idempotent; returns how many rows changed."""
    done = 0
    while True:
        missing = list(db.access_log.find({"studio": {"$exists": False}}, {"reference": 1}).limit(batch))
        if not missing:
            return done
        references = {row["reference"] for row in missing}
        studios = {
            c["_id"]: c.get("studio")
            for c in db.cases.find({"_id": {"$in": list(references)}}, {"studio": 1})
        }
        db.access_log.bulk_write(
            [
                UpdateOne({"_id": row["_id"]}, {"$set": {"studio": studios.get(row["reference"])}})
                for row in missing
            ],
            ordered=False,
        )
        done += len(missing)


CONSUMER = "mediation.access"


def on_attachment_downloaded(mediation: Mediation, envelope: Envelope) -> None:
    """Keep intake's `attachment.downloaded` in the access log (once per message). The studio is
    the case's as mediation knows it; a case mediation never routed is still logged (no studio:
    district admins see it)."""
    data = envelope.data
    db = mediation.db

    def effect(session: ClientSession) -> None:
        case = db.cases.find_one({"_id": data["reference"]}, {"studio": 1}, session=session)
        db.access_log.insert_one(
            {
                "_id": new_id(),
                "reference": data["reference"],
                "studio": (case or {}).get("studio"),
                "by": data["user_id"],
                "at": datetime.fromisoformat(data["downloaded_at"]).astimezone(UTC).replace(tzinfo=None),
                "what": DOWNLOADED,
                "file_id": data["file_id"],
            },
            session=session,
        )

    retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
