"""Small-cell suppression for the public board, and the "10 cases" rule for a community's breakdown.

A published table has rows x columns of counts with row totals, column totals and a grand total.
What a reader sees of each entry (cell or total):
- 0 is shown (an empty cell says nothing about a person);
- 1..4 is shown as "<5" (*primary* suppression) — totals too: a row total of 3 is a small count;
- some entries of 5 or more are hidden as "x" (*complementary* suppression), so that no "<5" can be
  worked out from the totals and the other entries.

The attacker model the algorithm protects against (and `feasible_values` checks exactly): the reader
knows every shown number, that each "<5" lies in 1..4, that each "x" is at least 5 (zeros are always
shown and 1..4 would read "<5", so an "x" is never 0..4), that counts are whole numbers, and that
every row and column adds up to its total and the totals to the grand total. An entry is
*recoverable* when these facts leave it only one possible value. The table's equations are those of a
flow network (source -> row totals -> cells -> column totals -> sink, the grand total closing the
circulation), so whether a value is possible is a feasible-circulation question with lower and upper
bounds, decided exactly with integer max-flow; the network's matrix is totally unimodular, so the
possible values of an entry form an interval of whole numbers and checking 1..4 one by one is exact.

The algorithm (`suppress`):
1. every entry with a count 1..4 is "<5";
2. while some "<5" entry has only one possible value: hide one more entry of 5 or more — the smallest
   shown cell in the same row or column, preferring a cell whose other line already has a hidden
   entry (this closes a cycle, the cheapest protection), then the row's or column's total, then the
   smallest shown cell anywhere. Hiding only ever widens what is possible, so the loop ends;
3. if everything that can be hidden is hidden and a "<5" is still recoverable, the whole table is
   withheld (`withheld=True`, nothing shown). This guarantee is checked, not assumed.

This is stronger than the classic rule "each line with a suppressed cell has at least two": that rule
is necessary but not sufficient (e.g. a row "1, 5" with total 6: hiding both cells still pins the 1,
because the 5 is known to be at least 5). `recover_by_lines` is the classic line-by-line solver (one
unknown in a line with a shown total), kept as an independent second check.

Linked tables (a caller's duty): this protects one two-dimensional table with its margins. Figures
published in two tables (a street's total that is also the sum of its communities' totals on another
page; a quarter that is the sum of three published months) can be differenced across tables. Publish
such figures as the rows and margins of ONE table (rows = communities or months, margins = the street
or the quarter) and take every published number from that table's `Published`; a figure that is a
margin of two different published tables is not protected by this module.

Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

SMALL = "<5"
HIDDEN = "x"
THRESHOLD = 5  # counts below this (and above 0) are never shown
MIN_CASES_FOR_BREAKDOWN = 10
_BIG = 10**12  # "no upper bound" for a hidden entry of 5 or more

Entry = tuple[str, int, int]  # ("cell", i, j) | ("row", i, 0) | ("col", j, 0) | ("all", 0, 0)
Shown = int | str  # a count, SMALL or HIDDEN


def category_breakdown_allowed(cases_in_period: int) -> bool:
    """A community's breakdown by category is shown only with at least 10 cases in the period."""
    return cases_in_period >= MIN_CASES_FOR_BREAKDOWN


@dataclass(frozen=True)
class Table:
    """A table of counts; the totals are computed from the cells."""

    cells: tuple[tuple[int, ...], ...]

    @staticmethod
    def of(cells: Sequence[Sequence[int]]) -> Table:
        """A table from a list of rows; every row the same length, every count a whole number >= 0."""
        rows = tuple(tuple(r) for r in cells)
        if rows and len({len(r) for r in rows}) != 1:
            raise ValueError("every row of a table needs the same number of columns")
        for r in rows:
            for c in r:
                if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                    raise ValueError(f"a count must be a whole number >= 0, not {c!r}")
        return Table(rows)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.cells)

    @property
    def n_cols(self) -> int:
        """Number of columns."""
        return len(self.cells[0]) if self.cells else 0

    def value(self, entry: Entry) -> int:
        """The true count of a cell or total."""
        kind, i, j = entry
        if kind == "cell":
            return self.cells[i][j]
        if kind == "row":
            return sum(self.cells[i])
        if kind == "col":
            return sum(r[i] for r in self.cells)
        return sum(sum(r) for r in self.cells)

    def entries(self) -> list[Entry]:
        """Every cell and total."""
        out: list[Entry] = [("cell", i, j) for i in range(self.n_rows) for j in range(self.n_cols)]
        out += [("row", i, 0) for i in range(self.n_rows)]
        out += [("col", j, 0) for j in range(self.n_cols)]
        return [*out, ("all", 0, 0)]


