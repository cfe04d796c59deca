"""Mediation's use cases: take in a submitted case (route it, weigh its risk, send a patrol), change
a case's risk level, move a case to another studio, and record cases whose routing failed.

Every state change is written with the events it causes in one transaction (the outbox), and
published after commit.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.mediation import registry, search
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.domain.patrol import (
    ACTIVE_STATUSES,
    OPEN,
    pick_team,
)
from services.mediation.domain.queue import count_changes, list_of
from services.mediation.domain.risk import initial_risk, patrol_plan, rank, risk_reason
from services.mediation.domain.routing import (
    DUPLICATE_CANDIDATE_FIELDS,
    NoStudioAvailable,
    cursor_key,
    duplicate_candidates_query,
    possible_duplicates,
    route,
)
from shared.db import in_transaction, retry_transient, transaction
from shared.messaging.consumer import PermanentError
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.refusals import Msgid, Refusal
from shared.taxonomy import community_codes

log = logging.getLogger(__name__)

# A routed case starts the lifecycle as `received`, with its studio set (`case.assigned` means
# "routed to a studio"; the lifecycle's `mediator_assigned` comes when a mediator takes it).
RECEIVED = lc.RECEIVED


class CaseError(Refusal):
    """A case action that cannot be done (unknown case, bad target); nothing was changed. The
    message is a catalog msgid, said in the reader's language by the entrypoints (`Refusal`)."""


class CaseNotFound(CaseError):
    pass


class _AlreadyOpen(Exception):
    """A submission of a case mediation has open already (under another message id)."""

    def __init__(self, error: DuplicateKeyError) -> None:
        super().__init__(str(error))
        self.error = error


# Patrol planning, shared by intake of a case and a lead's change of its risk level -------------
def _plan_patrol(
    mediation: Mediation,
    session: ClientSession,
    case: dict[str, Any],
    level: str,
    reason: str,
    now: datetime,
    correlation_id: str | None,
    by: str,
    *,
    tz: ZoneInfo | None = None,
    new_case: bool = False,
    studio: dict[str, Any] | None = None,
) -> tuple[list[Envelope], list[dict[str, Any]]]:
    """Create what `level` asks for (a dispatch or a same-day task, an alert to the lead).

    Returns the events to emit and the timeline entries to add to the case. A caller that has
    read the district's time zone or the case's studio passes them (fewer round trips); a
    `new_case` has no patrol task yet, so none is looked for.
    """
    db = mediation.db
    now_local = now.astimezone(tz or registry.timezone(db, session))
    open_kinds: frozenset[str] = frozenset()
    if not new_case:
        open_kinds = frozenset(
            t["kind"]
            for t in db.patrol_tasks.find(
                {"reference": case["_id"], "status": {"$in": list(ACTIVE_STATUSES)}},
                {"kind": 1},
                session=session,
            )
        )
    plan = patrol_plan(level, now_local, open_kinds)
    if plan is None:
        return [], []
    if studio is None:
        studio = db.studios.find_one({"_id": case["studio"]}, session=session)
    events: list[Envelope] = []
    timeline: list[dict[str, Any]] = []
    choice = pick_team(
        case["community"],
        registry.street_of(case["community"]),
        registry.team_snapshots(db, session),
        now_local,
    )
    if choice is None:
        # No team at all (broken registry): the case still stands; the district admin must act.
        timeline.append({"at": now, "action": "patrol_unavailable", "by": by, "level": level})
        events.append(
            make_envelope(
                "case.escalated",
                {
                    "reference": case["_id"],
                    "level": "district_admin",
                    "reason": f"{level} risk ({reason}) and no patrol team to send",
                    "escalated_at": now.isoformat(),
                    "studio": registry.studio_ref(studio),
                    "admin_email": registry.district(db, session)["admin_email"],
                },
                source=SERVICE,
                correlation_id=correlation_id,
            )
        )
        return events, timeline
    team = db.patrol_teams.find_one({"_id": choice.team}, session=session)
    task_id = new_id()
    db.patrol_tasks.insert_one(
        {
            "_id": task_id,
            "kind": plan.kind,
            "status": OPEN,
            "reference": case["_id"],
            "team": choice.team,
            "team_rule": choice.rule,
            "community": case["community"],
            "building": case.get("building"),
            "unit": case.get("unit"),
            "category": case.get("category"),
            "risk_level": level,
            "reason": reason,
            "due_by": plan.due_by,
            "created_at": now,
            "created_by": by,
            "studio": case["studio"],
        },
        session=session,
    )
    timeline.append(
        {"at": now, "action": "patrol_" + plan.kind, "by": by, "team": choice.team, "task_id": task_id}
    )
    events.append(
        make_envelope(
            "patrol.dispatched",
            {
                "reference": case["_id"],
                "task_id": task_id,
                "team": registry.team_ref(team),
                "risk_level": level,
                "reason": reason,
                "dispatched_at": now.isoformat(),
                "due_by": plan.due_by.isoformat(),
                "community": case["community"],
                "studio": registry.studio_ref(studio),
            },
            source=SERVICE,
            correlation_id=correlation_id,
        )
    )
    if plan.alert_lead:
        timeline.append({"at": now, "action": "lead_alerted", "by": by, "studio": case["studio"]})
        events.append(
            make_envelope(
                "case.escalated",
                {
                    "reference": case["_id"],
                    "level": "studio_lead",
                    "reason": f"red risk: {reason}; patrol team {choice.team} dispatched",
                    "escalated_at": now.isoformat(),
                    "studio": registry.studio_ref(studio),
                },
                source=SERVICE,
                correlation_id=correlation_id,
            )
        )
    return events, timeline


