"""The board's pure parts: quarter tables from facts (one district table per family, the pooled
category row, linked figures shown alike), street totals, rates from shown numbers only, the median
rule, and the SVG chart (no bar length for a hidden count, labels escaped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import board_tables as bt
from services.council.domain import mediation_stats as ms
from services.council.domain import suppression as sup
from services.council.domain.charts import bar_chart

DISTRICT = [("a", "s1"), ("b", "s1"), ("c", "s2")]
T0 = datetime(2026, 10, 5, 3, tzinfo=UTC)


def _facts(plan: list[tuple[str, str, str, int]]) -> list[ms.Fact]:
    """(community, category, outcome or "", days to close) per case."""
    out: list[ms.Fact] = []
    for n, (community, category, outcome, days) in enumerate(plan):
        street = dict(DISTRICT)[community]
        out.append(ms.CaseReceived(f"r{n}", f"k{n}", T0, category, ms.APPLICATION, community, street, 2))
        if outcome:
            out.append(ms.CaseEnded(f"e{n}", f"k{n}", T0 + timedelta(days=days), outcome))
    return out


def _quarter(facts: list[ms.Fact]) -> dict:
    by_q = bt.quarter_by_community(ms.figures(ms.fold_all(facts), "month"))
    return bt.build_quarter(by_q["2026-Q4"], DISTRICT)


def test_small_communities_are_pooled_in_the_category_tables() -> None:
    plan = [("a", "neighbours", "agreement_written", 3)] * 12 + [("b", "contract", "failed", 40)] * 3
    plan += [("c", "labour", "", 0)] * 6
    board = _quarter(_facts(plan))
    cat = board["tables"]["received_by_category"]
    assert cat["rows"] == ["a", bt.POOLED]  # b (3) and c (6) have fewer than 10 cases
    src = board["tables"]["received_by_source"]
    assert src["rows"] == ["a", "b", "c"]
    assert src["published"]["row_totals"][1] == sup.SMALL
    # The median only where 10 cases ended: a (12), not b (3); the street s1 pools a and b.
    assert board["medians"]["a"] == "3" and board["medians"]["b"] is None
    assert board["medians"]["street:s1"] == "3" and board["medians"]["district"] == "3"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["neighbours", "contract", "labour", "other"]),
            st.sampled_from(["", "agreement_written", "failed", "withdrawn"]),
            st.integers(0, 60),
        ),
        max_size=60,
    )
)
def test_every_table_is_protected_and_linked_figures_agree(plan) -> None:
    board = _quarter(_facts(plan)) if plan else None
    if board is None:
        return
    for name, table in board["tables"].items():
        pub = bt._published_of(table["published"])
        assert sup.recoverable_small(pub) == [], name
        assert not [
            v for v in json.dumps(table["published"]).split() if v.strip(",[]") in {"1", "2", "3", "4"}
        ]
    for group in bt.links(board["tables"]):
        shown = {
            json.dumps(bt._shown(board["tables"][t]["published"], e))
            for t, e in group
            if not board["tables"][t]["published"]["withheld"]
        }
        assert len(shown) <= 1


def test_street_totals_only_from_shown_numbers() -> None:
    assert bt.street_total([[5, 0, 5], [7, 6, 13]]) == [12, 6, 18]
    assert bt.street_total([[5, sup.SMALL, "x"], [7, 6, 13]]) == [12, "x", "x"]
    assert bt.street_total([]) == []


def test_rates_only_from_numbers() -> None:
    assert bt.ratio(6, [6, 2]) is not None and float(bt.ratio(6, [6, 6])) == 0.5
    assert bt.ratio(sup.SMALL, [sup.SMALL, 6]) is None
    assert bt.ratio(6, [6, "x"]) is None
    assert bt.ratio(0, [0, 0]) is None
    assert bt.median([1, 2, 3, 10]) == "2.5" and bt.median([4]) == "4" and bt.median([]) is None


def test_chart_hides_what_the_table_hides() -> None:
    svg = bar_chart("A <title>", [("big", 10), ("small", "<5"), ("hidden", "x"), ("<b>", 0)], "c1")
    assert svg.startswith("<svg") and 'role="img"' in svg and "A &lt;title&gt;" in svg
    assert svg.count("<rect x=") == 2  # the 10 and the "<5" stub; nothing for "x" or 0
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert 'width="10"' in svg  # the stub is the same for every "<5": its true size is unknown
