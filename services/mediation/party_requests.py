"""Parties' own requests (PML Art 23), posted on intake's tracking page and carried here by
`case.party_requested`: withdraw (the case ends as withdrawn) or another mediator (the case goes back
to the studio's pool, and the mediators it had cannot take it back themselves).

Each request is one lifecycle action by the `party` role (`domain.lifecycle`), applied with its events
in one transaction, together with the mark that the message was processed: a redelivered message
changes nothing. `case.party_request_handled` tells the mediators the case had (and the studio lead,
who assigns a new mediator); a request the lifecycle refuses (the case ended meanwhile) is recorded
on the case and answered `applied: false`, so intake's page can say so.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.mediation import desk, registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

CONSUMER = "mediation.parties"
ACTIONS = {"withdraw": lc.WITHDRAW, "other_mediator": lc.REQUEST_OTHER_MEDIATOR}
PAYLOAD_FIELD = {"withdraw": "withdrawn_by", "other_mediator": "requested_by"}


def party_actor(party: str) -> Actor:
    """A party acting through their tracking link ("party:" is no valid username)."""
    return Actor(f"party:{party}", frozenset({lc.PARTY}))


def _handled(
    mediation: Mediation,
    case: dict[str, Any],
    data: dict[str, Any],
    applied: bool,
    at: datetime,
    session: ClientSession,
) -> Envelope:
    studio = mediation.db.studios.find_one({"_id": case.get("studio")}, session=session)
    return make_envelope(
        "case.party_request_handled",
        {
            "reference": data["reference"],
            "request_id": data["request_id"],
            "request": data["request"],
            "applied": applied,
            "reason": data.get("reason") or "",
            "handled_at": at.isoformat(),
            "studio": registry.studio_ref(studio) if studio else None,
            "mediators": [desk.staff_ref(mediation.db, m, session) for m in case.get("mediators") or []],
        },
        source=SERVICE,
    )


def on_party_requested(mediation: Mediation, envelope: Envelope, now: datetime | None = None) -> None:
    """Apply a party's request to the lifecycle, once."""
    data = envelope.data
    reference = data["reference"]
    action = ACTIONS[data["request"]]
    payload = {PAYLOAD_FIELD[data["request"]]: data["party"], "request_id": data["request_id"]}
    if data.get("reason"):
        payload["reason"] = data["reason"]
    db = mediation.db
    notice: list[Envelope] = []

    def extra(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        notice.clear()
        # The processed mark, in the action's own transaction: a redelivery fails on its _id.
        db.processed.insert_one(
            {"_id": f"{CONSUMER}:{envelope.message_id}", "type": envelope.type, "processed_at": at},
            session=session,
        )
        notice.extend(mediation.outbox.add([_handled(mediation, case, data, True, at, session)], session))
        return desk.replace_mediators(session, case, t, at) if action == lc.REQUEST_OTHER_MEDIATOR else {}

    def check(session: ClientSession, case: dict[str, Any]) -> None:
        return None  # intake proved the party's link; the lifecycle's `party` role decides the rest

    if db.processed.find_one({"_id": f"{CONSUMER}:{envelope.message_id}"}, {"_id": 1}):
        return
    try:
        actor = party_actor(data["party"])
        desk.act(mediation, reference, actor, action, payload, now=now, extra=extra, check=check)
    except DuplicateKeyError:
        return  # processed meanwhile by another delivery of the same message
    except desk.NotFound as err:
        # The request overtook the case's own routing (case.submitted): the retry tiers bring it back.
        raise LookupError(f"party request for a case not routed yet: {reference}") from err
    except (desk.Conflict, desk.Forbidden, desk.Invalid) as err:
        _refused(mediation, envelope, str(err), now or utcnow())
        return
    mediation.outbox.flush(notice)
    log.info("party request applied", extra={"reference": reference, "request": data["request"]})


def _refused(mediation: Mediation, envelope: Envelope, why: str, at: datetime) -> None:
    """The case had moved on (e.g. it ended before the request arrived): nothing changes but an
    internal timeline entry, and intake hears that the request was not carried out."""
    data = envelope.data
    db = mediation.db
    published: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        published.clear()
        case = db.cases.find_one({"_id": data["reference"]}, session=session)
        if case is None:
            return  # not routed (yet): mediation never had it; nothing to tell anyone
        db.cases.update_one(
            {"_id": data["reference"]},
            {
                "$push": {
                    "timeline": {
                        "at": at,
                        "action": "party_request_refused",
                        "by": f"party:{data['party']}",
                        "request": data["request"],
                        "public": False,
                        "details": {"why": why},
                    }
                }
            },
            session=session,
        )
        handled = _handled(mediation, {**case, "mediators": []}, data, False, at, session)
        published.extend(mediation.outbox.add([handled], session))

    retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
    mediation.outbox.flush(published)
    log.info("party request refused", extra={"reference": data["reference"], "request": data["request"]})
