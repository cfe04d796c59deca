""" "Is it settled?" answers as council sees them (issue 14.4), from intake's survey:
`case.settlement_answered` → `settlement_facts`, one document per applicant's answer (keyed by a
one-way hash of the case reference and the applicant's place, so a changed answer replaces the
earlier one and the reference is not kept), with the community, the quarter of the first answer
and the latest answer (the latest by `answered_at`: a redelivered or overtaken message has no
effect). The public board counts them by answer, small cells suppressed as every board table is.
Never who answered, never the comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.domain import mediation_stats as ms
from services.council.domain import suppression as su
from services.council.statistics import case_key
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope

CONSUMER = "council.settlement"
EVENTS = ("case.settlement_answered",)
ANSWERS = ("settled", "not_settled", "not_sure")  # the board's columns, in this order


def on_event(council: Council, envelope: Envelope) -> None:
    """Keep the applicant's latest answer (once per message)."""
    data = envelope.data
    db = council.db
    answered_at = datetime.fromisoformat(data["answered_at"])
    first = datetime.fromisoformat(data.get("first_answered_at") or data["answered_at"])
    key = case_key(council.settings.secret_key, f"{data['reference']}|{data['party']}")

    def effect(session: ClientSession) -> None:
        if not data.get("community"):
            return  # an older message without its community: nothing to count it under
        month = ms.month_of(first)
        db.settlement_facts.update_one(
            {"_id": key},
            {
                "$setOnInsert": {
                    "community": data["community"],
                    "month": month,
                    "quarter": ms.quarter_of_month(month),
                }
            },
            upsert=True,
            session=session,
        )
        # The latest answer wins: older (or repeated) changes match nothing here.
        db.settlement_facts.update_one(
            {"_id": key, "$or": [{"answered_at": None}, {"answered_at": {"$lt": answered_at}}]},
            {"$set": {"answer": data["answer"], "answered_at": answered_at}},
            session=session,
        )

    process_once(db, CONSUMER, envelope, effect)


def board_table(council: Council, members: list[str], quarter: str | None) -> dict[str, Any] | None:
    """The quarter's answers of the area's communities by answer, as the board publishes it (rows are
    the communities, so a street's or the district's total is its margin); None without answers."""
    if not quarter or not members:
        return None
    counts: dict[tuple[str, str], int] = {}
    for row in council.db.settlement_facts.aggregate(
        [
            {"$match": {"quarter": quarter, "community": {"$in": members}}},
            {"$group": {"_id": {"c": "$community", "a": "$answer"}, "n": {"$sum": 1}}},
        ]
    ):
        counts[(row["_id"]["c"], row["_id"]["a"])] = row["n"]
    if not counts:
        return None
    cells = [[counts.get((c, a), 0) for a in ANSWERS] for c in members]
    published = su.suppress(su.Table.of(cells))
    return {
        "columns": ANSWERS,
        "rows": list(zip(members, published.as_rows()[:-1], strict=True)),
        "total": published.as_rows()[-1],
        "withheld": published.withheld,
    }
