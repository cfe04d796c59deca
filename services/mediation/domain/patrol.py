"""Patrol teams and their tasks: who is on shift, which team goes, how a task moves, hot spots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Task kinds: a dispatch (red: go now), a same-day task (orange), a sweep of a hot spot.
KIND_DISPATCH = "dispatch"
KIND_SAME_DAY = "same_day"
KIND_SWEEP = "sweep"

OPEN = "open"
ACCEPTED = "accepted"
REPORTED = "reported"
CLOSED = "closed"
ACTIVE_STATUSES = (OPEN, ACCEPTED, REPORTED)

# (status, action) → next status. Anything else is refused with a clear error.
TRANSITIONS: Mapping[tuple[str, str], str] = {
    (OPEN, "accept"): ACCEPTED,
    (ACCEPTED, "report"): REPORTED,
    (REPORTED, "close"): CLOSED,
}

RULE_ON_SHIFT = "covers the area and is on shift"
RULE_ON_CALL = "district on-call team (no team of the area on shift)"

# A community with at least this many open cases is a hot spot worth a sweep.
HOT_SPOT_THRESHOLD = 3


class InvalidTransition(Exception):
    """The task cannot take this action in its current status."""


def next_status(status: str, action: str) -> str:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(f"a task that is {status} cannot be {action}ed") from None


@dataclass(frozen=True)
class Shift:
    """Working hours on some weekdays; `end` before `start` means the shift runs past midnight."""

    days: frozenset[str]
    start: time
    end: time

    def covers(self, moment: datetime) -> bool:
        day = WEEKDAYS[moment.weekday()]
        previous = WEEKDAYS[(moment.weekday() - 1) % 7]
        now = moment.time()
        if self.start <= self.end:
            return day in self.days and self.start <= now < self.end
        # Overnight: the evening part on a shift day, the morning part on the day after one.
        return (day in self.days and now >= self.start) or (previous in self.days and now < self.end)


@dataclass(frozen=True)
class TeamSnapshot:
    code: str
    communities: frozenset[str]
    streets: frozenset[str] = frozenset()
    shifts: tuple[Shift, ...] = ()
    on_call: bool = False
    open_tasks: int = 0

    def covers(self, community: str, street: str | None) -> bool:
        return community in self.communities or (street is not None and street in self.streets)

    def on_shift(self, moment: datetime) -> bool:
        return any(shift.covers(moment) for shift in self.shifts)


@dataclass(frozen=True)
class TeamChoice:
    team: str
    rule: str
    candidates: tuple[str, ...]


def pick_team(
    community: str, street: str | None, teams: Sequence[TeamSnapshot], now_local: datetime
) -> TeamChoice | None:
    """The team to send: one covering the area and on shift now (the community's own team before a
    street-wide one, then the fewest open tasks), else the district's on-call team, else None."""
    on_shift = [t for t in teams if t.covers(community, street) and t.on_shift(now_local)]
    if on_shift:
        best = min(on_shift, key=lambda t: (community not in t.communities, t.open_tasks, t.code))
        return TeamChoice(best.code, RULE_ON_SHIFT, tuple(sorted(t.code for t in on_shift)))
    on_call = sorted((t for t in teams if t.on_call), key=lambda t: t.code)
    if on_call:
        return TeamChoice(on_call[0].code, RULE_ON_CALL, ())
    return None


def hot_spots(
    open_cases_by_community: Mapping[str, int], threshold: int = HOT_SPOT_THRESHOLD
) -> list[tuple[str, int]]:
    """Communities with at least `threshold` open cases, busiest first."""
    hot = [(c, n) for c, n in open_cases_by_community.items() if n >= threshold]
    return sorted(hot, key=lambda item: (-item[1], item[0]))


def parse_time(text: str) -> time:
    """ "HH:MM" → time; raises ValueError otherwise."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