# case.submitted ---------------------------------------------------------------------------------
class _StaleView(Exception):
    """A write found routing's copy of the registry out of date (`registry.routing_view`): the
    transaction is abandoned and the case routed again on a fresh read."""


# Fresh reads after stale copies before the consumer's retry queue takes over (each stale copy is
# another process's routing or closing in between: a handful at most).
STALE_VIEW_ATTEMPTS = 20


def on_case_submitted(mediation: Mediation, envelope: Envelope, now: datetime | None = None) -> None:
    """Open the case file, route it to a studio, weigh its risk and send a patrol (exactly once).

    One transaction writes the case with its events, advances the round-robin cursor of its
    candidate studios and counts the case in its studio's load. What the decision rests on comes
    from routing's copy of the registry (`registry.routing_view`) and is checked by those writes:
    the cursor and the load counter are updated only if they still hold what the copy says, so a
    concurrent replica's routing (or a stale copy) makes the transaction start again on a fresh
    read, and concurrent replicas also conflict on the documents they both write
    (`retry_transient`). The case's unique `_id` (its reference) is the idempotency check: a
    redelivered submission fails on it and changes nothing.
    """
    data = envelope.data
    published: list[Envelope] = []
    if data["community"] not in community_codes():
        raise PermanentError(f"unknown community {data['community']!r}")
    db = mediation.db
    decided: dict[str, Any] = {}
    # Looked for here, where the desk shows them (intake's filing no longer does: its request
    # stays at two round trips); an older event that still carries them is believed. Read once,
    # before the transaction: the flag is advisory and reads only other cases, so a snapshot taken
    # a few milliseconds earlier is as good, and a routing attempted again (stale copy, write
    # conflict) does not read them again.
    duplicates = data.get("possible_duplicates") or possible_duplicates(
        data,
        db.cases.find(duplicate_candidates_query(data, now or utcnow()), DUPLICATE_CANDIDATE_FIELDS),
    )

    def effect(session: ClientSession, view: registry.RoutingView) -> None:
        published.clear()
        decided.clear()
        at = now or utcnow()
        tz = ZoneInfo(view.district["timezone"])
        today = at.astimezone(tz).date()
        studios = registry.snapshots(db, rows=view.studio_rows)
        street = registry.street_of(data["community"])
        try:
            probe = route(data["community"], data["category"], studios, street=street, today=today)
            # A set of one studio needs no turn: its cursor would always name that studio.
            key = cursor_key(probe.candidates) if len(probe.candidates) > 1 else None
            decision = route(
                data["community"],
                data["category"],
                studios,
                street=street,
                today=today,
                last_in_turn=view.cursors.get(key) if key else None,
            )
        except NoStudioAvailable as err:
            raise PermanentError(str(err)) from err
        if key:
            try:
                # Only if the cursor is still where the copy has it; else the upsert's insert
                # collides with the existing cursor.
                db.routing_cursors.update_one(
                    {"_id": key, "last": view.cursors.get(key)},
                    {"$set": {"last": decision.studio}, "$inc": {"decisions": 1}},
                    upsert=True,
                    session=session,
                )
            except DuplicateKeyError as err:
                raise _StaleView(key) from err
        studio = view.studio_row(decision.studio)
        risk = initial_risk(data["threat_of_violence"], data["danger_to_safety"], data["people_affected"])
        # PML Art 3, 17: an applicant who said "no" is contacted by the studio, and the case waits
        # for their consent before anything else (a patrol for a risk is still sent: safety first).
        awaiting_consent = not data.get("agrees_to_mediation", True)
        state = lc.AWAITING_CONSENT if awaiting_consent else RECEIVED
        case: dict[str, Any] = {
            "_id": data["reference"],
            **data,
            "possible_duplicates": duplicates,
            "status": state,
            "risk_level": risk,
            "risk_rank": rank(risk),
            "owner": None,
            "mediators": [],
            "due_at": None,
            "studio": decision.studio,
            "routing": {**decision.reasons(), "decided_at": at, "history": []},
            "assigned_at": at,
            # Keyed hashes of the parties' phones and names: the desk's search (`search.keys_for`).
            **search.keys_for(data, mediation.settings.secret_key),
            "timeline": [
                {"at": at, "action": "received", "by": "system"},
                {"at": at, "action": "assigned", "by": "routing", "studio": decision.studio},
            ],
        }
        if awaiting_consent:
            case["timeline"].append(
                {"at": at, "action": "awaiting_consent", "by": "routing", "from": RECEIVED, "to": state}
            )
        events = [
            make_envelope(
                "case.assigned",
                {
                    "reference": data["reference"],
                    "studio": registry.studio_ref(studio),
                    "assigned_at": at.isoformat(),
                    "rule": decision.rule,
                    "needs_manual_routing": decision.needs_manual_routing,
                    "risk_level": risk,
                    "awaiting_consent": awaiting_consent,
                },
                source=SERVICE,
                correlation_id=envelope.correlation_id,
            )
        ]
        if awaiting_consent:
            # Public: the applicant's tracking page says the studio will contact them first.
            events.append(
                make_envelope(
                    "case.status_changed",
                    {
                        "reference": data["reference"],
                        "status": state,
                        "previous_status": RECEIVED,
                        # Just after the routing it follows: intake keeps the newest status, and
                        # the two events may reach it in either order after a retry.
                        "changed_at": (at + timedelta(milliseconds=1)).isoformat(),
                        "public": True,
                    },
                    source=SERVICE,
                    correlation_id=envelope.correlation_id,
                )
            )
        reason = risk_reason(data["threat_of_violence"], data["danger_to_safety"], data["people_affected"])
        patrol_events, timeline = _plan_patrol(
            mediation,
            session,
            case,
            risk,
            reason,
            at,
            envelope.correlation_id,
            "routing",
            tz=tz,
            new_case=True,
            studio=studio,
        )
        case["timeline"].extend(timeline)  # in the insert: no update of the case afterwards
        case["queue"] = list_of(case)  # the desk list it waits on, counted on its studio below
        try:
            db.cases.insert_one(case, session=session)
        except DuplicateKeyError as err:
            # Delivered again (or the same case under another message id, e.g. republished by
            # hand): never assign twice. The unique `_id` is the check (no read first);
            # everything above rolls back.
            raise _AlreadyOpen(err) from err
        # Counted only if the studio's load is still the one the decision was made on; the desk's
        # list counts (`domain/queue.py`) gain the case in the same write.
        counted = db.studios.update_one(
            {"_id": decision.studio, "open_cases": studio.get("open_cases")},
            {"$inc": {"open_cases": 1, **count_changes(None, case)}},
            session=session,
        )
        if counted.matched_count != 1:
            raise _StaleView(decision.studio)
        published.extend(mediation.outbox.add(events + patrol_events, session=session))
        decided.update(studio=decision.studio, cursor=key)

    fresh = False
    for attempt in range(STALE_VIEW_ATTEMPTS):
        if attempt > 1:
            # Stale again although read inside the transaction (only a registry write racing this
            # one can do that): jittered, so two writers do not collide again in lock-step.
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
        tries = 0

        def once(use_copy: bool = not fresh) -> None:
            nonlocal tries
            tries += 1
            with transaction(db) as session:
                # The process's copy first; after a stale copy or a write conflict (another replica
                # routed in between, as it does at almost every case when two replicas share the
                # same studios) the registry is read inside the transaction, as routing did before
                # it kept a copy: one attempt, not an abandoned transaction and a back-off each time.
                if use_copy and tries == 1:
                    current = registry.routing_view(db)
                else:
                    current = registry.routing_view(db, fresh=True, session=session)
                if not current.studio_rows:
                    # A district has studios; none read means a read that went wrong (seen once, in
                    # a transaction that had run for seconds), never "no studio": read it again
                    # rather than refuse the case as unroutable.
                    registry.forget_routing_view(db)
                    raise _StaleView("no studio read")
                effect(session, current)
            decided["view"] = current

        try:
            retry_transient(once)
            break
        except _StaleView:
            fresh = True
        except _AlreadyOpen as duplicate:
            if db.cases.find_one({"_id": data["reference"]}, {"_id": 1}) is None:
                raise duplicate.error from None  # not committed: the broker redelivers it (never dropped)
            log.warning(
                "case already open; ignoring duplicate submission", extra={"reference": data["reference"]}
            )
            return
    else:
        raise RuntimeError(f"routing's registry copy stale {STALE_VIEW_ATTEMPTS} times; retried later")
    registry.routed(db, decided["view"], decided["studio"], decided["cursor"])
    if published:
        mediation.outbox.flush(published)
        log.info(
            "case assigned",
            extra={"reference": data["reference"], "studio": published[0].data["studio"]["code"]},
        )


