"""The council hall asked for by council's meetings: mediation owns the hall's calendar (its
`room_slots` claims, one per room and quarter hour), so a meeting is booked here with the very
mechanism sessions use, and a hall never has two bookings at once across both services
(docs/council-hall.md).

Council emits `hall.booking_requested` (meeting id, request number, room, times); this consumer
claims the quarter hours in one transaction with the processed-message marker and the answer
(`hall.booking_confirmed` or `hall.booking_refused` with a reason code) in the outbox. A session
booked concurrently for the same quarter hour conflicts on the claim's unique `_id`: whichever
commits first holds the hall, the other is refused (the desk's "hall taken", or a refusal here).

`request` rises with every request and release of a meeting: a message older than the latest one
mediation has seen changes nothing (redelivered or overtaken), so the answers always describe the
meeting's latest wish. A new request for a meeting first releases the claims of its previous one
(moving a meeting frees its old time, see the decision's document).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.mediation import registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import sessions as ss
from services.mediation.sessions import MAX_LENGTH, SLOT, room_of
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

CONSUMER = "mediation.hall"
CONFIRMED, REFUSED, RELEASED = "confirmed", "refused", "released"


def _slots(room: str, start: datetime, end: datetime) -> list[str]:
    """The claim ids of [start, end) in `room`, exactly as sessions write them."""
    out, at = [], start
    while at < end:
        out.append(f"{room}:{at.astimezone(ss.UTC):%Y%m%dT%H%M}")
        at += SLOT
    return out


def _place(mediation: Mediation, community: str) -> dict[str, Any] | None:
    view = registry.community_view(mediation.db, community)
    if not view or not view.get("hall"):
        return None
    hall = view["hall"]
    name = hall.get("name") or {}
    return {
        "code": room_of(community),
        "name": name.get("zh-CN") or room_of(community),
        "name_en": name.get("en"),
        "address": hall.get("address"),
    }


def _problem(room: str, community: str, place: Any, start: datetime, end: datetime, now: datetime) -> tuple:
    """(reason code, message) when the request cannot be booked whatever the hall's calendar says."""
    if place is None or room != room_of(community):
        return "unknown_hall", f"No council hall {room} in community {community}."
    if end <= start or end - start > MAX_LENGTH:
        return "invalid_times", "A booking ends after it starts and lasts at most 8 hours."
    if any((t.minute % 15) or t.second or t.microsecond for t in (start, end)):
        return "invalid_times", "Times are on the quarter hour."
    if start <= now:
        return "past", "The hall cannot be booked in the past."
    return None, ""


def on_booking_requested(mediation: Mediation, envelope: Envelope, now: datetime | None = None) -> None:
    """Claim the hall for a meeting, or refuse it with a reason; the answer goes out via the outbox."""
    data = envelope.data
    meeting_id, request, room = data["meeting_id"], int(data["request"]), data["room"]
    start, end = datetime.fromisoformat(data["starts_at"]), datetime.fromisoformat(data["ends_at"])
    place = _place(mediation, data["community"])
    db = mediation.db
    published: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        published.clear()
        at = now or utcnow()
        known = db.hall_bookings.find_one({"_id": meeting_id}, session=session)
        if known is not None and int(known["request"]) >= request:
            return  # overtaken by a later request or release: its answer is (or will be) sent
        # The meeting's previous time is released first: a moved meeting asks for its new time.
        db.room_slots.delete_many({"meeting_id": meeting_id}, session=session)
        reason, message = _problem(room, data["community"], place, start, end, at)
        if reason is None:
            wanted = _slots(room, start, end)
            taken = list(db.room_slots.find({"_id": {"$in": wanted}}, {"_id": 1}, session=session))
            if taken:
                reason, message = "double_booked", "The council hall is already booked at that time."
            else:
                # The unique claims: a session booked concurrently for one of these slots conflicts.
                db.room_slots.insert_many(
                    [{"_id": slot, "session_id": None, "meeting_id": meeting_id} for slot in wanted],
                    session=session,
                )
        status = CONFIRMED if reason is None else REFUSED
        db.hall_bookings.replace_one(
            {"_id": meeting_id},
            {
                "_id": meeting_id,
                "request": request,
                "room": room,
                "starts_at": start,
                "ends_at": end,
                "status": status,
                "reason": reason,
                "updated_at": at,
            },
            upsert=True,
            session=session,
        )
        answer: dict[str, Any] = {"meeting_id": meeting_id, "request": request, "room": room}
        if reason is None:
            answer |= {
                "starts_at": data["starts_at"],
                "ends_at": data["ends_at"],
                "place": place,
                "confirmed_at": at.isoformat(),
            }
            kind = "hall.booking_confirmed"
        else:
            answer |= {"reason": reason, "message": message, "refused_at": at.isoformat()}
            kind = "hall.booking_refused"
        published.extend(
            mediation.outbox.add(
                [make_envelope(kind, answer, source=SERVICE, correlation_id=envelope.correlation_id)],
                session=session,
            )
        )

    for attempt in range(3):
        try:
            # A write conflict with a concurrent session (or another delivery) is run again at once.
            retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
            break
        except (DuplicateKeyError, BulkWriteError):
            # A session committed one of our slots after our snapshot was taken: read again, and
            # the claim is seen and the meeting refused. Only bounded retries: a third duplicate
            # would mean a stale index, which the consumer's retry tiers handle.
            if attempt == 2:
                raise
    mediation.outbox.flush(published)
    if published:
        log.info("hall request answered", extra={"meeting_id": meeting_id, "event": published[0].type})


def on_booking_released(mediation: Mediation, envelope: Envelope, now: datetime | None = None) -> None:
    """Free a meeting's claims (it was cancelled); nothing to answer."""
    data = envelope.data
    meeting_id, request = data["meeting_id"], int(data["request"])
    db = mediation.db

    def effect(session: ClientSession) -> None:
        known = db.hall_bookings.find_one({"_id": meeting_id}, session=session)
        if known is not None and int(known["request"]) >= request:
            return
        db.room_slots.delete_many({"meeting_id": meeting_id}, session=session)
        db.hall_bookings.update_one(
            {"_id": meeting_id},
            {
                "$set": {
                    "request": request,
                    "room": data["room"],
                    "status": RELEASED,
                    "updated_at": now or utcnow(),
                }
            },
            upsert=True,
            session=session,
        )

    retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
