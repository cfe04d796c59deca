"""Routing rules as tables: area, category, capacity, leave, ties (round-robin), no match; the
possible duplicates a new case names."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from services.mediation.domain.lifecycle import CLOSED_STATES, OPEN_STATES
from services.mediation.domain.routing import (
    DECIDED_DEFAULT,
    DECIDED_LOAD,
    DECIDED_ONLY,
    DECIDED_ROUND_ROBIN,
    EXCLUDED_CAPACITY,
    EXCLUDED_CATEGORY,
    RULE_DEFAULT,
    RULE_MATCH,
    Leave,
    Member,
    NoStudioAvailable,
    StudioSnapshot,
    cursor_key,
    duplicate_candidates_query,
    next_in_turn,
    possible_duplicates,
    route,
)

TODAY = date(2026, 11, 25)


def studio(code, communities=(), categories=("neighbours",), capacity=10, open_cases=0, **kw):
    return StudioSnapshot(code, frozenset(communities), frozenset(categories), capacity, open_cases, **kw)


DEFAULT = studio("centre", (), (), 100, is_default=True)
ON_LEAVE = (Leave(date(2026, 11, 20), date(2026, 11, 30)),)


@pytest.mark.parametrize(
    ("name", "studios", "community", "category", "last", "chosen", "decided_by"),
    [
        (
            "area and category match",
            [studio("a", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "a",
            DECIDED_ONLY,
        ),
        (
            "other area ignored",
            [studio("a", ["heping"]), studio("b", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_ONLY,
        ),
        (
            "category not taken",
            [studio("a", ["lianhua"], ["labour"]), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "centre",
            DECIDED_DEFAULT,
        ),
        (
            "street coverage",
            [studio("a", streets=frozenset({"qinghe"})), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "a",
            DECIDED_ONLY,
        ),
        (
            "least loaded wins",
            [studio("a", ["lianhua"], open_cases=5), studio("b", ["lianhua"], open_cases=3), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_LOAD,
        ),
        (
            "load is relative to capacity",
            [
                studio("a", ["lianhua"], capacity=40, open_cases=10),
                studio("b", ["lianhua"], capacity=10, open_cases=5),
                DEFAULT,
            ],
            "lianhua",
            "neighbours",
            None,
            "a",
            DECIDED_LOAD,
        ),
        (
            "zero capacity is never chosen",
            [studio("a", ["lianhua"], capacity=0), studio("b", ["lianhua"], open_cases=9), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_ONLY,
        ),
        (
            "over capacity still least loaded",
            [
                studio("a", ["lianhua"], capacity=2, open_cases=5),
                studio("b", ["lianhua"], capacity=2, open_cases=3),
                DEFAULT,
            ],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_LOAD,
        ),
        (
            "tie without cursor: first",
            [studio("a", ["lianhua"]), studio("b", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "a",
            DECIDED_ROUND_ROBIN,
        ),
        (
            "tie after a: b",
            [studio("a", ["lianhua"]), studio("b", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            "a",
            "b",
            DECIDED_ROUND_ROBIN,
        ),
        (
            "tie after b: wraps to a",
            [studio("a", ["lianhua"]), studio("b", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            "b",
            "a",
            DECIDED_ROUND_ROBIN,
        ),
        (
            "tie after a removed studio",
            [studio("b", ["lianhua"]), studio("d", ["lianhua"]), DEFAULT],
            "lianhua",
            "neighbours",
            "c",
            "d",
            DECIDED_ROUND_ROBIN,
        ),
        (
            "cursor ignored when loads differ",
            [studio("a", ["lianhua"], open_cases=1), studio("b", ["lianhua"], open_cases=2), DEFAULT],
            "lianhua",
            "neighbours",
            "a",
            "a",
            DECIDED_LOAD,
        ),
        (
            "all members on leave",
            [
                studio("a", ["lianhua"], members=(Member("x", ON_LEAVE),)),
                studio("b", ["lianhua"], open_cases=8),
                DEFAULT,
            ],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_ONLY,
        ),
        (
            "half on leave halves capacity",
            [
                studio(
                    "a", ["lianhua"], capacity=10, open_cases=4, members=(Member("x", ON_LEAVE), Member("y"))
                ),
                studio("b", ["lianhua"], capacity=10, open_cases=5),
                DEFAULT,
            ],
            "lianhua",
            "neighbours",
            None,
            "b",
            DECIDED_LOAD,
        ),
        (
            "leave over: full capacity back",
            [
                studio(
                    "a",
                    ["lianhua"],
                    capacity=10,
                    open_cases=4,
                    members=(Member("x", (Leave(date(2026, 1, 1), date(2026, 1, 9)),)), Member("y")),
                ),
                studio("b", ["lianhua"], capacity=10, open_cases=5),
                DEFAULT,
            ],
            "lianhua",
            "neighbours",
            None,
            "a",
            DECIDED_LOAD,
        ),
        (
            "no match: default",
            [studio("a", ["heping"]), DEFAULT],
            "lianhua",
            "neighbours",
            None,
            "centre",
            DECIDED_DEFAULT,
        ),
    ],
)
def test_routing_table(name, studios, community, category, last, chosen, decided_by) -> None:
    decision = route(community, category, studios, street="qinghe", today=TODAY, last_in_turn=last)
    assert decision.studio == chosen, name
    assert decision.decided_by == decided_by, name
    assert decision.needs_manual_routing == (decided_by == DECIDED_DEFAULT)
    assert decision.rule == (RULE_DEFAULT if decided_by == DECIDED_DEFAULT else RULE_MATCH)


def test_reasons_name_candidates_loads_and_exclusions() -> None:
    studios = [
        studio("a", ["lianhua"], capacity=10, open_cases=5),
        studio("b", ["lianhua"], capacity=0),
        studio("c", ["lianhua"], ["labour"]),
        studio("z", ["heping"]),
        DEFAULT,
    ]
    reasons = route("lianhua", "neighbours", studios, today=TODAY).reasons()
    assert reasons["candidates"] == ["a"]
    assert reasons["loads"] == {"a": 0.5}
    assert reasons["capacities"] == {"a": 10}
    assert reasons["excluded"] == {"b": EXCLUDED_CAPACITY, "c": EXCLUDED_CATEGORY}  # other areas are noise
    assert reasons["needs_manual_routing"] is False


def test_no_studio_and_no_default_is_an_error() -> None:
    with pytest.raises(NoStudioAvailable):
        route("lianhua", "neighbours", [studio("a", ["heping"])])


def test_round_robin_with_a_cursor_is_fair_over_many_ties() -> None:
    """Three studios that stay equally loaded (cases closed as fast as they come) share evenly."""
    studios = [studio(code, ["lianhua"]) for code in ("a", "b", "c")]
    last = None
    counts: Counter[str] = Counter()
    for _ in range(1000):
        decision = route("lianhua", "neighbours", studios, last_in_turn=last)
        counts[decision.studio] += 1
        last = decision.studio
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize(
    ("tied", "last", "expected"),
    [
        (["b", "a"], None, "a"),
        (["a", "b"], "a", "b"),
        (["a", "b"], "b", "a"),
        (["a", "c"], "b", "c"),
        (["a"], "a", "a"),
    ],
)
def test_next_in_turn(tied, last, expected) -> None:
    assert next_in_turn(tied, last) == expected


def test_cursor_key_ignores_order() -> None:
    assert cursor_key(["b", "a"]) == cursor_key(["a", "b"]) == "rr:a,b"


# Possible duplicates --------------------------------------------------------------------------
NEW_CASE = {
    "reference": "LC-2026-000100",
    "received_at": "2026-11-25T02:00:00+00:00",
    "community": "lianhua",
    "building": "3",
    "category": "neighbours",
}


def test_duplicate_candidates_query_is_three_equalities_and_the_window_only() -> None:
    """SecantusDB walks an index only for equalities plus one range, nothing else in the filter."""
    query = duplicate_candidates_query(NEW_CASE, datetime(2026, 11, 30, tzinfo=UTC))
    assert list(query) == ["community", "building", "category", "received_at"]
    assert query == {
        "community": "lianhua",
        "building": "3",
        "category": "neighbours",
        "received_at": {"$gte": "2026-10-26T02:00:00+00:00", "$lt": "2026-11-25T02:00:00+00:00"},
    }


def test_duplicate_window_without_received_at_ends_now_and_building_may_be_missing() -> None:
    data = {k: v for k, v in NEW_CASE.items() if k not in ("received_at", "building")}
    query = duplicate_candidates_query(data, datetime(2026, 11, 30, 8, tzinfo=UTC))
    assert query["building"] is None
    assert query["received_at"] == {"$gte": "2026-10-31T08:00:00+00:00", "$lt": "2026-11-30T08:00:00+00:00"}


def row(reference: str, status: str | None = "received", day: int = 1) -> dict:
    found = {"_id": reference, "received_at": f"2026-11-{day:02d}T00:00:00+00:00"}
    if status is not None:
        found["status"] = status
    return found


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], []),
        ([row("LC-2026-000001")], ["LC-2026-000001"]),
        # Closed in any way (ended, merged, followed up, archived): not named.
        ([row("LC-2026-000001", status) for status in CLOSED_STATES], []),
        # Every open state is named (one per row, filed the same day: the first five references);
        # so is a row without a status (as the `$nin` of closed states had it).
        (
            [row(f"LC-2026-0000{i:02d}", status) for i, status in enumerate(OPEN_STATES)],
            ["LC-2026-000004", "LC-2026-000003", "LC-2026-000002", "LC-2026-000001", "LC-2026-000000"],
        ),
        (
            [row(f"LC-2026-0000{i:02d}", status, day=i + 1) for i, status in enumerate(OPEN_STATES[5:])],
            ["LC-2026-000003", "LC-2026-000002", "LC-2026-000001", "LC-2026-000000"],
        ),
        ([row("LC-2026-000001", None)], ["LC-2026-000001"]),
        # The case itself (a redelivery finds it filed) is never its own duplicate.
        ([row(NEW_CASE["reference"]), row("LC-2026-000002")], ["LC-2026-000002"]),
        # The five filed first, newest reference first.
        (
            [row(f"LC-2026-0000{i:02d}", day=30 - i) for i in range(1, 8)],
            ["LC-2026-000007", "LC-2026-000006", "LC-2026-000005", "LC-2026-000004", "LC-2026-000003"],
        ),
    ],
)
def test_possible_duplicates_are_the_open_others_first_filed(rows: list[dict], expected: list[str]) -> None:
    assert possible_duplicates(NEW_CASE, rows) == expected
