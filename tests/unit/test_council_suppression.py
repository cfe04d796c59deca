"""Small-cell suppression: hand-made tables, the attacker checks themselves (the exact one against a
brute-force enumeration), and hypothesis properties: no published table lets a count under 5 be
worked out, neither line by line nor exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import suppression as sp
from services.council.domain.suppression import HIDDEN, SMALL, Published, Table, suppress


def pub(cells, rows, cols, grand) -> Published:
    return Published(tuple(tuple(r) for r in cells), tuple(rows), tuple(cols), grand)


# --- the rule of ten ------------------------------------------------------------------------------


@pytest.mark.parametrize(("cases", "shown"), [(0, False), (9, False), (10, True), (250, True)])
def test_category_breakdown_needs_ten_cases(cases, shown):
    assert sp.category_breakdown_allowed(cases) is shown


# --- the checkers ---------------------------------------------------------------------------------


def test_line_solver_finds_a_lone_suppressed_cell():
    p = pub([[SMALL, 7], [6, 8]], [10, 14], [9, 15], 24)
    assert sp.recover_by_lines(p) == {("cell", 0, 0): 3}
    assert sp.recoverable_small(p) == [("cell", 0, 0)]


def test_two_per_line_is_not_enough_when_the_hidden_partner_is_known_to_be_five_or_more():
    # Row "1, 5" (total 6) with both cells hidden: the "x" is >= 5, so the "<5" must be 1.
    p = pub([[SMALL, HIDDEN], [HIDDEN, HIDDEN]], [6, HIDDEN], [HIDDEN, HIDDEN], HIDDEN)
    assert sp.recover_by_lines(p) == {}  # the classic check sees nothing wrong ...
    assert sp.recoverable_small(p) == [("cell", 0, 0)]  # ... the exact one does
    assert sp.feasible_values(p, ("cell", 0, 0)) == [1]


def test_a_safe_cycle_is_safe():
    # 2x2 of hidden cells in a 3x3 table: the cycle can shift by one either way.
    p = pub([[HIDDEN, SMALL, 40], [8, 9, 10], [SMALL, HIDDEN, 6]], [55, 27, 38], [22, 42, 56], 120)
    assert sp.recoverable_small(p) == []
    assert sp.feasible_values(p, ("cell", 0, 1)) == [2, 3, 4]
    assert sp.feasible_values(p, ("cell", 2, 0)) == [1, 2, 3]


def test_small_totals_are_protected_too():
    # Total 3 shown as "<5" but both cells shown: 1 + 2 gives it away.
    p = pub([[1, 2]], [SMALL], [SMALL, SMALL], SMALL)
    assert ("row", 0, 0) in sp.recoverable_small(p)


# brute force: every whole-number table consistent with what is shown (entries bounded by the grand
# total, which must therefore be shown) -> the possible values of each "<5".
def brute_possible(p: Published, true: Table) -> dict[sp.Entry, set[int]]:
    assert isinstance(p.grand_total, int)
    g = p.grand_total
    entries = true.entries()
    n_r, n_c = true.n_rows, true.n_cols
    out: dict[sp.Entry, set[int]] = {e: set() for e in entries if p.shown(e) == SMALL}

    def ok(shown, v) -> bool:
        if shown == SMALL:
            return 1 <= v <= 4
        if shown == HIDDEN:
            return v >= 5
        return v == shown

    for flat in itertools.product(range(g + 1), repeat=n_r * n_c):
        if sum(flat) != g:
            continue
        t = Table.of([flat[i * n_c : (i + 1) * n_c] for i in range(n_r)])
        if all(ok(p.shown(e), t.value(e)) for e in entries):
            for e in out:
                out[e].add(t.value(e))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 7), min_size=2, max_size=2), min_size=2, max_size=2).filter(
        lambda c: sum(map(sum, c)) <= 18
    )
)
def test_exact_checker_agrees_with_brute_force_on_small_tables(cells):
    true = Table.of(cells)
    # publish with every entry >= 5 hidden or shown at random-ish (by parity): many patterns
    for mask in range(8):
        hidden = {e for k, e in enumerate(true.entries()) if true.value(e) >= 5 and (mask >> (k % 3)) & 1}
        p = sp._publish(true, hidden)
        if not isinstance(p.grand_total, int):
            continue
        brute = brute_possible(p, true)
        for e, values in brute.items():
            assert set(sp.feasible_values(p, e)) == values, (cells, mask, e)


# --- the algorithm on hand-made tables ------------------------------------------------------------


def test_nothing_small_nothing_hidden():
    p = suppress(Table.of([[10, 0], [7, 25]]))
    assert p.as_rows() == [[10, 0, 10], [7, 25, 32], [17, 25, 42]] and not p.withheld


def test_zero_is_shown_and_small_is_small():
    p = suppress(Table.of([[0, 3], [12, 20], [9, 30]]))
    assert p.cells[0][0] == 0 and p.cells[0][1] == SMALL and p.row_totals[0] == SMALL
    assert sp.recoverable_small(p) == []


def test_the_docstring_example_gets_more_than_two_per_line():
    p = suppress(Table.of([[1, 5], [7, 9]]))
    assert p.cells[0][0] == SMALL and sp.recoverable_small(p) == [] and not p.withheld


def test_table_that_cannot_be_protected_is_withheld():
    # Four cells of 1 (total 4): whatever is hidden, "<5" cells summing to a "<5" total must all be 1.
    p = suppress(Table.of([[1, 1], [1, 1]]))
    assert p.withheld and all(v == HIDDEN for row in p.as_rows() for v in row)


def test_empty_tables():
    assert suppress(Table.of([])).as_rows() == [[0]]
    assert suppress(Table.of([[], []])).as_rows() == [[0], [0], [0]]


@pytest.mark.parametrize("bad", [[[1, 2], [3]], [[-1]], [[1.5]], [[True]]])
def test_bad_tables_are_refused(bad):
    with pytest.raises(ValueError):
        Table.of(bad)


def test_a_board_sized_table_is_protected_quickly():
    # 15 categories x 3 sources, the shape of the board's breakdown
    cells = [[(i * 7 + j * 3) % 9 for j in range(3)] for i in range(15)]
    p = suppress(Table.of(cells))
    assert sp.recoverable_small(p) == []
    assert all(v != HIDDEN for v in p.as_rows()[-1][-1:])  # the grand total stays shown here


# --- properties -----------------------------------------------------------------------------------

COUNTS = st.one_of(st.integers(0, 4), st.integers(0, 12), st.integers(5, 60))


@st.composite
def tables(draw):
    rows = draw(st.integers(1, 5))
    cols = draw(st.integers(1, 5))
    return Table.of([[draw(COUNTS) for _ in range(cols)] for _ in range(rows)])


@settings(max_examples=250, deadline=None)
@given(tables())
def test_no_published_table_lets_a_small_count_be_recovered(table):
    p = suppress(table)
    if p.withheld:
        assert all(v == HIDDEN for row in p.as_rows() for v in row)
        return
    # what is shown is true, small counts never appear, zeros always do, "x" only hides 5 or more
    for e in table.entries():
        v, shown = table.value(e), p.shown(e)
        if v == 0:
            assert shown == 0
        elif v < 5:
            assert shown == SMALL
        else:
            assert shown in (v, HIDDEN)
    # the classic line-by-line attack recovers nothing small (and what it recovers is right)
    for e, value in sp.recover_by_lines(p).items():
        assert value == table.value(e)
        assert not 1 <= value <= 4
    # the exact attack leaves every "<5" at least two possible values, the true one among them
    assert sp.recoverable_small(p) == []
    for e in table.entries():
        if p.shown(e) == SMALL:
            assert table.value(e) in sp.feasible_values(p, e)


@settings(max_examples=100, deadline=None)
@given(tables())
def test_a_table_without_small_counts_is_shown_whole(table):
    if any(0 < table.value(e) < 5 for e in table.entries()):
        return
    p = suppress(table)
    assert all(p.shown(e) == table.value(e) for e in table.entries())
