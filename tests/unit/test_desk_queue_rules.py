"""The desk's lists as pure rules: which list a case is on, the counts a change moves, the order
shown, and due-date windows that hold every dated case exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.mediation.domain import lifecycle as lc
from services.mediation.domain import queue as dq

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"status": lc.RECEIVED}, dq.SCREENING),
        ({"status": lc.AWAITING_CONSENT}, dq.SCREENING),
        ({"status": lc.SCREENING}, dq.SCREENING),
        ({"status": lc.ACCEPTED, "owner": None}, dq.POOL),
        ({"status": lc.ASSIGNED, "owner": "zhou"}, dq.TAKEN),
        ({"status": lc.WAITING_FOR_PARTY, "owner": "zhou"}, dq.TAKEN),
        ({"status": lc.WITHDRAWN, "owner": "zhou"}, None),
        ({"status": lc.MERGED, "merged_into": "LC-2026-000001"}, None),
        ({"status": lc.ARCHIVED}, None),
        ({}, dq.SCREENING),  # no state stored: received
    ],
)
def test_a_case_is_on_one_list_while_open(case, expected) -> None:
    assert dq.list_of(case) == expected


def test_counts_move_with_take_risk_change_ending_and_studio() -> None:
    pooled = {"status": lc.ACCEPTED, "owner": None, "risk_rank": 2}
    taken = {**pooled, "status": lc.ASSIGNED, "owner": "zhou"}
    assert dq.count_changes(pooled, taken) == {"queue_counts.pool.2": -1, "queue_counts.taken.2": 1}
    assert dq.count_changes(pooled, {**pooled, "risk_rank": 3}) == {
        "queue_counts.pool.2": -1,
        "queue_counts.pool.3": 1,
    }
    assert dq.count_changes(taken, {**taken, "status": lc.WITHDRAWN}) == {"queue_counts.taken.2": -1}
    assert dq.count_changes(None, {"status": lc.RECEIVED}) == {"queue_counts.screening.0": 1}
    assert dq.count_changes(taken, None) == {"queue_counts.taken.2": -1}  # moved to another studio
    # A change that keeps list and level (a note, a state within "taken") moves nothing.
    assert dq.count_changes(taken, {**taken, "status": lc.IN_MEDIATION}) == {}
    closed = {"status": lc.FAILED}
    assert dq.count_changes(closed, {**closed, "status": lc.ARCHIVED}) == {}


def test_tally_and_total() -> None:
    cases = [
        {"status": lc.ACCEPTED, "risk_rank": 3},
        {"status": lc.ACCEPTED, "risk_rank": 3},
        {"status": lc.ACCEPTED},
        {"status": lc.RECEIVED, "risk_rank": 1},
        {"status": lc.ASSIGNED, "owner": "zhou"},
        {"status": lc.FAILED},
    ]
    counts = dq.tally(cases)
    assert counts == {"pool": {"3": 2, "0": 1}, "screening": {"1": 1}, "taken": {"0": 1}}
    assert dq.total(counts, dq.POOL) == 3 and dq.total(None, dq.POOL) == 0


def test_list_order_is_risk_then_due_then_received() -> None:
    due = NOW + timedelta(days=3)
    rows = [
        {"_id": "d", "risk_rank": 0, "due_at": None, "received_at": "2026-11-01T00:00:00+00:00"},
        {"_id": "c", "risk_rank": 0, "due_at": due, "received_at": "2026-11-02T00:00:00+00:00"},
        {"_id": "b", "risk_rank": 0, "due_at": due, "received_at": "2026-11-01T00:00:00+00:00"},
        {"_id": "a", "risk_rank": 3, "due_at": None, "received_at": "2026-11-03T00:00:00+00:00"},
    ]
    assert [r["_id"] for r in sorted(rows, key=dq.list_key)] == ["a", "b", "c", "d"]
    mine = [
        {"_id": "x", "risk_rank": 3, "due_at": due, "deadline_status": "on_track"},
        {"_id": "y", "risk_rank": 0, "due_at": due, "deadline_status": "overdue"},
        {"_id": "z", "risk_rank": 0, "due_at": NOW, "deadline_status": "due_soon"},
    ]
    assert [r["_id"] for r in sorted(mine, key=dq.mine_key)] == ["y", "z", "x"]


def _inside(window: dict[str, datetime], due: datetime) -> bool:
    return ("$gte" not in window or due >= window["$gte"]) and ("$lt" not in window or due < window["$lt"])


def test_due_windows_hold_every_date_once_and_in_order() -> None:
    windows = dq.due_windows(NOW)
    probes = [NOW + timedelta(days=d, hours=h) for d in range(-400, 400, 3) for h in (0, 7)]
    probes += [NOW + timedelta(days=d) for d in dq.WINDOW_DAYS]  # the bounds themselves
    for due in probes:
        assert sum(_inside(w, due) for w in windows) == 1, due
    # Earliest first: each window's cases come before the next one's.
    firsts = [next(i for i, w in enumerate(windows) if _inside(w, due)) for due in sorted(probes)]
    assert firsts == sorted(firsts)
