# Chinese labels use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The studio's, street's and district's reports in the Ministry of Justice's monthly table layout
(人民调解工作统计): pure aggregation of case and patrol rows, read from mediation's own records by
`services/mediation/reports.py`.

**What counts where** is the public board's rule (council's `domain/mediation_stats.py`), so the two
agree for the same period (a test feeds one set of cases to both): months in Beijing time (UTC+8);
received, persons, by category and by source: the month of receipt; accepted: the month of the latest
acceptance; settled (a written or oral agreement), failed, ended, days to close and the prevention
counts: the month of ending; performed: the month of the latest follow-up that found it performed;
patrol visits and disputes found early: the month of the visit. Success rate = settled / (settled +
failed); days to close = Beijing calendar days from receipt to ending, median over the cases ended.

Beyond the board (from mediation's records only): written and oral agreements, the amount covered by
agreements (the dispute's amount involved of the cases settled: an agreement records no amount of its
own), judicial confirmations applied for and granted (the month of the step), patrol sweeps (reported
sweep tasks), and per mediator: cases, endings, median days, overdue.

The 15 categories and the three sources are `shared.moj_table.MOJ_*` (生产经营 has no taxonomy code,
so its line stays 0). Periods: a month "2026-11", a quarter "2026-Q4" or a year "2026".

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from shared.moj_table import MOJ_CATEGORIES, MOJ_OF_TAXONOMY, MOJ_SOURCE_OF, MOJ_SOURCES

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
SETTLED_OUTCOMES = frozenset({"agreement_written", "agreement_oral"})
FAILED = "failed"


class ReportInputError(ValueError):
    """A period that cannot be read, or a row that cannot be counted."""


# --- periods --------------------------------------------------------------------------------------
_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])))?$")


@dataclass(frozen=True)
class Period:
    """A month, quarter or year, as the months (Beijing time) it spans."""

    code: str  # "2026-11" | "2026-Q4" | "2026"
    kind: str  # month | quarter | year
    months: frozenset[str]

    @property
    def start(self) -> datetime:
        """The period's first moment (midnight of its first day in Beijing)."""
        year, month = (int(x) for x in min(self.months).split("-"))
        return datetime(year, month, 1, tzinfo=BEIJING)

    def contains(self, at: datetime | None) -> bool:
        """Whether a (timezone-aware) moment falls in the period."""
        return at is not None and month_of(at) in self.months


def month_of(at: datetime) -> str:
    """ "YYYY-MM" of a moment in Beijing."""
    if at.tzinfo is None:
        raise ReportInputError("a time without a timezone")
    local = at.astimezone(BEIJING)
    return f"{local.year:04d}-{local.month:02d}"


FIRST_YEAR, LAST_YEAR = 2000, 2100


