"""Patrol: shifts (incl. overnight), which team goes, task transitions, hot spots, throttling."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.mediation.domain import throttle
from services.mediation.domain.patrol import (
    RULE_ON_CALL,
    RULE_ON_SHIFT,
    InvalidTransition,
    Shift,
    TeamSnapshot,
    hot_spots,
    next_status,
    pick_team,
)

TZ = ZoneInfo("Asia/Shanghai")
WEEK = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
DAY = Shift(WEEK, time(8), time(20))
NIGHT = Shift(frozenset({"wed"}), time(22), time(6))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)  # 2026-11-25 is a Wednesday


@pytest.mark.parametrize(
    ("shift", "moment", "covered"),
    [
        (DAY, at(25, 8), True),
        (DAY, at(25, 19, 59), True),
        (DAY, at(25, 20), False),
        (DAY, at(25, 7, 59), False),
        (NIGHT, at(25, 23), True),  # Wednesday evening
        (NIGHT, at(26, 5, 59), True),  # Thursday morning, after a Wednesday shift
        (NIGHT, at(26, 6), False),
        (NIGHT, at(26, 23), False),  # Thursday is not a shift day
        (NIGHT, at(25, 5), False),  # Wednesday morning follows Tuesday: no shift
    ],
)
def test_shift_covers(shift, moment, covered) -> None:
    assert shift.covers(moment) is covered


STREET = TeamSnapshot("street", frozenset(), frozenset({"qinghe"}), (DAY,))
LOCAL = TeamSnapshot(
    "local", frozenset({"lianhua"}), frozenset(), (Shift(frozenset({"sat", "sun"}), time(9), time(18)),)
)
ONCALL = TeamSnapshot("oncall", frozenset(), frozenset(), (Shift(WEEK, time(0), time(23, 59)),), on_call=True)
OTHER = TeamSnapshot("other", frozenset({"heping"}), frozenset(), (DAY,))


@pytest.mark.parametrize(
    ("teams", "moment", "team", "rule"),
    [
        ([STREET, LOCAL, ONCALL], at(25, 10), "street", RULE_ON_SHIFT),  # weekday: the street's team
        ([STREET, LOCAL, ONCALL], at(28, 10), "local", RULE_ON_SHIFT),  # Saturday: the community's own
        ([STREET, LOCAL, ONCALL], at(25, 23), "oncall", RULE_ON_CALL),  # night: nobody of the area
        ([OTHER, ONCALL], at(25, 10), "oncall", RULE_ON_CALL),  # other area's team never goes
        ([OTHER], at(25, 10), None, None),
    ],
)
def test_pick_team(teams, moment, team, rule) -> None:
    choice = pick_team("lianhua", "qinghe", teams, moment)
    assert (choice.team if choice else None) == team
    assert (choice.rule if choice else None) == rule


def test_pick_team_prefers_fewer_open_tasks_among_equals() -> None:
    busy = TeamSnapshot("a", frozenset({"lianhua"}), frozenset(), (DAY,), open_tasks=4)
    free = TeamSnapshot("b", frozenset({"lianhua"}), frozenset(), (DAY,), open_tasks=1)
    assert pick_team("lianhua", "qinghe", [busy, free], at(25, 10)).team == "b"


@pytest.mark.parametrize(
    ("status", "action", "result"),
    [("open", "accept", "accepted"), ("accepted", "report", "reported"), ("reported", "close", "closed")],
)
def test_task_transitions(status, action, result) -> None:
    assert next_status(status, action) == result


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("open", "report"),
        ("open", "close"),
        ("accepted", "accept"),
        ("closed", "accept"),
        ("reported", "report"),
    ],
)
def test_task_transitions_refused(status, action) -> None:
    with pytest.raises(InvalidTransition):
        next_status(status, action)


def test_hot_spots_busiest_first() -> None:
    assert hot_spots({"a": 2, "b": 5, "c": 3, "d": 5}, threshold=3) == [("b", 5), ("d", 5), ("c", 3)]


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    ("minutes_ago", "locked"),
    [
        ([1, 2, 3, 4], False),  # four failures: still allowed
        ([1, 2, 3, 4, 5], True),
        ([1, 2, 3, 4, 16], False),  # the oldest left the 15-minute window
        ([1, 2, 3, 4, 5, 6, 7], True),
    ],
)
def test_login_throttle(minutes_ago, locked) -> None:
    failures = [NOW - timedelta(minutes=m) for m in minutes_ago]
    until = throttle.locked_until(failures, NOW)
    assert (until is not None) is locked
    if until is not None:
        assert NOW < until <= NOW + throttle.WINDOW
