"""The reports' pure counting (services/mediation/domain/report_tables.py), without I/O: periods,
what counts in which month (Beijing time), the MoJ categories and sources, rates and medians,
quarters and years as the sum of their months, the per-mediator table and the sheet's rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from services.mediation.domain import report_tables as rt
from shared.moj_table import MOJ_CATEGORIES, MOJ_SOURCE_OF
from shared.taxonomy import CATEGORY_CODES

NOV = rt.parse_period("2026-11")


def at(day: str, hour: int = 2) -> datetime:
    """A UTC moment on a day of 2026 ("11-05"): 10:00 in Beijing by default."""
    month, d = day.split("-")
    return datetime(2026, int(month), int(d), hour, 0, tzinfo=UTC)


def case(**kw) -> rt.CaseRow:
    base = {
        "studio": "zhihe",
        "community": "lianhua",
        "street": "qinghe",
        "category": "neighbours",
        "source": "application",
        "received_at": at("11-02"),
    }
    return rt.CaseRow(**{**base, **kw})


def test_periods_are_months_quarters_and_years() -> None:
    assert rt.parse_period("2026-11").months == frozenset({"2026-11"})
    assert rt.parse_period("2026-Q4").months == frozenset({"2026-10", "2026-11", "2026-12"})
    assert rt.parse_period("2026-Q1").kind == "quarter"
    assert len(rt.parse_period("2026").months) == 12
    for bad in ("2026-13", "2026-Q5", "26-11", "2026-1", "november", "", "2026-11-01"):
        with pytest.raises(rt.ReportInputError):
            rt.parse_period(bad)
    # Beijing's month: 17:00 UTC on 31 October is already 1 November there.
    assert NOV.contains(datetime(2026, 10, 31, 17, 0, tzinfo=UTC))
    assert not NOV.contains(datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
    assert rt.current_period(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), "quarter") == "2027-Q1"
    assert rt.current_period(at("11-05"), "year") == "2026"
    assert rt.parse_period("2026-Q4").start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)


def test_what_counts_where() -> None:
    rows = [
        # settled in writing in November, with an amount, confirmed, performed
        case(
            category="housing",
            amount=1200.5,
            persons=3,
            accepted_at=at("11-03"),
            ended_at=at("11-20"),
            outcome="agreement_written",
            confirmation_applied_at=at("11-25"),
            confirmed_at=at("12-02"),
            performed_at=at("11-28"),
        ),
        # oral agreement, own initiative, prevention counts
        case(
            source="patrol_discovery",
            category="village_affairs",
            amount=300,
            ended_at=at("11-10"),
            outcome="agreement_oral",
            criminal_prevented_persons=4,
            petition_prevented_persons=12,
        ),
        # failed: no amount counted, counts in the failure base
        case(source="referred_police", amount=99999, ended_at=at("11-12"), outcome="failed"),
        # withdrawn: ended, but neither settled nor failed
        case(ended_at=at("11-04"), outcome="withdrawn"),
        # received in October, settled in November: the receipt is October's
        case(received_at=at("10-20"), ended_at=at("11-01"), outcome="agreement_written", amount=10),
        # received in November, still open
        case(category="land_contracting"),
    ]
    visits = [
        rt.PatrolRow("zhihe", "lianhua", "qinghe", "sweep", at("11-08"), found_early=True),
        rt.PatrolRow("zhihe", "lianhua", "qinghe", "dispatch", at("11-09")),
        rt.PatrolRow("zhihe", "lianhua", "qinghe", "sweep", at("10-09"), found_early=True),
    ]
    f = rt.figures(rows, visits, NOV)
    v = f.value
    assert v("received") == 5 and v("persons") == 3
    assert v("received.housing_homestead") == 1 and v("received.other") == 1
    assert v("received.forest_land") == 1 and v("received.neighbours") == 2
    assert v("received.production_business") == 0  # no taxonomy code feeds it
    assert (v("source.application"), v("source.own_initiative"), v("source.referred")) == (3, 1, 1)
    assert v("accepted") == 1
    assert (v("ended"), v("settled"), v("failed")) == (5, 3, 1)
    assert (v("written"), v("oral")) == (2, 1)
    assert v("amount") == 1510.5  # settled cases only
    assert v("settled.housing_homestead") == 1 and v("settled.neighbours") == 1 and v("settled.other") == 1
    assert f.success_rate == Fraction(3, 4) and v("success_rate") == 75.0
    assert (v("confirmation_applied"), v("confirmed"), v("performed")) == (1, 0, 1)
    assert (v("criminal_prevented_cases"), v("criminal_prevented_persons")) == (1, 4)
    assert (v("petitions_prevented_cases"), v("petitions_prevented_persons")) == (1, 12)
    assert (v("patrol_visits"), v("sweeps"), v("found_early")) == (2, 1, 1)
    # days to close: 18, 8, 10, 2, 12 -> median 10
    assert f.close_days == (2, 8, 10, 12, 18) and v("median_days") == 10
    assert rt.figures(rows, visits, rt.parse_period("2026-12")).value("confirmed") == 1


def test_nothing_to_divide_is_none_not_zero() -> None:
    f = rt.figures([case(ended_at=at("11-04"), outcome="withdrawn")], [], NOV)
    assert f.value("success_rate") is None and f.value("median_days") == 2
    empty = rt.figures([], [], NOV)
    assert empty.value("median_days") is None and empty.value("received") == 0
    even = rt.figures(
        [case(ended_at=at("11-03"), outcome="failed"), case(ended_at=at("11-06"), outcome="failed")], [], NOV
    )
    assert even.value("median_days") == 2.5


def test_rows_that_cannot_be_counted_are_refused() -> None:
    with pytest.raises(rt.ReportInputError):
        rt.figures([case(category="gossip")], [], NOV)
    with pytest.raises(rt.ReportInputError):
        rt.figures([case(source="rumour")], [], NOV)
    with pytest.raises(rt.ReportInputError):
        rt.figures([case(received_at=datetime(2026, 11, 2))], [], NOV)


def _random_rows(seed: int) -> list[rt.CaseRow]:
    rng = random.Random(seed)
    rows = []
    for _ in range(200):
        received = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 360 * 24))
        ended = received + timedelta(days=rng.randint(0, 80)) if rng.random() < 0.7 else None
        rows.append(
            case(
                category=rng.choice(CATEGORY_CODES),
                source=rng.choice(list(MOJ_SOURCE_OF)),
                received_at=received,
                persons=rng.randint(0, 5),
                amount=rng.choice([None, 100.0, 2500.0]),
                accepted_at=received + timedelta(days=1),
                ended_at=ended,
                outcome=rng.choice(["agreement_written", "agreement_oral", "failed", "referred"])
                if ended
                else None,
                criminal_prevented_persons=rng.choice([0, 0, 3]) if ended else 0,
            )
        )
    return rows


def test_a_quarter_and_a_year_are_the_sum_of_their_months() -> None:
    rows = _random_rows(11)
    months = [rt.figures(rows, [], rt.parse_period(f"2026-{m:02d}")) for m in range(1, 13)]
    for label, part in (("2026-Q2", months[3:6]), ("2026", months)):
        whole = rt.figures(rows, [], rt.parse_period(label))
        for column in rt.COLUMNS:
            if column.kind == "count":
                assert whole.value(column.key) == sum(m.value(column.key) for m in part), column.key
        assert whole.value("amount") == pytest.approx(sum(m.value("amount") for m in part))
        # the median is recomputed from the days, never a median of medians
        assert whole.close_days == tuple(sorted(d for m in part for d in m.close_days))
        assert whole.median_days == rt.median(whole.close_days)


def test_every_taxonomy_code_and_source_has_its_moj_line() -> None:
    from shared.messaging.events import CASE_SOURCES
    from shared.moj_table import MOJ_OF_TAXONOMY, MOJ_SOURCES

    assert set(MOJ_OF_TAXONOMY) == set(CATEGORY_CODES)
    assert set(MOJ_OF_TAXONOMY.values()) <= set(MOJ_CATEGORIES)
    assert set(MOJ_SOURCE_OF) == set(CASE_SOURCES) and set(MOJ_SOURCE_OF.values()) == set(MOJ_SOURCES)


def test_every_category_of_the_moj_table_is_a_column_twice() -> None:
    keys = rt.COLUMN_KEYS
    assert len(set(keys)) == len(keys)
    for code in MOJ_CATEGORIES:
        assert f"received.{code}" in keys and f"settled.{code}" in keys
    assert len(MOJ_CATEGORIES) == 15


def test_areas_and_the_total() -> None:
    rows = [case(), case(community="heping"), case(community="chaoyang", street="dongfeng")]
    areas = [
        rt.Area(code, code, code, lambda c, s=code: c.street == s, lambda p, s=code: p.street == s)
        for code in ("qinghe", "dongfeng", "nanhu")
    ]
    total = rt.Area("district", "全区合计", "District total", lambda c: True, lambda p: True)
    units, whole = rt.table(rows, [], NOV, areas, total)
    assert [u.figures.value("received") for u in units] == [2, 1, 0]
    assert whole.figures.value("received") == 3 and whole.label("en") == "District total"
    sheet = rt.sheet_rows(units, whole, "zh-CN", "街道")
    assert (
        sheet[0][0] == "街道"
        and sheet[0][1] == rt.COLUMNS[0].zh == "受理纠纷\uff08件\uff09"
        and len(sheet) == 5
    )
    assert sheet[-1][0] == "全区合计" and sheet[-1][1] == 3 and isinstance(sheet[-1][1], int)
    assert all(len(r) == len(rt.COLUMNS) + 1 for r in sheet)


def test_per_mediator_cases_endings_median_and_overdue() -> None:
    rows = [
        case(mediators=("chen", "zhou"), ended_at=at("11-12"), outcome="agreement_oral"),
        case(mediators=("chen",), received_at=at("10-01"), ended_at=at("11-21"), outcome="failed"),
        case(mediators=("chen",), received_at=at("09-01"), overdue=True),  # still open, overdue
        case(mediators=("chen",), received_at=at("09-01"), ended_at=at("10-30"), outcome="failed"),  # before
        case(mediators=("zhou",), received_at=at("12-01")),  # after the period
    ]
    table = {m.mediator: m for m in rt.mediator_table(rows, NOV)}
    chen, zhou = table["chen"], table["zhou"]
    assert (chen.cases, chen.endings, chen.settled, chen.overdue) == (3, 2, 1, 1)
    assert chen.median_days == Fraction(10 + 51, 2)
    assert (zhou.cases, zhou.endings, zhou.median_days) == (1, 1, Fraction(10))
