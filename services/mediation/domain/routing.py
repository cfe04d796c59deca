"""Which studio gets a case: eligible by area and category, then the least loaded, ties round-robin.

`route` is a pure function of the case, a snapshot of the studios and the round-robin cursor, so
every rule is tested with tables and the decision is stored with its reasons (candidates, loads,
the rule that decided).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.mediation.domain.lifecycle import CLOSED_STATES

RULE_MATCH = "area+category"
RULE_DEFAULT = "no eligible studio: district default"

DECIDED_ONLY = "only eligible studio"
DECIDED_LOAD = "least loaded relative to capacity"
DECIDED_ROUND_ROBIN = "equal load: round-robin"
DECIDED_DEFAULT = "district default studio"

EXCLUDED_AREA = "does not cover the area"
EXCLUDED_CATEGORY = "does not take the category"
EXCLUDED_CAPACITY = "no capacity (capacity 0 or every member on leave)"


@dataclass(frozen=True)
class Leave:
    """A member's leave, both days included."""

    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Member:
    username: str
    leave: tuple[Leave, ...] = ()

    def available(self, day: date) -> bool:
        return not any(period.covers(day) for period in self.leave)


@dataclass(frozen=True)
class StudioSnapshot:
    code: str
    communities: frozenset[str]
    categories: frozenset[str]
    capacity: int
    open_cases: int = 0
    is_default: bool = False
    streets: frozenset[str] = frozenset()
    members: tuple[Member, ...] = ()

    def effective_capacity(self, day: date | None = None) -> int:
        """Capacity scaled by the share of members at work: a studio with half its mediators on
        leave takes half as many cases. A studio without listed members keeps its capacity."""
        if not self.members or day is None:
            return self.capacity
        present = sum(1 for m in self.members if m.available(day))
        return self.capacity * present // len(self.members)

    def load(self, day: date | None = None) -> float:
        """Open cases relative to (effective) capacity; no capacity counts as full."""
        capacity = self.effective_capacity(day)
        return self.open_cases / capacity if capacity > 0 else float("inf")

    def covers(self, community: str, street: str | None) -> bool:
        return community in self.communities or (street is not None and street in self.streets)


@dataclass(frozen=True)
class RoutingDecision:
    studio: str
    rule: str
    needs_manual_routing: bool
    candidates: tuple[str, ...] = ()
    loads: dict[str, float] = field(default_factory=dict)
    decided_by: str = DECIDED_ONLY
    tied: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)

    def reasons(self) -> dict[str, object]:
        """The decision as stored with the case and shown to leads."""
        return {
            "rule": self.rule,
            "decided_by": self.decided_by,
            "candidates": list(self.candidates),
            # JSON has no infinity: a full studio's load is stored as None.
            "loads": {k: (round(v, 4) if v != float("inf") else None) for k, v in self.loads.items()},
            "capacities": dict(self.capacities),
            "tied": list(self.tied),
            "excluded": dict(self.excluded),
            "needs_manual_routing": self.needs_manual_routing,
        }


class NoStudioAvailable(Exception):
    """No eligible studio and no default studio: the registry is broken."""


def cursor_key(candidates: Sequence[str]) -> str:
    """Round-robin state is kept per set of eligible studios (e.g. the two covering a community)."""
    return "rr:" + ",".join(sorted(candidates))


def next_in_turn(tied: Sequence[str], last: str | None) -> str:
    """The first of `tied` (sorted) after `last` in cyclic order; the first one without a `last`."""
    ordered = sorted(tied)
    if last is None:
        return ordered[0]
    for code in ordered:
        if code > last:
            return code
    return ordered[0]


def _exclusion(studio: StudioSnapshot, community: str, street: str | None, category: str) -> str | None:
    if not studio.covers(community, street):
        return EXCLUDED_AREA
    if category not in studio.categories:
        return EXCLUDED_CATEGORY
    return None


