# Chinese reason text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Session scheduling: reception days, the council hall never double-booked, no past sessions,
privacy by default, what may still be done to a session (move, cancel, record), and `.ics`
invitations and cancellations that parse back with the right times, UID and SEQUENCE."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.mediation.domain import sessions as ss
from shared.calendar import build_cancellation, invite_from_event

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 9, tzinfo=SH)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def test_default_reception_days_are_the_6th_and_26th() -> None:
    assert ss.next_reception_days(date(2026, 3, 1)) == [date(2026, 3, 6), date(2026, 3, 26), date(2026, 4, 6)]
    assert ss.next_reception_days(date(2026, 3, 6), count=1) == [date(2026, 3, 6)]  # inclusive
    assert ss.next_reception_days(date(2026, 12, 27), count=2) == [date(2027, 1, 6), date(2027, 1, 26)]


def test_a_community_may_configure_its_own_days() -> None:
    assert ss.next_reception_days(date(2026, 3, 7), [26, 16, 6], 3) == [
        date(2026, 3, 16),
        date(2026, 3, 26),
        date(2026, 4, 6),
    ]
    # The 31st is skipped in months without one.
    assert ss.next_reception_days(date(2026, 4, 1), [31], 2) == [date(2026, 5, 31), date(2026, 7, 31)]
    assert ss.reception_days(None) == (6, 26)
    assert ss.reception_days([]) == (6, 26)
    with pytest.raises(ValueError, match="1-31"):
        ss.reception_days([0, 6])
    with pytest.raises(ValueError, match="1-31"):
        ss.reception_days([32])


def test_suggestion_uses_the_local_day_and_skips_today() -> None:
    # 5 March 17:00 UTC is already 6 March 01:00 in Shanghai: the 6th is today, so the 26th.
    assert ss.suggest_reception_day(datetime(2026, 3, 5, 17, tzinfo=UTC)) == date(2026, 3, 26)
    assert ss.suggest_reception_day(datetime(2026, 3, 5, 15, tzinfo=UTC)) == date(2026, 3, 6)
    assert ss.suggest_reception_day(datetime(2026, 3, 5, 15, tzinfo=UTC), [16]) == date(2026, 3, 16)


HALL = "lianhua-hall"
EXISTING = [ss.Booking(HALL, at(6, 9), at(6, 11), "s-1"), ss.Booking(HALL, at(6, 14), at(6, 16), "s-2")]


@pytest.mark.parametrize(
    ("start", "end", "clash"),
    [
        (at(6, 10), at(6, 12), ["s-1"]),  # overlaps the end of s-1
        (at(6, 8), at(6, 9, 30), ["s-1"]),  # overlaps its start
        (at(6, 9, 30), at(6, 10), ["s-1"]),  # inside it
        (at(6, 8), at(6, 17), ["s-1", "s-2"]),  # around both
        (at(6, 11), at(6, 14), []),  # exactly between: half-open intervals touch, no clash
        (at(6, 7), at(6, 9), []),
        (at(6, 16), at(6, 18), []),
    ],
)
def test_double_booking_is_refused(start: datetime, end: datetime, clash: list[str]) -> None:
    proposed = ss.Booking(HALL, start, end, "new")
    assert [b.session_id for b in ss.conflicts(proposed, EXISTING)] == clash
    if clash:
        with pytest.raises(ss.SchedulingError) as err:
            ss.check_booking(proposed, EXISTING, NOW)
        assert err.value.code == "double_booked"
        assert [b.session_id for b in err.value.conflicts] == clash
    else:
        assert ss.check_booking(proposed, EXISTING, NOW) is proposed