def record_routing_failure(mediation: Mediation, envelope: Envelope | None, reason: str) -> None:
    """The consumer's dead-letter hook: keep the failed case visible on the admin page.

    Only codes and the reference are kept here, never the parties' details.
    """
    data = envelope.data if envelope is not None else {}
    key = envelope.message_id if envelope is not None else new_id()
    mediation.db.routing_failures.update_one(
        {"_id": key},
        {
            "$setOnInsert": {
                "message_id": envelope.message_id if envelope is not None else None,
                "type": envelope.type if envelope is not None else None,
                "reference": data.get("reference"),
                "community": data.get("community"),
                "category": data.get("category"),
                "reason": reason[:1000],
                "at": utcnow(),
            }
        },
        upsert=True,
    )


# Lead actions ------------------------------------------------------------------------------------
def _may_lead(actor: Actor, studio: str) -> bool:
    return "district_admin" in actor.roles or ("studio_lead" in actor.roles and actor.studio == studio)


class Forbidden(CaseError):
    pass


def get_case(db: Database, reference: str) -> dict[str, Any]:
    case = db.cases.find_one({"_id": reference})
    if case is None:
        raise CaseNotFound("No case %(reference)s.", params={"reference": reference})
    return case


def _case_for_lead(
    db: Database, reference: str, actor: Actor, session: ClientSession, what: str
) -> dict[str, Any]:
    """The case, read inside the caller's transaction, if `actor` leads its studio (or is an admin)."""
    case = db.cases.find_one({"_id": reference}, session=session)
    if case is None:
        raise CaseNotFound("No case %(reference)s.", params={"reference": reference})
    if not _may_lead(actor, case["studio"]):
        raise Forbidden("Only the studio's lead or a district admin can do this.", detail=f"... can {what}.")
    return case


