"""Mediation sessions in the community council hall: scheduling (never double-booked, never in the
past, next reception days suggested), moving and cancelling a scheduled session, and the session
record (attendance, statements, result).

Double booking is prevented by a unique claim per room and 15-minute slot (`room_slots._id`),
inserted in the same transaction as the session: two concurrent bookings of one slot conflict,
one commits, the other is retried, finds the slot taken and is refused. The pure rules
(`domain.sessions.check_booking`) give the clear message for the ordinary case. Cancelling a
session deletes its claims in the transaction that cancels it, so the hall can be booked again;
moving one deletes the claims it no longer needs and inserts the new ones in one transaction, so a
refused move (past, hall taken) leaves the old booking exactly as it was. A held (recorded) session
keeps its claims until it ended: its record may say it ended early, which frees the rest. A case
that ends calls its future sessions off in the transaction that ends it (`call_off_for_ending`).

Every change is announced through the outbox (`session.scheduled`, `session.rescheduled`,
`session.cancelled`) with the invitation's iCalendar SEQUENCE, raised on each move and on the
cancellation: notify sends the updated invitation or the cancellation, intake's tracking page shows
the new time or marks the session cancelled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.mediation import desk, registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import sessions as ss
from services.mediation.domain.actor import Actor
from services.mediation.staff_accounts import building_leaders
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


def _case_for_sessions(db: Database, reference: str, actor: Actor) -> dict[str, Any]:
    """The case if `actor` may schedule, move and cancel its sessions: its own mediators and their
    studio lead. Another studio's case is "not found", as everywhere on the desk."""
    case = desk.get_case(db, reference, actor)
    if not (desk.on_case(actor, case) or desk.is_lead_of(actor, case)):
        raise desk.Forbidden(
            "Only the case's own mediators or their studio lead schedule, move or cancel its sessions.",
            {"code": "not_on_case"},
        )
    return case


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    """Times a session can be booked at: zoned, on the quarter hour (the hall's slots), at most
    8 hours long. The past and the hall's other bookings are the pure rules' (`check_booking`)."""
    problems: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None:
            problems[name] = ["Needs a time zone."]
        elif (value.minute % 15) or value.second or value.microsecond:
            problems[name] = ["Times are on the quarter hour (e.g. 09:00, 09:15)."]
    if not problems and ends_at - starts_at > MAX_LENGTH:
        problems["ends_at"] = ["A session is at most 8 hours."]
    if problems:
        raise desk.Invalid("The session's times are not valid.", {**problems, "code": "invalid_times"})


def _refusal(err: ss.SchedulingError) -> desk.DeskError:
    """A refused booking as the desk answers it: 409 for the hall taken or nothing to change, 422
    for bad times or the past. `code` lets the pages say it in the reader's language."""
    field = "room" if err.code == "double_booked" else "starts_at"
    kind = desk.Conflict if err.code in ("double_booked", "unchanged") else desk.Invalid
    # The rule's text names the hall's code: readers are told it in words the catalog holds.
    message = "The council hall is already booked at that time." if err.code == "double_booked" else str(err)
    return kind(message, {field: [str(err)], "code": err.code}, detail=str(err))


def _hall_taken() -> desk.Conflict:
    """A concurrent booking claimed one of the slots first (the unique claim refused ours)."""
    return desk.Conflict(
        "The council hall is already booked at that time.",
        {"room": ["The council hall is already booked at that time."], "code": "double_booked"},
    )


def _duplicate_claim(err: BulkWriteError) -> bool:
    """Whether a bulk insert of claims failed only because a slot is claimed already."""
    errors = err.details.get("writeErrors", [])
    return bool(errors) and all(error.get("code") == 11000 for error in errors)


def _bookings(
    db: Database, session: ClientSession, room: str, starts_at: datetime, ends_at: datetime
) -> list[ss.Booking]:
    """The room's sessions holding it over part of [starts_at, ends_at), read in the transaction:
    scheduled ones for their booked time, held (recorded) ones until they ended (a session that
    ended early freed the rest of its time)."""
    found = db.sessions.find(
        {
            "room": room,
            "status": {"$in": [ss.SCHEDULED, ss.HELD]},
            "starts_at": {"$lt": ends_at},
            "ends_at": {"$gt": starts_at},
        },
        session=session,
    )
    bookings = [
        ss.Booking(s["room"], s["starts_at"], ss.held_until(s["ends_at"], _ended_at(s)), s["_id"])
        for s in found
    ]
    return [b for b in bookings if b.starts_at < ends_at and b.ends_at > starts_at]


