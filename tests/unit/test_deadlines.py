"""Deadlines: one month after acceptance in local (Asia/Shanghai) calendar terms, pauses, due-soon and
overdue, the escalation ladder without double escalation, the judicial-confirmation window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.mediation.domain import deadlines as dl

SH = ZoneInfo("Asia/Shanghai")
POLICY = dl.DeadlinePolicy()
REF = "LC-2026-000123"


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time, as the UTC instant the functions take."""
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@pytest.mark.parametrize(
    ("accepted", "due_day"),
    [
        (date(2026, 1, 15), date(2026, 2, 15)),
        (date(2026, 1, 31), date(2026, 2, 28)),  # no 31 February: the month's last day
        (date(2028, 1, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 20), date(2027, 1, 20)),  # across the year
    ],
)
def test_due_one_calendar_month_later(accepted: date, due_day: date) -> None:
    deadline = dl.start(local(accepted.year, accepted.month, accepted.day, 10), POLICY)
    # Due all of the local due day; overdue from the next local midnight.
    assert deadline.base_due_at == datetime.combine(due_day + timedelta(days=1), datetime.min.time(), SH)
    assert (
        dl.view(deadline, local(accepted.year, accepted.month, accepted.day, 11), POLICY).due_day == due_day
    )


def test_the_local_day_counts_not_the_utc_day() -> None:
    # 31 Jan 01:30 in Shanghai is still 30 Jan in UTC: the studio's calendar decides.
    accepted = local(2026, 1, 31, 1, 30)
    assert accepted.day == 30
    assert dl.due_day_for(accepted, POLICY) == date(2026, 2, 28)


def test_add_months_clamps_to_month_end() -> None:
    assert dl.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert dl.add_months(date(2026, 1, 31), 2) == date(2026, 3, 31)
    assert dl.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert dl.add_months(date(2026, 5, 15), 12) == date(2027, 5, 15)


def test_a_period_in_days_can_be_configured() -> None:
    policy = dl.DeadlinePolicy(days=20)
    assert dl.due_day_for(local(2026, 1, 31, 9), policy) == date(2026, 2, 20)
    assert dl.DeadlinePolicy.from_config({"deadline_days": 20}) == policy
    assert dl.DeadlinePolicy.from_config({}) == POLICY
    configured = dl.DeadlinePolicy.from_config(
        {"deadline_months": 2, "due_soon_days": 5, "admin_after_days": 2}
    )
    assert (configured.months, configured.due_soon, configured.admin_after) == (
        2,
        timedelta(days=5),
        timedelta(days=2),
    )
    with pytest.raises(dl.DeadlineError):
        dl.DeadlinePolicy(days=0)


def test_status_on_track_due_soon_overdue() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)  # due 1 April (inclusive)
    assert dl.status(deadline, local(2026, 3, 20, 9), POLICY) == dl.ON_TRACK
    assert dl.status(deadline, local(2026, 3, 29, 23, 59), POLICY) == dl.ON_TRACK
    assert dl.status(deadline, local(2026, 3, 30, 0, 0), POLICY) == dl.DUE_SOON
    assert dl.status(deadline, local(2026, 4, 1, 23, 59), POLICY) == dl.DUE_SOON
    assert dl.status(deadline, local(2026, 4, 2, 0, 0), POLICY) == dl.OVERDUE
    wide = dl.DeadlinePolicy(due_soon=timedelta(days=10))
    assert dl.status(deadline, local(2026, 3, 25), wide) == dl.DUE_SOON


