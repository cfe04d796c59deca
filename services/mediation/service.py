"""Mediation's use cases. For now: take in a submitted case and assign it to a studio."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.client_session import ClientSession

from services.mediation import registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain.risk import initial_risk
from services.mediation.domain.routing import NoStudioAvailable, route
from shared.idempotency import process_once
from shared.messaging.consumer import PermanentError
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

ASSIGNED = "assigned"


def on_case_submitted(mediation: Mediation, envelope: Envelope) -> None:
    """Open the case file, route it to a studio and announce the assignment (exactly once)."""
    data = envelope.data
    published = []

    def effect(session: ClientSession) -> None:
        db = mediation.db
        if db.cases.find_one({"_id": data["reference"]}, {"_id": 1}, session=session):
            # The same case under another message id (e.g. republished by hand): never assign twice.
            log.warning(
                "case already open; ignoring duplicate submission", extra={"reference": data["reference"]}
            )
            return
        try:
            decision = route(data["community"], data["category"], registry.snapshots(db, session))
        except NoStudioAvailable as err:
            raise PermanentError(str(err)) from err
        studio = db.studios.find_one({"_id": decision.studio}, session=session)
        now = utcnow()
        risk = initial_risk(data["threat_of_violence"], data["danger_to_safety"], data["people_affected"])
        case: dict[str, Any] = {
            "_id": data["reference"],
            **data,
            "status": ASSIGNED,
            "risk_level": risk,
            "studio": decision.studio,
            "routing": {
                "rule": decision.rule,
                "candidates": list(decision.candidates),
                "loads": decision.loads,
                "needs_manual_routing": decision.needs_manual_routing,
                "decided_at": now,
            },
            "assigned_at": now,
            "timeline": [
                {"at": now, "action": "received", "by": "system"},
                {"at": now, "action": "assigned", "by": "routing", "studio": decision.studio},
            ],
        }
        db.cases.insert_one(case, session=session)
        db.studios.update_one({"_id": decision.studio}, {"$inc": {"open_cases": 1}}, session=session)
        event = make_envelope(
            "case.assigned",
            {
                "reference": data["reference"],
                "studio": {
                    "code": studio["code"],
                    "name": studio["name"]["zh-CN"],
                    "name_en": studio["name"]["en"],
                    "email": studio.get("email"),
                },
                "assigned_at": now.isoformat(),
                "rule": decision.rule,
                "needs_manual_routing": decision.needs_manual_routing,
                "risk_level": risk,
            },
            source=SERVICE,
            correlation_id=envelope.correlation_id,
        )
        published.extend(mediation.outbox.add([event], session=session))

    process_once(mediation.db, "mediation.intake", envelope, effect)
    if published:
        mediation.outbox.flush(published)
        log.info(
            "case assigned",
            extra={"reference": data["reference"], "studio": published[0].data["studio"]["code"]},
        )