def test_other_rooms_and_the_session_itself_do_not_clash() -> None:
    assert ss.conflicts(ss.Booking("heping-hall", at(6, 9), at(6, 11)), EXISTING) == []
    moved = ss.Booking(HALL, at(6, 10), at(6, 12), "s-1")  # s-1 rescheduled by an hour
    assert ss.conflicts(moved, EXISTING) == []
    # Overlap is compared as instants, whatever zone each booking was written in.
    utc_booking = ss.Booking(HALL, datetime(2026, 3, 6, 2, tzinfo=UTC), datetime(2026, 3, 6, 3, tzinfo=UTC))
    assert [b.session_id for b in ss.conflicts(utc_booking, EXISTING)] == ["s-1"]


def test_past_and_inverted_sessions_are_refused() -> None:
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_booking(ss.Booking(HALL, NOW - timedelta(hours=1), NOW + timedelta(hours=1)), [], NOW)
    assert err.value.code == "past"
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_booking(ss.Booking(HALL, NOW, NOW + timedelta(hours=1)), [], NOW)
    assert err.value.code == "past"
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_booking(ss.Booking(HALL, at(6, 11), at(6, 10)), [], NOW)
    assert err.value.code == "invalid_times"
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_booking(ss.Booking(HALL, at(6, 11), at(6, 11)), [], NOW)
    assert err.value.code == "invalid_times"
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_booking(ss.Booking(HALL, datetime(2026, 3, 6, 9), at(6, 11)), [], NOW)  # naive
    assert err.value.code == "invalid_times"


def test_sessions_are_private_unless_every_party_agrees() -> None:
    assert ss.is_public({}) is False
    assert ss.is_public({"p1": True, "p2": False}) is False
    assert ss.is_public({"p1": True}) is True
    assert ss.is_public({"p1": True, "p2": True}) is True


STUDIO = ss.Person("至和调解工作室", "zhihe@studios.concord.local")
MEDIATOR = ss.Person("王调解", "wang@studios.concord.local")
APPLICANT = ss.Person("张三", "zhang@example.com")
RESPONDENT = ss.Person("李四", "li@example.com", "en")
INVITE = ss.SessionInvite(
    session_id="abc123",
    reference="LC-2026-000123",
    starts_at=at(6, 9, 30),
    ends_at=at(6, 11),
    place_name="莲花小区议事厅",
    place_address="莲花社区服务中心二楼",
    organizer=STUDIO,
    mediators=(MEDIATOR,),
)


def _event(ics: bytes):
    cal = Calendar.from_ical(ics)
    assert cal["method"] == "REQUEST"
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_invitation_parses_back_with_times_in_utc_and_a_stable_uid() -> None:
    stamp = datetime(2026, 3, 1, 10, tzinfo=UTC)
    ics = ss.build_invitation(INVITE, APPLICANT, stamp)
    assert b"DTSTART:20260306T013000Z" in ics  # 09:30 Shanghai, written in UTC
    assert b"DTEND:20260306T030000Z" in ics
    event = _event(ics)
    assert str(event["uid"]) == "abc123@concord.local"
    assert event.decoded("dtstart") == datetime(2026, 3, 6, 1, 30, tzinfo=UTC)
    assert event.decoded("dtend") == datetime(2026, 3, 6, 3, tzinfo=UTC)
    assert event.decoded("dtstamp") == stamp
    assert str(event["location"]) == "莲花小区议事厅, 莲花社区服务中心二楼"
    assert "LC-2026-000123" in str(event["summary"])
    assert str(event["organizer"]) == "mailto:zhihe@studios.concord.local"
    assert event["organizer"].params["CN"] == "至和调解工作室"
    assert str(event["class"]) == "PRIVATE"
    assert "不公开" in str(event["description"])
    # The same UID in the other party's copy, so both describe one event.
    assert str(_event(ss.build_invitation(INVITE, RESPONDENT, stamp))["uid"]) == str(event["uid"])


def test_invitation_names_only_its_recipient_and_the_mediators() -> None:
    stamp = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for recipient, other in ((APPLICANT, RESPONDENT), (RESPONDENT, APPLICANT)):
        ics = ss.build_invitation(INVITE, recipient, stamp)
        event = _event(ics)
        attendees = event["attendee"]
        addresses = sorted(str(a) for a in (attendees if isinstance(attendees, list) else [attendees]))
        assert addresses == sorted([f"mailto:{recipient.email}", f"mailto:{MEDIATOR.email}"])
        text = ics.decode()
        assert other.name not in text and other.email not in text


