"""The desk's lists as rules: which list an open case is on, the order each list is shown in, the
due-date windows a list's first page is read by, and the per-studio counts a change of case moves.

A case's list is stored on it (`queue`) and counted per studio and risk level on the studio
(`queue_counts.<list>.<risk rank>`), both in the same write as the change of state or owner, so
the desk reads the first page of a list through an index (studio+queue+risk_rank+due_at) and its
total from one document instead of every open case of the studio.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from services.mediation.domain import deadlines as dl
from services.mediation.domain import lifecycle as lc

POOL = "pool"  # accepted and unowned: any mediator of the studio may take it
SCREENING = "screening"  # received, awaiting consent or in screening: nobody named yet
TAKEN = "taken"  # open and owned: the mediator's own or a colleague's
LISTS: tuple[str, ...] = (POOL, SCREENING, TAKEN)
SCREENING_STATES: tuple[str, ...] = (lc.RECEIVED, lc.AWAITING_CONSENT, lc.SCREENING)
RANKS: tuple[int, ...] = (3, 2, 1, 0)  # red, orange, yellow, none: the order lists are shown in

# Due-date windows (days from now) a long risk level is read by, earliest first. Overdue cases
# come first; each window's cases are read and sorted, and reading stops once a page is full.
WINDOW_DAYS: tuple[int, ...] = (-30, -7, -2, 0, 2, 7, 14, 30)

_URGENCY = {dl.OVERDUE: 0, dl.DUE_SOON: 1}


def list_of(case: Mapping[str, Any]) -> str | None:
    """The desk list an open case is on; None for a closed (or merged) case."""
    status = case.get("status") or lc.RECEIVED
    if status not in lc.OPEN_STATES or case.get("merged_into"):
        return None
    if status in SCREENING_STATES:
        return SCREENING
    if status == lc.ACCEPTED and not case.get("owner"):
        return POOL
    return TAKEN


def count_key(list_name: str, risk_rank: int) -> str:
    """The path of one count on the studio's document."""
    return f"queue_counts.{list_name}.{int(risk_rank)}"


def count_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, int]:
    """The `$inc` of one studio's counts when a case of that studio changes from `before` to
    `after` (None: the case is new to the studio, or leaves it). Empty when nothing moves."""
    changes: dict[str, int] = {}
    for case, step in ((before, -1), (after, 1)):
        if case is None:
            continue
        name = list_of(case)
        if name is not None:
            key = count_key(name, case.get("risk_rank") or 0)
            changes[key] = changes.get(key, 0) + step
    return {k: v for k, v in changes.items() if v}


def tally(cases: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The counts of a studio recomputed from its open cases (the recount, and the check of it)."""
    counts: dict[str, dict[str, int]] = {name: {} for name in LISTS}
    for case in cases:
        name = list_of(case)
        if name is not None:
            rank = str(int(case.get("risk_rank") or 0))
            counts[name][rank] = counts[name].get(rank, 0) + 1
    return counts


def total(counts: Mapping[str, Any] | None, list_name: str) -> int:
    """One list's total from the studio's stored counts (missing: none)."""
    per_rank = (counts or {}).get(list_name) or {}
    return sum(int(n) for n in per_rank.values())


def due_key(case: Mapping[str, Any]) -> float:
    due = case.get("due_at")
    return due.timestamp() if due else float("inf")


def list_key(case: Mapping[str, Any]) -> tuple[Any, ...]:
    """The order of the pool, the screening list and colleagues' cases: highest risk, then
    earliest due (a case without a due date last), then earliest received, then reference."""
    return (-(case.get("risk_rank") or 0), due_key(case), str(case.get("received_at") or ""), case["_id"])


def mine_key(case: Mapping[str, Any]) -> tuple[Any, ...]:
    """The order of a mediator's own cases: overdue and due soon first, then risk, then due date."""
    return (
        _URGENCY.get(case.get("deadline_status") or "", 2),
        -(case.get("risk_rank") or 0),
        due_key(case),
        case["_id"],
    )


def due_windows(now: datetime) -> list[dict[str, datetime]]:
    """The due-date windows of one risk level, earliest first, as `due_at` conditions; together
    they hold every dated case once (a case without a due date is read after them)."""
    bounds = [now + timedelta(days=d) for d in WINDOW_DAYS]
    windows: list[dict[str, datetime]] = [{"$lt": bounds[0]}]
    windows += [{"$gte": lo, "$lt": hi} for lo, hi in pairwise(bounds)]
    windows.append({"$gte": bounds[-1]})
    return windows
