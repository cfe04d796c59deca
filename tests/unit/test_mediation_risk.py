"""Risk levels from intake answers, and what each level asks of the patrol teams."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.mediation.domain.risk import DISPATCH_NOW, SAME_DAY, initial_risk, patrol_plan, risk_reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("violence", "danger", "people", "level"),
    [
        (True, False, None, "red"),
        (True, True, 50, "red"),
        (False, True, None, "orange"),
        (False, True, 50, "orange"),
        (False, False, 10, "yellow"),
        (False, False, 9, "none"),
        (False, False, None, "none"),
    ],
)
def test_initial_risk(violence, danger, people, level) -> None:
    assert initial_risk(violence, danger, people) == level


@pytest.mark.parametrize(
    ("level", "open_kinds", "kind", "alert"),
    [
        ("red", frozenset(), DISPATCH_NOW, True),
        ("red", frozenset({SAME_DAY}), DISPATCH_NOW, True),  # raised from orange: go now
        ("red", frozenset({DISPATCH_NOW}), None, None),  # already dispatched: no second team
        ("orange", frozenset(), SAME_DAY, False),
        ("orange", frozenset({SAME_DAY}), None, None),
        ("orange", frozenset({DISPATCH_NOW}), None, None),
        ("yellow", frozenset(), None, None),
        ("none", frozenset(), None, None),
    ],
)
def test_patrol_plan(level, open_kinds, kind, alert) -> None:
    plan = patrol_plan(level, NOW, open_kinds)
    if kind is None:
        assert plan is None
        return
    assert plan.kind == kind
    assert plan.alert_lead is alert
    if kind == DISPATCH_NOW:
        assert plan.due_by == NOW + timedelta(hours=1)
    else:  # due the same local day
        assert plan.due_by.date() == NOW.date() and plan.due_by > NOW


def test_risk_reason_lists_answers() -> None:
    assert risk_reason(True, True, 12) == "threat of violence, danger to safety, 12 people affected"
    assert risk_reason(False, False, None) == "no risk answers"
