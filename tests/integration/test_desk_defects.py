# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Issue 16's desk defects, on a real database (SecantusDB) through the service layer, the JSON API
and the page forms: a held session keeps the council hall until it ended (a clash is refused at the
field, an early end frees the rest); judicial confirmation can be applied for wherever it is
reminded; a case that ends calls its future sessions off in the same transaction; a moved or
cancelled session names the case's current mediators; moving a primary case to another studio
takes its merged duplicates with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.mediation import agreements, deadlines, desk, routing, sessions
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from tests.integration.conftest import CASE
from tests.integration.test_confirmation_reminders import DRAFT, SIGNED, local, reminders, signed_case
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, OTHER, ZHOU, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_desk_api import S_MEDIATOR, S_OTHER, csrf, login
from tests.integration.test_mediation_desk_api import client as client
from tests.integration.test_mediation_sessions import (
    HOUR,
    NOW,
    SHANGHAI,
    START,
    _future,
    _slot,
    claims,
    in_mediation,
    snapshot,
)
from tests.support.stack import wait_for

QUARTER = timedelta(minutes=15)
HEPING_LEAD = Actor("heping-lead", frozenset({"studio_lead"}), "heping-rc")


def _record(m: Mediation, reference: str, session_id: str, **kw: object) -> desk.Done:
    return sessions.record(
        m,
        reference,
        session_id,
        MEDIATOR,
        attended=["张三", "李四"],
        statements="双方陈述了意见。",
        result="partial",
        rights_notice_given=True,
        **kw,
    )


# Item 1: a recorded session and the council hall ------------------------------------------------
def test_a_held_session_keeps_the_hall_and_a_clash_is_refused_at_the_field(
    client, settings, mediation
) -> None:
    now = datetime.now(UTC)
    first, second = in_mediation(mediation, now), in_mediation(mediation, now)
    start = _future()
    held = sessions.schedule(mediation, first, MEDIATOR, start, start + 2 * HOUR)
    desk.apply_action(mediation, first, MEDIATOR, lc.START_MEDIATION)
    _record(mediation, first, held["_id"])  # held for its whole booked time
    assert mediation.db.sessions.find_one({"_id": held["_id"]})["status"] == "held"
    before = snapshot(mediation)

    # The service: a clear refusal, at the field, nothing changed.
    with pytest.raises(desk.Conflict) as refused:
        sessions.schedule(mediation, second, MEDIATOR, start + HOUR, start + 2 * HOUR)
    assert refused.value.errors["code"] == "double_booked" and "room" in refused.value.errors
    assert snapshot(mediation) == before

    # The page: 409 with the message at the start field, what was typed kept, nothing changed.
    login(client, settings, S_MEDIATOR)
    path = f"/desk/cases/{second}"
    day = f"{start.astimezone(SHANGHAI):%Y-%m-%d}"
    form = {"csrf_token": csrf(client, path), "day": day, "start": "10:00", "end": "10:30"}
    page = client.post(f"{path}/sessions?lang=en", data=form)
    text = page.get_data(as_text=True)
    assert page.status_code == 409 and "The council hall is already booked at that time." in text
    assert 'id="start-error"' in text and 'value="10:00"' in text
    # The JSON API: 409 with the field named.
    api = client.post(f"/api/v1/desk/cases/{second}/sessions", json=_slot(start + HOUR))
    assert api.status_code == 409 and "room" in api.json["errors"]
    assert snapshot(mediation) == before

    # Moving another session onto the held time is refused the same way.
    mine = sessions.schedule(mediation, second, MEDIATOR, start + 4 * HOUR, start + 5 * HOUR)
    before = snapshot(mediation)
    with pytest.raises(desk.Conflict) as moved:
        sessions.move(mediation, second, mine["_id"], MEDIATOR, start + HOUR, start + 2 * HOUR)
    assert moved.value.errors["code"] == "double_booked"
    assert snapshot(mediation) == before