def parse_period(code: str) -> Period:
    """ "2026-11", "2026-Q4" or "2026"; ReportInputError otherwise."""
    found = _PERIOD.match(code.strip())
    if not found:
        raise ReportInputError("A period is a month (2026-11), a quarter (2026-Q4) or a year (2026).")
    year = int(found["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        # People's mediation records start long after 2000; a year 0 or 9999 is a typing slip.
        raise ReportInputError("A period's year is between 2000 and 2100.")
    if found["month"]:
        return Period(code.strip(), "month", frozenset({f"{year:04d}-{found['month']}"}))
    if found["quarter"]:
        q = int(found["quarter"])
        return Period(
            code.strip(), "quarter", frozenset(f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1))
        )
    return Period(code.strip(), "year", frozenset(f"{year:04d}-{m:02d}" for m in range(1, 13)))


def current_period(now: datetime, kind: str = "month") -> str:
    """The period of `kind` that `now` (Beijing) falls in."""
    month = month_of(now)
    year, m = month.split("-")
    if kind == "quarter":
        return f"{year}-Q{(int(m) - 1) // 3 + 1}"
    return year if kind == "year" else month


# --- rows -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseRow:
    """What a report needs of one case: codes, counts and times; never a name, phone or text."""

    studio: str
    community: str
    street: str
    category: str  # shared/taxonomy.py code
    source: str  # detailed source (shared/messaging/events.py CASE_SOURCES)
    received_at: datetime
    persons: int = 0
    amount: float | None = None  # the dispute's amount involved (yuan)
    accepted_at: datetime | None = None  # the latest acceptance
    ended_at: datetime | None = None
    outcome: str | None = None
    criminal_prevented_persons: int = 0
    petition_prevented_persons: int = 0
    performed_at: datetime | None = None  # the latest follow-up that found the agreement performed
    confirmation_applied_at: datetime | None = None
    confirmed_at: datetime | None = None
    mediators: tuple[str, ...] = ()
    overdue: bool = False  # past its deadline now (open) or when it ended


@dataclass(frozen=True)
class PatrolRow:
    """One reported patrol visit."""

    studio: str | None
    community: str
    street: str
    kind: str  # dispatch | same_day | sweep
    reported_at: datetime
    found_early: bool = False


# --- the table's columns --------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column of the MoJ table: its key, Chinese and English headers, and the section it sits in."""

    key: str
    zh: str
    en: str
    section: str
    kind: str = "count"  # count | percent | amount | days

    def header(self, language: str) -> str:
        return self.zh if language.lower().startswith("zh") else self.en


SECTIONS: dict[str, tuple[str, str]] = {
    "received": ("受理", "Received"),
    "by_category": ("受理纠纷类别", "Received by category"),
    "by_source": ("纠纷来源", "By source"),
    "results": ("调解结果", "Results"),
    "settled_by_category": ("调解成功类别", "Settled by category"),
    "agreements": ("协议", "Agreements"),
    "prevention": ("预防", "Prevention"),
    "patrol": ("排查", "Patrol"),
}


def _columns() -> tuple[Column, ...]:
    cols = [
        Column("received", "受理纠纷（件）", "Received (cases)", "received"),
        Column("persons", "涉及当事人（人）", "Persons involved", "received"),
        Column("accepted", "已受理（件）", "Accepted (cases)", "received"),
    ]
    cols += [Column(f"received.{code}", zh, en, "by_category") for code, (zh, en) in MOJ_CATEGORIES.items()]
    cols += [Column(f"source.{code}", zh, en, "by_source") for code, (zh, en) in MOJ_SOURCES.items()]
    cols += [
        Column("ended", "结案（件）", "Ended (cases)", "results"),
        Column("settled", "调解成功（件）", "Settled (cases)", "results"),
        Column("failed", "调解不成（件）", "Failed (cases)", "results"),
        Column("success_rate", "调解成功率（%）", "Success rate (%)", "results", "percent"),
        Column("median_days", "结案天数中位数", "Median days to close", "results", "days"),
    ]
    cols += [
        Column(f"settled.{code}", zh, en, "settled_by_category") for code, (zh, en) in MOJ_CATEGORIES.items()
    ]
    cols += [
        Column("written", "书面协议（份）", "Written agreements", "agreements"),
        Column("oral", "口头协议（份）", "Oral agreements", "agreements"),
        Column("amount", "协议涉及金额（元）", "Amount covered by agreements (yuan)", "agreements", "amount"),
        Column(
            "confirmation_applied", "申请司法确认（件）", "Judicial confirmation applied for", "agreements"
        ),
        Column("confirmed", "司法确认有效（件）", "Judicially confirmed", "agreements"),
        Column("performed", "协议履行（件）", "Agreements performed", "agreements"),
        Column(
            "criminal_prevented_cases",
            "防止民转刑（件）",
            "Kept from becoming criminal cases (cases)",
            "prevention",
        ),
        Column(
            "criminal_prevented_persons",
            "防止民转刑（人）",
            "Kept from becoming criminal cases (persons)",
            "prevention",
        ),
        Column(
            "petitions_prevented_cases",
            "防止群体性上访（件）",
            "Group petitions prevented (cases)",
            "prevention",
        ),
        Column(
            "petitions_prevented_persons",
            "防止群体性上访（人）",
            "Group petitions prevented (persons)",
            "prevention",
        ),
        Column("patrol_visits", "巡查走访（次）", "Patrol visits", "patrol"),
        Column("sweeps", "排查（次）", "Patrol sweeps", "patrol"),
        Column("found_early", "排查发现纠纷（件）", "Disputes found early", "patrol"),
    ]
    return tuple(cols)


COLUMNS: tuple[Column, ...] = _columns()
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)