@dataclass(frozen=True)
class Published:
    """What the board shows of a table. `withheld` means nothing at all is shown."""

    cells: tuple[tuple[Shown, ...], ...]
    row_totals: tuple[Shown, ...]
    col_totals: tuple[Shown, ...]
    grand_total: Shown
    withheld: bool = False

    def shown(self, entry: Entry) -> Shown:
        """What is shown for an entry."""
        kind, i, j = entry
        if kind == "cell":
            return self.cells[i][j]
        if kind == "row":
            return self.row_totals[i]
        if kind == "col":
            return self.col_totals[i]
        return self.grand_total

    def as_rows(self) -> list[list[Shown]]:
        """The table with its totals as plain rows (last column: row totals; last row: column
        totals and the grand total), e.g. for a CSV or an HTML table."""
        out: list[list[Shown]] = [
            [*row, total] for row, total in zip(self.cells, self.row_totals, strict=True)
        ]
        return [*out, [*self.col_totals, self.grand_total]]


def _publish(table: Table, hidden: set[Entry], withheld: bool = False) -> Published:
    def show(e: Entry) -> Shown:
        v = table.value(e)
        if withheld:
            return HIDDEN
        if 0 < v < THRESHOLD:
            return SMALL
        return HIDDEN if e in hidden else v

    return Published(
        tuple(tuple(show(("cell", i, j)) for j in range(table.n_cols)) for i in range(table.n_rows)),
        tuple(show(("row", i, 0)) for i in range(table.n_rows)),
        tuple(show(("col", j, 0)) for j in range(table.n_cols)),
        show(("all", 0, 0)),
        withheld,
    )


# --- the exact attacker: feasible circulation with bounds -----------------------------------------


def _bounds(shown: Shown) -> tuple[int, int]:
    if shown == SMALL:
        return 1, THRESHOLD - 1
    if shown == HIDDEN:
        return THRESHOLD, _BIG
    assert isinstance(shown, int)
    return shown, shown


def _max_flow(n: int, edges: list[tuple[int, int, int]], s: int, t: int) -> int:
    """Edmonds-Karp on a small graph (tables are at most a few dozen lines)."""
    graph: list[list[int]] = [[] for _ in range(n)]
    to: list[int] = []
    cap: list[int] = []
    for u, v, c in edges:
        graph[u].append(len(to))
        to.append(v)
        cap.append(c)
        graph[v].append(len(to))
        to.append(u)
        cap.append(0)
    flow = 0
    while True:
        parent = [-1] * n
        parent[s] = -2
        queue = deque([s])
        while queue and parent[t] == -1:
            u = queue.popleft()
            for e in graph[u]:
                if cap[e] > 0 and parent[to[e]] == -1:
                    parent[to[e]] = e
                    queue.append(to[e])
        if parent[t] == -1:
            return flow
        push, v = _BIG * 1000, t
        while v != s:
            e = parent[v]
            push = min(push, cap[e])
            v = to[e ^ 1]
        v = t
        while v != s:
            e = parent[v]
            cap[e] -= push
            cap[e ^ 1] += push
            v = to[e ^ 1]
        flow += push


def _feasible(pub: Published, fixed: tuple[Entry, int] | None) -> bool:
    """Is there a whole-number table consistent with what is shown (and with `fixed` entry = value)?"""
    rows, cols = len(pub.cells), len(pub.cells[0]) if pub.cells else 0
    src, sink = 0, 1
    row_node = [2 + i for i in range(rows)]
    col_node = [2 + rows + j for j in range(cols)]
    n = 2 + rows + cols + 2
    super_s, super_t = n - 2, n - 1

    def bounds(e: Entry) -> tuple[int, int]:
        if fixed is not None and fixed[0] == e:
            return fixed[1], fixed[1]
        return _bounds(pub.shown(e))

    arcs: list[tuple[int, int, int, int]] = []  # u, v, low, high
    for i in range(rows):
        arcs.append((src, row_node[i], *bounds(("row", i, 0))))
        for j in range(cols):
            arcs.append((row_node[i], col_node[j], *bounds(("cell", i, j))))
    for j in range(cols):
        arcs.append((col_node[j], sink, *bounds(("col", j, 0))))
    arcs.append((sink, src, *bounds(("all", 0, 0))))

    excess = [0] * n
    edges: list[tuple[int, int, int]] = []
    for u, v, low, high in arcs:
        if low > high:
            return False
        edges.append((u, v, high - low))
        excess[v] += low
        excess[u] -= low
    need = 0
    for node in range(n - 2):
        if excess[node] > 0:
            edges.append((super_s, node, excess[node]))
            need += excess[node]
        elif excess[node] < 0:
            edges.append((node, super_t, -excess[node]))
    return _max_flow(n, edges, super_s, super_t) == need


def feasible_values(pub: Published, entry: Entry, candidates: range = range(1, THRESHOLD)) -> list[int]:
    """The values among `candidates` that `entry` can take given everything shown (exact)."""
    return [v for v in candidates if _feasible(pub, (entry, v))]


