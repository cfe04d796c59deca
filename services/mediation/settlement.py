""" "Is it settled?" (issue 14.4), mediation's part.

- `run_checks` (a step of the desk's periodic job, `deadlines.run_once`) finds cases that ended
  `settlement_check_days` ago (per studio, default 28) in an asked outcome, claims each by setting
  `settlement_check` on the case in the same transaction as its `case.settlement_check_due` event:
  several replicas, one claim, one event per case, ever. Intake, which holds the applicants'
  contacts, asks them (`services.intake.settlement`).
- `on_settlement_answered` keeps each applicant's latest answer on the case (`settlement.answers`,
  the latest by `answered_at` wins, so a redelivered or overtaken message has no effect). A "not
  settled" answer gives the studio lead a `not_settled` row in `follow_up_tasks` (the shape the
  `visits` module owns; deterministic `_id`) and `case.not_settled`, by which notify emails the lead.
- `request_reopen`: the lead opens a new case linked to the old one (`case.reopen_requested`;
  intake files it, and answers with `case.linked`, kept by `on_case_linked`). One per answer, and
  only for an answer "not settled".
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.mediation import desk, registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import settlement as rules
from services.mediation.domain.actor import Actor
from shared.db import in_transaction, retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

CONSUMER = "mediation.settlement"
# Cases looked at per studio and pass: a backlog (the feature switched on) drains over a few passes.
BATCH = 200
_CHECK_FIELDS = {"status": 1, "outcome": 1, "ended_at": 1, "settlement_check": 1, "language": 1, "studio": 1}


def _ask(mediation: Mediation, case: dict[str, Any], days: int, now: datetime) -> bool:
    """Claim the check of one case and emit its event; False when it was claimed already."""
    db = mediation.db
    published: list[Envelope] = []
    event = make_envelope(
        "case.settlement_check_due",
        {
            "reference": case["_id"],
            "language": case.get("language") or "zh-CN",
            "ended_at": case["ended_at"].isoformat(),
            "outcome": case["outcome"],
        },
        source=SERVICE,
    )

    def work(session: ClientSession) -> bool:
        published.clear()
        claimed = db.cases.update_one(
            {"_id": case["_id"], "settlement_check": None},
            {
                "$set": {"settlement_check": {"asked_at": now, "days": days}},
                "$push": {
                    "timeline": {"at": now, "action": "settlement_check", "by": "system", "public": False}
                },
            },
            session=session,
        )
        if claimed.modified_count != 1:
            return False
        published.extend(mediation.outbox.add([event], session))
        return True

    asked = in_transaction(db, work)
    mediation.outbox.flush(published)
    return bool(asked)


def run_checks(mediation: Mediation, now: datetime | None = None) -> int:
    """Ask about every case due to be asked now (safe on several replicas); how many were asked."""
    db = mediation.db
    now = now or utcnow()
    asked = 0
    for studio in db.studios.find({}, {"settlement_check_days": 1}):
        days = rules.check_days(studio)
        query = {
            "studio": studio["_id"],
            "ended_at": {"$lte": rules.cutoff(now, days)},
            "outcome": {"$in": list(rules.ASKED_OUTCOMES)},
            "settlement_check": None,
        }
        for case in list(db.cases.find(query, _CHECK_FIELDS).limit(BATCH)):
            if not rules.check_due(case, now, days):
                continue
            try:
                asked += _ask(mediation, case, days, now)
            except Exception:  # one broken case must not stop the others
                log.exception("settlement check failed", extra={"reference": case["_id"]})
    return asked


def _as_datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def on_settlement_answered(mediation: Mediation, envelope: Envelope) -> None:
    """Keep an applicant's latest answer; "not settled" → the lead's task and email, once."""
    data = envelope.data
    db = mediation.db
    reference, party = data["reference"], data["party"]
    answered_at = datetime.fromisoformat(data["answered_at"])
    published: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        published.clear()
        case = db.cases.find_one(
            {"_id": reference}, {"studio": 1, "settlement": 1, "reference": 1}, session=session
        )
        if case is None:
            raise LookupError(f"settlement answer for an unknown case: {reference}")
        stored = ((case.get("settlement") or {}).get("answers") or {}).get(party)
        if not rules.is_newer(answered_at, stored):
            return  # an older change overtaken by a newer one (or the same one again): no effect
        answer = {
            "answer": data["answer"],
            "answered_at": answered_at,
            "first_answered_at": _as_datetime(data.get("first_answered_at")) or answered_at,
            "comment": data.get("comment") or "",
        }
        db.cases.update_one(
            {"_id": reference},
            {
                "$set": {f"settlement.answers.{party}": answer},
                "$push": {
                    "timeline": {
                        "at": answered_at,
                        "action": "settlement_answered",
                        "by": f"party:{party}",
                        "public": False,
                        "details": {"answer": data["answer"], "party": party},
                    }
                },
            },
            session=session,
        )
        if data["answer"] != rules.NOT_SETTLED:
            return
        detail = {
            "answer": rules.NOT_SETTLED,
            "answered_at": answered_at.isoformat(),
            "comment": answer["comment"],
        }
        task = db.follow_up_tasks.update_one(
            {"_id": rules.task_id(reference, party)},
            {
                "$setOnInsert": {
                    "kind": rules.TASK_KIND,
                    "case_id": reference,
                    "reference": case.get("reference") or reference,
                    "studio": case["studio"],
                    "assignee": None,
                    "assignee_role": "studio_lead",
                    "party": party,
                    "due": answered_at + rules.TASK_DUE,
                    "created_at": utcnow(),
                    "done_at": None,
                    "done_by": None,
                    "record": None,
                },
                "$set": {"detail": detail},
            },
            upsert=True,
            session=session,
        )
        if task.upserted_id is None:
            return  # the lead has the task already (a comment added since): told once
        studio = db.studios.find_one({"_id": case["studio"]}, session=session)
        event = make_envelope(
            "case.not_settled",
            {
                "reference": reference,
                "party": party,
                "answered_at": answered_at.isoformat(),
                "studio": registry.studio_ref(studio) if studio else None,
            },
            source=SERVICE,
        )
        published.extend(mediation.outbox.add([event], session))

    if retry_transient(lambda: process_once(db, CONSUMER, envelope, effect)):
        mediation.outbox.flush(published)
        log.info("settlement answer kept", extra={"reference": reference, "answer": data["answer"]})


def on_case_linked(mediation: Mediation, envelope: Envelope) -> None:
    """Intake filed the linked case: the old case shows it."""
    data = envelope.data
    db = mediation.db
    party = data["request_id"].partition(":reopen:")[2]  # `rules.reopen_request_id`

    update: dict[str, Any] = {"$addToSet": {"linked_cases": data["linked_case"]}}
    if party:
        update["$set"] = {f"settlement.reopen_requests.{party}.linked_case": data["linked_case"]}

    def effect(session: ClientSession) -> None:
        db.cases.update_one({"_id": data["reference"]}, update, session=session)

    retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))


def request_reopen(mediation: Mediation, reference: str, actor: Actor, party: str) -> str:
    """The studio lead (or a district admin) opens a new case linked to `reference`, for `party`'s
    answer "not settled"; the request's id. Refused for another studio's case, an answer that is
    not "not settled", and a second time for the same answer: nothing changes."""
    db = mediation.db
    case = desk.get_case(db, reference, actor)  # NotFound for another studio's case
    if not (desk.is_lead_of(actor, case) or desk.is_admin(actor)):
        raise desk.Forbidden("Only the studio lead can open a linked case.")
    why = rules.reopen_refusal(case, party)
    if why == "already_linked":
        raise desk.Conflict("A linked case was already opened for this answer.")
    if why is not None:
        raise desk.Conflict('A linked case can only be opened after an answer "not settled".')
    now = utcnow()
    request_id = rules.reopen_request_id(reference, party)
    event = make_envelope(
        "case.reopen_requested",
        {
            "reference": reference,
            "request_id": request_id,
            "party": party,
            "requested_by": actor.user_id,
            "requested_at": now.isoformat(),
        },
        source=SERVICE,
    )
    published: list[Envelope] = []

    def work(session: ClientSession) -> bool:
        published.clear()
        field = f"settlement.reopen_requests.{party}"
        claimed = db.cases.update_one(
            {"_id": reference, field: {"$exists": False}},
            {
                "$set": {
                    field: {"request_id": request_id, "by": actor.user_id, "at": now, "linked_case": None}
                },
                "$push": {
                    "timeline": {
                        "at": now,
                        "action": "reopen_requested",
                        "by": actor.user_id,
                        "public": False,
                        "details": {"party": party},
                    }
                },
            },
            session=session,
        )
        if claimed.modified_count != 1:
            return False
        published.extend(mediation.outbox.add([event], session))
        return True

    if not in_transaction(db, work):
        raise desk.Conflict("A linked case was already opened for this answer.")
    mediation.outbox.flush(published)
    log.info("linked case requested", extra={"reference": reference})
    return request_id
