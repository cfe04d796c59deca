"""Ended cases still waiting for something: mine (a mediator's own) and my studio's, grouped by
what they wait for (judicial confirmation, the performance follow-up, archiving) with their next
step, so a case closed last month is found without typing its address. Lists carry no personal
data (`desk.LIST_FIELDS`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from services.mediation import desk
from services.mediation.domain import follow_up as rules
from services.mediation.domain.actor import Actor

MINE = "mine"
STUDIO = "studio"
SCOPES = (MINE, STUDIO)
# Rows per group: the oldest waiting first; more than this is a studio's backlog to archive.
MAX_ROWS = 200


@dataclass
class EndedLists:
    """Ended cases by what they wait for (`domain.follow_up.WAITING`), the oldest ended first."""

    groups: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {w: [] for w in rules.WAITING})
    truncated: dict[str, bool] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.groups.values())


def ended(db: Database, actor: Actor, scope: str = MINE, studio: str | None = None) -> EndedLists:
    """`actor`'s own ended cases (`mine`) or their studio's (`studio`; district admins name one,
    or see every studio's). Each row gets `waiting_for` and `next_steps`."""
    if scope not in SCOPES:
        raise desk.Invalid("Unknown list.", {"scope": "mine or studio"})
    result = EndedLists()
    for waiting in rules.WAITING:
        states = [s for s, w in rules.WAITING_FOR.items() if w == waiting]
        query: dict[str, Any] = {"status": {"$in": states}}
        if scope == MINE:
            query["mediators"] = actor.user_id
        if not desk.is_admin(actor):
            query["studio"] = actor.studio
        elif studio:
            query["studio"] = studio
        found = db.cases.find(query, {**desk.LIST_FIELDS, "deadline.stopped_at": 1})
        rows = list(found.sort("deadline.stopped_at", ASCENDING).limit(MAX_ROWS + 1))
        result.truncated[waiting] = len(rows) > MAX_ROWS
        rows = rows[:MAX_ROWS]
        for row in rows:
            row["waiting_for"] = waiting
            row["next_steps"] = rules.next_steps(row["status"])
            row["ended_at"] = (row.get("deadline") or {}).get("stopped_at")
        result.groups[waiting] = rows
    return result
