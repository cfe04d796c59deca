"""The reception-day walk-in register (issue 14.6): a clerk records a visitor and what came of it —
answered on the spot, referred elsewhere, turned into a case (filed here, source: reception day; the
visitor gets the tracking code) or into a collective matter for the owners' council.

The visitor's name and phone stay in intake (lists mask them, logs never hold them); the rest of
the system hears only `walk_in.recorded` (anonymous, for the statistics) and, for a collective
matter, `walk_in.collective_matter` (what and where, not who).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.client_session import ClientSession

from services.intake import filing
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import walk_ins as rules
from shared.auth import Staff
from shared.db import in_transaction
from shared.messaging.envelope import make_envelope, utcnow

log = logging.getLogger(__name__)

LOCAL = ZoneInfo("Asia/Shanghai")  # "today" is the reception day's date where it takes place


def record(
    intake: Intake,
    walk_in_id: str,
    data: dict[str, Any],
    clerk: Staff,
    case: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record a validated walk-in once (`walk_in_id` comes with the form, so a repeated post returns
    the first record). With `case` (the validated filing of `rules.case_payload`) the case is filed
    first; the visitor gets their own tracking link by message, as every applicant does (`filing`),
    and the clerk's copy of the case's token is not kept."""
    existing = intake.db.walk_ins.find_one({"_id": walk_in_id})
    if existing is not None:
        return {"walk_in": existing, "repeated": True}
    at = now or utcnow()
    doc: dict[str, Any] = {
        "_id": walk_in_id,
        "at": at,
        "clerk": clerk.user_id,
        "clerk_name": clerk.name,
        **data,
        "reference": None,
    }
    if case is not None:
        doc["reference"] = filing.submit_case(intake, case, channel="web")["reference"]
    events = [make_envelope("walk_in.recorded", rules.recorded_data(doc), source=SERVICE)]
    if data["outcome"] == rules.COLLECTIVE:
        events.append(make_envelope("walk_in.collective_matter", rules.collective_data(doc), source=SERVICE))

    def work(session: ClientSession) -> list:
        intake.db.walk_ins.insert_one(doc, session=session)
        return intake.outbox.add(events, session=session)

    intake.outbox.flush(in_transaction(intake.db, work))
    log.info(
        "walk-in recorded",
        extra={"walk_in_id": walk_in_id, "outcome": data["outcome"], "reference": doc["reference"]},
    )
    return {"walk_in": doc, "repeated": False}


def todays(intake: Intake, community: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Today's walk-ins at a community (local day), newest first."""
    local = (now or utcnow()).astimezone(LOCAL)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return list(
        intake.db.walk_ins.find(
            {"community": community, "at": {"$gte": start, "$lt": start + timedelta(days=1)}}
        ).sort("at", -1)
    )
