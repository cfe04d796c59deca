"""Building leaders' view (issue 14.5): the cases of the buildings a leader serves, and those they
filed, each as its tracking page shows it — status and public timeline, never a party's name."""

from __future__ import annotations

from typing import Any

from services.intake.bootstrap import Intake
from services.intake.tracking import public_view
from shared.auth import Staff

LIST_LIMIT = 200  # a building's cases over years; the newest first


def _scope(leader: Staff) -> dict[str, Any]:
    """The cases a leader may see: their community's buildings they lead, or filed by them."""
    mine: list[dict[str, Any]] = [{"filer_account": leader.user_id}]
    if leader.community and leader.buildings:
        mine.append({"community": leader.community, "building": {"$in": [str(b) for b in leader.buildings]}})
    return {"$or": mine}


def cases_for(intake: Intake, leader: Staff) -> list[dict[str, Any]]:
    """The leader's list: reference, building, category, status, dates, and whether they filed it."""
    rows = (
        intake.db.cases.find(
            _scope(leader),
            {
                "reference": 1,
                "building": 1,
                "community": 1,
                "category": 1,
                "status": 1,
                "outcome": 1,
                "received_at": 1,
                "updated_at": 1,
                "filer_account": 1,
            },
        )
        .sort("received_at", -1)
        .limit(LIST_LIMIT)
    )
    return [{**row, "filed_by_me": row.get("filer_account") == leader.user_id} for row in rows]


def case_for(intake: Intake, leader: Staff, reference: str) -> dict[str, Any] | None:
    """One case as its tracking page shows it, or None when it is not the leader's to see."""
    case = intake.db.cases.find_one({"$and": [{"_id": reference}, _scope(leader)]})
    return public_view(case) if case else None
