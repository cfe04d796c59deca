"""The council hall shared by mediation's sessions and council's meetings, on a real MongoDB-wire
server and the real broker: council asks (hall.booking_requested), mediation claims the quarter
hours with the sessions' unique claims and answers, council moves the meeting to confirmed or
refused; moving and cancelling release; redelivered and overtaken messages change nothing; a
session and a meeting racing for one quarter hour: exactly one gets it, in both orders and at once;
and the whole round trip through the two real worker processes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.council import meetings
from services.council.bootstrap import Council
from services.council.bootstrap import bootstrap as council_bootstrap
from services.council.bootstrap import ensure_indexes as council_indexes
from services.mediation import desk, hall_bookings, sessions
from services.mediation.bootstrap import Mediation
from shared.auth import Staff
from shared.config import Settings
from shared.messaging.envelope import Envelope
from tests.integration.test_mediation_desk import MEDIATOR
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_sessions import HOUR, NOW, START, in_mediation
from tests.support.stack import Workers, wait_for

CLERK = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")


@pytest.fixture
def council(settings: Settings) -> Council:
    c = council_bootstrap(settings)
    council_indexes(c.db)
    return c


def outbox(db: Any, event_type: str) -> list[Envelope]:
    """Events a service stored for publishing, oldest first, as the consumer would receive them."""
    rows = db.outbox.find({"envelope.type": event_type}).sort("created_at")
    return [Envelope(**row["envelope"]) for row in rows]


def request_meeting(council: Council, start: datetime, end: datetime) -> dict[str, Any]:
    return meetings.create_meeting(
        council, "lianhua", CLERK, title="加装电梯议事会", starts_at=start, ends_at=end, now=NOW
    )


def relay_to_mediation(council: Council, mediation: Mediation, meeting_id: str) -> Envelope:
    """Hand mediation the meeting's latest hall message, as its worker would get it."""
    latest = [
        e
        for e in outbox(council.db, "hall.booking_requested") + outbox(council.db, "hall.booking_released")
        if e.data["meeting_id"] == meeting_id
    ]
    latest.sort(key=lambda e: e.data["request"])
    envelope = latest[-1]
    handler = (
        hall_bookings.on_booking_requested
        if envelope.type == "hall.booking_requested"
        else hall_bookings.on_booking_released
    )
    handler(mediation, envelope, now=NOW)
    return envelope


def answer_to_council(council: Council, mediation: Mediation, meeting_id: str) -> Envelope:
    """Hand council mediation's latest answer about the meeting."""
    answers = [
        e
        for e in outbox(mediation.db, "hall.booking_confirmed") + outbox(mediation.db, "hall.booking_refused")
        if e.data["meeting_id"] == meeting_id
    ]
    answers.sort(key=lambda e: e.data["request"])
    meetings.on_hall_answer(council, answers[-1])
    return answers[-1]


def meeting_claims(mediation: Mediation, meeting_id: str) -> list[str]:
    return sorted(row["_id"] for row in mediation.db.room_slots.find({"meeting_id": meeting_id}))


def status(council: Council, meeting_id: str) -> str:
    return council.db.meetings.find_one({"_id": meeting_id})["status"]


def test_a_meeting_is_requested_then_confirmed_and_holds_the_hall_against_sessions(
    council, mediation
) -> None:
    made = request_meeting(council, START, START + 2 * HOUR)
    assert made["status"] == "requested"
    [asked] = outbox(council.db, "hall.booking_requested")
    assert asked.data["room"] == "hall:lianhua" and asked.data["request"] == 1

    relay_to_mediation(council, mediation, made["_id"])
    assert len(meeting_claims(mediation, made["_id"])) == 8  # two hours in quarter hours
    answer = answer_to_council(council, mediation, made["_id"])
    assert answer.type == "hall.booking_confirmed"
    stored = council.db.meetings.find_one({"_id": made["_id"]})
    assert stored["status"] == "confirmed" and stored["hall"]["place"]["name"] == "莲花小区议事厅"

    # Redelivered request and answer: no second answer, nothing changes.
    hall_bookings.on_booking_requested(mediation, asked, now=NOW)
    meetings.on_hall_answer(council, answer)
    assert len(outbox(mediation.db, "hall.booking_confirmed")) == 1
    assert council.db.meetings.find_one({"_id": made["_id"]}) == stored

    # A session in the meeting's hour is the desk's refusal; the meeting keeps the hall.
    reference = in_mediation(mediation)
    with pytest.raises(desk.Conflict) as refused:
        sessions.schedule(mediation, reference, MEDIATOR, START + HOUR, START + 2 * HOUR, now=NOW)
    assert refused.value.errors["code"] == "double_booked"
    assert mediation.db.sessions.count_documents({}) == 0
    # Next to it is fine: bookings are half-open.
    sessions.schedule(mediation, reference, MEDIATOR, START + 2 * HOUR, START + 3 * HOUR, now=NOW)