def test_invitation_language_publicity_and_sequence() -> None:
    stamp = datetime(2026, 3, 1, 10, tzinfo=UTC)
    english = _event(ss.build_invitation(INVITE, RESPONDENT, stamp))
    assert str(english["summary"]) == "Mediation session (case LC-2026-000123)"
    assert "private" in str(english["description"])
    public = ss.SessionInvite(**{**INVITE.__dict__, "public": True, "sequence": 2})
    event = _event(ss.build_invitation(public, APPLICANT, stamp))
    assert str(event["class"]) == "PUBLIC"
    assert event.decoded("sequence") == 2
    assert "公开进行" in str(event["description"]) and "不公开" not in str(event["description"])


# Moving, cancelling, recording ---------------------------------------------------------------------
@pytest.mark.parametrize("action", ss.SESSION_ACTIONS)
def test_only_a_scheduled_session_is_recorded_moved_or_cancelled(action: str) -> None:
    ss.check_session_action(ss.SCHEDULED, action)  # allowed
    for status in (ss.HELD, ss.CANCELLED):
        assert ss.session_actions(status) == ()
        with pytest.raises(ss.SessionStateError) as err:
            ss.check_session_action(status, action)
        assert err.value.code == status and str(err.value)
    with pytest.raises(ValueError, match="unknown session action"):
        ss.check_session_action(ss.SCHEDULED, "delete")


def test_refusals_say_what_to_do_instead() -> None:
    with pytest.raises(ss.SessionStateError, match="schedule a new one"):
        ss.check_session_action(ss.HELD, ss.MOVE)
    with pytest.raises(ss.SessionStateError, match="record stays"):
        ss.check_session_action(ss.HELD, ss.CANCEL)
    with pytest.raises(ss.SessionStateError, match="cancelled already"):
        ss.check_session_action(ss.CANCELLED, ss.CANCEL)


def test_a_move_follows_the_booking_rules_and_never_goes_to_the_same_time() -> None:
    current = EXISTING[0]  # s-1, 09:00-11:00 on the 6th
    later = ss.Booking(HALL, at(6, 11), at(6, 13), "s-1")
    # Overlapping its own old time is fine; the neighbour s-2 (14:00) is not in the way.
    assert ss.check_move(current, later, EXISTING, NOW) is later
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_move(current, ss.Booking(HALL, at(6, 13), at(6, 15), "s-1"), EXISTING, NOW)
    assert err.value.code == "double_booked" and [b.session_id for b in err.value.conflicts] == ["s-2"]
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_move(current, ss.Booking(HALL, at(1, 8), at(1, 9), "s-1"), EXISTING, NOW)
    assert err.value.code == "past"
    with pytest.raises(ss.SchedulingError) as err:
        ss.check_move(current, ss.Booking(HALL, at(6, 9), at(6, 11), "s-1"), EXISTING, NOW)
    assert err.value.code == "unchanged"
    with pytest.raises(ValueError, match="keeps the session's id"):
        ss.check_move(current, ss.Booking(HALL, at(7, 9), at(7, 11), "s-2"), EXISTING, NOW)


def test_a_cancellation_needs_a_short_reason() -> None:
    assert ss.cancellation_reason("  议事厅临时维修。 ") == "议事厅临时维修。"
    for blank in ("", "   ", None):
        with pytest.raises(ValueError, match="reason"):
            ss.cancellation_reason(blank)
    assert len(ss.cancellation_reason("x" * ss.CANCEL_REASON_MAX)) == ss.CANCEL_REASON_MAX
    with pytest.raises(ValueError, match="At most"):
        ss.cancellation_reason("x" * (ss.CANCEL_REASON_MAX + 1))


