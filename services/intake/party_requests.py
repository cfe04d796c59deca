"""A party's own requests from their tracking page (PML Art 23): withdraw from mediation, or ask for
another mediator with a reason.

Only an applicant's own tracking link may ask (the filer's copy may not speak for them). The request
is refused with nothing changed when the case has ended, when the same request is still pending (a
repeated click), or when there is no mediator to replace yet. Accepted, it is written on the case
(a public timeline entry, the request pending) with its `case.party_requested` event in one
transaction; mediation applies it to the lifecycle and answers `case.party_request_handled`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow

log = logging.getLogger(__name__)

ENTRY = {"withdraw": case_rules.WITHDRAWAL_REQUESTED, "other_mediator": case_rules.OTHER_MEDIATOR_REQUESTED}


class RequestRefused(Exception):
    """The request cannot be made; nothing was changed. `code` says why (for the page's wording):
    not_found, not_a_party, ended, withdrawal_pending, already_asked, no_mediator, reason_required,
    reason_too_long, changed, unknown."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def make_request(
    intake: Intake,
    reference: str,
    token: str,
    kind: str,
    reason: str = "",
    *,
    expected_status: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record a party's request and its event; raise RequestRefused with nothing changed."""
    reason = (reason or "").strip()
    if kind == "other_mediator" and not reason:
        raise RequestRefused("reason_required")
    if len(reason) > case_rules.MAX_REQUEST_REASON:
        raise RequestRefused("reason_too_long")
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        case = intake.db.cases.find_one({"_id": reference}, session=session)
        holder = case_rules.token_holder(token, case) if case and token else False
        if case is None or holder is False:
            raise RequestRefused("not_found")
        if holder is None:
            raise RequestRefused("not_a_party")
        refusal = case_rules.party_request_refusal(kind, case)
        if refusal:
            raise RequestRefused(refusal)
        if expected_status and expected_status != case.get("status"):
            raise RequestRefused("changed")  # the page was out of date: look again first
        at = now or utcnow()
        request_id = new_id()
        entry = case_rules.timeline_entry(ENTRY[kind], at, request_id=request_id)
        # Conditional on what was read: a concurrent click matches nothing.
        guard = {"_id": reference, "status": case.get("status"), f"pending_requests.{kind}": None}
        done = intake.db.cases.update_one(
            guard,
            {
                "$set": {f"pending_requests.{kind}": {"id": request_id, "at": at, "party": holder}},
                "$push": {"timeline": entry},
                "$max": {"updated_at": at},
            },
            session=session,
        )
        if done.matched_count != 1:
            raise RequestRefused("changed")
        event = make_envelope(
            "case.party_requested",
            {
                "reference": reference,
                "request_id": request_id,
                "request": kind,
                "party": holder,
                "reason": reason,
                "requested_at": at.isoformat(),
            },
            source=SERVICE,
        )
        published.extend(intake.outbox.add([event], session))
        return {"request_id": request_id, "request": kind, "at": at}

    result = in_transaction(intake.db, work)
    intake.outbox.flush(published)
    log.info("party request recorded", extra={"reference": reference, "request": kind})
    return result
