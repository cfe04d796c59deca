# Chinese text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Council meetings on a real MongoDB-wire server: invitees masked and their full view logged,
agenda items linked to consultations (frozen results shown), invitations only once confirmed,
check-in codes (wrong, used, malformed, the rate limit, by hand), quorum, votes, and the minutes
from draft to publication with the attendees' amendments — through the use cases, the pages
(CSRF, no JavaScript) and the JSON API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council import attendance, meetings, minutes
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from services.council.domain import meetings as mt
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import make_envelope

CLERK = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")
LEADER = Staff("zhao", "赵强", frozenset({"building_leader"}), community="lianhua", buildings=("1",))
STRANGER = Staff("liu", "刘洋", frozenset({"committee_member"}), community="heping")


@pytest.fixture
def council(settings: Settings) -> Council:
    c = bootstrap(settings)
    ensure_indexes(c.db)
    return c


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


def soon() -> datetime:
    """The next quarter hour at least 15 minutes away: check-in is open (an hour before)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=15 + (15 - now.minute % 15))


def confirmed(council: Council, start: datetime | None = None, invitees: int = 3) -> dict[str, Any]:
    """A meeting whose hall mediation confirmed (its answer delivered as a real event)."""
    start = start or soon()
    made = meetings.create_meeting(
        council, "lianhua", CLERK, title="加装电梯议事会", starts_at=start, ends_at=start + timedelta(hours=2)
    )
    answer = make_envelope(
        "hall.booking_confirmed",
        {"meeting_id": made["_id"], "request": 1, "room": "hall:lianhua", "starts_at": start.isoformat(),
         "ends_at": (start + timedelta(hours=2)).isoformat(), "confirmed_at": datetime.now(UTC).isoformat(),
         "place": {"code": "hall:lianhua", "name": "莲花小区议事厅", "address": "莲花社区服务中心二楼"}},
        source="mediation",
    )  # fmt: skip
    meetings.on_hall_answer(council, answer)
    names = ["王建国", "李秀英", "张伟", "陈静", "刘洋"]
    for i in range(invitees):
        meetings.add_invitee(
            council, "lianhua", made["_id"], CLERK, kind="representative", name=names[i],
            phone=f"1380013800{i}", email=f"p{i}@example.cn",
        )  # fmt: skip
    return meetings.get_meeting(council, made["_id"])


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_invitees_are_masked_in_lists_and_a_full_view_is_logged(council) -> None:
    meeting = confirmed(council)
    shown = meetings.details(council, meeting)["invitees"]
    assert [p["name"] for p in shown] == ["王**", "李**", "张*"]
    assert shown[0]["phone"] == "138****8000" and "13800138000" not in str(shown)
    with pytest.raises(meetings.Refused) as bad:
        meetings.add_invitee(council, "lianhua", meeting["_id"], CLERK, kind="representative", name="赵六")
    assert bad.value.field == "phone"
    with pytest.raises(meetings.NotAllowed):
        meetings.view_invitee(council, "lianhua", meeting["_id"], shown[0]["key"], LEADER)
    assert council.db.access_log.count_documents({}) == 0
    full = meetings.view_invitee(council, "lianhua", meeting["_id"], shown[0]["key"], CLERK)
    assert (full["name"], full["phone"]) == ("王建国", "13800138000")
    [logged] = council.db.access_log.find()
    assert (logged["by"], logged["invitee"], logged["meeting_id"]) == ("wei", shown[0]["key"], meeting["_id"])
    with pytest.raises(meetings.NotFound):  # another community's clerk sees nothing
        meetings.meeting_for(council, "heping", meeting["_id"], STRANGER)


def test_agenda_items_link_the_communitys_consultations_and_show_frozen_results(council) -> None:
    meeting = confirmed(council)
    council.db.consultations.insert_many(
        [
            {"_id": "c-open", "community": "lianhua", "title": {"zh-CN": "更换大门", "en": "New gate"},
             "status": "open"},
            {"_id": "c-closed", "community": "lianhua", "title": {"zh-CN": "加装电梯", "en": "Lift"},
             "status": "closed", "result": {"answered": 120, "eligible": 200, "frozen_at": "2026-11-01",
                                            "vote": {"outcome": "passed"}}},
            {"_id": "c-other", "community": "heping", "title": {"zh-CN": "x", "en": "x"}, "status": "open"},
        ]
    )  # fmt: skip
    with pytest.raises(meetings.Refused) as other:
        meetings.add_agenda_item(council, "lianhua", meeting["_id"], CLERK, "别处的", "c-other")
    assert other.value.code == "no_consultation"
    meetings.add_agenda_item(council, "lianhua", meeting["_id"], CLERK, "大门", "c-open")
    meetings.add_agenda_item(council, "lianhua", meeting["_id"], CLERK, "电梯", "c-closed")
    meetings.add_agenda_item(council, "lianhua", meeting["_id"], CLERK, "其他事项")
    agenda = meetings.details(council, meetings.get_meeting(council, meeting["_id"]))["agenda"]
    assert agenda[0]["consultation"]["result"] is None and agenda[0]["consultation"]["status"] == "open"
    assert agenda[1]["consultation"]["result"] == {
        "answered": 120, "eligible": 200, "outcome": "passed", "frozen_at": "2026-11-01"
    }  # fmt: skip
    assert agenda[2]["consultation"] is None


def test_invitations_go_out_once_and_only_for_a_confirmed_hall(council) -> None:
    start = soon() + timedelta(days=2)
    waiting = meetings.create_meeting(
        council, "lianhua", CLERK, title="t", starts_at=start, ends_at=start + timedelta(hours=1)
    )
    meetings.add_invitee(
        council, "lianhua", waiting["_id"], CLERK, kind="council_member", name="周平", phone="13700000000"
    )
    with pytest.raises(meetings.Refused) as early:
        meetings.send_invitations(council, "lianhua", waiting["_id"], CLERK)
    assert early.value.code == "not_confirmed"
    meeting = confirmed(council)
    meetings.send_invitations(council, "lianhua", meeting["_id"], CLERK)
    with pytest.raises(meetings.Refused):
        meetings.send_invitations(council, "lianhua", meeting["_id"], CLERK)
    [row] = council.db.outbox.find({"envelope.type": "meeting.invited"})
    data = row["envelope"]["data"]
    assert data["place"]["name"] == "莲花小区议事厅" and data["sequence"] == 0
    assert [p["phone"] for p in data["invitees"]] == ["13800138000", "13800138001", "13800138002"]
    meetings.cancel_meeting(council, "lianhua", meeting["_id"], CLERK, "改期")
    [cancel] = council.db.outbox.find({"envelope.type": "meeting.cancelled"})
    assert cancel["envelope"]["data"]["sequence"] == 1 and cancel["envelope"]["data"]["reason"] == "改期"


def test_check_in_codes_wrong_used_malformed_rate_limited_and_by_hand(council) -> None:
    meeting = confirmed(council)
    mid = meeting["_id"]
    with pytest.raises(meetings.NotAllowed):
        attendance.issue_codes(council, "lianhua", mid, LEADER)
    slips = attendance.issue_codes(council, "lianhua", mid, CLERK)
    assert len(slips) == 3 and all(mt.well_formed(s["code"]) for s in slips)
    stored = str(council.db.meetings.find_one({"_id": mid}))
    assert not any(s["code"] in stored for s in slips)  # only keyed hashes are kept

    done = attendance.check_in(council, mid, slips[0]["code"], "phone-a")
    assert done.name == "王**" and (done.quorum.present, done.quorum.invited) == (1, 3)
    with pytest.raises(attendance.CheckInRefused) as used:
        attendance.check_in(council, mid, slips[0]["code"], "phone-a")
    assert used.value.code == "used_code"
    with pytest.raises(attendance.CheckInRefused) as malformed:
        attendance.check_in(council, mid, "12ab", "phone-a")
    assert malformed.value.code == "malformed"

    wrong = next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in {s["code"] for s in slips})
    for _ in range(mt.MAX_FAILURES):
        with pytest.raises(attendance.CheckInRefused) as err:
            attendance.check_in(council, mid, wrong, "guesser")
        assert err.value.code == "wrong_code"
    with pytest.raises(attendance.CheckInRefused) as limited:  # even the right code now
        attendance.check_in(council, mid, slips[1]["code"], "guesser")
    assert limited.value.code == "rate_limited"
    assert attendance.check_in(council, mid, slips[1]["code"], "phone-b").quorum.present == 2
    # Later, the window has passed: the guesser may try again.
    later = datetime.now(UTC) + mt.FAILURE_WINDOW + timedelta(seconds=1)
    if mt.check_in_open(meeting["starts_at"], meeting["ends_at"], later):
        assert attendance.check_in(council, mid, slips[2]["code"], "guesser", now=later).quorum.present == 3
    else:
        meetings.mark_present(council, "lianhua", mid, slips[2]["key"], CLERK)
    q = meetings.quorum_of(meetings.get_meeting(council, mid))
    assert (q.present, q.reached) == (3, True)
    # The clerk checks one out by hand; printing again issues codes only to those absent.
    assert meetings.mark_present(council, "lianhua", mid, slips[0]["key"], CLERK, False).present == 2
    assert [s["key"] for s in attendance.issue_codes(council, "lianhua", mid, CLERK)] == [slips[0]["key"]]
    with pytest.raises(attendance.CheckInRefused):  # the old code stopped working
        attendance.check_in(council, mid, slips[0]["code"], "phone-a")


def test_check_in_is_closed_outside_its_window_and_for_unconfirmed_meetings(council) -> None:
    far = confirmed(council, soon() + timedelta(days=2))
    slips = attendance.issue_codes(council, "lianhua", far["_id"], CLERK)
    with pytest.raises(attendance.CheckInRefused) as closed:
        attendance.check_in(council, far["_id"], slips[0]["code"], "x")
    assert closed.value.code == "closed"
    with pytest.raises(attendance.CheckInRefused) as unknown:
        attendance.check_in(council, "nope", "123456", "x")
    assert unknown.value.code == "no_meeting"


def test_votes_follow_quorum_and_the_present(council) -> None:
    meeting = confirmed(council, invitees=5)
    mid = meeting["_id"]
    item = meetings.add_agenda_item(council, "lianhua", mid, CLERK, "更换大门")
    keys = [p["key"] for p in meeting["invitees"]]
    for key in keys[:2]:
        meetings.mark_present(council, "lianhua", mid, key, CLERK)
    assert (
        meetings.record_vote(council, "lianhua", mid, item["id"], CLERK, for_=2, against=0, abstain=0)[
            "outcome"
        ]
        == "no_quorum"
    )
    meetings.mark_present(council, "lianhua", mid, keys[2], CLERK)
    with pytest.raises(meetings.Refused) as too_many:
        meetings.record_vote(council, "lianhua", mid, item["id"], CLERK, for_=3, against=1, abstain=0)
    assert too_many.value.code == "more_votes_than_present"
    vote = meetings.record_vote(council, "lianhua", mid, item["id"], CLERK, for_=2, against=1, abstain=0)
    assert (vote["outcome"], vote["present"]) == ("adopted", 3)


def test_minutes_from_draft_through_amendments_to_publication(council) -> None:
    meeting = confirmed(council)
    mid = meeting["_id"]
    slips = attendance.issue_codes(council, "lianhua", mid, CLERK)
    attendance.check_in(council, mid, slips[0]["code"], "p")
    with pytest.raises(meetings.Refused):
        minutes.circulate(council, "lianhua", mid, CLERK)  # no text yet
    minutes.save_draft(council, "lianhua", mid, CLERK, "会议决定：更换大门。")
    now = datetime.now(UTC)
    ends = minutes.circulate(council, "lianhua", mid, CLERK, now=now)
    assert ends == now + timedelta(days=3)
    with pytest.raises(meetings.Refused):
        minutes.save_draft(council, "lianhua", mid, CLERK, "改写")

    with pytest.raises(meetings.Refused) as absent:  # invited but not present
        minutes.propose_amendment(council, mid, slips[1]["code"], "补充", "p", now=now)
    assert absent.value.code == "not_attendee"
    with pytest.raises(attendance.CheckInRefused):
        minutes.propose_amendment(
            council, mid, "000000" if slips[0]["code"] != "000000" else "111111", "x", "p"
        )
    first = minutes.propose_amendment(council, mid, slips[0]["code"], "请写明预算上限。", "p", now=now)
    second = minutes.propose_amendment(council, mid, slips[0]["code"], "删去第二段。", "p", now=now)
    with pytest.raises(meetings.Refused) as late:
        minutes.propose_amendment(council, mid, slips[0]["code"], "太晚了", "p", now=ends)
    assert late.value.code == "window_closed"

    with pytest.raises(meetings.Refused) as early:
        minutes.adopt(council, "lianhua", mid, CLERK, now=ends - timedelta(minutes=1))
    assert early.value.code == "window_open"
    minutes.decide_amendment(council, "lianhua", mid, first["id"], "accepted", CLERK)
    with pytest.raises(meetings.Refused) as undecided:
        minutes.adopt(council, "lianhua", mid, CLERK, now=ends)
    assert undecided.value.code == "open_amendments"
    minutes.decide_amendment(council, "lianhua", mid, second["id"], "rejected", CLERK)
    with pytest.raises(meetings.Refused):
        minutes.decide_amendment(council, "lianhua", mid, second["id"], "accepted", CLERK)
    assert minutes.public_minutes(council, mid) is None  # not published yet
    with pytest.raises(meetings.Refused):
        minutes.publish(council, "lianhua", mid, CLERK)
    minutes.adopt(council, "lianhua", mid, CLERK, "会议决定：更换大门，预算不超过五万元。", now=ends)
    url = minutes.publish(council, "lianhua", mid, CLERK)
    assert url.endswith(f"/m/{mid}/minutes")
    shown = minutes.public_minutes(council, mid)
    assert shown["text"] == "会议决定：更换大门，预算不超过五万元。" and shown["quorum"]["present"] == 1
    assert "王建国" not in str(shown)
    [event] = council.db.outbox.find({"envelope.type": "minutes.published"})
    assert event["envelope"]["data"]["url"] == url and len(event["envelope"]["data"]["invitees"]) == 3


def test_the_pages_check_in_without_javascript_and_refuse_forged_forms(council, app, settings) -> None:
    meeting = confirmed(council)
    mid = meeting["_id"]
    slips = attendance.issue_codes(council, "lianhua", mid, CLERK)
    public = client_as(app, settings, None)
    page = public.get(f"/m/{mid}/check-in?lang=en").get_data(as_text=True)
    assert "加装电梯议事会" in page and "王建国" not in page
    forged = public.post(f"/m/{mid}/check-in", data={"code": slips[0]["code"]})
    assert forged.status_code in (400, 403)
    assert council.db.meetings.find_one({"_id": mid})["invitees"][0]["present"] is False
    wrong = public.post(f"/m/{mid}/check-in?lang=en", data={"code": "12", "csrf_token": csrf(page)})
    assert wrong.status_code == 422 and "six digits" in wrong.get_data(as_text=True)
    ok = public.post(
        f"/m/{mid}/check-in?lang=zh-CN", data={"code": slips[0]["code"], "csrf_token": csrf(page)}
    )
    assert (
        ok.status_code == 200
        and "王**" in ok.get_data(as_text=True)
        and "王建国" not in ok.get_data(as_text=True)
    )
    assert public.get("/m/nope/check-in").status_code == 404

    staff = client_as(app, settings, CLERK)
    detail = staff.get(f"/communities/lianhua/meetings/{mid}?lang=en")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "王**" in text and "王建国" not in text
    assert "1 present of 3 invited" in text
    vote_less = staff.post(
        f"/communities/lianhua/meetings/{mid}/agenda?lang=en", data={"title": "", "csrf_token": csrf(text)}
    )
    assert vote_less.status_code == 422 and "There is a problem" in vote_less.get_data(as_text=True)
    leader = client_as(app, settings, LEADER)
    seen = leader.get(f"/communities/lianhua/meetings/{mid}?lang=en").get_data(as_text=True)
    assert "王**" in seen and "Print check-in slips" not in seen  # a building leader only looks
    token = csrf(leader.get(f"/m/{mid}/check-in").get_data(as_text=True))  # a valid token of this session
    refused = leader.post(f"/communities/lianhua/meetings/{mid}/codes", data={"csrf_token": token})
    assert refused.status_code == 403


def test_the_json_api_creates_and_refuses_in_the_one_error_shape(council, app, settings) -> None:
    api = client_as(app, settings, CLERK)
    start = soon() + timedelta(days=1)
    made = api.post(
        "/api/v1/communities/lianhua/meetings",
        json={"title": "物业费议事会", "starts_at": start.isoformat(),
              "ends_at": (start + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert made.status_code == 201 and made.json["status"] == "requested"
    bad = api.post(
        "/api/v1/communities/lianhua/meetings",
        json={"title": "x", "starts_at": (start + timedelta(minutes=5)).isoformat(),
              "ends_at": (start + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json["errors"]["code"] == ["quarter_hour"]
    assert council.db.meetings.count_documents({}) == 1
    early = api.post(f"/api/v1/communities/lianhua/meetings/{made.json['id']}/invitations")
    assert early.status_code == 409
    listed = api.get("/api/v1/communities/lianhua/meetings")
    assert [m["id"] for m in listed.json] == [made.json["id"]]
    assert client_as(app, settings, STRANGER).get("/api/v1/communities/lianhua/meetings").status_code == 403


def test_the_pages_speak_chinese_and_english(council, app, settings) -> None:
    meeting = confirmed(council)
    clerk = client_as(app, settings, CLERK)
    zh = clerk.get(f"/communities/lianhua/meetings/{meeting['_id']}?lang=zh-CN").get_data(as_text=True)
    assert "议程" in zh and "尚未达到法定人数" in zh and "Agenda" not in zh
    en = clerk.get(f"/communities/lianhua/meetings/{meeting['_id']}?lang=en").get_data(as_text=True)
    assert "Agenda" in en and "No quorum yet" in en
    assert "业主议事会" in clerk.get("/?lang=zh-CN").get_data(as_text=True)
    listing = clerk.get("/communities/lianhua/meetings?lang=zh-CN").get_data(as_text=True)
    assert "新建议事会" in listing and "已确认" in listing
    check_in = client_as(app, settings, None).get(f"/m/{meeting['_id']}/check-in?lang=zh-CN")
    assert "签到码" in check_in.get_data(as_text=True)


def test_notify_plans_the_invitation_council_emits_once(council, settings) -> None:
    """Council's real `meeting.invited` handed to notify's consumer: one email (with the .ics) per
    invitee, and a redelivery plans nothing more."""
    from services.notify import delivery
    from services.notify.bootstrap import bootstrap as notify_bootstrap
    from services.notify.bootstrap import ensure_indexes as notify_indexes
    from shared.messaging.envelope import Envelope

    notify = notify_bootstrap(settings)
    notify_indexes(notify.db)
    meeting = confirmed(council)
    meetings.add_agenda_item(council, "lianhua", meeting["_id"], CLERK, "加装电梯方案")
    meetings.send_invitations(council, "lianhua", meeting["_id"], CLERK)
    [row] = council.db.outbox.find({"envelope.type": "meeting.invited"})
    envelope = Envelope(**row["envelope"])
    delivery.handle_event(notify, envelope)
    delivery.handle_event(notify, envelope)
    planned = list(notify.db.deliveries.find())
    emails = sorted(d["recipient"]["address"] for d in planned if d["channel"] == "email")
    assert emails == ["p0@example.cn", "p1@example.cn", "p2@example.cn"]  # once each (SMS: if configured)
    mail = next(d for d in planned if d["recipient"]["address"] == "p0@example.cn")
    assert "王建国" in mail["content"]["body"] and "加装电梯方案" in mail["content"]["body"]
    ics = mail["content"]["attachments"][0]["data"]
    assert f"UID:{meeting['_id']}@concord.local" in ics and "METHOD:REQUEST" in ics
    # Nobody else's contact is in this invitee's message.
    assert "李秀英" not in mail["content"]["body"] and "13800138001" not in str(mail["content"])