def recoverable_small(pub: Published) -> list[Entry]:
    """The "<5" entries that what is shown pins to a single value (empty when the table is safe)."""
    if pub.withheld:
        return []
    rows, cols = len(pub.cells), len(pub.cells[0]) if pub.cells else 0
    entries: list[Entry] = [("cell", i, j) for i in range(rows) for j in range(cols)]
    entries += [("row", i, 0) for i in range(rows)] + [("col", j, 0) for j in range(cols)] + [("all", 0, 0)]
    out = []
    for e in entries:
        if pub.shown(e) == SMALL:
            possible = 0
            for v in range(1, THRESHOLD):
                possible += _feasible(pub, (e, v))
                if possible >= 2:
                    break
            if possible < 2:
                out.append(e)
    return out


def recover_by_lines(pub: Published) -> dict[Entry, int]:
    """The classic check: repeatedly solve any row or column (or the totals' line) with exactly one
    unknown entry from its shown total and cells. Returns what it could work out (ignores bounds)."""
    rows, cols = len(pub.cells), len(pub.cells[0]) if pub.cells else 0
    known: dict[Entry, int] = {}
    entries: list[Entry] = [("cell", i, j) for i in range(rows) for j in range(cols)]
    entries += [("row", i, 0) for i in range(rows)] + [("col", j, 0) for j in range(cols)] + [("all", 0, 0)]
    for e in entries:
        s = pub.shown(e)
        if isinstance(s, int):
            known[e] = s
    # each line: (the total, the parts)
    lines: list[tuple[Entry, list[Entry]]] = [
        (("row", i, 0), [("cell", i, j) for j in range(cols)]) for i in range(rows)
    ]
    lines += [(("col", j, 0), [("cell", i, j) for i in range(rows)]) for j in range(cols)]
    lines.append((("all", 0, 0), [("row", i, 0) for i in range(rows)]))
    lines.append((("all", 0, 0), [("col", j, 0) for j in range(cols)]))
    found: dict[Entry, int] = {}
    progress = True
    while progress:
        progress = False
        for total, parts in lines:
            unknown = [e for e in [total, *parts] if e not in known]
            if len(unknown) != 1:
                continue
            (u,) = unknown
            if u == total:
                value = sum(known[p] for p in parts)
            else:
                value = known[total] - sum(known[p] for p in parts if p != u)
            known[u] = found[u] = value
            progress = True
    return found


# --- the algorithm --------------------------------------------------------------------------------


def _lines_of(e: Entry) -> list[tuple[str, int]]:
    kind, i, j = e
    if kind == "cell":
        return [("row", i), ("col", j)]
    if kind == "row":
        return [("rowtotals", 0)]
    if kind == "col":
        return [("coltotals", 0)]
    return []


def _members(line: tuple[str, int], rows: int, cols: int) -> list[Entry]:
    kind, k = line
    if kind == "row":
        return [("cell", k, j) for j in range(cols)] + [("row", k, 0)]
    if kind == "col":
        return [("cell", i, k) for i in range(rows)] + [("col", k, 0)]
    if kind == "rowtotals":
        return [("row", i, 0) for i in range(rows)] + [("all", 0, 0)]
    return [("col", j, 0) for j in range(cols)] + [("all", 0, 0)]


def _closes_cycle(pub: Published, table: Table, e: Entry, shared: set[tuple[str, int]]) -> bool:
    """Does `e`'s other line (not shared with the exposed entry) already hold a suppressed entry?
    Hiding such an entry closes a cycle of suppressed entries, the cheapest protection."""
    return any(
        m != e and pub.shown(m) in (SMALL, HIDDEN)
        for line in _lines_of(e)
        if line not in shared
        for m in _members(line, table.n_rows, table.n_cols)
    )


def suppress(table: Table) -> Published:
    """Publish `table` with primary and complementary suppression so that no count 1..4 (cell or
    total) can be worked out; see the module's docstring for the algorithm and its guarantee."""
    if table.n_rows == 0 or table.n_cols == 0:
        return _publish(table, set())
    hidden: set[Entry] = set()
    while True:
        pub = _publish(table, hidden)
        exposed = recoverable_small(pub)
        if not exposed:
            return pub

        def hideable(e: Entry) -> bool:
            return e not in hidden and table.value(e) >= THRESHOLD

        target = exposed[0]
        near: list[Entry] = []
        for line in _lines_of(target):
            near += [e for e in _members(line, table.n_rows, table.n_cols) if hideable(e)]

        cells = [e for e in near if e[0] == "cell"]
        totals = [e for e in near if e[0] != "cell"]
        anywhere = [e for e in table.entries() if hideable(e)]
        pool = cells or totals or [e for e in anywhere if e[0] == "cell"] or anywhere
        if not pool:
            return _publish(table, hidden, withheld=True)
        shared = set(_lines_of(target))
        hidden.add(min(pool, key=lambda e: (not _closes_cycle(pub, table, e, shared), table.value(e), e)))
