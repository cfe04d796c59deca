"""Mediation sessions in the community council hall: scheduling (never double-booked, never in the
past, next reception days suggested), and the session record (attendance, statements, result).

Double booking is prevented by a unique claim per room and 15-minute slot (`room_slots._id`),
inserted in the same transaction as the session: two concurrent bookings of one slot conflict,
one commits, the other is retried, finds the slot taken and is refused. The pure rules
(`domain.sessions.check_booking`) give the clear message for the ordinary case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.mediation import desk, registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import sessions as ss
from services.mediation.service import Actor
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow

log = logging.getLogger(__name__)

SLOT = timedelta(minutes=15)
MAX_LENGTH = timedelta(hours=8)
# Sessions are held once rights and duties have been explained (MoJ 2002 Art 30).
SCHEDULABLE = (lc.RIGHTS_NOTIFIED, lc.INVESTIGATING, lc.IN_MEDIATION, lc.WAITING_FOR_PARTY)
RESULTS = ("agreement", "partial", "no_agreement", "adjourned")


def room_of(community: str) -> str:
    return f"hall:{community}"


def _slots(room: str, start: datetime, end: datetime) -> list[str]:
    out, at = [], start
    while at < end:
        out.append(f"{room}:{at.astimezone(ss.UTC):%Y%m%dT%H%M}")
        at += SLOT
    return out


def suggestions(mediation: Mediation, case: dict[str, Any], now: datetime | None = None) -> list[date]:
    """The community's next reception days (tomorrow on), when sessions are naturally held."""
    view = registry.community_view(mediation.db, case["community"]) or {}
    tz = registry.timezone(mediation.db)
    start = (now or utcnow()).astimezone(tz).date() + timedelta(days=1)
    return ss.next_reception_days(start, view.get("reception_days"), 3)


@dataclass(frozen=True)
class Scheduled:
    session: dict[str, Any]
    event: Envelope


