"""The public board's tables for one quarter: mediation figures laid out as suppressed tables.

Design (how linked figures stay protected; see domain/suppression.py "Linked tables"):
- Figures are published **by quarter only**. A month is not published beside its quarter: a
  quarter is the sum of its months, and two published tables sharing a sum could be differenced.
- Each family of figures is **one table for the whole district**: rows = the district's
  communities, columns = a partition of the figure (e.g. received by source). A community's page
  shows its row; the district's page shows the column totals and the grand total (the margins of
  that same table). So a community's figure and the district's are published from ONE table.
- A street's page shows the rows of its communities from those tables. Its "street total" is shown
  only where every one of those rows' entries is a number (then it reveals nothing that is not
  already shown); otherwise it reads "x". So no street figure can be differenced against the others.
- One figure published in two tables (a community's cases received is the row total of the
  source table and of the category table; its settled cases are a cell of the outcome table and
  the row total of the settled-by-category table; its ended cases are the row total of the outcome
  and the time-to-close tables) is shown the same way in both: if either table hides it, both do
  (`harmonise`). Hiding only widens what a reader can infer, so each table stays protected.
  What is NOT checked exactly: inference combining two tables' different column splits of one
  hidden total (a three-way problem); harmonising makes such a total hidden in both, which covers
  the usual attack (reading it from the other table).
- A community's breakdown by category only when it had at least 10 cases received in the quarter
  (`suppression.category_breakdown_allowed`); the smaller communities are pooled into one row
  ("communities with fewer than 10 cases"), so the district's column totals stay the table's margins
  and no hidden row can be worked out as "district minus the rest".
- Rates are computed from published numbers only: success rate = settled / (settled + failed) when
  both are shown as numbers; share closed within a month from the time-to-close table likewise; the
  median days to close only for an area with at least 10 cases ended in the quarter (a median of a
  handful of cases says too much about each of them).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from services.council.domain import mediation_stats as ms
from services.council.domain import suppression as sup

POOLED = "_fewer_than_10"  # the pooled row of the category tables
MIN_CASES_FOR_MEDIAN = 10


@dataclass(frozen=True)
class Family:
    """One kind of table: its columns and how to read a row's counts from a community's figures."""

    key: str
    columns: tuple[str, ...]
    # The figure its row totals are (for harmonising with another table), e.g. "received".
    total: str


def _outcome_parts(f: ms.Figures) -> tuple[int, ...]:
    return (f.settled, f.failed, f.ended - f.settled - f.failed)


def _time_parts(f: ms.Figures) -> tuple[int, ...]:
    within = sum(1 for d in f.close_days if d <= ms.WITHIN_A_MONTH_DAYS)
    return (within, len(f.close_days) - within)


FAMILIES: tuple[Family, ...] = (
    Family("received_by_source", tuple(ms.SOURCES), "received"),
    Family("ended_by_outcome", ("settled", "failed", "other"), "ended"),
    Family("ended_by_time", ("within_month", "later"), "ended"),
    Family("received_by_category", tuple(ms.MOJ_CATEGORIES), "received"),
    Family("settled_by_category", tuple(ms.MOJ_CATEGORIES), "settled"),
    Family("patrol", ("found_early", "other_visits"), "patrol_visits"),
    Family("persons", ("persons",), "persons"),
    Family("accepted", ("accepted",), "accepted"),
    Family("performed", ("performed",), "performed"),
    Family("criminal_prevented", ("cases", "persons"), ""),
    Family("petitions_prevented", ("cases", "persons"), ""),
)
FAMILY = {f.key: f for f in FAMILIES}
CATEGORY_FAMILIES = ("received_by_category", "settled_by_category")


def _row(family: str, f: ms.Figures) -> tuple[int, ...]:
    if family == "received_by_source":
        return tuple(n for _, n in f.received_by_source)
    if family == "ended_by_outcome":
        return _outcome_parts(f)
    if family == "ended_by_time":
        return _time_parts(f)
    if family == "received_by_category":
        return tuple(n for _, n in f.received_by_category)
    if family == "settled_by_category":
        return tuple(n for _, n in f.settled_by_category)
    if family == "patrol":
        return (f.found_early, f.patrol_visits - f.found_early)
    if family == "criminal_prevented":
        return (f.criminal_prevented_cases, f.criminal_prevented_persons)
    if family == "petitions_prevented":
        return (f.petitions_prevented_cases, f.petitions_prevented_persons)
    return (getattr(f, family),)


def quarter_by_community(monthly: Mapping[ms.Key, ms.Figures]) -> dict[str, dict[str, ms.Figures]]:
    """Quarter -> community -> figures, from `mediation_stats.figures(state, "month")`."""
    out: dict[str, dict[str, ms.Figures]] = {}
    for (level, area, quarter), f in ms.to_quarter(monthly).items():
        if level == "community":
            out.setdefault(quarter, {})[area] = f
    return out


def _published_dict(pub: sup.Published) -> dict[str, Any]:
    return {
        "cells": [list(r) for r in pub.cells],
        "row_totals": list(pub.row_totals),
        "col_totals": list(pub.col_totals),
        "grand_total": pub.grand_total,
        "withheld": pub.withheld,
    }


def _published_of(d: Mapping[str, Any]) -> sup.Published:
    return sup.Published(
        tuple(tuple(r) for r in d["cells"]),
        tuple(d["row_totals"]),
        tuple(d["col_totals"]),
        d["grand_total"],
        d["withheld"],
    )


def _hide(d: dict[str, Any], where: tuple[str, int, int]) -> bool:
    """Show an entry as "x" (only numbers are turned into x; "<5" stays "<5"). True if it changed."""
    kind, i, j = where
    if kind == "cell":
        current = d["cells"][i][j]
    elif kind == "row":
        current = d["row_totals"][i]
    elif kind == "col":
        current = d["col_totals"][i]
    else:
        current = d["grand_total"]
    if not isinstance(current, int) or current == 0:
        return False
    if kind == "cell":
        d["cells"][i][j] = sup.HIDDEN
    elif kind == "row":
        d["row_totals"][i] = sup.HIDDEN
    elif kind == "col":
        d["col_totals"][i] = sup.HIDDEN
    else:
        d["grand_total"] = sup.HIDDEN
    return True


def _shown(d: Mapping[str, Any], where: tuple[str, int, int]) -> Any:
    return _published_of(d).shown(where)


def links(tables: Mapping[str, Mapping[str, Any]]) -> list[tuple[tuple[str, tuple[str, int, int]], ...]]:
    """Groups of (table, entry) that publish the same figure (see the module docstring)."""
    groups: list[tuple[tuple[str, tuple[str, int, int]], ...]] = []
    src, out, time = tables["received_by_source"], tables["ended_by_outcome"], tables["ended_by_time"]
    for i, community in enumerate(src["rows"]):
        received = [("received_by_source", ("row", i, 0))]
        ended = [
            ("ended_by_outcome", ("row", i, 0)),
            ("ended_by_time", ("row", time["rows"].index(community), 0)),
        ]
        settled = [("ended_by_outcome", ("cell", out["rows"].index(community), 0))]
        for fam in CATEGORY_FAMILIES:
            rows = tables[fam]["rows"]
            if community in rows:
                group = received if fam == "received_by_category" else settled
                group.append((fam, ("row", rows.index(community), 0)))
        groups += [tuple(received), tuple(ended), tuple(settled)]
    # The district's totals: the grand totals, and the settled column total of the outcome table.
    groups.append(
        (
            ("received_by_source", ("all", 0, 0)),
            ("received_by_category", ("all", 0, 0)),
        )
    )
    groups.append((("ended_by_outcome", ("all", 0, 0)), ("ended_by_time", ("all", 0, 0))))
    groups.append((("ended_by_outcome", ("col", 0, 0)), ("settled_by_category", ("all", 0, 0))))
    return [g for g in groups if len(g) > 1]


def harmonise(tables: dict[str, dict[str, Any]]) -> None:
    """Hide in every table a figure that any table publishing it hides (in place, until stable)."""
    # A withheld table publishes nothing, so it links nothing.
    groups = [tuple((t, e) for t, e in g if not tables[t]["published"]["withheld"]) for g in links(tables)]
    changed = True
    while changed:
        changed = False
        for group in groups:
            if any(_shown(tables[t]["published"], e) == sup.HIDDEN for t, e in group):
                for t, e in group:
                    changed |= _hide(tables[t]["published"], e)


def build_quarter(
    by_community: Mapping[str, ms.Figures], district: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Every published table of one quarter. `district`: (community, street) in display order.
    Returns {"tables": {family: {"columns", "rows", "published"}}, "medians": {area: str | None}}."""
    empty = ms.Figures(
        received_by_category=tuple((c, 0) for c in ms.MOJ_CATEGORIES),
        settled_by_category=tuple((c, 0) for c in ms.MOJ_CATEGORIES),
        received_by_source=tuple((s, 0) for s in ms.SOURCES),
    )
    figures = {code: by_community.get(code, empty) for code, _ in district}
    codes = [code for code, _ in district]
    tables: dict[str, dict[str, Any]] = {}
    for family in FAMILIES:
        rows: list[str] = list(codes)
        cells = [list(_row(family.key, figures[c])) for c in codes]
        if family.key in CATEGORY_FAMILIES:
            big = [c for c in codes if sup.category_breakdown_allowed(figures[c].received)]
            small = [c for c in codes if c not in big]
            rows = big + ([POOLED] if small else [])
            cells = [list(_row(family.key, figures[c])) for c in big]
            if small:
                pooled = [0] * len(family.columns)
                for c in small:
                    pooled = [a + b for a, b in zip(pooled, _row(family.key, figures[c]), strict=True)]
                cells.append(pooled)
        published = sup.suppress(sup.Table.of(cells)) if cells else sup.suppress(sup.Table.of([]))
        tables[family.key] = {
            "columns": list(family.columns),
            "rows": rows,
            "published": _published_dict(published),
        }
    harmonise(tables)
    medians: dict[str, str | None] = {}
    streets: dict[str, list[str]] = {}
    for code, street in district:
        streets.setdefault(street, []).append(code)
    areas = {**{c: [c] for c in codes}, **{f"street:{s}": cs for s, cs in streets.items()}, "district": codes}
    for area, members in areas.items():
        pooled_days = sorted(d for c in members for d in figures[c].close_days)
        medians[area] = median(pooled_days) if len(pooled_days) >= MIN_CASES_FOR_MEDIAN else None
    return {"tables": tables, "medians": medians}


def median(days: Sequence[int]) -> str | None:
    """The median of sorted days as a string ("12" or "12.5"), None when empty."""
    if not days:
        return None
    mid = len(days) // 2
    value = Fraction(days[mid]) if len(days) % 2 else Fraction(days[mid - 1] + days[mid], 2)
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.1f}"


def ratio(part: Any, whole_parts: Sequence[Any]) -> Fraction | None:
    """part / sum(whole_parts) when every one is a published number and the sum is positive."""
    if not isinstance(part, int) or not all(isinstance(p, int) for p in whole_parts):
        return None
    whole = sum(whole_parts)
    return Fraction(part, whole) if whole else None


def street_total(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Column sums of a street's rows where every entry is a published number, else "x"."""
    if not rows:
        return []
    out: list[Any] = []
    for column in zip(*rows, strict=True):
        out.append(sum(column) if all(isinstance(v, int) for v in column) else sup.HIDDEN)
    return out