def test_cancellation_ics_removes_the_invitation_it_follows() -> None:
    stamp = datetime(2026, 3, 2, 10, tzinfo=UTC)
    invited = Calendar.from_ical(ss.build_invitation(INVITE, APPLICANT, stamp)).walk("VEVENT")[0]
    cancelled_invite = ss.SessionInvite(**{**INVITE.__dict__, "sequence": 1})
    cal = Calendar.from_ical(build_cancellation(cancelled_invite, APPLICANT, stamp))
    assert cal["method"] == "CANCEL"
    [event] = cal.walk("VEVENT")
    assert str(event["uid"]) == str(invited["uid"]) == "abc123@concord.local"
    assert event.decoded("sequence") == 1 > invited.decoded("sequence")
    assert str(event["status"]) == "CANCELLED"
    assert event.decoded("dtstart") == invited.decoded("dtstart")
    assert str(event["summary"]).startswith("已取消：")
    english = Calendar.from_ical(build_cancellation(cancelled_invite, RESPONDENT, stamp)).walk("VEVENT")[0]
    assert str(english["summary"]) == "Cancelled: Mediation session (case LC-2026-000123)"
    assert "张三" not in build_cancellation(cancelled_invite, RESPONDENT, stamp).decode()


def test_events_of_a_moved_or_cancelled_session_carry_the_sequence_into_the_ics() -> None:
    data = {
        "session_id": "abc123",
        "reference": "LC-2026-000123",
        "starts_at": "2026-03-06T03:00:00+00:00",
        "ends_at": "2026-03-06T04:00:00+00:00",
        "place": {"code": "hall", "name": "莲花小区议事厅", "name_en": "Lianhua Council Hall"},
        "sequence": 2,
    }
    invite = invite_from_event(data, "en")
    assert (invite.sequence, invite.place_name) == (2, "Lianhua Council Hall")
    assert invite_from_event({k: v for k, v in data.items() if k != "sequence"}, "zh-CN").sequence == 0


# A held session that ended early, and a case's ending -------------------------------------------
def test_a_held_session_holds_the_hall_until_the_quarter_hour_it_ended_in() -> None:
    start = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    assert ss.held_until(end, None) == end  # no end recorded: the whole booking
    assert ss.held_until(end, start + timedelta(minutes=45)) == start + timedelta(minutes=45)
    assert ss.held_until(end, start + timedelta(minutes=50)) == start + timedelta(hours=1)
    assert ss.held_until(end, end) == end
    # A local time zone rounds the same instant the same way.
    shanghai = (start + timedelta(minutes=31)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert ss.held_until(end, shanghai) == start + timedelta(minutes=45)
    assert ss.check_ended_at(start, end, start + timedelta(minutes=1)) == start + timedelta(minutes=1)
    for bad in (start, start - timedelta(minutes=15), end + timedelta(minutes=15)):
        with pytest.raises(ss.SchedulingError) as err:
            ss.check_ended_at(start, end, bad)
        assert err.value.code == "invalid_times"
    with pytest.raises(ss.SchedulingError):
        ss.check_ended_at(start, end, datetime(2026, 11, 26, 2, 0))  # no time zone


def test_the_reason_an_ending_calls_sessions_off_is_in_the_case_language() -> None:
    assert ss.ending_cancellation_reason("failed", "zh-CN") == "本案已结束（调解不成），此次调解会取消。"
    assert ss.ending_cancellation_reason("withdrawn", "en") == (
        "The case has ended (Withdrawn); this session is called off."
    )
    assert ss.ending_cancellation_reason("agreement_written", "zh").startswith("本案已结束（达成书面协议）")
    # Short enough for the invitation's cancellation text, like a reason a mediator types.
    assert all(
        len(ss.ending_cancellation_reason(state, lang)) <= ss.CANCEL_REASON_MAX
        for state in ("failed", "withdrawn", "referred", "merged")
        for lang in ("zh-CN", "en")
    )
