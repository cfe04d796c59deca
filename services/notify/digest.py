"""The studio leads' daily digest: their open, due-soon and overdue cases.

Notify owns no case state, so it keeps a small projection (`studio_cases`) from the events it
already consumes: case.assigned opens a case for a studio (due one month later: Ministry of
Justice rules on people's mediation, Art 33), case.status_changed follows its status, case.escalated
may bring an earlier deadline, case.closed (or case.merged, for a duplicate) closes it. A case
"waiting for a party" has its clock paused, so it is counted open but never due-soon or overdue.
The projection holds references, statuses and dates only — no personal data.

Digests are planned once per studio and local day: the delivery id is `digest:<studio>:<date>`,
so when several worker replicas run the job, one insert wins and the others find it taken.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.notify.domain.rules import DIGEST_TEMPLATE
from services.notify.messages import display_name, format_date, label
from services.notify.rendering import render, render_html
from shared.messaging.envelope import Envelope

CASE_DEADLINE = timedelta(days=30)
PAUSED = frozenset({"waiting_for_party"})
CLOSED = frozenset({"closed", "merged", "archived", "not_accepted", "withdrawn"})


def apply_event(db: Database, envelope: Envelope, session: ClientSession) -> None:
    """Fold one event into the per-studio projection (inside the event's transaction)."""
    data = envelope.data
    reference = data["reference"]
    studio = data.get("studio")
    studio_ref = {k: studio.get(k) for k in ("code", "name", "name_en", "lead_email")} if studio else None
    if envelope.type == "case.assigned":
        assigned_at = datetime.fromisoformat(data["assigned_at"])
        db.studio_cases.update_one(
            {"_id": reference},
            {
                "$set": {"studio": studio_ref, "open": True, "assigned_at": assigned_at},
                "$min": {"due_at": assigned_at + CASE_DEADLINE},
                "$setOnInsert": {"status": "assigned"},
            },
            upsert=True,
            session=session,
        )
    elif envelope.type == "case.status_changed":
        update: dict[str, Any] = {"status": data["status"]}
        if data["status"] in CLOSED:
            update["open"] = False
        db.studio_cases.update_one({"_id": reference}, {"$set": update}, upsert=True, session=session)
    elif envelope.type == "case.escalated":
        change: dict[str, Any] = {"$set": {"studio": studio_ref}}
        if data.get("due_at"):
            change["$min"] = {"due_at": datetime.fromisoformat(data["due_at"])}
        db.studio_cases.update_one({"_id": reference}, change, upsert=True, session=session)
    elif envelope.type == "case.closed":
        db.studio_cases.update_one(
            {"_id": reference}, {"$set": {"open": False, "status": "closed"}}, upsert=True, session=session
        )
    elif envelope.type == "case.merged":
        db.studio_cases.update_one(
            {"_id": reference}, {"$set": {"open": False, "status": "merged"}}, upsert=True, session=session
        )
    elif (
        envelope.type
        in ("session.scheduled", "session.rescheduled", "session.cancelled", "patrol.dispatched")
        and studio_ref
    ):
        # Later events may carry the studio lead's address when the assignment did not.
        db.studio_cases.update_one(
            {"_id": reference, "studio.code": studio_ref["code"]},
            {"$set": {"studio": studio_ref}},
            session=session,
        )


def apply_assignment(db: Database, envelope: Envelope) -> None:
    """`apply_event` for case.assigned outside a transaction and without a processed marker: the
    case is opened for its studio unless the same or a later assignment is there already, so a
    redelivered (or late) case.assigned never reopens a case that has moved on. One round trip."""
    data = envelope.data
    studio = data.get("studio")
    studio_ref = {k: studio.get(k) for k in ("code", "name", "name_en", "lead_email")} if studio else None
    assigned_at = datetime.fromisoformat(data["assigned_at"])
    with contextlib.suppress(DuplicateKeyError):
        db.studio_cases.update_one(
            # Not yet assigned, or assigned earlier: a document holding this assignment or a later
            # one does not match, and the upsert's insert then fails on its `_id` (nothing to do).
            {"_id": data["reference"], "assigned_at": {"$not": {"$gte": assigned_at}}},
            {
                "$set": {"studio": studio_ref, "open": True, "assigned_at": assigned_at},
                "$min": {"due_at": assigned_at + CASE_DEADLINE},
                "$setOnInsert": {"status": "assigned"},
            },
            upsert=True,
        )


@dataclass(frozen=True)
class Summary:
    open_count: int
    due_soon: list[dict[str, Any]]
    overdue: list[dict[str, Any]]


def summarise(cases: Iterable[Mapping[str, Any]], now: datetime, due_soon_days: int) -> Summary:
    """Open cases of one studio, with the overdue and due-soon ones picked out (earliest first)."""
    open_cases = [c for c in cases if c.get("open")]
    running = [c for c in open_cases if c.get("due_at") and c.get("status") not in PAUSED]
    running.sort(key=lambda c: c["due_at"])
    overdue = [c for c in running if c["due_at"] < now]
    due_soon = [c for c in running if now <= c["due_at"] < now + timedelta(days=due_soon_days)]
    return Summary(len(open_cases), due_soon, overdue)


def digest_id(studio_code: str, day: date) -> str:
    return f"digest:{studio_code}:{day.isoformat()}"


def digest_content(
    studio: Mapping[str, Any], summary: Summary, day: date, language: str, timezone: str, due_soon_days: int
) -> dict[str, str]:
    """Subject, text and HTML of one studio's digest."""
    tz = ZoneInfo(timezone)

    def row(case: Mapping[str, Any]) -> dict[str, str]:
        return {
            "reference": case["_id"],
            "due": format_date(case["due_at"].astimezone(tz), language),
            "status_label": label(language, "status", case.get("status")),
        }

    context = {
        "studio_name": display_name(studio, language),
        "date": format_date(datetime(day.year, day.month, day.day), language),
        "open_count": summary.open_count,
        "due_soon": [row(c) for c in summary.due_soon],
        "overdue": [row(c) for c in summary.overdue],
        "due_soon_days": due_soon_days,
        "preferences_url": None,
    }
    subject, body = render(DIGEST_TEMPLATE, language, context)
    return {"subject": subject, "body": body, "html": render_html(subject, body, language, context)}


def local_day(now: datetime, timezone: str) -> tuple[date, int]:
    """The district's calendar day and hour at `now`."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date(), local.hour
