"""Case deadlines: due one month after acceptance (MoJ 2002 Art 33), the clock paused while waiting
for a party, due-soon / overdue classification, the escalation ladder, and the judicial-confirmation
window (PML Art 33) with its reminders.

Instants are timezone-aware UTC datetimes; calendar arithmetic ("one month later", "the same day")
is done in the district's local time zone (Asia/Shanghai by default), because a due date is a day on
the studio's calendar. A due date is *inclusive*: a case due on 15 March is on time all of that local
day, so the stored instant `due_at` is the start of the next local day and "overdue" is `now >= due_at`.

Escalations are computed, not stored, here: `due_escalation` says which one (if any) is due now given
the escalations already recorded, each with a unique `key`. A periodic job on several replicas
claims an escalation by inserting its key under a unique index; the one whose insert succeeds emits
`case.escalated`, so no escalation is ever sent twice. Judicial-confirmation reminders work the same
way (`confirmation_reminder_due`, one key per case, reminder day and signing).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"

ON_TRACK = "on_track"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
PAUSED = "paused"
STOPPED = "stopped"

LEAD = "studio_lead"  # the levels of shared.messaging.events.CaseEscalated
ADMIN = "district_admin"

# Days after the agreement took effect: a week to act, then the window's last day (PML Art 33).
DEFAULT_CONFIRMATION_REMINDER_DAYS: tuple[int, ...] = (23, 30)


class DeadlineError(ValueError):
    """A deadline operation that makes no sense (pausing twice, naive datetimes, time going back)."""


@dataclass(frozen=True)
class DeadlinePolicy:
    """A studio's deadline settings. The period is `months` calendar months (MoJ 2002 Art 33: one
    month) unless `days` is given; `due_soon` is the warning window before the due moment; an
    overdue case goes to the studio lead at once and to the district admin `admin_after` later.

    The parties of a signed written agreement are reminded of judicial confirmation on each of
    `confirmation_reminder_days` (days after it took effect, counted like the window itself) at
    `confirmation_reminder_hour` local time: by default a week before the window closes (day 23)
    and on its last day (day 30, "thirty days after signing", issue 5)."""

    months: int = 1
    days: int | None = None
    due_soon: timedelta = timedelta(days=3)
    admin_after: timedelta = timedelta(days=7)
    timezone: str = DEFAULT_TIMEZONE
    confirmation_days: int = 30  # PML Art 33: apply for judicial confirmation within 30 days
    confirmation_reminder_days: tuple[int, ...] = DEFAULT_CONFIRMATION_REMINDER_DAYS
    confirmation_reminder_hour: int = 9  # local: a text message at 9 in the morning, not at midnight

    def __post_init__(self) -> None:
        if self.days is not None and self.days < 1:
            raise DeadlineError("days must be at least 1")
        if self.days is None and self.months < 1:
            raise DeadlineError("months must be at least 1")
        reminders = self.confirmation_reminder_days
        if not reminders:
            raise DeadlineError("at least one judicial-confirmation reminder day is needed")
        if list(reminders) != sorted(set(reminders)):
            raise DeadlineError("confirmation_reminder_days must be increasing, without repeats")
        if not all(1 <= day <= self.confirmation_days for day in reminders):
            raise DeadlineError(
                f"confirmation reminders are sent from day 1 to day {self.confirmation_days} "
                "(the window's last day)"
            )
        if not 0 <= self.confirmation_reminder_hour <= 23:
            raise DeadlineError("confirmation_reminder_hour must be an hour of the day (0-23)")
        ZoneInfo(self.timezone)  # fails early on a misspelt zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], timezone: str = DEFAULT_TIMEZONE) -> DeadlinePolicy:
        """A policy from a studio's registry entry, e.g. `{"deadline_months": 1}` or
        `{"deadline_days": 20, "due_soon_days": 5, "admin_after_days": 3,
        "confirmation_reminder_days": [20, 27, 30], "confirmation_reminder_hour": 10}`; missing
        keys keep the defaults. The reminder days may be given in any order."""
        defaults = cls()
        reminder_days = config.get("confirmation_reminder_days")
        return cls(
            months=int(config.get("deadline_months", defaults.months)),
            days=int(config["deadline_days"]) if config.get("deadline_days") is not None else None,
            due_soon=timedelta(days=float(config.get("due_soon_days", defaults.due_soon.days))),
            admin_after=timedelta(days=float(config.get("admin_after_days", defaults.admin_after.days))),
            timezone=str(config.get("timezone", timezone)),
            confirmation_reminder_days=tuple(sorted({int(day) for day in reminder_days}))
            if reminder_days is not None
            else defaults.confirmation_reminder_days,
            confirmation_reminder_hour=int(
                config.get("confirmation_reminder_hour", defaults.confirmation_reminder_hour)
            ),
        )


@dataclass(frozen=True)
class Pause:
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Deadline:
    """A case's deadline record: stored with the case, changed only through these functions."""

    accepted_at: datetime
    base_due_at: datetime  # the due moment before any pause
    pauses: tuple[Pause, ...] = ()
    stopped_at: datetime | None = None  # when the case ended; a stopped clock never escalates

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].ended_at is None

    @property
    def paused_time(self) -> timedelta:
        """The time spent waiting for a party in finished pauses."""
        return sum(
            ((p.ended_at - p.started_at) for p in self.pauses if p.ended_at is not None),
            timedelta(),
        )