def schedule(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    starts_at: datetime,
    ends_at: datetime,
    *,
    public: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Book the community's council hall for a session of the case and announce it
    (`session.scheduled`: notify sends the invitations with the .ics, intake shows when and where)."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)
    if not (desk.on_case(actor, case) or desk.is_lead_of(actor, case)):
        raise desk.Forbidden("Only the case's own mediators or their studio lead schedule sessions.")
    if case.get("status") not in SCHEDULABLE:
        raise desk.Conflict("Sessions are scheduled once the parties' rights have been explained.")
    problems: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None:
            problems[name] = ["Needs a time zone."]
        elif (value.minute % 15) or value.second or value.microsecond:
            problems[name] = ["Times are on the quarter hour (e.g. 09:00, 09:15)."]
    if not problems and ends_at - starts_at > MAX_LENGTH:
        problems["ends_at"] = ["A session is at most 8 hours."]
    if problems:
        raise desk.Invalid("The session's times are not valid.", problems)
    view = registry.community_view(db, case["community"]) or {}
    hall = view.get("hall") or {}
    room = room_of(case["community"])
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        at = now or utcnow()
        existing = [
            ss.Booking(s["room"], s["starts_at"], s["ends_at"], s["_id"])
            for s in db.sessions.find(
                {
                    "room": room,
                    "status": "scheduled",
                    "starts_at": {"$lt": ends_at},
                    "ends_at": {"$gt": starts_at},
                },
                session=session,
            )
        ]
        session_id = new_id()
        try:
            ss.check_booking(ss.Booking(room, starts_at, ends_at, session_id), existing, at)
        except ss.SchedulingError as err:
            field = "starts_at" if err.code in ("past", "invalid_times") else "room"
            raise (desk.Conflict if err.code == "double_booked" else desk.Invalid)(
                str(err), {field: [str(err)], "code": err.code}
            ) from err
        # The unique claims: a concurrent booking of any of these slots conflicts here.
        db.room_slots.insert_many(
            [{"_id": slot, "session_id": session_id} for slot in _slots(room, starts_at, ends_at)],
            session=session,
        )
        mediators = [desk.staff_ref(db, m, session) for m in case.get("mediators") or []]
        doc = {
            "_id": session_id,
            "reference": reference,
            "studio": case["studio"],
            "room": room,
            "place": {
                "code": room,
                "name": (hall.get("name") or {}).get("zh-CN") or room,
                "name_en": (hall.get("name") or {}).get("en"),
                "address": hall.get("address"),
            },
            "starts_at": starts_at,
            "ends_at": ends_at,
            "public": bool(public),
            "status": "scheduled",
            "mediators": mediators,
            "created_at": at,
            "created_by": actor.user_id,
            "record": None,
        }
        db.sessions.insert_one(doc, session=session)
        db.cases.update_one(
            {"_id": reference},
            {
                "$set": {"touched_at": at},
                "$push": {
                    "timeline": {
                        "at": at,
                        "action": "session_scheduled",
                        "by": actor.user_id,
                        "public": True,
                        "details": {
                            "session_id": session_id,
                            "starts_at": starts_at,
                            "place": doc["place"]["name"],
                        },
                    }
                },
            },
            session=session,
        )
        studio = db.studios.find_one({"_id": case["studio"]}, session=session)
        published.extend(
            mediation.outbox.add(
                [
                    make_envelope(
                        "session.scheduled",
                        {
                            "reference": reference,
                            "session_id": session_id,
                            "starts_at": starts_at.isoformat(),
                            "ends_at": ends_at.isoformat(),
                            "place": doc["place"],
                            "public": bool(public),
                            "mediators": mediators,
                            "studio": registry.studio_ref(studio) if studio else None,
                        },
                        source=SERVICE,
                    )
                ],
                session=session,
            )
        )
        return doc

    try:
        doc = in_transaction(db, work)
    except DuplicateKeyError as err:
        raise desk.Conflict(
            "The council hall is already booked at that time.",
            {"room": ["The council hall is already booked at that time."], "code": "double_booked"},
        ) from err
    mediation.outbox.flush(published)
    log.info("session scheduled", extra={"reference": reference, "session_id": doc["_id"]})
    return doc


def case_sessions(mediation: Mediation, reference: str) -> list[dict[str, Any]]:
    return list(mediation.db.sessions.find({"reference": reference}).sort("starts_at"))


def record(
    mediation: Mediation,
    reference: str,
    session_id: str,
    actor: Actor,
    *,
    attended: list[str],
    statements: str,
    result: str,
    rights_notice_given: bool,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> desk.Done:
    """The session record (PML Art 27): who attended, statements, result; recorded on the case with
    the lifecycle's `record_session` (in mediation only)."""
    db = mediation.db
    problems: dict[str, list[str]] = {}
    if result not in RESULTS:
        problems["result"] = [f"One of: {', '.join(RESULTS)}."]
    if not statements.strip():
        problems["statements"] = ["Required."]
    if problems:
        raise desk.Invalid("The session record is incomplete.", problems)
    found = db.sessions.find_one({"_id": session_id, "reference": reference})
    if found is None:
        raise desk.NotFound("No such session of this case.")

    def extra(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        changed = db.sessions.update_one(
            {"_id": session_id, "record": None},
            {
                "$set": {
                    "status": "held",
                    "record": {
                        "attended": [a for a in attended if a.strip()],
                        "statements": statements.strip(),
                        "result": result,
                        "rights_notice_given": rights_notice_given,
                        "recorded_at": at,
                        "recorded_by": actor.user_id,
                    },
                }
            },
            session=session,
        )
        if changed.matched_count != 1:
            raise desk.Conflict("This session has been recorded already.")
        return {}

    return desk.act(
        mediation,
        reference,
        actor,
        lc.RECORD_SESSION,
        {"session_id": session_id},
        expected_state=expected_state,
        now=now,
        extra=extra,
    )