def test_pause_and_resume_move_the_due_date_by_the_paused_time() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)
    before = dl.due_at(deadline)
    paused = dl.pause(deadline, local(2026, 3, 10, 9))
    assert dl.status(paused, local(2026, 5, 1), POLICY) == dl.PAUSED  # never overdue while waiting
    resumed = dl.resume(paused, local(2026, 3, 15, 15))
    assert dl.due_at(resumed) - before == timedelta(days=5, hours=6)
    # A second pause adds up.
    again = dl.resume(dl.pause(resumed, local(2026, 3, 20, 9)), local(2026, 3, 21, 9))
    assert dl.due_at(again) - before == timedelta(days=6, hours=6)
    assert dl.status(again, local(2026, 4, 7, 12), POLICY) == dl.DUE_SOON
    assert dl.status(again, local(2026, 4, 8, 6, 1), POLICY) == dl.OVERDUE


def test_while_paused_the_due_moment_moves_with_now() -> None:
    paused = dl.pause(dl.start(local(2026, 3, 1, 9), POLICY), local(2026, 3, 10))
    assert dl.due_at(paused, local(2026, 3, 12)) - dl.due_at(paused, local(2026, 3, 10)) == timedelta(days=2)
    with pytest.raises(dl.DeadlineError):
        dl.due_at(paused)


def test_pause_rules() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)
    paused = dl.pause(deadline, local(2026, 3, 5))
    with pytest.raises(dl.DeadlineError, match="paused already"):
        dl.pause(paused, local(2026, 3, 6))
    with pytest.raises(dl.DeadlineError, match="not paused"):
        dl.resume(deadline, local(2026, 3, 6))
    with pytest.raises(dl.DeadlineError, match="before it started"):
        dl.resume(paused, local(2026, 3, 4))
    with pytest.raises(dl.DeadlineError, match="before"):
        dl.pause(deadline, local(2026, 2, 1))
    with pytest.raises(dl.DeadlineError, match="timezone-aware"):
        dl.pause(deadline, datetime(2026, 3, 5))  # naive on purpose


def test_stopping_closes_a_pause_and_ends_escalation() -> None:
    deadline = dl.pause(dl.start(local(2026, 3, 1, 9), POLICY), local(2026, 3, 10))
    stopped = dl.stop(deadline, local(2026, 3, 12))
    assert not stopped.paused and stopped.paused_time == timedelta(days=2)
    assert dl.stop(stopped, local(2026, 6, 1)) == stopped
    assert dl.status(stopped, local(2026, 9, 1), POLICY) == dl.STOPPED
    assert dl.due_escalation(REF, stopped, local(2026, 9, 1), POLICY) is None
    with pytest.raises(dl.DeadlineError, match="ended"):
        dl.pause(stopped, local(2026, 6, 2))


def _record(esc: dl.Escalation, at: datetime) -> dl.EscalationRecord:
    return dl.EscalationRecord(esc.key, esc.level, at)


def test_escalation_ladder_lead_then_admin_never_twice() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)  # overdue from 2 April 00:00 local
    assert dl.due_escalation(REF, deadline, local(2026, 4, 1, 23, 59), POLICY) is None

    lead = dl.due_escalation(REF, deadline, local(2026, 4, 2, 8), POLICY)
    assert lead is not None and lead.level == "studio_lead"
    # Another replica computing at the same time gets the same key: a unique index lets one win.
    assert dl.due_escalation(REF, deadline, local(2026, 4, 2, 8, 1), POLICY) == lead
    past = [_record(lead, local(2026, 4, 2, 8))]

    # Recorded: nothing more until admin_after (7 days) has passed since the lead was told.
    assert dl.due_escalation(REF, deadline, local(2026, 4, 9, 7, 59), POLICY, past) is None
    admin = dl.due_escalation(REF, deadline, local(2026, 4, 9, 8), POLICY, past)
    assert admin is not None and admin.level == "district_admin" and admin.key != lead.key
    past.append(_record(admin, local(2026, 4, 9, 8)))
    assert dl.due_escalation(REF, deadline, local(2026, 5, 30), POLICY, past) is None


def test_a_late_job_still_tells_the_lead_first() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)
    late = dl.due_escalation(REF, deadline, local(2026, 4, 30), POLICY)  # job was down for weeks
    assert late is not None and late.level == "studio_lead"