@dataclass(frozen=True)
class Escalation:
    """An escalation due now: `key` is unique per case, level and due moment (claim it once)."""

    level: str
    key: str
    due_at: datetime  # the case's due moment this escalation is about
    escalate_at: datetime  # when it became due


@dataclass(frozen=True)
class EscalationRecord:
    """An escalation already sent, as stored: its key and when it was sent."""

    key: str
    level: str
    at: datetime


@dataclass(frozen=True)
class DeadlineView:
    """What a page shows: the status, the (inclusive) local due day and the exact due moment."""

    status: str
    due_at: datetime
    due_day: date
    remaining: timedelta = field(default=timedelta())


def _utc(value: datetime, name: str) -> datetime:
    # Naive datetimes are ambiguous (local? UTC?): refused rather than guessed.
    if value.tzinfo is None or value.utcoffset() is None:
        raise DeadlineError(f"{name} must be timezone-aware")
    return value.astimezone(ZoneInfo("UTC"))


def add_months(day: date, months: int) -> date:
    """`day` plus `months` calendar months, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _start_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def due_day_for(accepted_at: datetime, policy: DeadlinePolicy) -> date:
    """The local day a case accepted at `accepted_at` is due (inclusive)."""
    accepted_day = _utc(accepted_at, "accepted_at").astimezone(policy.tz).date()
    if policy.days is not None:
        return accepted_day + timedelta(days=policy.days)
    return add_months(accepted_day, policy.months)


def start(accepted_at: datetime, policy: DeadlinePolicy) -> Deadline:
    """The deadline of a case accepted at `accepted_at`: due at the end of the local due day."""
    due_day = due_day_for(accepted_at, policy)
    return Deadline(
        accepted_at=_utc(accepted_at, "accepted_at"),
        base_due_at=_start_of_local_day(due_day + timedelta(days=1), policy.tz),
    )


def _last_event(deadline: Deadline) -> datetime:
    moments = [deadline.accepted_at]
    for p in deadline.pauses:
        moments.append(p.started_at)
        if p.ended_at is not None:
            moments.append(p.ended_at)
    return max(moments)


def pause(deadline: Deadline, at: datetime) -> Deadline:
    """Stop the clock while waiting for a party."""
    at = _utc(at, "at")
    if deadline.stopped_at is not None:
        raise DeadlineError("the case has ended; its clock is stopped")
    if deadline.paused:
        raise DeadlineError("the clock is paused already")
    if at < _last_event(deadline):
        raise DeadlineError("a pause cannot start before the clock's last change")
    return replace(deadline, pauses=(*deadline.pauses, Pause(at)))


def resume(deadline: Deadline, at: datetime) -> Deadline:
    """Restart the clock: the due moment moves later by the time spent paused."""
    at = _utc(at, "at")
    if not deadline.paused:
        raise DeadlineError("the clock is not paused")
    current = deadline.pauses[-1]
    if at < current.started_at:
        raise DeadlineError("a pause cannot end before it started")
    return replace(deadline, pauses=(*deadline.pauses[:-1], Pause(current.started_at, at)))


def stop(deadline: Deadline, at: datetime) -> Deadline:
    """The case ended: close any pause and stop the clock for good."""
    at = _utc(at, "at")
    if deadline.stopped_at is not None:
        return deadline  # ending twice changes nothing
    if deadline.paused:
        deadline = resume(deadline, at)
    return replace(deadline, stopped_at=at)


def due_at(deadline: Deadline, now: datetime | None = None) -> datetime:
    """The due moment (exclusive). While paused, the clock is stopped: the due moment keeps moving
    with `now` (given), so a paused case is never overdue."""
    moved = deadline.base_due_at + deadline.paused_time
    if deadline.paused:
        if now is None:
            raise DeadlineError("a paused deadline's due moment depends on now")
        moved += max(_utc(now, "now") - deadline.pauses[-1].started_at, timedelta())
    return moved


def status(deadline: Deadline, now: datetime, policy: DeadlinePolicy) -> str:
    """on_track | due_soon | overdue | paused | stopped."""
    now = _utc(now, "now")
    if deadline.stopped_at is not None:
        return STOPPED
    if deadline.paused:
        return PAUSED
    due = due_at(deadline)
    if now >= due:
        return OVERDUE
    if now >= due - policy.due_soon:
        return DUE_SOON
    return ON_TRACK


def view(deadline: Deadline, now: datetime, policy: DeadlinePolicy) -> DeadlineView:
    """The deadline as a page shows it (the due day is the last local day still on time)."""
    due = due_at(deadline, now)
    last_moment = (due - timedelta(microseconds=1)).astimezone(policy.tz)
    return DeadlineView(status(deadline, now, policy), due, last_moment.date(), due - _utc(now, "now"))


def escalation_key(reference: str, level: str, due: datetime) -> str:
    """Unique per case, level and due moment: a pause that moves the due date opens a new round."""
    return f"{reference}:{level}:{due.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}"


def due_escalation(
    reference: str,
    deadline: Deadline,
    now: datetime,
    policy: DeadlinePolicy,
    past: Iterable[EscalationRecord] = (),
) -> Escalation | None:
    """The escalation due now, if any: overdue → the studio lead; still overdue `admin_after` after
    the lead was told → the district admin. One at a time, in ladder order, never one already in
    `past` (matched by key), never for a paused or ended case."""
    now = _utc(now, "now")
    if status(deadline, now, policy) != OVERDUE:
        return None
    due = due_at(deadline)
    recorded = {record.key: record for record in past}
    lead_key = escalation_key(reference, LEAD, due)
    lead = recorded.get(lead_key)
    if lead is None:
        return Escalation(LEAD, lead_key, due, due)
    admin_key = escalation_key(reference, ADMIN, due)
    # Measured from when the lead was actually told, so a job that was down does not skip the
    # lead's chance to act.
    admin_at = _utc(lead.at, "lead.at") + policy.admin_after
    if admin_key not in recorded and now >= admin_at:
        return Escalation(ADMIN, admin_key, due, admin_at)
    return None


# Judicial confirmation (PML Art 33) -------------------------------------------------------------
def confirmation_deadline(effective_at: datetime, policy: DeadlinePolicy) -> datetime:
    """When the window to apply for judicial confirmation closes (exclusive): the end of the local day
    `confirmation_days` after the agreement took effect (the day it took effect is not counted,
    as periods are counted in Chinese civil law, Civil Code Art 201)."""
    effective_day = _utc(effective_at, "effective_at").astimezone(policy.tz).date()
    return _start_of_local_day(effective_day + timedelta(days=policy.confirmation_days + 1), policy.tz)


def confirmation_window_open(effective_at: datetime, now: datetime, policy: DeadlinePolicy) -> bool:
    """Whether the parties can still apply for judicial confirmation."""
    return (
        _utc(effective_at, "effective_at") <= _utc(now, "now") < confirmation_deadline(effective_at, policy)
    )


def confirmation_last_day(effective_at: datetime, policy: DeadlinePolicy) -> date:
    """The last local day the parties can apply for judicial confirmation (inclusive)."""
    return _utc(effective_at, "effective_at").astimezone(policy.tz).date() + timedelta(
        days=policy.confirmation_days
    )


@dataclass(frozen=True)
class ConfirmationReminder:
    """A judicial-confirmation reminder: `day` days after the agreement took effect, due from
    `due_at`; `key` is unique per case, day and signing (claim it once, like an escalation);
    `last_day` is the window's last local day, and `final` marks the reminder sent on it."""

    day: int
    key: str
    due_at: datetime
    last_day: date
    final: bool


