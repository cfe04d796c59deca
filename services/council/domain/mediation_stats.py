# Chinese labels use Chinese punctuation on purpose.
"""The public board's mediation statistics as a pure fold over facts taken from mediation's events
(a read model: council never reads mediation's database).

Facts (the service's consumer turns each event into one; all times timezone-aware):
- `CaseReceived`: the case's category (shared taxonomy code), source (application / own initiative /
  referred), community, street and the number of persons involved;
- `CaseAccepted`; `CaseEnded` (outcome, and at closing the two prevention counts: a dispute kept from
  becoming a criminal case, a group petition prevented, each with the persons concerned);
- `AgreementPerformed` (a follow-up found the agreement performed);
- `PatrolVisit` (community, street; `found_early` when the visit uncovered a dispute early).
A case is named by `case`, an opaque key: the consumer should pass a keyed hash of the reference, so
the read model holds no reference either. Nothing here carries a name, a phone or free text.

**Order and repetition do not matter.** `fold` keeps each fact under its message id (a message
delivered twice is one fact) and merges a case's facts into one `CaseRecord` whatever their order
(if a kind of fact arrives twice for a case under different ids, the latest by time then id wins);
the figures are computed from the records, so folding the same facts in any order, once or twice,
gives the same figures.

**Where a fact counts** — by month (Beijing time, UTC+8) at three levels: the community, its street,
the district. Received, persons, by category, by source: the month of receipt. Accepted: the month of
acceptance. Settled (a written or oral agreement), failed, ended, days to close and the prevention
counts: the month of ending. Performed: the month of the follow-up. Patrol visits and disputes
found early: the month of the visit. A case ending before its receipt fact has arrived counts once
that fact arrives (the community is only known from it).

**Rates**: success rate = settled / (settled + failed) among the cases ended in the period — cases
withdrawn, referred or not accepted were not mediated to an end, so they are in neither part; days to
close = calendar days (Beijing) from receipt to ending, median over the cases ended in the period;
"closed within a month" = the share of them closed within 30 days. Rates are exact `Fraction`s
(None when there is nothing to divide).

**Quarters** come from months by `to_quarter`: counts add up, and medians and shares are recomputed
from the kept days-to-close (a median of medians would be wrong); `figures(..., period="quarter")`
gives the same result directly (tested).

The 15 categories of the Ministry of Justice's monthly table are `MOJ_CATEGORIES`; `MOJ_OF_TAXONOMY`
(both in shared/moj_table.py, shared with mediation's reports)
maps every code of shared/taxonomy.py to one (village affairs has no line of its own: "other";
production and business has no taxonomy code yet, so it stays 0 until intake offers it).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from shared.moj_table import (
    MOJ_APPLICATION,
    MOJ_CATEGORIES,
    MOJ_OF_TAXONOMY,
    MOJ_OWN_INITIATIVE,
    MOJ_REFERRED,
    MOJ_SOURCES,
)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# The MoJ table's categories and sources live in shared/moj_table.py (mediation's reports use them too).
APPLICATION = MOJ_APPLICATION
OWN_INITIATIVE = MOJ_OWN_INITIATIVE
REFERRED = MOJ_REFERRED
SOURCES = MOJ_SOURCES

SETTLED_OUTCOMES = frozenset({"agreement_written", "agreement_oral"})
FAILED_OUTCOMES = frozenset({"failed"})
OUTCOMES = frozenset(
    {"agreement_written", "agreement_oral", "failed", "withdrawn", "referred", "not_accepted"}
)
WITHIN_A_MONTH_DAYS = 30
DISTRICT = "district"


class StatsInputError(ValueError):
    """A fact that cannot be counted (unknown category, source or outcome, naive time, negative count)."""


# --- facts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseReceived:
    """A case was received (from case.submitted, or mediation's own registration)."""

    message_id: str
    case: str
    at: datetime
    category: str
    source: str
    community: str
    street: str
    persons: int


@dataclass(frozen=True)
class CaseAccepted:
    """A case was accepted for mediation."""

    message_id: str
    case: str
    at: datetime


@dataclass(frozen=True)
class CaseEnded:
    """A case ended (case.closed), with the prevention counts recorded at closing."""

    message_id: str
    case: str
    at: datetime
    outcome: str
    criminal_prevented_persons: int = 0  # > 0: the dispute was kept from becoming a criminal case
    petition_prevented_persons: int = 0  # > 0: a group petition was prevented


@dataclass(frozen=True)
class AgreementPerformed:
    """A follow-up found a case's agreement performed."""

    message_id: str
    case: str
    at: datetime


@dataclass(frozen=True)
class PatrolVisit:
    """A patrol team's visit; `found_early` when it uncovered a dispute before it was filed."""

    message_id: str
    at: datetime
    community: str
    street: str
    found_early: bool = False


Fact = CaseReceived | CaseAccepted | CaseEnded | AgreementPerformed | PatrolVisit


@dataclass(frozen=True)
class State:
    """The read model's state: every fact by message id (so repeats are one fact)."""

    facts: Mapping[str, Fact] = field(default_factory=lambda: MappingProxyType({}))


def _check(fact: Fact) -> None:
    if fact.at.tzinfo is None:
        raise StatsInputError(f"{fact.message_id}: time without a timezone")
    if isinstance(fact, CaseReceived):
        if fact.category not in MOJ_OF_TAXONOMY:
            raise StatsInputError(f"{fact.message_id}: unknown category {fact.category!r}")
        if fact.source not in SOURCES:
            raise StatsInputError(f"{fact.message_id}: unknown source {fact.source!r}")
        if fact.persons < 0:
            raise StatsInputError(f"{fact.message_id}: negative persons")
    if isinstance(fact, CaseEnded):
        if fact.outcome not in OUTCOMES:
            raise StatsInputError(f"{fact.message_id}: unknown outcome {fact.outcome!r}")
        if fact.criminal_prevented_persons < 0 or fact.petition_prevented_persons < 0:
            raise StatsInputError(f"{fact.message_id}: negative persons")


def fold(state: State, fact: Fact) -> State:
    """The state with `fact` added; a message id already folded changes nothing."""
    _check(fact)
    if fact.message_id in state.facts:
        return state
    return State(MappingProxyType({**state.facts, fact.message_id: fact}))


def fold_all(facts: Iterable[Fact], state: State | None = None) -> State:
    """Fold many facts (in any order)."""
    merged = dict(state.facts) if state is not None else {}
    for f in facts:
        _check(f)
        merged.setdefault(f.message_id, f)  # one copy, not one per fact: a replay has many thousands
    return State(MappingProxyType(merged))


@dataclass(frozen=True)
class CaseRecord:
    """Everything known about one case, merged from its facts."""

    received: CaseReceived | None = None
    accepted: CaseAccepted | None = None
    ended: CaseEnded | None = None
    performed: AgreementPerformed | None = None


def _later(a: Any, b: Any) -> Any:
    """The later of two facts of one kind (None-safe), by time then message id: order-independent."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda f: (f.at, f.message_id))


def cases(state: State) -> dict[str, CaseRecord]:
    """The case records merged from the state's facts."""
    out: dict[str, CaseRecord] = {}
    slot = {
        CaseReceived: "received",
        CaseAccepted: "accepted",
        CaseEnded: "ended",
        AgreementPerformed: "performed",
    }
    for f in state.facts.values():
        if isinstance(f, PatrolVisit):
            continue
        rec = out.get(f.case, CaseRecord())
        name = slot[type(f)]
        out[f.case] = replace(rec, **{name: _later(getattr(rec, name), f)})
    return out


# --- figures --------------------------------------------------------------------------------------


def month_of(at: datetime) -> str:
    """ "YYYY-MM" of a time in Beijing."""
    local = at.astimezone(BEIJING)
    return f"{local.year:04d}-{local.month:02d}"


def quarter_of_month(month: str) -> str:
    """ "2026-11" -> "2026-Q4"."""
    year, m = month.split("-")
    return f"{year}-Q{(int(m) - 1) // 3 + 1}"


@dataclass(frozen=True)
class Figures:
    """The counts of one area in one period."""

    received: int = 0
    persons: int = 0
    accepted: int = 0
    settled: int = 0
    failed: int = 0
    ended: int = 0
    performed: int = 0
    patrol_visits: int = 0
    found_early: int = 0
    criminal_prevented_cases: int = 0
    criminal_prevented_persons: int = 0
    petitions_prevented_cases: int = 0
    petitions_prevented_persons: int = 0
    received_by_category: tuple[tuple[str, int], ...] = ()  # MoJ category -> count, all 15, table order
    settled_by_category: tuple[tuple[str, int], ...] = ()
    received_by_source: tuple[tuple[str, int], ...] = ()
    close_days: tuple[int, ...] = ()  # sorted days to close of the cases ended in the period (internal)

    @property
    def success_rate(self) -> Fraction | None:
        """settled / (settled + failed), None when nothing was mediated to an end."""
        base = self.settled + self.failed
        return Fraction(self.settled, base) if base else None

    @property
    def median_days_to_close(self) -> Fraction | None:
        """The median of the days to close (the mean of the middle two for an even count)."""
        d = self.close_days
        if not d:
            return None
        mid = len(d) // 2
        return Fraction(d[mid]) if len(d) % 2 else Fraction(d[mid - 1] + d[mid], 2)

    @property
    def closed_within_month(self) -> Fraction | None:
        """Share of the cases ended in the period that closed within 30 days."""
        if not self.close_days:
            return None
        return Fraction(sum(1 for x in self.close_days if x <= WITHIN_A_MONTH_DAYS), len(self.close_days))

    def public_dict(self) -> dict[str, Any]:
        """The figures for the board, before suppression: counts, rates as strings, no per-case data."""

        def rate(x: Fraction | None) -> str | None:
            return None if x is None else str(x)

        return {
            "received": self.received,
            "persons": self.persons,
            "accepted": self.accepted,
            "settled": self.settled,
            "failed": self.failed,
            "ended": self.ended,
            "performed": self.performed,
            "patrol_visits": self.patrol_visits,
            "found_early": self.found_early,
            "criminal_prevented": {
                "cases": self.criminal_prevented_cases,
                "persons": self.criminal_prevented_persons,
            },
            "petitions_prevented": {
                "cases": self.petitions_prevented_cases,
                "persons": self.petitions_prevented_persons,
            },
            "received_by_category": dict(self.received_by_category),
            "settled_by_category": dict(self.settled_by_category),
            "received_by_source": dict(self.received_by_source),
            "success_rate": rate(self.success_rate),
            "median_days_to_close": rate(self.median_days_to_close),
            "closed_within_month": rate(self.closed_within_month),
        }


_COUNTERS = (
    "received",
    "persons",
    "accepted",
    "settled",
    "failed",
    "ended",
    "performed",
    "patrol_visits",
    "found_early",
    "criminal_prevented_cases",
    "criminal_prevented_persons",
    "petitions_prevented_cases",
    "petitions_prevented_persons",
)


class _Acc:
    """A mutable accumulator for one (level, area, period) while figures are built."""

    def __init__(self) -> None:
        self.n = dict.fromkeys(_COUNTERS, 0)
        self.cat = dict.fromkeys(MOJ_CATEGORIES, 0)
        self.cat_settled = dict.fromkeys(MOJ_CATEGORIES, 0)
        self.src = dict.fromkeys(SOURCES, 0)
        self.days: list[int] = []

    def freeze(self) -> Figures:
        return Figures(
            **self.n,
            received_by_category=tuple(self.cat.items()),
            settled_by_category=tuple(self.cat_settled.items()),
            received_by_source=tuple(self.src.items()),
            close_days=tuple(sorted(self.days)),
        )


Key = tuple[str, str, str]  # (level: community | street | district, area code, period)


def figures(state: State, period: str = "month") -> dict[Key, Figures]:
    """The figures per (level, area, period) with period "month" ("2026-11") or "quarter" ("2026-Q4")."""
    if period not in ("month", "quarter"):
        raise ValueError("period is month or quarter")

    def when(at: datetime) -> str:
        m = month_of(at)
        return m if period == "month" else quarter_of_month(m)

    acc: dict[Key, _Acc] = {}

    def add(community: str, street: str, at: datetime) -> list[_Acc]:
        p = when(at)
        keys = [("community", community, p), ("street", street, p), (DISTRICT, DISTRICT, p)]
        return [acc.setdefault(k, _Acc()) for k in keys]

    for rec in cases(state).values():
        r = rec.received
        if r is None:
            continue  # the community is unknown until the receipt fact arrives
        moj = MOJ_OF_TAXONOMY[r.category]
        for a in add(r.community, r.street, r.at):
            a.n["received"] += 1
            a.n["persons"] += r.persons
            a.cat[moj] += 1
            a.src[r.source] += 1
        if rec.accepted is not None:
            for a in add(r.community, r.street, rec.accepted.at):
                a.n["accepted"] += 1
        e = rec.ended
        if e is not None:
            days = (e.at.astimezone(BEIJING).date() - r.at.astimezone(BEIJING).date()).days
            for a in add(r.community, r.street, e.at):
                a.n["ended"] += 1
                a.days.append(days)
                if e.outcome in SETTLED_OUTCOMES:
                    a.n["settled"] += 1
                    a.cat_settled[moj] += 1
                elif e.outcome in FAILED_OUTCOMES:
                    a.n["failed"] += 1
                if e.criminal_prevented_persons > 0:
                    a.n["criminal_prevented_cases"] += 1
                    a.n["criminal_prevented_persons"] += e.criminal_prevented_persons
                if e.petition_prevented_persons > 0:
                    a.n["petitions_prevented_cases"] += 1
                    a.n["petitions_prevented_persons"] += e.petition_prevented_persons
        if rec.performed is not None:
            for a in add(r.community, r.street, rec.performed.at):
                a.n["performed"] += 1
    for f in state.facts.values():
        if isinstance(f, PatrolVisit):
            for a in add(f.community, f.street, f.at):
                a.n["patrol_visits"] += 1
                a.n["found_early"] += int(f.found_early)
    return {k: a.freeze() for k, a in sorted(acc.items())}


def combine(parts: Iterable[Figures]) -> Figures:
    """Figures of several periods (or areas) together: counts add, days to close are pooled."""
    total = _Acc()
    for f in parts:
        for name in _COUNTERS:
            total.n[name] += getattr(f, name)
        for (c, n), (_, s) in zip(f.received_by_category, f.settled_by_category, strict=True):
            total.cat[c] += n
            total.cat_settled[c] += s
        for src, n in f.received_by_source:
            total.src[src] += n
        total.days += f.close_days
    return total.freeze()


def to_quarter(monthly: Mapping[Key, Figures]) -> dict[Key, Figures]:
    """Monthly figures aggregated into quarters."""
    groups: dict[Key, list[Figures]] = {}
    for (level, area, month), f in monthly.items():
        groups.setdefault((level, area, quarter_of_month(month)), []).append(f)
    return {k: combine(v) for k, v in sorted(groups.items())}