def test_a_session_that_ended_early_frees_the_rest_of_its_time(client, settings, mediation) -> None:
    now = datetime.now(UTC)
    first, second = in_mediation(mediation, now), in_mediation(mediation, now)
    start = _future()
    early = sessions.schedule(mediation, first, MEDIATOR, start, start + 2 * HOUR)
    desk.apply_action(mediation, first, MEDIATOR, lc.START_MEDIATION)

    # An end outside the booked time is refused, nothing changed.
    before = snapshot(mediation)
    for bad in (start + 3 * HOUR, start):
        with pytest.raises(desk.Invalid) as refused:
            _record(mediation, first, early["_id"], ended_at=bad)
        assert refused.value.errors["code"] == "invalid_times" and "ended_at" in refused.value.errors
    assert snapshot(mediation) == before

    # Ended at 09:50: the hall stays held to 10:00 (its quarter hour), free after it.
    _record(mediation, first, early["_id"], ended_at=start + 50 * timedelta(minutes=1))
    stored = mediation.db.sessions.find_one({"_id": early["_id"]})
    assert stored["status"] == "held" and stored["record"]["ended_at"] == start + timedelta(minutes=50)
    assert len(claims(mediation, early["_id"])) == 4  # 09:00 to 10:00
    with pytest.raises(desk.Conflict):
        sessions.schedule(mediation, second, MEDIATOR, start + 45 * timedelta(minutes=1), start + 2 * HOUR)
    after = sessions.schedule(mediation, second, MEDIATOR, start + HOUR, start + 2 * HOUR)
    assert len(claims(mediation, after["_id"])) == 4

    # Through the JSON API: the record's `ended_at` frees the hall the same way.
    login(client, settings, S_MEDIATOR)
    base = f"/api/v1/desk/cases/{first}/sessions"
    later = sessions.schedule(mediation, first, MEDIATOR, start + 3 * HOUR, start + 5 * HOUR)
    record = {
        "attended": ["张三"],
        "statements": "调解完毕。",
        "result": "agreement",
        "rights_notice_given": True,
    }
    done = client.post(
        f"{base}/{later['_id']}/record", json={**record, "ended_at": (start + 3 * HOUR + QUARTER).isoformat()}
    )
    assert done.status_code == 200 and done.json["status"] == "held"
    assert datetime.fromisoformat(done.json["record"]["ended_at"]) == start + 3 * HOUR + QUARTER
    assert len(claims(mediation, later["_id"])) == 1

    # Through the page: a time that is no time is refused at its field; a real one frees the rest.
    last = sessions.schedule(mediation, first, MEDIATOR, start + 6 * HOUR, start + 8 * HOUR)
    path = f"/desk/cases/{first}"
    form = {
        "csrf_token": csrf(client, path),
        "expected_state": "in_mediation",
        "attended": "张三, 李四",
        "statements": "双方达成一致。",
        "result": "agreement",
        "rights_notice_given": "yes",
        "ended_at": "25:99",
    }
    bad = client.post(f"{path}/sessions/{last['_id']}/record?lang=en", data=form)
    assert bad.status_code == 422 and 'id="ended_at-error"' in bad.get_data(as_text=True)
    assert mediation.db.sessions.find_one({"_id": last["_id"]})["status"] == "scheduled"
    ended = f"{(start + 6 * HOUR + 30 * timedelta(minutes=1)).astimezone(SHANGHAI):%H:%M}"  # 15:30
    saved = client.post(f"{path}/sessions/{last['_id']}/record", data={**form, "ended_at": ended})
    assert saved.status_code == 302
    assert len(claims(mediation, last["_id"])) == 2  # 15:00 and 15:15 only


# Item 4, first bullet: judicial confirmation after performance follow-up ---------------------------
def test_confirmation_can_be_applied_for_after_performance_and_reminders_agree(
    client, settings, mediation
) -> None:
    performed = signed_case(mediation)
    breached = signed_case(mediation)
    desk.apply_action(mediation, performed, MEDIATOR, lc.RECORD_PERFORMED, now=SIGNED + timedelta(days=2))
    desk.apply_action(
        mediation,
        breached,
        MEDIATOR,
        lc.RECORD_BREACHED,
        {"note": "未按期停工"},
        now=SIGNED + timedelta(days=2),
    )
    # Day 23: both are still reminded (the law's 30 days run whatever the performance)...
    deadlines.run_once(mediation, now=local(2026, 3, 29, 10))
    assert len(reminders(mediation, performed)) == 1 and len(reminders(mediation, breached)) == 1
    # ...and the desk offers and records the application in both.
    login(client, settings, S_MEDIATOR)
    for reference in (performed, breached):
        view = client.get(f"/api/v1/desk/cases/{reference}").json
        assert "apply_confirmation" in view["allowed_actions"], reference
        page = client.get(f"/desk/cases/{reference}").get_data(as_text=True)
        assert 'data-action="apply_confirmation"' in page, reference
    done = desk.apply_action(
        mediation,
        performed,
        MEDIATOR,
        lc.APPLY_CONFIRMATION,
        {"court": "某区人民法院"},
        now=local(2026, 3, 30),
    )
    assert done.transition.to_state == lc.CONFIRMATION_APPLIED
    # Day 30: the one applied for is no longer reminded; the other one is, and may still apply.
    deadlines.run_once(mediation, now=local(2026, 4, 5, 10))
    assert len(reminders(mediation, performed)) == 1 and len(reminders(mediation, breached)) == 2
    desk.apply_action(mediation, breached, MEDIATOR, lc.APPLY_CONFIRMATION, {"court": "某区人民法院"})
    assert mediation.db.cases.find_one({"_id": breached})["status"] == lc.CONFIRMATION_APPLIED