def _reminder_key(reference: str, effective_at: datetime, day: int | None = None) -> str:
    signed = f"{_utc(effective_at, 'effective_at'):%Y%m%dT%H%M%SZ}"
    # Keys without a day are those of the single reminder sent before the schedule existed.
    return (
        f"{reference}:confirmation_reminder:{signed}"
        if day is None
        else f"{reference}:confirmation_reminder:d{day}:{signed}"
    )


def confirmation_reminders(
    reference: str, effective_at: datetime, policy: DeadlinePolicy
) -> tuple[ConfirmationReminder, ...]:
    """Every reminder of the policy's schedule for an agreement that took effect at `effective_at`."""
    effective_day = _utc(effective_at, "effective_at").astimezone(policy.tz).date()
    last_day = confirmation_last_day(effective_at, policy)
    return tuple(
        ConfirmationReminder(
            day=day,
            key=_reminder_key(reference, effective_at, day),
            due_at=datetime.combine(
                effective_day + timedelta(days=day), time(policy.confirmation_reminder_hour), tzinfo=policy.tz
            ).astimezone(ZoneInfo("UTC")),
            last_day=last_day,
            final=day == policy.confirmation_days,
        )
        for day in policy.confirmation_reminder_days
    )


def confirmation_reminder_due(
    reference: str,
    effective_at: datetime,
    now: datetime,
    policy: DeadlinePolicy,
    sent_keys: Iterable[str] = (),
) -> ConfirmationReminder | None:
    """The reminder to send now, if any: the latest of the schedule whose time has come, unless it
    was sent already (`sent_keys`). Only the latest: a job that was down does not send "a week
    left" on the last day. None before the first reminder and once the window has closed.
    Whether the parties may still apply at all (nobody applied, not archived) is the lifecycle's
    `confirmation_pending`."""
    now = _utc(now, "now")
    if not confirmation_window_open(effective_at, now, policy):
        return None
    passed = [r for r in confirmation_reminders(reference, effective_at, policy) if r.due_at <= now]
    if not passed:
        return None
    latest = passed[-1]
    sent = set(sent_keys)
    # The one reminder sent before the schedule existed (a week before the end) stands for every
    # reminder before the last day, so an upgrade in the middle of a window repeats nothing.
    if latest.key in sent or (not latest.final and _reminder_key(reference, effective_at) in sent):
        return None
    return latest
