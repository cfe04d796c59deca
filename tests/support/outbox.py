"""Reading the events a service stored, wherever its outbox keeps them (tests only)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from shared.outbox import EVENTS_FIELD, PENDING, PENDING_AT_FIELD


def carried_events(intake_db: Database, **case_filter: Any) -> list[dict[str, Any]]:
    """Every envelope intake's filings carry in their case documents (`case.submitted`, then each
    applicant's `case.tracking_link`), oldest case first."""
    cases = intake_db.cases.find(case_filter, {EVENTS_FIELD: 1}).sort("received_at", 1)
    return [event for case in cases for event in case.get(EVENTS_FIELD, [])]


def filed_events(intake_db: Database, **case_filter: Any) -> list[dict[str, Any]]:
    """The `case.submitted` envelopes intake's filings carry in their case documents, oldest first."""
    return [e for e in carried_events(intake_db, **case_filter) if e["type"] == "case.submitted"]


def pending_events(db: Database, carriers: tuple[str, ...] = ()) -> int:
    """Events not yet published: outbox rows and events carried by documents of `carriers`."""
    pending = db.outbox.count_documents({"status": PENDING})
    for name in carriers:
        pending += sum(len(row[EVENTS_FIELD]) for row in db[name].find({PENDING_AT_FIELD: {"$exists": True}}))
    return pending
