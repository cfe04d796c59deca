# Chinese invitation text uses Chinese (full-width) punctuation on purpose.
"""Mediation session scheduling: owner reception days to suggest, the council hall never double-booked,
no sessions in the past, private unless the parties agree otherwise (PML Art 23), and the `.ics`
invitation each participant receives.

Times are timezone-aware; bookings compare as half-open intervals [start, end), so a session may
start the minute the previous one ends. Reception days are local calendar days (Asia/Shanghai).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.calendar import Person, SessionInvite, build_invitation, invitation_uid

DEFAULT_RECEPTION_DAYS: tuple[int, ...] = (6, 26)  # the seed community's owner reception days
DEFAULT_TIMEZONE = "Asia/Shanghai"
UTC = ZoneInfo("UTC")


class SchedulingError(ValueError):
    """A session that cannot be booked. `code`: "invalid_times" | "past" | "double_booked";
    `conflicts` lists the bookings in the way (double booking only)."""

    def __init__(self, code: str, message: str, conflicts: Sequence[Booking] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.conflicts = tuple(conflicts)


# Reception days ----------------------------------------------------------------------------------
def reception_days(configured: Iterable[int] | None = None) -> tuple[int, ...]:
    """A community's reception days of the month (the district default when none are configured)."""
    days = tuple(sorted(set(configured))) if configured else DEFAULT_RECEPTION_DAYS
    if not all(isinstance(d, int) and 1 <= d <= 31 for d in days):
        raise ValueError(f"reception days must be days of the month (1-31), got {days!r}")
    return days


def next_reception_days(on_or_after: date, days: Iterable[int] | None = None, count: int = 3) -> list[date]:
    """The next `count` reception days from `on_or_after` (inclusive). A day a month does not have
    (the 31st in April) is skipped, not moved: residents know the day by its number."""
    wanted = reception_days(days)
    found: list[date] = []
    year, month = on_or_after.year, on_or_after.month
    while len(found) < count:
        last = calendar.monthrange(year, month)[1]
        for day in wanted:
            if day <= last and date(year, month, day) >= on_or_after:
                found.append(date(year, month, day))
                if len(found) == count:
                    break
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def suggest_reception_day(
    after: datetime, days: Iterable[int] | None = None, timezone: str = DEFAULT_TIMEZONE
) -> date:
    """The first reception day strictly after the local day of `after` (today is too short notice)."""
    local_day = _aware(after, "after").astimezone(ZoneInfo(timezone)).date()
    return next_reception_days(local_day + timedelta(days=1), days, 1)[0]


# Bookings ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Booking:
    """A room held for a session over [starts_at, ends_at)."""

    room: str
    starts_at: datetime
    ends_at: datetime
    session_id: str | None = None


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SchedulingError("invalid_times", f"{name} must be timezone-aware")
    return value


def overlaps(a: Booking, b: Booking) -> bool:
    """Whether two bookings of the same room overlap (half-open: touching ends do not)."""
    return a.room == b.room and a.starts_at < b.ends_at and b.starts_at < a.ends_at


def conflicts(proposed: Booking, existing: Iterable[Booking]) -> list[Booking]:
    """The existing bookings `proposed` would collide with; a session moved to a new time does not
    collide with its own old booking."""
    return [
        b
        for b in existing
        if overlaps(proposed, b) and not (proposed.session_id and b.session_id == proposed.session_id)
    ]


def check_booking(proposed: Booking, existing: Iterable[Booking], now: datetime) -> Booking:
    """Refuse a session with bad times, in the past, or on a room already held; return it otherwise.

    The caller must run this and the insert where a concurrent booking cannot slip in between (e.g. a
    unique claim per room and time slot, or a transaction that re-reads the room's bookings)."""
    start = _aware(proposed.starts_at, "starts_at")
    end = _aware(proposed.ends_at, "ends_at")
    if end <= start:
        raise SchedulingError("invalid_times", "A session must end after it starts.")
    if start <= _aware(now, "now"):
        raise SchedulingError("past", "A session cannot be scheduled in the past.")
    clashes = conflicts(proposed, existing)
    if clashes:
        raise SchedulingError(
            "double_booked",
            f"{proposed.room} is already booked at that time ({len(clashes)} booking(s)).",
            clashes,
        )
    return proposed


# Privacy -----------------------------------------------------------------------------------------
def is_public(agrees_to_public: Mapping[str, bool]) -> bool:
    """A session is public only when every party (by id) has agreed to it; private otherwise (PML
    Art 23: parties may ask for a public or a private session; our default protects privacy)."""
    return bool(agrees_to_public) and all(agrees_to_public.values())


# Invitations -------------------------------------------------------------------------------------
# One .ics builder for the whole system (shared.calendar): notify attaches the same invitation to
# its emails, so calendars see one event per session.
__all__ = ["Person", "SessionInvite", "build_invitation", "invitation_uid"]