# --- aggregation ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """One row of the table: counts by column key, and the days to close behind the median."""

    counts: dict[str, int | float] = field(default_factory=dict)
    close_days: tuple[int, ...] = ()

    @property
    def success_rate(self) -> Fraction | None:
        base = int(self.counts.get("settled", 0)) + int(self.counts.get("failed", 0))
        return Fraction(int(self.counts.get("settled", 0)), base) if base else None

    @property
    def median_days(self) -> Fraction | None:
        return median(self.close_days)

    def value(self, key: str) -> int | float | None:
        """A column's value as the table shows it: counts as integers, the rate as a percentage with
        one decimal, the median in days (None when there is nothing to divide), the amount in yuan."""
        if key == "success_rate":
            rate = self.success_rate
            return None if rate is None else round(float(rate) * 100, 1)
        if key == "median_days":
            days = self.median_days
            return None if days is None else float(days) if days.denominator != 1 else int(days)
        if key == "amount":
            return round(float(self.counts.get("amount", 0)), 2)
        return int(self.counts.get(key, 0))


def median(values: Sequence[int]) -> Fraction | None:
    """The median (the mean of the middle two for an even count); None for no values."""
    d = sorted(values)
    if not d:
        return None
    mid = len(d) // 2
    return Fraction(d[mid]) if len(d) % 2 else Fraction(d[mid - 1] + d[mid], 2)


def days_to_close(received_at: datetime, ended_at: datetime) -> int:
    """Beijing calendar days from receipt to ending."""
    return (ended_at.astimezone(BEIJING).date() - received_at.astimezone(BEIJING).date()).days


def _check(row: CaseRow) -> None:
    if row.category not in MOJ_OF_TAXONOMY:
        raise ReportInputError(f"unknown category {row.category!r}")
    if row.source not in MOJ_SOURCE_OF:
        raise ReportInputError(f"unknown source {row.source!r}")
    if row.received_at.tzinfo is None:
        raise ReportInputError("a time without a timezone")


def figures(cases: Iterable[CaseRow], patrols: Iterable[PatrolRow], period: Period) -> Figures:
    """The table's row for the given cases and patrol visits (already limited to the area) in `period`."""
    n: dict[str, int | float] = dict.fromkeys(
        (c.key for c in COLUMNS if c.kind == "count"),
        0,
    )
    n["amount"] = 0.0
    days: list[int] = []
    inside = period.contains
    for row in cases:
        _check(row)
        moj = MOJ_OF_TAXONOMY[row.category]
        if inside(row.received_at):
            n["received"] += 1
            n["persons"] += row.persons
            n[f"received.{moj}"] += 1
            n[f"source.{MOJ_SOURCE_OF[row.source]}"] += 1
        if inside(row.accepted_at):
            n["accepted"] += 1
        if row.ended_at is not None and inside(row.ended_at):
            n["ended"] += 1
            days.append(days_to_close(row.received_at, row.ended_at))
            if row.outcome in SETTLED_OUTCOMES:
                n["settled"] += 1
                n[f"settled.{moj}"] += 1
                n["written" if row.outcome == "agreement_written" else "oral"] += 1
                n["amount"] += float(row.amount or 0)
            elif row.outcome == FAILED:
                n["failed"] += 1
            if row.criminal_prevented_persons > 0:
                n["criminal_prevented_cases"] += 1
                n["criminal_prevented_persons"] += row.criminal_prevented_persons
            if row.petition_prevented_persons > 0:
                n["petitions_prevented_cases"] += 1
                n["petitions_prevented_persons"] += row.petition_prevented_persons
        if inside(row.performed_at):
            n["performed"] += 1
        if inside(row.confirmation_applied_at):
            n["confirmation_applied"] += 1
        if inside(row.confirmed_at):
            n["confirmed"] += 1
    for visit in patrols:
        if inside(visit.reported_at):
            n["patrol_visits"] += 1
            n["sweeps"] += int(visit.kind == "sweep")
            n["found_early"] += int(visit.found_early)
    return Figures(n, tuple(sorted(days)))


