# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Moving, cancelling and recording sessions on a real database (and, at the end, through the real
workers): the hall's claims freed and taken atomically, refusals that change nothing (a held or
cancelled session, another studio, the past, a booked hall, a stale or repeated post, a forged
form), the JSON API and the page forms, and the events reaching notify's emails (.ics REQUEST
then CANCEL, one UID, rising SEQUENCE) and intake's tracking page."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.mediation import desk, sessions
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from tests.integration.conftest import CASE
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, OTHER, ZHOU, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_desk_api import (
    S_LEAD,
    S_MEDIATOR,
    S_OTHER,
    S_ZHOU,
    csrf,
    login,
)
from tests.integration.test_mediation_desk_api import client as client
from tests.support.stack import wait_for

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, the day after NOW
HOUR = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def in_mediation(m: Mediation, now: datetime = NOW) -> str:
    """A case of zhihe taken by MEDIATOR, rights explained: sessions may be scheduled."""
    reference = accepted_case(m, now=now)
    desk.take(m, reference, MEDIATOR, now=now)
    desk.apply_action(m, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]}, now=now)
    return reference


def claims(m: Mediation, session_id: str | None = None) -> list[str]:
    query = {"session_id": session_id} if session_id else {}
    return sorted(row["_id"] for row in m.db.room_slots.find(query))


def snapshot(m: Mediation) -> dict[str, Any]:
    """Everything a refused change must leave as it was."""
    return {
        "slots": sorted((r["_id"], r["session_id"]) for r in m.db.room_slots.find()),
        "sessions": sorted(m.db.sessions.find(), key=lambda s: s["_id"]),
        "outbox": m.db.outbox.count_documents({}),
        "timelines": {c["_id"]: len(c.get("timeline", [])) for c in m.db.cases.find()},
    }


# The service layer ------------------------------------------------------------------------------
def test_cancel_frees_the_hall_and_tells_the_invitees_once(mediation) -> None:
    first, second = in_mediation(mediation), in_mediation(mediation)
    booked = sessions.schedule(mediation, first, MEDIATOR, START, START + HOUR, now=NOW)
    assert len(claims(mediation, booked["_id"])) == 4  # four quarter hours
    with pytest.raises(desk.Conflict):
        sessions.schedule(mediation, second, MEDIATOR, START, START + HOUR, now=NOW)

    with pytest.raises(desk.Invalid) as no_reason:
        sessions.cancel(mediation, first, booked["_id"], MEDIATOR, "   ", now=NOW)
    assert "reason" in no_reason.value.errors
    cancelled = sessions.cancel(mediation, first, booked["_id"], MEDIATOR, "议事厅临时维修。", now=NOW)
    assert cancelled["status"] == "cancelled" and cancelled["sequence"] == 1
    stored = mediation.db.sessions.find_one({"_id": booked["_id"]})
    assert stored["status"] == "cancelled" and stored["cancellation"]["reason"] == "议事厅临时维修。"
    assert claims(mediation, booked["_id"]) == []
    [event] = events(mediation, "session.cancelled")
    assert (event["session_id"], event["sequence"], event["reason"]) == (booked["_id"], 1, "议事厅临时维修。")
    assert event["starts_at"] == START.isoformat() and event["place"]["name"]
    case = mediation.db.cases.find_one({"_id": first})
    assert case["timeline"][-1]["action"] == "session_cancelled"

    # The same room at the same time is bookable again, by another case.
    again = sessions.schedule(mediation, second, MEDIATOR, START, START + HOUR, now=NOW)
    assert len(claims(mediation, again["_id"])) == 4

    # A cancelled session is neither cancelled again, moved nor recorded; nothing changes.
    before = snapshot(mediation)
    with pytest.raises(desk.Conflict) as twice:
        sessions.cancel(mediation, first, booked["_id"], MEDIATOR, "again", now=NOW)
    assert twice.value.errors["code"] == "cancelled"
    with pytest.raises(desk.Conflict):
        sessions.move(mediation, first, booked["_id"], MEDIATOR, START + 3 * HOUR, START + 4 * HOUR, now=NOW)
    desk.apply_action(mediation, first, MEDIATOR, lc.START_MEDIATION, now=NOW)
    with pytest.raises(desk.Conflict) as record:
        sessions.record(
            mediation,
            first,
            booked["_id"],
            MEDIATOR,
            attended=["张三"],
            statements="—",
            result="adjourned",
            rights_notice_given=True,
        )
    assert record.value.errors["code"] == "cancelled"
    after = snapshot(mediation)
    assert after["slots"] == before["slots"] and after["sessions"] == before["sessions"]
    assert len(events(mediation, "session.cancelled")) == 1


