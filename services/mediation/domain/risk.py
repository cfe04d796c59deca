"""Risk levels: the level a case starts with, and what a level asks of the patrol teams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shared.taxonomy import RISK_LEVELS

# Many people affected makes a dispute a possible group incident.
MANY_PEOPLE = 10

DISPATCH_NOW = "dispatch"  # red: a team goes at once, the studio lead is alerted
SAME_DAY = "same_day"  # orange: a patrol task due before the end of the (local) day


def initial_risk(threat_of_violence: bool, danger_to_safety: bool, people_affected: int | None) -> str:
    """red: possible violence (PML Art 25); orange: danger to safety; yellow: many people; else none."""
    if threat_of_violence:
        return "red"
    if danger_to_safety:
        return "orange"
    if people_affected is not None and people_affected >= MANY_PEOPLE:
        return "yellow"
    return "none"


def risk_reason(threat_of_violence: bool, danger_to_safety: bool, people_affected: int | None) -> str:
    """Why the intake answers gave their level (stored with the task and shown to the team)."""
    reasons = []
    if threat_of_violence:
        reasons.append("threat of violence")
    if danger_to_safety:
        reasons.append("danger to safety")
    if people_affected is not None and people_affected >= MANY_PEOPLE:
        reasons.append(f"{people_affected} people affected")
    return ", ".join(reasons) or "no risk answers"


def rank(level: str) -> int:
    """none < yellow < orange < red."""
    return RISK_LEVELS.index(level)


@dataclass(frozen=True)
class PatrolPlan:
    kind: str  # DISPATCH_NOW or SAME_DAY
    due_by: datetime
    alert_lead: bool


def end_of_day(now_local: datetime) -> datetime:
    """The last minute of `now_local`'s day, in the same time zone."""
    return datetime.combine(now_local.date(), time(23, 59), tzinfo=now_local.tzinfo)


def patrol_plan(
    level: str, now_local: datetime, open_task_kinds: frozenset[str] = frozenset()
) -> PatrolPlan | None:
    """What `level` asks for, given the case's open patrol tasks.

    red → an immediate dispatch (due within the hour) and an alert to the studio lead, unless a
    dispatch is already open; orange → a task due today, unless any task is already open (an open
    dispatch covers it); yellow / none → nothing new (open tasks are left to the team and lead).
    """
    if level == "red" and DISPATCH_NOW not in open_task_kinds:
        return PatrolPlan(DISPATCH_NOW, now_local + timedelta(hours=1), alert_lead=True)
    if level == "orange" and not open_task_kinds:
        return PatrolPlan(SAME_DAY, end_of_day(now_local), alert_lead=False)
    return None