def _ended_at(doc: dict[str, Any]) -> datetime | None:
    return (doc.get("record") or {}).get("ended_at")


def _claimed(db: Database, session: ClientSession, slots: list[str]) -> bool:
    """Whether any of `slots` is claimed already, by a session or by a council meeting (whose
    claims the session rules do not read): the booking is refused as the hall taken."""
    return db.room_slots.find_one({"_id": {"$in": slots}}, {"_id": 1}, session=session) is not None


def _current_mediators(db: Database, session: ClientSession, reference: str) -> list[dict[str, Any]]:
    """The case's mediators now, read in the transaction: a moved or cancelled session tells them,
    not the ones stored when it was booked (the case may have been reassigned since)."""
    case = db.cases.find_one({"_id": reference}, {"mediators": 1}, session=session) or {}
    return [desk.staff_ref(db, m, session) for m in case.get("mediators") or []]


def _event_data(doc: dict[str, Any], studio: dict[str, Any] | None) -> dict[str, Any]:
    """What every `session.*` event says about the session: enough for notify to build the .ics
    (same UID, the session's SEQUENCE) and for intake to show when and where."""
    return {
        "reference": doc["reference"],
        "session_id": doc["_id"],
        "starts_at": doc["starts_at"].isoformat(),
        "ends_at": doc["ends_at"].isoformat(),
        "place": doc["place"],
        "public": bool(doc.get("public")),
        "mediators": doc.get("mediators") or [],
        "studio": registry.studio_ref(studio) if studio else None,
        "sequence": int(doc.get("sequence") or 0),
    }


