# Chinese invitation text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Mediation session scheduling: owner reception days to suggest, the council hall never double-booked,
no sessions in the past, private unless the parties agree otherwise (PML Art 23), what may still be
done to a session (only a scheduled one is recorded, moved or cancelled), and the `.ics` invitation
each participant receives.

Times are timezone-aware; bookings compare as half-open intervals [start, end), so a session may
start the minute the previous one ends. Reception days are local calendar days (Asia/Shanghai).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.mediation.domain import lifecycle as lc
from shared.calendar import Person, SessionInvite, build_invitation, invitation_uid

DEFAULT_RECEPTION_DAYS: tuple[int, ...] = (6, 26)  # the seed community's owner reception days
DEFAULT_TIMEZONE = "Asia/Shanghai"
UTC = ZoneInfo("UTC")


class SchedulingError(ValueError):
    """A session that cannot be booked. `code`: "invalid_times" | "past" | "double_booked" |
    "unchanged" (a move to the time it already has); `conflicts` lists the bookings in the way
    (double booking only)."""

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


def check_move(current: Booking, proposed: Booking, existing: Iterable[Booking], now: datetime) -> Booking:
    """A scheduled session moved to `proposed`: the same rules as a new booking (never in the past,
    never on a room another session holds; its own old booking is no obstacle), and never to the
    time it already has (a repeated post of the same move must change nothing, not re-send it)."""
    if proposed.session_id is None or proposed.session_id != current.session_id:
        raise ValueError("a move keeps the session's id")
    if (proposed.room, proposed.starts_at, proposed.ends_at) == (
        current.room,
        current.starts_at,
        current.ends_at,
    ):
        raise SchedulingError("unchanged", "The session is already at that time; nothing was changed.")
    return check_booking(proposed, existing, now)


# A held session that ended early -------------------------------------------------------------------
QUARTER = timedelta(minutes=15)


def check_ended_at(starts_at: datetime, ends_at: datetime, ended_at: datetime) -> datetime:
    """When a held session really ended, as its record says: after it started and no later than
    its booked end (it cannot have overrun into time it did not hold). Returned unchanged."""
    _aware(ended_at, "ended_at")
    if not starts_at < ended_at <= ends_at:
        raise SchedulingError(
            "invalid_times", "A session ends after it starts and no later than the time it was booked until."
        )
    return ended_at


def held_until(ends_at: datetime, ended_at: datetime | None) -> datetime:
    """Until when a held session holds the hall: its booked end, or, when it ended early, the end of
    the quarter hour it ended in (the hall's claims are by quarter hour; the rest is free again)."""
    if ended_at is None or ended_at >= ends_at:
        return ends_at
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    quarters, rest = divmod(ended_at - epoch, QUARTER)
    return min(ends_at, epoch + (quarters + (1 if rest else 0)) * QUARTER)


# What may still be done to a session --------------------------------------------------------------
SCHEDULED = "scheduled"
HELD = "held"  # its record is written (PML Art 27): it stays as it was
CANCELLED = "cancelled"
SESSION_STATES = (SCHEDULED, HELD, CANCELLED)

RECORD = "record"
MOVE = "move"
CANCEL = "cancel"
SESSION_ACTIONS = (RECORD, MOVE, CANCEL)

_REFUSALS = {
    (HELD, RECORD): "This session has been recorded already.",
    (HELD, MOVE): "A session that was held cannot be moved; schedule a new one instead.",
    (HELD, CANCEL): "A session that was held cannot be cancelled; its record stays on the case.",
    (CANCELLED, RECORD): "This session was cancelled; it cannot be recorded.",
    (CANCELLED, MOVE): "This session was cancelled; it cannot be moved. Schedule a new one instead.",
    (CANCELLED, CANCEL): "This session has been cancelled already.",
}


class SessionStateError(ValueError):
    """An action a session's state does not allow. `code` is the state in the way ("held" or
    "cancelled"), so the caller can say it in the reader's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def session_actions(status: str) -> tuple[str, ...]:
    """What may be done to a session in `status`: everything while scheduled, nothing after."""
    return SESSION_ACTIONS if status == SCHEDULED else ()


def check_session_action(status: str, action: str) -> None:
    """Refuse `action` (record, move, cancel) on a session that is no longer scheduled."""
    if action not in SESSION_ACTIONS:
        raise ValueError(f"unknown session action {action!r}")
    if action in session_actions(status):
        return
    message = _REFUSALS.get((status, action), f"A {status} session cannot be changed.")
    raise SessionStateError(status, message)


CANCEL_REASON_MAX = 500


def cancellation_reason(text: str | None) -> str:
    """The reason a session is cancelled, as the invitees are told it: required, at most 500
    characters (it goes into an email and onto the tracking page, not an essay)."""
    reason = (text or "").strip()
    if not reason:
        raise ValueError("Give the reason for cancelling; the invitees are told it.")
    if len(reason) > CANCEL_REASON_MAX:
        raise ValueError(f"At most {CANCEL_REASON_MAX} characters.")
    return reason


# The reason a case's ending calls its future sessions off, as the invitees are told it (in the
# case's language; the state's label says how it ended).
_ENDING_REASON = {
    "zh-CN": "本案已结束（{state}），此次调解会取消。",
    "en": "The case has ended ({state}); this session is called off.",
}


def ending_cancellation_reason(state: str, language: str) -> str:
    """Why a session of a case that ended in `state` is cancelled, in `language` (zh-CN or en)."""
    lang = "zh-CN" if language.lower().startswith("zh") else "en"
    return _ENDING_REASON[lang].format(state=lc.label(state, lang))


# Privacy -----------------------------------------------------------------------------------------
def is_public(agrees_to_public: Mapping[str, bool]) -> bool:
    """A session is public only when every party (by id) has agreed to it; private otherwise (PML
    Art 23: parties may ask for a public or a private session; our default protects privacy)."""
    return bool(agrees_to_public) and all(agrees_to_public.values())


# Invitations -------------------------------------------------------------------------------------
# One .ics builder for the whole system (shared.calendar): notify attaches the same invitation to
# its emails, so calendars see one event per session.
__all__ = ["Person", "SessionInvite", "build_invitation", "invitation_uid"]