def test_move_frees_the_old_slots_and_claims_the_new_ones(mediation) -> None:
    first, second = in_mediation(mediation), in_mediation(mediation)
    booked = sessions.schedule(mediation, first, MEDIATOR, START, START + HOUR, now=NOW)
    old_slots = claims(mediation, booked["_id"])
    moved = sessions.move(
        mediation, first, booked["_id"], MEDIATOR, START + 2 * HOUR, START + 3 * HOUR, now=NOW
    )
    assert (moved["starts_at"], moved["sequence"]) == (START + 2 * HOUR, 1)
    new_slots = claims(mediation, booked["_id"])
    assert len(new_slots) == 4 and not set(new_slots) & set(old_slots)
    assert all(slot.endswith(("T0300", "T0315", "T0330", "T0345")) for slot in new_slots)
    [event] = events(mediation, "session.rescheduled")
    assert event["starts_at"] == (START + 2 * HOUR).isoformat()
    assert event["previous_starts_at"] == START.isoformat() and event["sequence"] == 1
    assert mediation.db.cases.find_one({"_id": first})["timeline"][-1]["action"] == "session_rescheduled"
    # The old time is free for another case now.
    other = sessions.schedule(mediation, second, MEDIATOR, START, START + HOUR, now=NOW)
    assert claims(mediation, other["_id"]) == old_slots

    # A move overlapping its own time keeps the shared slots, frees one and claims one.
    shifted = sessions.move(
        mediation,
        first,
        booked["_id"],
        MEDIATOR,
        START + 2 * HOUR + timedelta(minutes=15),
        START + 3 * HOUR + timedelta(minutes=15),
        now=NOW,
    )
    assert shifted["sequence"] == 2
    assert [s[-4:] for s in claims(mediation, booked["_id"])] == ["0315", "0330", "0345", "0400"]


def test_refused_moves_leave_the_old_booking_intact(mediation) -> None:
    first, second = in_mediation(mediation), in_mediation(mediation)
    mine = sessions.schedule(mediation, first, MEDIATOR, START, START + HOUR, now=NOW)
    theirs = sessions.schedule(mediation, second, MEDIATOR, START + 2 * HOUR, START + 3 * HOUR, now=NOW)
    before = snapshot(mediation)

    def refused(kind: type[desk.DeskError], starts: datetime, ends: datetime, **kw: Any) -> desk.DeskError:
        with pytest.raises(kind) as err:
            sessions.move(mediation, first, mine["_id"], MEDIATOR, starts, ends, now=NOW, **kw)
        after = snapshot(mediation)
        assert after == before, "a refused move changed something"
        return err.value

    booked = refused(desk.Conflict, START + 2 * HOUR + timedelta(minutes=45), START + 4 * HOUR)
    assert booked.errors["code"] == "double_booked" and "booked" in str(booked)
    past = refused(desk.Invalid, NOW - HOUR, NOW)
    assert past.errors["code"] == "past"
    assert refused(desk.Conflict, START, START + HOUR).errors["code"] == "unchanged"
    assert refused(desk.Invalid, START + timedelta(minutes=5), START + HOUR).errors["code"] == "invalid_times"
    stale = refused(desk.Conflict, START + 4 * HOUR, START + 5 * HOUR, expected_sequence=3)
    assert stale.errors["code"] == "stale"
    assert claims(mediation, mine["_id"]) and claims(mediation, theirs["_id"])


def test_held_sessions_keep_their_record(mediation) -> None:
    reference = in_mediation(mediation)
    booked = sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION, now=NOW)
    sessions.record(
        mediation,
        reference,
        booked["_id"],
        MEDIATOR,
        attended=["张三", "李四"],
        statements="双方陈述了意见。",
        result="partial",
        rights_notice_given=True,
    )
    before = snapshot(mediation)
    with pytest.raises(desk.Conflict) as cancel:
        sessions.cancel(mediation, reference, booked["_id"], MEDIATOR, "too late", now=NOW)
    assert cancel.value.errors["code"] == "held"
    with pytest.raises(desk.Conflict) as move:
        sessions.move(
            mediation, reference, booked["_id"], MEDIATOR, START + 5 * HOUR, START + 6 * HOUR, now=NOW
        )
    assert move.value.errors["code"] == "held"
    assert snapshot(mediation) == before


