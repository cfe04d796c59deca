"""Reception-day walk-ins as council sees them (issue 14.6), from intake's register:
- `walk_in.recorded` → `walk_in_facts` (community, outcome, quarter; one per walk-in): the public
  board counts them by outcome, small cells suppressed as every board table is;
- `walk_in.collective_matter` → `raised_matters`: what residents raised at the reception for the
  owners' council, listed for the community's committee. Never a visitor's name or phone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.domain import mediation_stats as ms
from services.council.domain import suppression as su
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope

CONSUMER = "council.walk_ins"
EVENTS = ("walk_in.recorded", "walk_in.collective_matter")
OUTCOMES = ("answered", "referred", "case", "collective")  # the board's columns, in this order


def on_event(council: Council, envelope: Envelope) -> None:
    """Store a walk-in's fact or its collective matter; a message delivered twice has one effect."""
    data = envelope.data
    db = council.db

    def effect(session: ClientSession) -> None:
        if envelope.type == "walk_in.recorded":
            at = datetime.fromisoformat(data["recorded_at"])
            month = ms.month_of(at)
            db.walk_in_facts.update_one(
                {"_id": data["walk_in_id"]},
                {
                    "$setOnInsert": {
                        "community": data["community"],
                        "outcome": data["outcome"],
                        "category": data["category"],
                        "month": month,
                        "quarter": ms.quarter_of_month(month),
                    }
                },
                upsert=True,
                session=session,
            )
        else:
            db.raised_matters.update_one(
                {"_id": data["walk_in_id"]},
                {
                    "$setOnInsert": {
                        "community": data["community"],
                        "building": data["building"],
                        "category": data["category"],
                        "matter": data["matter"],
                        "raised_at": datetime.fromisoformat(data["raised_at"]),
                    }
                },
                upsert=True,
                session=session,
            )

    process_once(db, CONSUMER, envelope, effect)


def board_table(council: Council, members: list[str], quarter: str | None) -> dict[str, Any] | None:
    """The quarter's walk-ins of the area's communities by outcome, as the board publishes it (one
    table: rows are the communities, so a street's or the district's total is its margin)."""
    if not quarter or not members:
        return None
    counts: dict[tuple[str, str], int] = {}
    for row in council.db.walk_in_facts.aggregate(
        [
            {"$match": {"quarter": quarter, "community": {"$in": members}}},
            {"$group": {"_id": {"c": "$community", "o": "$outcome"}, "n": {"$sum": 1}}},
        ]
    ):
        counts[(row["_id"]["c"], row["_id"]["o"])] = row["n"]
    if not counts:
        return None
    cells = [[counts.get((c, o), 0) for o in OUTCOMES] for c in members]
    published = su.suppress(su.Table.of(cells))
    return {
        "columns": OUTCOMES,
        "rows": list(zip(members, published.as_rows()[:-1], strict=True)),
        "total": published.as_rows()[-1],
        "withheld": published.withheld,
    }


def raised_matters(council: Council, community: str, limit: int = 200) -> list[dict[str, Any]]:
    """The community's collective matters raised at reception days, newest first."""
    return list(council.db.raised_matters.find({"community": community}).sort("raised_at", -1).limit(limit))