@dataclass(frozen=True)
class Unit:
    """A row of the report: an area (a street, a community) or the total, with its label."""

    code: str
    zh: str
    en: str
    figures: Figures

    def label(self, language: str) -> str:
        return self.zh if language.lower().startswith("zh") else self.en


@dataclass(frozen=True)
class Area:
    """A row to build: its code and labels, and which cases and visits belong to it."""

    code: str
    zh: str
    en: str
    has_case: Callable[[CaseRow], bool]
    has_visit: Callable[[PatrolRow], bool]


def table(
    cases: Sequence[CaseRow], patrols: Sequence[PatrolRow], period: Period, areas: Sequence[Area], total: Area
) -> tuple[list[Unit], Unit]:
    """The rows (one per area) and the total row of the report."""
    rows = [
        Unit(
            a.code,
            a.zh,
            a.en,
            figures([c for c in cases if a.has_case(c)], [p for p in patrols if a.has_visit(p)], period),
        )
        for a in areas
    ]
    whole = Unit(
        total.code,
        total.zh,
        total.en,
        figures([c for c in cases if total.has_case(c)], [p for p in patrols if total.has_visit(p)], period),
    )
    return rows, whole


# --- per mediator ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MediatorFigures:
    """One mediator's row for the lead: cases worked in the period, endings, median days, overdue."""

    mediator: str
    cases: int
    endings: int
    settled: int
    median_days: Fraction | None
    overdue: int


@dataclass
class _Tally:
    cases: int = 0
    endings: int = 0
    settled: int = 0
    overdue: int = 0
    days: list[int] = field(default_factory=list)


def mediator_table(cases: Iterable[CaseRow], period: Period) -> list[MediatorFigures]:
    """Per mediator on a case (co-mediators each count it): the cases open at some time in the period
    (received by its end, not ended before its start), those ended in it (with the settled and the
    median days to close), and of the cases, those overdue (now, or when they ended)."""
    first, last = min(period.months), max(period.months)
    acc: dict[str, _Tally] = {}
    for row in cases:
        if month_of(row.received_at) > last:
            continue
        if row.ended_at is not None and month_of(row.ended_at) < first:
            continue
        for m in row.mediators:
            t = acc.setdefault(m, _Tally())
            t.cases += 1
            t.overdue += int(row.overdue)
            if row.ended_at is not None and period.contains(row.ended_at):
                t.endings += 1
                t.settled += int(row.outcome in SETTLED_OUTCOMES)
                t.days.append(days_to_close(row.received_at, row.ended_at))
    return [
        MediatorFigures(m, t.cases, t.endings, t.settled, median(t.days), t.overdue)
        for m, t in sorted(acc.items())
    ]


# --- the downloadable sheet -----------------------------------------------------------------------
def sheet_rows(
    rows: Sequence[Unit], total: Unit, language: str, area_header: str
) -> list[list[str | int | float | None]]:
    """The table as rows for CSV and XLSX: a header row, one row per area, the total last; numbers
    stay numbers (None: nothing to divide)."""
    header: list[str | int | float | None] = [area_header, *(c.header(language) for c in COLUMNS)]
    body = [[u.label(language), *(u.figures.value(k) for k in COLUMN_KEYS)] for u in [*rows, total]]
    return [header, *body]