def test_only_who_schedules_may_move_or_cancel(mediation) -> None:
    reference = in_mediation(mediation)
    booked = sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    before = snapshot(mediation)
    with pytest.raises(desk.Forbidden):  # a colleague of the studio not on the case
        sessions.cancel(mediation, reference, booked["_id"], ZHOU, "not mine", now=NOW)
    with pytest.raises(desk.Forbidden):
        sessions.move(mediation, reference, booked["_id"], ZHOU, START + 3 * HOUR, START + 4 * HOUR, now=NOW)
    with pytest.raises(desk.NotFound):  # another studio: the case does not exist for them
        sessions.cancel(mediation, reference, booked["_id"], OTHER, "not ours", now=NOW)
    with pytest.raises(desk.NotFound):
        sessions.move(mediation, reference, booked["_id"], OTHER, START + 3 * HOUR, START + 4 * HOUR, now=NOW)
    with pytest.raises(desk.NotFound):  # a session of another case by its id
        sessions.cancel(mediation, in_mediation(mediation), booked["_id"], MEDIATOR, "wrong case", now=NOW)
    after = snapshot(mediation)
    assert (after["slots"], after["sessions"]) == (before["slots"], before["sessions"])
    # The studio lead may, as for scheduling.
    assert (
        sessions.move(mediation, reference, booked["_id"], LEAD, START + 3 * HOUR, START + 4 * HOUR, now=NOW)[
            "sequence"
        ]
        == 1
    )
    assert (
        sessions.cancel(mediation, reference, booked["_id"], LEAD, "改期另议", now=NOW)["status"]
        == "cancelled"
    )


def test_a_move_and_a_booking_of_the_same_hour_at_once_never_share_the_hall(mediation) -> None:
    first, second = in_mediation(mediation), in_mediation(mediation)
    for round_ in range(8):
        target = START + timedelta(days=round_ + 1)
        mine = sessions.schedule(mediation, first, MEDIATOR, target - 3 * HOUR, target - 2 * HOUR, now=NOW)
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def run(
            name: str, work: Any, barrier: threading.Barrier = barrier, outcomes: dict = outcomes
        ) -> None:
            barrier.wait()
            try:
                work()
                outcomes[name] = "done"
            except desk.Conflict:
                outcomes[name] = "refused"

        def move(target: datetime = target, session_id: str = mine["_id"]) -> None:
            sessions.move(mediation, first, session_id, MEDIATOR, target, target + HOUR, now=NOW)

        def book(target: datetime = target) -> None:
            sessions.schedule(mediation, second, MEDIATOR, target, target + HOUR, now=NOW)

        threads = [threading.Thread(target=run, args=a) for a in (("move", move), ("book", book))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes.values()) == ["done", "refused"], outcomes
        holders = {
            row["session_id"]
            for row in mediation.db.room_slots.find({"_id": {"$regex": f"{target:%Y%m%d}T0"}})
        }
        live = list(mediation.db.sessions.find({"status": "scheduled", "starts_at": target}))
        assert len(live) == 1 and holders >= {live[0]["_id"]}
        if outcomes["move"] == "refused":  # the old booking is still whole
            assert len(claims(mediation, mine["_id"])) == 4
            assert mediation.db.sessions.find_one({"_id": mine["_id"]})["starts_at"] == target - 3 * HOUR