def test_a_performed_oral_agreement_has_nothing_to_apply_for(mediation) -> None:
    reference = in_mediation(mediation)
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION, now=NOW)
    desk.apply_action(mediation, reference, MEDIATOR, lc.AGREE_ORAL, {"content": "李四停止施工。"}, now=NOW)
    desk.apply_action(mediation, reference, MEDIATOR, lc.RECORD_PERFORMED, now=NOW)
    before = mediation.db.cases.find_one({"_id": reference})
    with pytest.raises(desk.Conflict):
        desk.apply_action(mediation, reference, MEDIATOR, lc.APPLY_CONFIRMATION, {"court": "某区人民法院"})
    assert mediation.db.cases.find_one({"_id": reference}) == before
    assert deadlines.run_once(mediation, now=NOW + timedelta(days=23)).reminded == 0


# Item 4, second bullet: an ending calls the case's future sessions off ----------------------------
ENDINGS = {
    lc.FAIL: {"note": "双方分歧较大，可向人民法院起诉。"},
    lc.WITHDRAW: {"withdrawn_by": "李四"},
    lc.REFER: {"target": "court", "target_name": "某区人民法院"},
    lc.AGREE_ORAL: {"content": "李四停止施工。"},
}


@pytest.mark.parametrize("action", sorted(ENDINGS))
def test_a_case_that_ends_cancels_its_future_sessions(mediation, action: str) -> None:
    reference, other = in_mediation(mediation), in_mediation(mediation)
    past = sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    future = sessions.schedule(mediation, reference, MEDIATOR, START + 3 * HOUR, START + 4 * HOUR, now=NOW)
    if action == lc.AGREE_ORAL:
        desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION, now=NOW)
    ended_at = START + 2 * HOUR  # after the first session, before the second

    # A refused ending (the form was stale) cancels nothing.
    before = snapshot(mediation)
    with pytest.raises(desk.Conflict):
        desk.apply_action(mediation, reference, MEDIATOR, action, ENDINGS[action], expected_state="failed")
    assert snapshot(mediation) == before

    done = desk.apply_action(mediation, reference, MEDIATOR, action, ENDINGS[action], now=ended_at)
    assert done.transition.closes_case
    stored = mediation.db.sessions.find_one({"_id": future["_id"]})
    assert stored["status"] == "cancelled" and stored["sequence"] == 1
    assert claims(mediation, future["_id"]) == []  # the hall is free again
    # The session that already took place is left as it was (its time has passed).
    assert mediation.db.sessions.find_one({"_id": past["_id"]})["status"] == "scheduled"
    [event] = events(mediation, "session.cancelled", reference)
    state = lc.label(done.transition.to_state, "zh-CN")
    assert event["session_id"] == future["_id"] and event["sequence"] == 1
    assert event["reason"] == f"本案已结束（{state}），此次调解会取消。"  # the case's language
    assert event["mediators"] and event["mediators"][0]["user_id"] == "mediator"
    timeline = [e["action"] for e in mediation.db.cases.find_one({"_id": reference})["timeline"]]
    assert timeline[-2:] == [action, "session_cancelled"]
    # Another case may book that time now.
    sessions.schedule(mediation, other, MEDIATOR, START + 3 * HOUR, START + 4 * HOUR, now=ended_at)