def change_risk(
    mediation: Mediation, reference: str, level: str, reason: str, actor: Actor, now: datetime | None = None
) -> dict[str, Any]:
    """A lead raises or lowers the risk level, with a reason; raising re-plans the patrol."""
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        case = _case_for_lead(db, reference, actor, session, "change the risk level")
        previous = case.get("risk_level", "none")
        if previous == level:
            raise CaseError(
                "The risk level is %(level)s already.", params={"level": Msgid(level.capitalize())}
            )
        events = set_risk(mediation, session, case, level, reason, actor.user_id, now or utcnow())
        published.extend(mediation.outbox.add(events, session=session))
        return db.cases.find_one({"_id": reference}, session=session)

    case = in_transaction(db, work)
    mediation.outbox.flush(published)
    log.info("risk level changed", extra={"reference": reference, "level": level})
    return case


def set_risk(
    mediation: Mediation,
    session: ClientSession,
    case: dict[str, Any],
    level: str,
    reason: str,
    by: str,
    at: datetime,
) -> list[Envelope]:
    """Store a new risk level on `case` inside the caller's transaction (its timeline entry; the
    patrol re-planned when the level rises) and return the events to add to the outbox with it:
    `case.risk_changed`, and a dispatch when the new level asks for one. Used by a lead's change
    and by a follow-up visit that found the conflict renewed (`visits.record_visit`)."""
    db = mediation.db
    reference = case["_id"]
    previous = case.get("risk_level", "none")
    studio = db.studios.find_one({"_id": case["studio"]}, session=session)
    timeline: list[dict[str, Any]] = [
        {"at": at, "action": "risk_changed", "by": by, "from": previous, "to": level, "reason": reason}
    ]
    events = [
        make_envelope(
            "case.risk_changed",
            {
                "reference": reference,
                "level": level,
                "previous_level": previous,
                "reason": reason,
                "changed_at": at.isoformat(),
                "changed_by": by,
                "studio": registry.studio_ref(studio),
            },
            source=SERVICE,
        )
    ]
    if rank(level) > rank(previous):
        patrol_events, patrol_timeline = _plan_patrol(
            mediation, session, {**case, "risk_level": level}, level, reason, at, None, by
        )
        events += patrol_events
        timeline += patrol_timeline
    db.cases.update_one(
        {"_id": reference},
        {"$set": {"risk_level": level, "risk_rank": rank(level)}, "$push": {"timeline": {"$each": timeline}}},
        session=session,
    )
    # The desk counts its lists per risk level: the case moves from one level's count to another's.
    moved = count_changes(case, {**case, "risk_level": level, "risk_rank": rank(level)})
    if moved:
        db.studios.update_one({"_id": case["studio"]}, {"$inc": moved}, session=session)
    return events