def test_keys_differ_per_case_and_after_a_pause_moves_the_due_date() -> None:
    deadline = dl.start(local(2026, 3, 1, 9), POLICY)
    first = dl.due_escalation(REF, deadline, local(2026, 4, 3), POLICY)
    other_case = dl.due_escalation("LC-2026-000124", deadline, local(2026, 4, 3), POLICY)
    assert first is not None and other_case is not None and first.key != other_case.key
    # Paused while overdue and resumed: a new due date, a new round of escalation.
    moved = dl.resume(dl.pause(deadline, local(2026, 4, 3, 1)), local(2026, 4, 13, 1))
    assert (
        dl.due_escalation(REF, moved, local(2026, 4, 5), POLICY, [_record(first, local(2026, 4, 3))]) is None
    )
    later = dl.due_escalation(REF, moved, local(2026, 4, 13, 2), POLICY, [_record(first, local(2026, 4, 3))])
    assert later is not None and later.level == "studio_lead" and later.key != first.key


def test_no_escalation_while_paused() -> None:
    deadline = dl.pause(dl.start(local(2026, 3, 1, 9), POLICY), local(2026, 3, 31))
    assert dl.due_escalation(REF, deadline, local(2026, 6, 1), POLICY) is None


def test_judicial_confirmation_window_is_thirty_days_after_the_agreement() -> None:
    signed = local(2026, 3, 6, 16)
    closes = dl.confirmation_deadline(signed, POLICY)
    assert closes == datetime(2026, 4, 6, tzinfo=SH)  # day 30 is 5 April, inclusive
    assert dl.confirmation_last_day(signed, POLICY) == date(2026, 4, 5)
    assert dl.confirmation_window_open(signed, local(2026, 4, 5, 23, 59), POLICY)
    assert not dl.confirmation_window_open(signed, local(2026, 4, 6, 0, 0), POLICY)
    assert not dl.confirmation_window_open(signed, local(2026, 3, 6, 15), POLICY)  # before signing


def test_confirmation_reminders_default_to_days_23_and_30_at_nine_local_time() -> None:
    signed = local(2026, 3, 6, 16)
    week_left, last_day = dl.confirmation_reminders(REF, signed, POLICY)
    assert (week_left.day, week_left.final, week_left.due_at) == (23, False, local(2026, 3, 29, 9))
    assert (last_day.day, last_day.final, last_day.due_at) == (30, True, local(2026, 4, 5, 9))
    assert week_left.last_day == last_day.last_day == date(2026, 4, 5)
    assert REF in week_left.key and week_left.key != last_day.key
    # Signed again (a new agreement taking effect): new keys, so new reminders.
    assert dl.confirmation_reminders(REF, local(2026, 3, 7, 10), POLICY)[0].key != week_left.key


def test_each_confirmation_reminder_is_due_once_and_none_after_the_window() -> None:
    signed = local(2026, 3, 6, 16)
    due = dl.confirmation_reminder_due
    assert due(REF, signed, local(2026, 3, 29, 8, 59), POLICY) is None  # not yet
    first = due(REF, signed, local(2026, 3, 29, 9), POLICY)
    assert first is not None and (first.day, first.final) == (23, False)
    assert due(REF, signed, local(2026, 4, 4, 23), POLICY, [first.key]) is None  # sent: once
    last = due(REF, signed, local(2026, 4, 5, 9), POLICY, [first.key])
    assert last is not None and (last.day, last.final) == (30, True)
    assert due(REF, signed, local(2026, 4, 5, 23, 59), POLICY, [first.key, last.key]) is None
    # The window has closed: nothing, even what was never sent.
    assert due(REF, signed, local(2026, 4, 6, 0, 0), POLICY) is None
    assert due(REF, signed, local(2026, 5, 1), POLICY) is None