def test_a_meeting_on_a_session_is_refused_with_the_reason_and_may_try_another_time(
    council, mediation
) -> None:
    reference = in_mediation(mediation)
    sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    made = request_meeting(council, START + timedelta(minutes=45), START + 2 * HOUR)
    relay_to_mediation(council, mediation, made["_id"])
    answer = answer_to_council(council, mediation, made["_id"])
    assert answer.type == "hall.booking_refused" and answer.data["reason"] == "double_booked"
    stored = council.db.meetings.find_one({"_id": made["_id"]})
    assert stored["status"] == "refused" and stored["hall"]["reason"] == "double_booked"
    assert meeting_claims(mediation, made["_id"]) == []

    moved = meetings.move_meeting(
        council, "lianhua", made["_id"], CLERK, starts_at=START + HOUR, ends_at=START + 2 * HOUR, now=NOW
    )
    assert moved["status"] == "requested" and moved["hall"]["request"] == 2
    relay_to_mediation(council, mediation, made["_id"])
    assert answer_to_council(council, mediation, made["_id"]).type == "hall.booking_confirmed"
    assert status(council, made["_id"]) == "confirmed"
    # The refusal of request 1, delivered again late, no longer decides anything.
    meetings.on_hall_answer(council, answer)
    assert status(council, made["_id"]) == "confirmed"


def test_past_and_unknown_halls_are_refused_by_mediation(council, mediation) -> None:
    made = request_meeting(council, START, START + HOUR)
    [asked] = outbox(council.db, "hall.booking_requested")
    late = START + timedelta(minutes=1)  # the request reaches mediation after the start
    hall_bookings.on_booking_requested(mediation, asked, now=late)
    [refusal] = outbox(mediation.db, "hall.booking_refused")
    assert refusal.data["reason"] == "past" and meeting_claims(mediation, made["_id"]) == []

    forged = Envelope(
        **{
            **asked.to_dict(),
            "message_id": "other",
            "data": {**asked.data, "request": 5, "room": "hall:nowhere"},
        }
    )
    hall_bookings.on_booking_requested(mediation, forged, now=NOW)
    assert outbox(mediation.db, "hall.booking_refused")[-1].data["reason"] == "unknown_hall"


def test_moving_frees_the_old_time_and_cancelling_releases_the_hall(council, mediation) -> None:
    made = request_meeting(council, START, START + HOUR)
    relay_to_mediation(council, mediation, made["_id"])
    answer_to_council(council, mediation, made["_id"])
    old = meeting_claims(mediation, made["_id"])

    meetings.move_meeting(
        council, "lianhua", made["_id"], CLERK, starts_at=START + 3 * HOUR, ends_at=START + 4 * HOUR, now=NOW
    )
    relay_to_mediation(council, mediation, made["_id"])
    assert answer_to_council(council, mediation, made["_id"]).type == "hall.booking_confirmed"
    new = meeting_claims(mediation, made["_id"])
    assert len(new) == 4 and not set(new) & set(old)
    # The old hour is free for a session now.
    reference = in_mediation(mediation)
    sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)

    # A stale request (request 1 again) after the move changes nothing.
    first = outbox(council.db, "hall.booking_requested")[0]
    again = Envelope(**{**first.to_dict(), "message_id": "redelivered-later"})
    hall_bookings.on_booking_requested(mediation, again, now=NOW)
    assert meeting_claims(mediation, made["_id"]) == new

    with pytest.raises(meetings.Refused):
        meetings.cancel_meeting(council, "lianhua", made["_id"], CLERK, "  ")
    cancelled = meetings.cancel_meeting(council, "lianhua", made["_id"], CLERK, "改期另议", now=NOW)
    assert cancelled["status"] == "cancelled"
    relay_to_mediation(council, mediation, made["_id"])
    assert meeting_claims(mediation, made["_id"]) == []
    assert mediation.db.hall_bookings.find_one({"_id": made["_id"]})["status"] == "released"
    sessions.schedule(mediation, reference, MEDIATOR, START + 3 * HOUR, START + 4 * HOUR, now=NOW)
    # A late confirmation does not revive a cancelled meeting.
    meetings.on_hall_answer(council, outbox(mediation.db, "hall.booking_confirmed")[-1])
    assert status(council, made["_id"]) == "cancelled"
    with pytest.raises(meetings.Refused):
        meetings.move_meeting(
            council, "lianhua", made["_id"], CLERK, starts_at=START, ends_at=START + HOUR, now=NOW
        )