def test_an_ending_tells_the_invitees_and_the_tracking_page_through_the_real_workers(
    stack_settings, workers, intake_client, mediation, mailbox
) -> None:
    for service in ("intake", "mediation", "notify"):
        workers.start(service)
    created = intake_client.post("/api/v1/cases", json=CASE)
    reference, token = created.json["reference"], created.json["tracking_token"]

    def tracked() -> dict:
        return intake_client.get(f"/api/v1/cases/{reference}?token={token}").json

    def mails(kind: str) -> list:
        return [m for m in mailbox.to("zhang@example.com") if kind in str(m["Subject"])]

    wait_for(lambda: tracked()["status"] == "assigned", timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    start = _future()
    sid = sessions.schedule(mediation, reference, MEDIATOR, start, start + HOUR)["_id"]
    wait_for(lambda: mails("调解会通知"), timeout=20, what="the invitation")

    desk.apply_action(mediation, reference, MEDIATOR, lc.WITHDRAW, {"withdrawn_by": "张三"})
    [cancellation] = wait_for(lambda: mails("调解会取消通知"), timeout=20, what="the cancellation")
    body = cancellation.get_body(preferencelist=("plain",)).get_content()
    assert "本案已结束（当事人终止调解）" in body and reference in body
    entries = wait_for(
        lambda: [e for e in tracked()["timeline"] if e["status"] == "session_cancelled"] or None,
        timeout=20,
        what="the cancellation on the tracking page",
    )
    assert entries[0]["note"] == "本案已结束（当事人终止调解），此次调解会取消。"
    assert claims(mediation, sid) == []


def test_signing_the_written_agreement_cancels_the_future_sessions(mediation) -> None:
    reference = accepted_case(mediation, now=SIGNED - timedelta(days=10))
    desk.take(mediation, reference, MEDIATOR, now=SIGNED - timedelta(days=9))
    desk.apply_action(
        mediation,
        reference,
        MEDIATOR,
        lc.NOTIFY_RIGHTS,
        {"acknowledged_by": ["张三"]},
        now=SIGNED - timedelta(days=9),
    )
    booked = sessions.schedule(
        mediation,
        reference,
        MEDIATOR,
        SIGNED + timedelta(days=5),
        SIGNED + timedelta(days=5, hours=1),
        now=SIGNED,
    )
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION, now=SIGNED)
    mediation.db.cases.update_one(
        {"_id": reference}, {"$push": {"parties": {"role": "respondent", "name": "李四"}}}
    )
    agreements.save_draft(mediation, reference, MEDIATOR, DRAFT)
    agreements.sign(mediation, reference, MEDIATOR, now=SIGNED)
    assert mediation.db.sessions.find_one({"_id": booked["_id"]})["status"] == "cancelled"
    assert claims(mediation, booked["_id"]) == []
    [event] = events(mediation, "session.cancelled", reference)
    assert "达成书面协议" in event["reason"]


# Item 4, third bullet: the case's current mediators are told -------------------------------------
def test_moves_and_cancellations_tell_the_current_mediators(mediation) -> None:
    reference = in_mediation(mediation)
    first = sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    second = sessions.schedule(mediation, reference, MEDIATOR, START + 2 * HOUR, START + 3 * HOUR, now=NOW)
    [scheduled, _] = events(mediation, "session.scheduled", reference)
    assert [m["user_id"] for m in scheduled["mediators"]] == ["mediator"]
    desk.apply_action(mediation, reference, LEAD, lc.REASSIGN, {"mediators": ["zhou"]}, now=NOW)

    sessions.move(mediation, reference, first["_id"], ZHOU, START + 5 * HOUR, START + 6 * HOUR, now=NOW)
    [moved] = events(mediation, "session.rescheduled", reference)
    assert [(m["user_id"], m["email"]) for m in moved["mediators"]] == [("zhou", "zhou@x.cn")]
    sessions.cancel(mediation, reference, second["_id"], ZHOU, "当事人申请延期。", now=NOW)
    [cancelled] = events(mediation, "session.cancelled", reference)
    assert [m["user_id"] for m in cancelled["mediators"]] == ["zhou"]
    # The session's own record says who is on it now, too.
    assert [m["user_id"] for m in mediation.db.sessions.find_one({"_id": first["_id"]})["mediators"]] == [
        "zhou"
    ]


# Item 4, fourth bullet: merged duplicates go with their primary ---------------------------------
def test_moving_a_primary_case_takes_its_merged_duplicates_along(client, settings, mediation) -> None:
    primary, duplicate = accepted_case(mediation), accepted_case(mediation)
    desk.merge(mediation, primary, duplicate, LEAD)
    loads = {s["_id"]: s.get("open_cases") for s in mediation.db.studios.find()}

    routing.move_case(mediation, primary, "heping-rc", "Workload", LEAD)
    moved = mediation.db.cases.find_one({"_id": duplicate})
    assert moved["studio"] == "heping-rc" and moved["merged_into"] == primary
    assert moved["timeline"][-1]["action"] == "moved"
    # Only the open primary moved a studio's load; the closed duplicate counts nowhere.
    after = {s["_id"]: s.get("open_cases") for s in mediation.db.studios.find()}
    assert after["zhihe"] == loads["zhihe"] - 1 and after["heping-rc"] == loads["heping-rc"] + 1

    # The new studio's staff see it, linked from the primary; the old studio's no longer do.
    assert desk.get_case(mediation.db, duplicate, OTHER)["_id"] == duplicate
    assert desk.get_case(mediation.db, duplicate, HEPING_LEAD)["_id"] == duplicate
    primary_doc = desk.get_case(mediation.db, primary, OTHER)
    assert [c["_id"] for c in desk.merged_cases(mediation.db, primary_doc)] == [duplicate]
    with pytest.raises(desk.NotFound):
        desk.get_case(mediation.db, duplicate, MEDIATOR)
    login(client, settings, S_OTHER)
    assert f"/desk/cases/{duplicate}" in client.get(f"/desk/cases/{primary}").get_data(as_text=True)
    assert client.get(f"/desk/cases/{duplicate}").status_code == 200