def test_a_job_that_was_down_sends_only_the_latest_reminder() -> None:
    signed = local(2026, 3, 6, 16)
    late = dl.confirmation_reminder_due(REF, signed, local(2026, 4, 5, 20), POLICY)
    assert late is not None and late.day == 30  # not "a week left" on the last day
    assert dl.confirmation_reminder_due(REF, signed, local(2026, 4, 2), POLICY).day == 23


def test_the_reminder_sent_before_the_schedule_counts_for_the_early_ones() -> None:
    signed = local(2026, 3, 6, 16)
    legacy = f"{REF}:confirmation_reminder:{signed:%Y%m%dT%H%M%SZ}"
    assert dl.confirmation_reminder_due(REF, signed, local(2026, 3, 30, 9), POLICY, [legacy]) is None
    assert dl.confirmation_reminder_due(REF, signed, local(2026, 4, 5, 9), POLICY, [legacy]).final


@pytest.mark.parametrize(
    ("signed", "last_day", "first_reminder"),
    [
        # 00:30 on 6 March in Shanghai is still 5 March in UTC: the local day counts.
        (local(2026, 3, 6, 0, 30), date(2026, 4, 5), local(2026, 3, 29, 9)),
        (local(2026, 3, 5, 23, 59), date(2026, 4, 4), local(2026, 3, 28, 9)),
        # Across the end of a month and a year.
        (local(2026, 12, 15, 10), date(2027, 1, 14), local(2027, 1, 7, 9)),
    ],
)
def test_confirmation_days_are_local_calendar_days(signed: datetime, last_day: date, first_reminder) -> None:
    first, last = dl.confirmation_reminders(REF, signed, POLICY)
    assert first.last_day == last_day and first.due_at == first_reminder
    assert last.due_at == datetime.combine(last_day, datetime.min.time(), SH).replace(hour=9)
    assert dl.confirmation_deadline(signed, POLICY) == datetime.combine(
        last_day + timedelta(days=1), datetime.min.time(), SH
    )


def test_confirmation_reminders_follow_a_zone_with_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    policy = dl.DeadlinePolicy(timezone="Europe/Berlin")
    signed = datetime(2026, 3, 20, 12, tzinfo=berlin)  # CET; clocks go forward on 29 March
    first, last = dl.confirmation_reminders(REF, signed, policy)
    assert first.due_at == datetime(2026, 4, 12, 7, tzinfo=UTC)  # 09:00 CEST
    assert last.due_at == datetime(2026, 4, 19, 7, tzinfo=UTC) and last.last_day == date(2026, 4, 19)
    assert dl.confirmation_deadline(signed, policy) == datetime(2026, 4, 19, 22, tzinfo=UTC)


def test_the_reminder_schedule_is_configured_per_studio() -> None:
    policy = dl.DeadlinePolicy.from_config(
        {"confirmation_reminder_days": [30, 20, 27, 30], "confirmation_reminder_hour": 10}
    )
    assert policy.confirmation_reminder_days == (20, 27, 30) and policy.confirmation_reminder_hour == 10
    assert [r.day for r in dl.confirmation_reminders(REF, local(2026, 3, 6, 16), policy)] == [20, 27, 30]
    assert dl.confirmation_reminders(REF, local(2026, 3, 6, 16), policy)[0].due_at == local(2026, 3, 26, 10)
    assert dl.DeadlinePolicy.from_config({}).confirmation_reminder_days == (23, 30)
    for bad in ((), (0, 30), (23, 31), (30, 23), (23, 23)):
        with pytest.raises(dl.DeadlineError):
            dl.DeadlinePolicy(confirmation_reminder_days=bad)
    with pytest.raises(dl.DeadlineError):
        dl.DeadlinePolicy.from_config({"confirmation_reminder_days": [45]})
    with pytest.raises(dl.DeadlineError):
        dl.DeadlinePolicy(confirmation_reminder_hour=24)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(dl.DeadlineError):
        dl.start(datetime(2026, 3, 1, 9), POLICY)  # naive on purpose