def _building_audience(db: Database, case: dict[str, Any], session: ClientSession) -> dict[str, Any]:
    """The building's leaders, looked up when the event is made (not when the session was booked)."""
    return {"building_leaders": building_leaders(db, case.get("community"), case.get("building"), session)}


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
    case = _case_for_sessions(db, reference, actor)
    if case.get("status") not in SCHEDULABLE:
        raise desk.Conflict(
            "Sessions are scheduled once the parties' rights have been explained.",
            {"code": "not_schedulable"},
        )
    _check_times(starts_at, ends_at)
    view = registry.community_view(db, case["community"]) or {}
    hall = view.get("hall") or {}
    room = room_of(case["community"])
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        at = now or utcnow()
        existing = _bookings(db, session, room, starts_at, ends_at)
        session_id = new_id()
        try:
            ss.check_booking(ss.Booking(room, starts_at, ends_at, session_id), existing, at)
        except ss.SchedulingError as err:
            raise _refusal(err) from err
        wanted = _slots(room, starts_at, ends_at)
        if _claimed(db, session, wanted):
            raise _hall_taken()
        # The unique claims: a concurrent booking of any of these slots conflicts here.
        db.room_slots.insert_many(
            [{"_id": slot, "session_id": session_id} for slot in wanted], session=session
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
            "status": ss.SCHEDULED,
            "sequence": 0,
            "mediators": mediators,
            "created_at": at,
            "created_by": actor.user_id,
            "record": None,
        }
        db.sessions.insert_one(doc, session=session)
        _timeline(
            db,
            session,
            reference,
            actor,
            at,
            "session_scheduled",
            session_id=session_id,
            starts_at=starts_at,
            place=doc["place"]["name"],
        )
        studio = db.studios.find_one({"_id": case["studio"]}, session=session)
        published.extend(
            mediation.outbox.add(
                [
                    make_envelope(
                        "session.scheduled",
                        {**_event_data(doc, studio), **_building_audience(db, case, session)},
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
        raise _hall_taken() from err
    except BulkWriteError as err:
        # insert_many reports a taken claim (e.g. a council meeting's, which the session rules do
        # not read) as a bulk error: the hall is taken all the same.
        if not _duplicate_claim(err):
            raise
        raise _hall_taken() from err
    mediation.outbox.flush(published)
    log.info("session scheduled", extra={"reference": reference, "session_id": doc["_id"]})
    return doc


def _changeable(
    db: Database,
    session: ClientSession,
    reference: str,
    session_id: str,
    action: str,
    expected_sequence: int | None,
) -> dict[str, Any]:
    """The case's session, read in the transaction, if `action` may still be done to it.
    `expected_sequence` (what the form showed) makes a repeated or stale post change nothing."""
    found = db.sessions.find_one({"_id": session_id, "reference": reference}, session=session)
    if found is None:
        raise desk.NotFound("No such session of this case.", {"code": "no_session"})
    try:
        ss.check_session_action(found.get("status", ss.SCHEDULED), action)
    except ss.SessionStateError as err:
        raise desk.Conflict(str(err), {"session": [str(err)], "code": err.code}) from err
    if expected_sequence is not None and int(found.get("sequence") or 0) != expected_sequence:
        raise desk.Conflict(
            "The session changed in the meantime (moved or cancelled); nothing was changed.",
            {"code": "stale"},
        )
    return found


def _timeline(
    db: Database,
    session: ClientSession,
    reference: str,
    actor: Actor,
    at: datetime,
    action: str,
    **details: Any,
) -> None:
    db.cases.update_one(
        {"_id": reference},
        {
            "$set": {"touched_at": at},
            "$push": {
                "timeline": {
                    "at": at,
                    "action": action,
                    "by": actor.user_id,
                    "public": True,
                    "details": details,
                }
            },
        },
        session=session,
    )


def move(
    mediation: Mediation,
    reference: str,
    session_id: str,
    actor: Actor,
    starts_at: datetime,
    ends_at: datetime,
    *,
    expected_sequence: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move a scheduled session to a new time in the same hall, announced as `session.rescheduled`
    (notify sends the updated invitation: same UID, higher SEQUENCE).

    The claims the new time no longer needs are deleted and the new ones inserted in the
    transaction that moves the session: a new time in the past, or on a slot another session holds
    (even one claimed a moment ago), is refused and the old booking stays exactly as it was."""
    db = mediation.db
    case = _case_for_sessions(db, reference, actor)
    if case.get("status") not in SCHEDULABLE:
        raise desk.Conflict(
            "Sessions are moved while the case is being mediated.", {"code": "not_schedulable"}
        )
    _check_times(starts_at, ends_at)
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        at = now or utcnow()
        found = _changeable(db, session, reference, session_id, ss.MOVE, expected_sequence)
        room = found["room"]
        current = ss.Booking(room, found["starts_at"], found["ends_at"], session_id)
        proposed = ss.Booking(room, starts_at, ends_at, session_id)
        try:
            ss.check_move(current, proposed, _bookings(db, session, room, starts_at, ends_at), at)
        except ss.SchedulingError as err:
            raise _refusal(err) from err
        old = set(_slots(room, current.starts_at, current.ends_at))
        new = set(_slots(room, starts_at, ends_at))
        # Only the difference: slots kept by the overlap of old and new stay claimed throughout.
        if old - new:
            db.room_slots.delete_many(
                {"_id": {"$in": sorted(old - new)}, "session_id": session_id}, session=session
            )
        if new - old and _claimed(db, session, sorted(new - old)):
            raise _hall_taken()
        if new - old:
            db.room_slots.insert_many(
                [{"_id": slot, "session_id": session_id} for slot in sorted(new - old)], session=session
            )
        sequence = int(found.get("sequence") or 0) + 1
        mediators = _current_mediators(db, session, reference)
        changed = db.sessions.update_one(
            {"_id": session_id, "status": ss.SCHEDULED, "starts_at": current.starts_at},
            {
                "$set": {
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "sequence": sequence,
                    "mediators": mediators,
                },
                "$push": {
                    "moves": {
                        "at": at,
                        "by": actor.user_id,
                        "from_starts_at": current.starts_at,
                        "from_ends_at": current.ends_at,
                    }
                },
            },
            session=session,
        )
        if changed.matched_count != 1:
            raise desk.Conflict(
                "The session changed in the meantime; nothing was changed.", {"code": "stale"}
            )
        doc = {
            **found,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "sequence": sequence,
            "mediators": mediators,
        }
        _timeline(
            db,
            session,
            reference,
            actor,
            at,
            "session_rescheduled",
            session_id=session_id,
            starts_at=starts_at,
            previous_starts_at=current.starts_at,
            place=doc["place"]["name"],
        )
        studio = db.studios.find_one({"_id": case["studio"]}, session=session)
        data = {
            **_event_data(doc, studio),
            "previous_starts_at": current.starts_at.isoformat(),
            "previous_ends_at": current.ends_at.isoformat(),
            "rescheduled_at": at.isoformat(),
            **_building_audience(db, case, session),
        }
        published.extend(
            mediation.outbox.add(
                [make_envelope("session.rescheduled", data, source=SERVICE)], session=session
            )
        )
        return doc

    try:
        doc = in_transaction(db, work)
    except DuplicateKeyError as err:
        raise _hall_taken() from err
    except BulkWriteError as err:
        # insert_many reports a taken claim (e.g. a council meeting's, which the session rules do
        # not read) as a bulk error: the hall is taken all the same.
        if not _duplicate_claim(err):
            raise
        raise _hall_taken() from err
    mediation.outbox.flush(published)
    log.info("session moved", extra={"reference": reference, "session_id": session_id})
    return doc


def cancel(
    mediation: Mediation,
    reference: str,
    session_id: str,
    actor: Actor,
    reason: str,
    *,
    expected_sequence: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Cancel a scheduled session with a reason the invitees are told, announced as
    `session.cancelled` (notify sends the .ics CANCEL: same UID, higher SEQUENCE). Its hall claims
    are deleted in the same transaction, so the hall is free again at once.

    Allowed in any state of the case (a case that ended may leave a session to call off); a held
    session keeps its record and cannot be cancelled."""
    db = mediation.db
    case = _case_for_sessions(db, reference, actor)
    try:
        why = ss.cancellation_reason(reason)
    except ValueError as err:
        raise desk.Invalid("The session is not cancelled.", {"reason": [str(err)]}) from err
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        at = now or utcnow()
        found = _changeable(db, session, reference, session_id, ss.CANCEL, expected_sequence)
        doc, event = _call_off(db, session, found, case, actor.user_id, why, at)
        published.extend(mediation.outbox.add([event], session=session))
        return doc

    doc = in_transaction(db, work)
    mediation.outbox.flush(published)
    log.info("session cancelled", extra={"reference": reference, "session_id": session_id})
    return doc


def _call_off(
    db: Database,
    session: ClientSession,
    found: dict[str, Any],
    case: dict[str, Any],
    by: str,
    why: str,
    at: datetime,
) -> tuple[dict[str, Any], Envelope]:
    """Cancel the scheduled session `found` inside the caller's transaction: its hall claims
    deleted, the session marked cancelled (SEQUENCE raised), the case's timeline told, and the
    `session.cancelled` event (naming the case's current mediators and the building's leaders)
    returned for the outbox."""
    session_id, reference = found["_id"], found["reference"]
    db.room_slots.delete_many(
        {
            "_id": {"$in": _slots(found["room"], found["starts_at"], found["ends_at"])},
            "session_id": session_id,
        },
        session=session,
    )
    sequence = int(found.get("sequence") or 0) + 1
    cancellation = {"reason": why, "at": at, "by": by}
    mediators = _current_mediators(db, session, reference)
    changed = db.sessions.update_one(
        {"_id": session_id, "status": ss.SCHEDULED},
        {
            "$set": {
                "status": ss.CANCELLED,
                "sequence": sequence,
                "cancellation": cancellation,
                "mediators": mediators,
            }
        },
        session=session,
    )
    if changed.matched_count != 1:
        raise desk.Conflict("The session changed in the meantime; nothing was changed.", {"code": "stale"})
    doc = {
        **found,
        "status": ss.CANCELLED,
        "sequence": sequence,
        "cancellation": cancellation,
        "mediators": mediators,
    }
    db.cases.update_one(
        {"_id": reference},
        {
            "$set": {"touched_at": at},
            "$push": {
                "timeline": {
                    "at": at,
                    "action": "session_cancelled",
                    "by": by,
                    "public": True,
                    "details": {"session_id": session_id, "starts_at": found["starts_at"], "reason": why},
                }
            },
        },
        session=session,
    )
    studio = db.studios.find_one({"_id": case["studio"]}, session=session)
    data = {
        **_event_data(doc, studio),
        "reason": why,
        "cancelled_at": at.isoformat(),
        **_building_audience(db, case, session),
    }
    return doc, make_envelope("session.cancelled", data, source=SERVICE)


def call_off_for_ending(
    db: Database, session: ClientSession, case: dict[str, Any], to_state: str, by: str, at: datetime
) -> list[Envelope]:
    """Cancel the future sessions of a case that ends (agreement, failure, withdrawal, referral,
    merge...), inside the transaction that ends it: the hall is freed and the invitees are told
    why (`session.cancelled`, in the case's language). Sessions already begun stay as they are:
    their time has passed and their record, if any, is kept."""
    why = ss.ending_cancellation_reason(to_state, case.get("language") or "zh-CN")
    events = []
    for found in db.sessions.find(
        {"reference": case["_id"], "status": ss.SCHEDULED, "starts_at": {"$gt": at}}, session=session
    ).sort("starts_at"):
        _, event = _call_off(db, session, found, case, by, why, at)
        events.append(event)
    return events


def case_sessions(mediation: Mediation, reference: str) -> list[dict[str, Any]]:
    return list(mediation.db.sessions.find({"reference": reference}).sort("starts_at"))


def get_session(mediation: Mediation, reference: str, session_id: str) -> dict[str, Any]:
    """One session of the case (the caller has checked the case is the actor's to see)."""
    found = mediation.db.sessions.find_one({"_id": session_id, "reference": reference})
    if found is None:
        raise desk.NotFound("No such session of this case.", {"code": "no_session"})
    return found


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
    ended_at: datetime | None = None,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> desk.Done:
    """The session record (PML Art 27): who attended, statements, result; recorded on the case with
    the lifecycle's `record_session` (in mediation only). Only a scheduled session is recorded: a
    cancelled one never took place, a held one has its record.

    `ended_at` (optional) is when the session really ended: one that ended early frees the hall's
    quarter hours after it in the same transaction, so the hall can be booked then."""
    db = mediation.db
    problems: dict[str, list[str]] = {}
    if result not in RESULTS:
        problems["result"] = [f"One of: {', '.join(RESULTS)}."]
    if not statements.strip():
        problems["statements"] = ["Required."]
    if problems:
        raise desk.Invalid("The session record is incomplete.", problems)
    desk.get_case(db, reference, actor)  # another studio's case: "not found" before anything else
    found = db.sessions.find_one({"_id": session_id, "reference": reference})
    if found is None:
        raise desk.NotFound("No such session of this case.", {"code": "no_session"})
    try:
        ss.check_session_action(found.get("status", ss.SCHEDULED), ss.RECORD)
    except ss.SessionStateError as err:
        raise desk.Conflict(str(err), {"session": [str(err)], "code": err.code}) from err
    if ended_at is not None:
        try:
            ss.check_ended_at(found["starts_at"], found["ends_at"], ended_at)
        except ss.SchedulingError as err:
            raise desk.Invalid(str(err), {"ended_at": [str(err)], "code": err.code}) from err
    kept_until = ss.held_until(found["ends_at"], ended_at)

    def extra(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        # Conditional on "still scheduled": a cancellation committed meanwhile makes this refuse.
        # Conditional on the times read too: `ended_at` was checked against them.
        changed = db.sessions.update_one(
            {
                "_id": session_id,
                "status": ss.SCHEDULED,
                "record": None,
                "starts_at": found["starts_at"],
                "ends_at": found["ends_at"],
            },
            {
                "$set": {
                    "status": ss.HELD,
                    "record": {
                        "attended": [a for a in attended if a.strip()],
                        "statements": statements.strip(),
                        "result": result,
                        "rights_notice_given": rights_notice_given,
                        "ended_at": ended_at,
                        "recorded_at": at,
                        "recorded_by": actor.user_id,
                    },
                }
            },
            session=session,
        )
        if changed.matched_count != 1:
            raise desk.Conflict(
                "This session was recorded, moved or cancelled in the meantime; nothing was changed.",
                {"code": "stale"},
            )
        if kept_until < found["ends_at"]:
            # Ended early: the quarter hours after it are free for another booking at once.
            db.room_slots.delete_many(
                {
                    "_id": {"$in": _slots(found["room"], kept_until, found["ends_at"])},
                    "session_id": session_id,
                },
                session=session,
            )
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