def move_case(
    mediation: Mediation, reference: str, target: str, reason: str, actor: Actor, now: datetime | None = None
) -> dict[str, Any]:
    """Rebalancing: a lead moves a case to another studio, with a reason (announced as an assignment).
    The duplicates merged into it move with it in the same transaction."""
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        case = _case_for_lead(db, reference, actor, session, "move a case")
        if lc.is_closed(case.get("status", RECEIVED)):
            raise CaseError("A closed case cannot be moved.")
        if target == case["studio"]:
            raise CaseError("The case is with %(studio)s already.", params={"studio": target})
        studio = db.studios.find_one({"_id": target}, session=session)
        if studio is None:
            raise CaseError("No studio %(studio)s.", params={"studio": target})
        at = now or utcnow()
        move = {"at": at, "from": case["studio"], "to": target, "by": actor.user_id, "reason": reason}
        db.cases.update_one(
            {"_id": reference},
            {
                "$set": {
                    "studio": target,
                    "assigned_at": at,
                    "routing.rule": "moved by lead",
                    "routing.decided_by": f"moved by {actor.user_id}: {reason}",
                    "routing.needs_manual_routing": False,
                },
                "$push": {
                    "routing.history": move,
                    "timeline": {
                        "at": at,
                        "action": "moved",
                        "by": actor.user_id,
                        "from": case["studio"],
                        "studio": target,
                        "reason": reason,
                    },
                },
            },
            session=session,
        )
        # The duplicates merged into it go with it: their records are part of this dispute, and
        # the new studio's staff follow its links to them (closed, so no studio's load changes).
        duplicates = case.get("merged") or []
        if duplicates:
            db.cases.update_many(
                {"_id": {"$in": duplicates}, "merged_into": reference},
                {
                    "$set": {"studio": target},
                    "$push": {
                        "routing.history": move,
                        "timeline": {
                            "at": at,
                            "action": "moved",
                            "by": actor.user_id,
                            "from": case["studio"],
                            "studio": target,
                            "reason": reason,
                            "with": reference,
                            "public": False,
                        },
                    },
                },
                session=session,
            )
        # Its place in the desk's lists moves with it (the list and risk level stay the same).
        db.studios.update_one(
            {"_id": case["studio"]},
            {"$inc": {"open_cases": -1, **count_changes(case, None)}},
            session=session,
        )
        db.studios.update_one(
            {"_id": target}, {"$inc": {"open_cases": 1, **count_changes(None, case)}}, session=session
        )
        event = make_envelope(
            "case.assigned",
            {
                "reference": reference,
                "studio": registry.studio_ref(studio),
                "assigned_at": at.isoformat(),
                "rule": "moved by lead",
                "needs_manual_routing": False,
                "risk_level": case.get("risk_level", "none"),
            },
            source=SERVICE,
        )
        published.extend(mediation.outbox.add([event], session=session))
        return db.cases.find_one({"_id": reference}, session=session)

    case = in_transaction(db, work)
    registry.forget_routing_view(db)  # two studios' loads changed: this process's routing reads again
    mediation.outbox.flush(published)
    log.info("case moved", extra={"reference": reference, "studio": target})
    return case