def route(
    community: str,
    category: str,
    studios: Sequence[StudioSnapshot],
    *,
    street: str | None = None,
    today: date | None = None,
    last_in_turn: str | None = None,
) -> RoutingDecision:
    """Pick the studio for a case in `community` (of `street`) about `category`.

    Eligible: covers the community (or its whole street) and takes the category, with capacity
    left after leave. The lowest load wins; equal lowest loads go round-robin after
    `last_in_turn` (the cursor of this set of candidates). With none eligible the district
    default takes the case and flags it for manual routing.
    """
    excluded: dict[str, str] = {}
    candidates: list[StudioSnapshot] = []
    for studio in sorted(studios, key=lambda s: s.code):
        reason = _exclusion(studio, community, street, category)
        if reason is None and studio.effective_capacity(today) <= 0:
            reason = EXCLUDED_CAPACITY
        if reason is None:
            candidates.append(studio)
        elif reason != EXCLUDED_AREA:  # studios of other areas are noise in the reasons
            excluded[studio.code] = reason
    loads = {s.code: s.load(today) for s in candidates}
    capacities = {s.code: s.effective_capacity(today) for s in candidates}
    codes = tuple(loads)
    if candidates:
        lowest = min(loads.values())
        tied = tuple(code for code, load in loads.items() if load == lowest)
        if len(candidates) == 1:
            decided_by = DECIDED_ONLY
        elif len(tied) == 1:
            decided_by = DECIDED_LOAD
        else:
            decided_by = DECIDED_ROUND_ROBIN
        chosen = next_in_turn(tied, last_in_turn)
        return RoutingDecision(
            chosen,
            RULE_MATCH,
            False,
            codes,
            loads,
            decided_by,
            tied if len(tied) > 1 else (),
            excluded,
            capacities,
        )
    default = next((s for s in studios if s.is_default), None)
    if default is None:
        raise NoStudioAvailable(f"no studio for {community}/{category} and no default studio")
    return RoutingDecision(default.code, RULE_DEFAULT, True, (), {}, DECIDED_DEFAULT, (), excluded, {})


# A new case may duplicate an open one of the same community, building and category filed in the
# 30 days before it. It flags; it never rejects (the mediators decide, and may merge).
DUPLICATE_WINDOW = timedelta(days=30)
# How many the case names: the earliest filed (the desk lists them newest reference first).
DUPLICATE_LIMIT = 5
# What `possible_duplicates` reads of each candidate.
DUPLICATE_CANDIDATE_FIELDS = {"_id": 1, "status": 1, "received_at": 1}


def duplicate_candidates_query(data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The filter of cases a newly submitted case (`case.submitted`'s data) may duplicate, as far as
    an index answers it: same community, building and category, filed in the window before it
    (`received_at` as the event carries it, ISO 8601 in UTC; `at` without one).

    Equalities and one range only, in the order of the cases' (community, building, category,
    received_at) index: SecantusDB walks an index only for a filter of exactly that shape (any other
    condition, such as a `$nin` of states or an `_id` `$ne`, makes it read every case: 350 ms at
    20,000 open cases). The rest of the rule is `possible_duplicates`, over these few rows.
    """
    received_at = datetime.fromisoformat(data["received_at"]) if data.get("received_at") else at
    received = received_at.astimezone(UTC).isoformat()
    since = (received_at - DUPLICATE_WINDOW).astimezone(UTC).isoformat()
    return {
        "community": data["community"],
        "building": data.get("building"),
        "category": data["category"],
        "received_at": {"$gte": since, "$lt": received},
    }


def possible_duplicates(data: dict[str, Any], candidates: Iterable[dict[str, Any]]) -> list[str]:
    """The references a new case names as possible duplicates, from the rows
    `duplicate_candidates_query` found (`DUPLICATE_CANDIDATE_FIELDS`): those still open, other than
    the case itself; the `DUPLICATE_LIMIT` earliest filed, newest reference first."""
    found = sorted(
        (str(row.get("received_at") or ""), row["_id"])
        for row in candidates
        if row.get("status") not in CLOSED_STATES and row["_id"] != data["reference"]
    )
    return sorted((reference for _, reference in found[:DUPLICATE_LIMIT]), reverse=True)