# The API ----------------------------------------------------------------------------------------
def _future() -> datetime:
    """09:00 in the district three days from now: every test hour after it is on the same day."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    return datetime.combine(day, time(9), tzinfo=SHANGHAI).astimezone(UTC)


def _slot(start: datetime, hours: int = 1) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


def test_api_moves_cancels_and_records(client, settings, mediation) -> None:
    first, second = in_mediation(mediation, datetime.now(UTC)), in_mediation(mediation, datetime.now(UTC))
    start = _future()
    login(client, settings, S_MEDIATOR)
    base = f"/api/v1/desk/cases/{first}/sessions"
    made = client.post(base, json=_slot(start))
    assert made.status_code == 201 and made.json["sequence"] == 0
    sid = made.json["id"]
    other = client.post(f"/api/v1/desk/cases/{second}/sessions", json=_slot(start + 4 * HOUR))
    assert other.status_code == 201

    past = client.post(f"{base}/{sid}/move", json=_slot(datetime(2020, 1, 6, 1, tzinfo=UTC)))
    assert past.status_code == 422 and "past" in past.json["message"]
    booked = client.post(f"{base}/{sid}/move", json=_slot(start + 4 * HOUR))
    assert booked.status_code == 409 and "booked" in booked.json["message"]
    assert mediation.db.sessions.find_one({"_id": sid})["starts_at"] == start
    moved = client.post(f"{base}/{sid}/move", json={**_slot(start + 2 * HOUR), "expected_sequence": 0})
    assert moved.status_code == 200 and moved.json["sequence"] == 1
    assert moved.json["starts_at"].startswith((start + 2 * HOUR).strftime("%Y-%m-%dT%H:%M"))
    repeated = client.post(f"{base}/{sid}/move", json={**_slot(start + 2 * HOUR), "expected_sequence": 0})
    assert repeated.status_code == 409  # the same post again: stale, nothing changed
    assert len(events(mediation, "session.rescheduled")) == 1

    # Another mediator of the studio: 403; another studio: 404; nothing changes.
    login(client, settings, S_ZHOU)
    assert client.post(f"{base}/{sid}/cancel", json={"reason": "x"}).status_code == 403
    assert client.post(f"{base}/{sid}/move", json=_slot(start + 6 * HOUR)).status_code == 403
    login(client, settings, S_OTHER)
    for path, body in (("cancel", {"reason": "x"}), ("move", _slot(start + 6 * HOUR))):
        refused = client.post(f"{base}/{sid}/{path}", json=body)
        assert refused.status_code == 404 and "张三" not in refused.get_data(as_text=True)
    record = {"statements": "x", "result": "adjourned", "rights_notice_given": True}
    assert client.post(f"{base}/{sid}/record", json=record).status_code == 404

    login(client, settings, S_MEDIATOR)
    assert client.post(f"{base}/{sid}/cancel", json={}).status_code == 422  # the reason is required
    assert client.post(f"{base}/{sid}/cancel", json={"reason": "x", "extra": 1}).status_code == 422
    cancelled = client.post(f"{base}/{sid}/cancel", json={"reason": "当事人申请延期。"})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["cancellation"]["reason"] == "当事人申请延期。" and cancelled.json["sequence"] == 2
    again = client.post(f"{base}/{sid}/cancel", json={"reason": "当事人申请延期。"})
    assert again.status_code == 409 and "cancelled" in again.json["message"]
    assert len(events(mediation, "session.cancelled")) == 1
    # The hall is free again at that time.
    assert (
        client.post(f"/api/v1/desk/cases/{second}/sessions", json=_slot(start + 2 * HOUR)).status_code == 201
    )

    # Recording through the API: the same use case as the page (in mediation only, once).
    held = client.post(base, json=_slot(start + 8 * HOUR)).json["id"]
    assert client.post(f"{base}/{held}/record", json=record).status_code == 409  # not in mediation yet
    desk.apply_action(mediation, first, MEDIATOR, lc.START_MEDIATION)
    assert client.post(f"{base}/{held}/record", json={**record, "result": "won"}).status_code == 422
    assert client.post(f"{base}/{sid}/record", json=record).status_code == 409  # cancelled
    full = {**record, "attended": ["张三", "李四"], "statements": "双方各自陈述。", "result": "partial"}
    recorded = client.post(f"{base}/{held}/record", json=full)
    assert recorded.status_code == 200 and recorded.json["status"] == "held"
    assert (
        recorded.json["record"]["attended"] == ["张三", "李四"]
        and recorded.json["record"]["result"] == "partial"
    )
    assert mediation.db.cases.find_one({"_id": first})["timeline"][-1]["action"] == "record_session"
    assert client.post(f"{base}/{held}/record", json=full).status_code == 409
    assert client.post(f"{base}/{held}/cancel", json={"reason": "x"}).status_code == 409
    assert client.post(f"{base}/{held}/move", json=_slot(start + 10 * HOUR)).status_code == 409
    listed = {s["id"]: s["status"] for s in client.get(base).json}
    assert listed == {sid: "cancelled", held: "held"}


# The pages --------------------------------------------------------------------------------------
def test_page_forms_move_and_cancel_with_csrf_and_refuse_repeats(client, settings, mediation) -> None:
    reference = in_mediation(mediation, datetime.now(UTC))
    start = _future()
    sid = sessions.schedule(mediation, reference, MEDIATOR, start, start + HOUR)["_id"]
    login(client, settings, S_MEDIATOR)
    path = f"/desk/cases/{reference}"
    page = client.get(path).get_data(as_text=True)
    for form in ("move", "cancel"):
        assert f'action="{path}/sessions/{sid}/{form}"' in page
    assert f'id="move-{sid}-day"' in page and f'id="cancel-{sid}-reason"' in page
    assert "取消本次调解会" in page and "调整本次调解会时间" in page  # zh-CN by default

    # A forged post (no CSRF token) is refused and changes nothing.
    before = snapshot(mediation)
    assert (
        client.post(f"{path}/sessions/{sid}/cancel", data={"reason": "x", "sequence": "0"}).status_code == 400
    )
    assert snapshot(mediation) == before

    token = csrf(client, path)
    local = start.astimezone(SHANGHAI)
    new_day = f"{local:%Y-%m-%d}"
    form = {"csrf_token": token, "sequence": "0", "day": new_day, "start": f"{local + 2 * HOUR:%H:%M}"}
    form["end"] = f"{local + 3 * HOUR:%H:%M}"
    moved = client.post(f"{path}/sessions/{sid}/move", data=form)
    assert moved.status_code == 302 and moved.headers["Location"].endswith(f"#session-{sid}")
    assert mediation.db.sessions.find_one({"_id": sid})["starts_at"] == start + 2 * HOUR
    repeated = client.post(f"{path}/sessions/{sid}/move", data=form)  # the same form again
    text = repeated.get_data(as_text=True)
    assert repeated.status_code == 409 and "调解会在此期间已有变动" in text
    assert len(events(mediation, "session.rescheduled")) == 1

    # The past, in English, with the field marked in that session's move form (left open).
    past = {**form, "sequence": "1", "day": "2020-01-06", "start": "09:00", "end": "10:00"}
    refused = client.post(f"{path}/sessions/{sid}/move?lang=en", data=past)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "A session cannot be scheduled in the past." in text
    assert f'href="#move-{sid}-start"' in text and f'id="move-{sid}-start-error"' in text
    assert mediation.db.sessions.find_one({"_id": sid})["starts_at"] == start + 2 * HOUR

    blank = client.post(
        f"{path}/sessions/{sid}/cancel", data={"csrf_token": token, "sequence": "1", "reason": " "}
    )
    assert blank.status_code == 422 and f'id="cancel-{sid}-reason-error"' in blank.get_data(as_text=True)
    done = client.post(
        f"{path}/sessions/{sid}/cancel", data={"csrf_token": token, "sequence": "1", "reason": "议事厅维修"}
    )
    assert done.status_code == 302
    assert (
        mediation.db.sessions.find_one({"_id": sid})["status"] == "cancelled" and claims(mediation, sid) == []
    )
    twice = client.post(  # back in Chinese (the English above was kept in the language cookie)
        f"{path}/sessions/{sid}/cancel?lang=zh-CN",
        data={"csrf_token": token, "sequence": "1", "reason": "议事厅维修"},
    )
    assert twice.status_code == 409 and "本次调解会已经取消" in twice.get_data(as_text=True)
    assert len(events(mediation, "session.cancelled")) == 1
    shown = client.get(path).get_data(as_text=True)
    assert "议事厅维修" in shown and f'action="{path}/sessions/{sid}/cancel"' not in shown

    # Another studio's case: 404 whatever the form; a colleague not on the case: 403.
    login(client, settings, S_OTHER)
    assert client.post(f"{path}/sessions/{sid}/move", data=form).status_code == 404
    login(client, settings, S_ZHOU)
    sid2 = sessions.schedule(mediation, reference, MEDIATOR, start + 5 * HOUR, start + 6 * HOUR)["_id"]
    refused = client.post(f"{path}/sessions/{sid2}/cancel", data={"csrf_token": token, "reason": "x"})
    assert (
        refused.status_code == 403 and mediation.db.sessions.find_one({"_id": sid2})["status"] == "scheduled"
    )
    login(client, settings, S_LEAD)
    assert f'action="{path}/sessions/{sid2}/cancel"' in client.get(path).get_data(as_text=True)


# Through the workers: notify's emails and intake's tracking page --------------------------------
def _ics(message: Any) -> Any:
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "session.ics"]
    raw = part.get_content()
    calendar = Calendar.from_ical(raw if isinstance(raw, str) else raw.decode())
    return calendar, calendar.walk("VEVENT")[0], part.get_content_type(), part.get_param("method")


def test_moves_and_cancellations_reach_the_invitees_and_the_tracking_page(
    stack_settings, workers, intake_client, mediation, mailbox
) -> None:
    for service in ("intake", "mediation", "notify"):
        workers.start(service)
    created = intake_client.post("/api/v1/cases", json=CASE)
    reference, token = created.json["reference"], created.json["tracking_token"]

    def tracked() -> dict:
        return intake_client.get(f"/api/v1/cases/{reference}?token={token}").json

    def sessions_on_page(count: int) -> list[dict] | None:
        """The session entries of the tracking page once there are `count` of them."""
        found = [e for e in tracked()["timeline"] if e["status"].startswith("session_")]
        return found if len(found) == count else None

    wait_for(lambda: tracked()["status"] == "assigned", timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    start = _future()
    sid = sessions.schedule(mediation, reference, MEDIATOR, start, start + HOUR)["_id"]

    def mails(kind: str) -> list[Any]:
        return [m for m in mailbox.to("zhang@example.com") if kind in str(m["Subject"])]

    [invitation] = wait_for(lambda: mails("调解会通知"), timeout=20, what="the invitation")
    wait_for(lambda: sessions_on_page(1), timeout=20, what="the session on the tracking page")

    sessions.move(mediation, reference, sid, MEDIATOR, start + 2 * HOUR, start + 3 * HOUR)
    [update] = wait_for(lambda: mails("调解会改期通知"), timeout=20, what="the updated invitation")
    entries = wait_for(lambda: sessions_on_page(2), timeout=20, what="the move on the tracking page")
    assert [e["status"] for e in entries] == ["session_scheduled", "session_rescheduled"]
    assert entries[0]["superseded_by"] == "session_rescheduled" and "superseded_by" not in entries[1]
    assert datetime.fromisoformat(entries[1]["starts_at"]) == start + 2 * HOUR
    assert datetime.fromisoformat(entries[1]["previous_starts_at"]) == start

    sessions.cancel(mediation, reference, sid, MEDIATOR, "被申请人出差，待其返回后另行安排。")
    [cancellation] = wait_for(lambda: mails("调解会取消通知"), timeout=20, what="the cancellation")
    entries = wait_for(lambda: sessions_on_page(3), timeout=20, what="the cancel on the tracking page")
    assert [e.get("superseded_by") for e in entries] == ["session_cancelled", "session_cancelled", None]
    assert (
        entries[2]["status"] == "session_cancelled"
        and entries[2]["note"] == "被申请人出差，待其返回后另行安排。"
    )

    # One event in every calendar: the same UID, SEQUENCE rising, REQUEST, REQUEST, CANCEL.
    seen = [_ics(m) for m in (invitation, update, cancellation)]
    assert {str(event["uid"]) for _, event, _, _ in seen} == {f"{sid}@concord.local"}
    assert [event.decoded("sequence") for _, event, _, _ in seen] == [0, 1, 2]
    assert [str(cal["method"]) for cal, _, _, _ in seen] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [method for _, _, _, method in seen] == ["REQUEST", "REQUEST", "CANCEL"]
    assert str(seen[2][1]["status"]) == "CANCELLED"
    assert (
        seen[1][1].decoded("dtstart") == start + 2 * HOUR
        and seen[2][1].decoded("dtstart") == start + 2 * HOUR
    )
    body = cancellation.get_body(preferencelist=("plain",)).get_content()
    assert "被申请人出差" in body and reference in body
    # The respondent has no email here: the SMS channel is not configured, so nothing else goes out.
    page = intake_client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)
    assert "Mediation session cancelled" in page and "This session was cancelled." in page
    # Struck out: the first time, the moved time (and, beside it, the time it replaced), the
    # cancelled time.
    assert page.count("<del>") == 4
    assert re.search(r"Mediation session moved", page)


def test_tracking_page_is_right_whatever_order_the_session_events_arrive_in(
    intake_client, stack_settings
) -> None:
    from services.intake import tracking as intake_tracking
    from services.intake.bootstrap import bootstrap as intake_bootstrap
    from shared.messaging.envelope import make_envelope
    from tests.support.notify_events import data_for

    created = intake_client.post("/api/v1/cases", json=CASE).json
    reference, token = created["reference"], created["tracking_token"]
    intake = intake_bootstrap(stack_settings)

    def envelope(event_type: str, **times: str) -> Any:
        return make_envelope(event_type, data_for(event_type, reference, **times), source="mediation")

    now = datetime.now(UTC)
    scheduled = envelope("session.scheduled")  # its entry is dated by the envelope
    moved = envelope("session.rescheduled", rescheduled_at=(now + timedelta(minutes=1)).isoformat())
    cancelled = envelope("session.cancelled", cancelled_at=(now + timedelta(minutes=2)).isoformat())
    # The cancellation overtook the move (a retry), and everything is delivered twice.
    for handler, event in (
        (intake_tracking.on_session_cancelled, cancelled),
        (intake_tracking.on_session_scheduled, scheduled),
        (intake_tracking.on_session_rescheduled, moved),
        (intake_tracking.on_session_cancelled, cancelled),
        (intake_tracking.on_session_scheduled, scheduled),
    ):
        handler(intake, event)
    timeline = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json["timeline"]
    sessions = [e for e in timeline if e["status"].startswith("session_")]
    assert [(e["status"], e.get("superseded_by")) for e in sessions] == [
        ("session_scheduled", "session_cancelled"),
        ("session_rescheduled", "session_cancelled"),
        ("session_cancelled", None),
    ]
    assert sessions[2]["note"] == "The hall is closed for repairs that day."
    page = intake_client.get(f"/track/{reference}?token={token}").get_data(as_text=True)
    assert "调解会已取消" in page and "本次调解会已取消。" in page


def test_a_refused_booking_is_shown_at_its_field_with_what_was_typed(client, settings, mediation) -> None:
    first, second = in_mediation(mediation, datetime.now(UTC)), in_mediation(mediation, datetime.now(UTC))
    start = _future()
    sessions.schedule(mediation, first, MEDIATOR, start, start + HOUR)
    login(client, settings, S_MEDIATOR)
    path = f"/desk/cases/{second}"
    local = start.astimezone(SHANGHAI)
    form = {"csrf_token": csrf(client, path), "day": f"{local:%Y-%m-%d}", "start": "09:15", "end": "10:45"}
    refused = client.post(f"{path}/sessions?lang=en", data=form)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "The council hall is already booked at that time." in text
    assert 'id="start-error"' in text and 'value="09:15"' in text and 'value="10:45"' in text
    assert mediation.db.sessions.count_documents({"reference": second}) == 0


def test_a_case_with_a_booked_session_is_not_merged_until_the_session_is_cancelled(mediation) -> None:
    primary = accepted_case(mediation, now=NOW)
    desk.take(mediation, primary, ZHOU, now=NOW)
    duplicate = in_mediation(mediation)
    booked = sessions.schedule(mediation, duplicate, MEDIATOR, START, START + HOUR, now=NOW)
    # A party asks for another mediator: the case goes back to the pool, its session still booked.
    desk.apply_action(
        mediation, duplicate, MEDIATOR, lc.REQUEST_OTHER_MEDIATOR, {"requested_by": "李四"}, now=NOW
    )
    before = snapshot(mediation)
    with pytest.raises(desk.Conflict) as refused:
        desk.merge(mediation, primary, duplicate, LEAD, now=NOW)
    assert "session scheduled" in str(refused.value)
    assert snapshot(mediation) == before

    sessions.cancel(mediation, duplicate, booked["_id"], LEAD, "并入其他案件。", now=NOW)
    desk.merge(mediation, primary, duplicate, LEAD, now=NOW)
    assert mediation.db.cases.find_one({"_id": duplicate})["status"] == "merged"
    assert claims(mediation) == []  # the hall is free again