def _outcome_of_meeting(council: Council, mediation: Mediation, meeting_id: str) -> str:
    answer_to_council(council, mediation, meeting_id)
    return status(council, meeting_id)


@pytest.mark.parametrize("first", ["session", "meeting"])
def test_the_race_one_after_the_other_in_both_orders(council, mediation, first) -> None:
    reference = in_mediation(mediation)
    made = request_meeting(council, START, START + HOUR)
    book = lambda: sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)  # noqa: E731
    if first == "session":
        book()
        relay_to_mediation(council, mediation, made["_id"])
        assert _outcome_of_meeting(council, mediation, made["_id"]) == "refused"
        assert council.db.meetings.find_one({"_id": made["_id"]})["hall"]["reason"] == "double_booked"
    else:
        relay_to_mediation(council, mediation, made["_id"])
        with pytest.raises(desk.Conflict) as refused:
            book()
        assert refused.value.errors["code"] == "double_booked"
        assert _outcome_of_meeting(council, mediation, made["_id"]) == "confirmed"
    holders = {(row.get("session_id"), row.get("meeting_id")) for row in mediation.db.room_slots.find()}
    assert len(holders) == 1  # every claim of that hour belongs to the one winner


def test_the_race_at_once_exactly_one_wins_and_the_other_is_refused_cleanly(council, mediation) -> None:
    reference = in_mediation(mediation)
    winners: list[str] = []
    for round_ in range(6):
        target = START + timedelta(days=round_)
        made = request_meeting(council, target, target + HOUR)
        [asked] = [
            e for e in outbox(council.db, "hall.booking_requested") if e.data["meeting_id"] == made["_id"]
        ]
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def session(
            target: datetime = target, barrier: threading.Barrier = barrier, out: dict = outcomes
        ) -> None:
            barrier.wait()
            try:
                sessions.schedule(mediation, reference, MEDIATOR, target, target + HOUR, now=NOW)
                out["session"] = "booked"
            except desk.Conflict as err:
                out["session"] = err.errors["code"]

        def meeting(asked: Envelope = asked, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            hall_bookings.on_booking_requested(mediation, asked, now=NOW)

        threads = [threading.Thread(target=session), threading.Thread(target=meeting)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        outcomes["meeting"] = _outcome_of_meeting(council, mediation, made["_id"])
        assert sorted(outcomes.values()) in (["booked", "refused"], ["confirmed", "double_booked"]), outcomes
        day = f"{target:%Y%m%d}"
        holders = {
            (row.get("session_id"), row.get("meeting_id"))
            for row in mediation.db.room_slots.find({"_id": {"$regex": f":{day}T"}})
        }
        assert len(holders) == 1, holders
        live = mediation.db.sessions.count_documents({"status": "scheduled", "starts_at": target})
        assert live == (1 if outcomes["session"] == "booked" else 0)
        if outcomes["meeting"] == "refused":
            assert council.db.meetings.find_one({"_id": made["_id"]})["hall"]["reason"] == "double_booked"
        winners.append("session" if outcomes["session"] == "booked" else "meeting")
    assert len(winners) == 6


def test_the_round_trip_through_both_real_workers(council, settings: Settings, tmp_path) -> None:
    """The two worker processes on the broker: requested → confirmed, then a move → confirmed."""
    shanghai = ZoneInfo("Asia/Shanghai")
    day = datetime.now(shanghai).date() + timedelta(days=3)
    start = datetime.combine(day, time(19), tzinfo=shanghai).astimezone(UTC)
    workers = Workers(settings, tmp_path)
    try:
        workers.start("mediation")
        workers.start("council")
        made = meetings.create_meeting(
            council, "lianhua", CLERK, title="物业费调整议事会", starts_at=start, ends_at=start + HOUR
        )
        wait_for(lambda: status(council, made["_id"]) == "confirmed", 30, what="meeting confirmed")
        meetings.move_meeting(
            council, "lianhua", made["_id"], CLERK, starts_at=start + HOUR, ends_at=start + 2 * HOUR
        )
        wait_for(
            lambda: council.db.meetings.find_one(
                {"_id": made["_id"], "hall.request": 2, "status": "confirmed"}
            ),
            30,
            what="move confirmed",
        )
    finally:
        for log in sorted(tmp_path.glob("*-worker.log")):
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        workers.kill_all()
