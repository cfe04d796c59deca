"""Follow-up after an ending (回访): the `follow_up_tasks` collection and its use cases.

- An ending with visits (`domain.visits.VISIT_ENDINGS`) gives one task per party for the case's
  lead mediator, due the studio's `follow_up_days` after the ending, inserted in the ending's own
  transaction (`tasks_for_ending`, called by `desk.act`) with deterministic ids.
- The desk lists the open tasks a member of staff sees (`open_tasks`): a mediator their own, a
  studio lead also their studio's lead tasks, a district admin all; overdue first.
- A visit is recorded once per party (`record_visit`): how, performed, satisfied, renewed conflict,
  a note. A renewed conflict raises the case's risk (`routing.set_risk`: `case.risk_changed`) and
  tells the studio lead (`follow_up.renewed_conflict`), in the same transaction.
- Agreement terms with a due date give the mediator a `term_check` task and a reminder
  (`follow_up.term_due`) on that day (`check_terms`, run by the desk's periodic job): the task's
  deterministic `_id` is the claim, inserted with the event, so several replicas send it once.
- Any other task (a term check, the "is it settled?" follow-up's `not_settled`) is closed with a
  note (`close_task`).

Document shape (shared with the "is it settled?" follow-up, which inserts `not_settled` rows):
`_id, kind, case_id, reference, studio, assignee, assignee_role, party, due, created_at, done_at,
done_by, record, detail` — never a party's name or phone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.mediation import desk, registry, routing
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import visits as rules
from services.mediation.domain.actor import Actor
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

COLLECTION = "follow_up_tasks"
# Rows on the desk's full list; the desk home shows the first few.
MAX_ROWS = 500
HOME_ROWS = 5


# Creating tasks ------------------------------------------------------------------------------------
def tasks_for_ending(
    db: Database, session: ClientSession, case: Mapping[str, Any], to_state: str, at: datetime
) -> int:
    """Insert the visit tasks of an ending, inside the ending's transaction; how many are new.
    An upsert per task (`$setOnInsert`): a task already there is left as it is, never doubled."""
    if not rules.gets_visits(to_state):
        return 0  # no read for endings without visits (not accepted, merged)
    studio = db.studios.find_one({"_id": case.get("studio")}, {"follow_up_days": 1}, session=session)
    created = 0
    for task in rules.visit_tasks(case, to_state, at, rules.follow_up_days(studio)):
        result = db[COLLECTION].update_one(
            {"_id": task["_id"]}, {"$setOnInsert": task}, upsert=True, session=session
        )
        created += result.upserted_id is not None
    return created


def schedule_terms(db: Database, session: ClientSession, reference: str, terms: list[Any]) -> None:
    """When the agreement is signed: note on the case the moment of its first term check (the job
    looks only at cases whose moment has come)."""
    moment = rules.next_term_check(terms, (), registry.timezone(db, session))
    db.cases.update_one(
        {"_id": reference},
        {"$set": {"agreement.term_check_next": moment, "agreement.terms_checked": []}},
        session=session,
    )


# Reading -------------------------------------------------------------------------------------------
def open_tasks(
    db: Database, actor: Actor, now: datetime | None = None, limit: int = MAX_ROWS
) -> list[dict[str, Any]]:
    """The open tasks `actor` sees (see `domain.visits.visibility`), overdue first, each with
    `overdue` set."""
    query = rules.visibility(actor.user_id, actor.roles, actor.studio)
    if query is None:
        return []
    now = now or utcnow()
    rows = rules.ordered(db[COLLECTION].find(query).sort("due", ASCENDING).limit(limit), now)
    for row in rows:
        row["overdue"] = rules.is_overdue(row, now)
    return rows


def case_tasks(db: Database, case_id: str) -> list[dict[str, Any]]:
    """A case's follow-up tasks, open and done, for its page (the caller checked it may see the case)."""
    return list(
        db[COLLECTION].find({"case_id": case_id}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
    )


def _task_for(
    db: Database, task_id: str, actor: Actor, session: ClientSession | None = None
) -> dict[str, Any]:
    """The task if `actor` may act on it: 404 for another studio's (or an unknown) task, 403 for a
    colleague's task they are neither assigned to nor lead."""
    task = db[COLLECTION].find_one({"_id": task_id}, session=session)
    why = "not_found" if task is None else rules.may_act(actor.user_id, actor.roles, actor.studio, task)
    if why == "not_found" or task is None:
        raise desk.NotFound("No follow-up task %(task)s.", params={"task": task_id})
    if why == "forbidden":
        raise desk.Forbidden("Only the mediator the task is for, or the studio lead, records it.")
    return task


def get_task(db: Database, task_id: str, actor: Actor) -> dict[str, Any]:
    """One task to show with its form (the same checks as acting on it)."""
    return _task_for(db, task_id, actor)


# Recording ----------------------------------------------------------------------------------------
def _claim(db: Database, session: ClientSession, task: Mapping[str, Any], update: dict[str, Any]) -> None:
    """Close the task, conditional on it still being open: a second submit is refused."""
    result = db[COLLECTION].update_one(
        {"_id": task["_id"], "done_at": None}, {"$set": update}, session=session
    )
    if result.matched_count != 1:
        raise desk.Conflict("This follow-up was already recorded; nothing was changed.")


def record_visit(
    mediation: Mediation, task_id: str, actor: Actor, record: Mapping[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """Record the visit of one party (fields validated by `http.schemas.VisitRecordSchema`): how,
    performed (asked after an agreement), satisfied 1-5, renewed conflict, note. Once per task.

    A visit that found the agreement performed is a timeline entry the MoJ report counts; a renewed
    conflict or hidden danger raises the risk (`domain.visits.raised_level`) and tells the lead.
    Refused with nothing changed: another studio's task (404), a colleague's (403), a task that is
    no visit or was recorded already (409), performance missing after an agreement (422)."""
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        task = _task_for(db, task_id, actor, session)
        if task["kind"] != rules.VISIT:
            raise desk.Conflict("This task is no visit: close it with a note instead.")
        if task.get("done_at") is not None:
            raise desk.Conflict("This follow-up was already recorded; nothing was changed.")
        outcome = (task.get("detail") or {}).get("outcome")
        performed = record.get("performed")
        if rules.asks_performance(outcome) and not performed:
            raise desk.Invalid(
                "Say whether the agreement was performed.", {"performed": ["Required after an agreement."]}
            )
        if not rules.asks_performance(outcome):
            performed = None  # no agreement: nothing to perform
        at = now or utcnow()
        kept = {
            "how": record["how"],
            "performed": performed,
            "satisfied": int(record["satisfied"]),
            "renewed_conflict": bool(record["renewed_conflict"]),
            "note": str(record.get("note") or "").strip()[: rules.NOTE_MAX],
        }
        _claim(db, session, task, {"done_at": at, "done_by": actor.user_id, "record": kept})
        case = db.cases.find_one({"_id": task["case_id"]}, session=session)
        if case is None:
            raise desk.NotFound("No case %(reference)s.", params={"reference": task["case_id"]})
        # The report counts "agreements performed" from the case's timeline (`reports.case_row`).
        entry = {
            "at": at,
            "action": "visit_recorded",
            "by": actor.user_id,
            "party": task.get("party"),
            "performance": performed,
            "renewed_conflict": kept["renewed_conflict"],
            "public": False,
        }
        db.cases.update_one({"_id": case["_id"]}, {"$push": {"timeline": entry}}, session=session)
        events: list[Envelope] = []
        if performed == "performed":  # council's board counts it too (issue 14.3's "performed")
            events.append(
                make_envelope(
                    "case.agreement_performed",
                    {"reference": case["_id"], "performed_at": at.isoformat()},
                    source=SERVICE,
                )
            )
        if kept["renewed_conflict"]:
            previous = case.get("risk_level", "none")
            level = rules.raised_level(previous)
            reason = "follow-up visit: renewed conflict or hidden danger"
            if level != previous:
                events += routing.set_risk(mediation, session, case, level, reason, actor.user_id, at)
            studio = db.studios.find_one({"_id": case["studio"]}, session=session)
            events.append(
                make_envelope(
                    "follow_up.renewed_conflict",
                    {
                        "reference": case["_id"],
                        "task_id": task["_id"],
                        "party": task.get("party"),
                        "level": level,
                        "previous_level": previous,
                        "reported_at": at.isoformat(),
                        "reported_by": desk.staff_ref(db, actor.user_id, session),
                        "studio": registry.studio_ref(studio) if studio else None,
                    },
                    source=SERVICE,
                )
            )
        published.extend(mediation.outbox.add(events, session=session))
        return {**task, "done_at": at, "done_by": actor.user_id, "record": kept}

    done = in_transaction(db, work)
    mediation.outbox.flush(published)
    log.info("visit recorded", extra={"reference": done["case_id"], "task": task_id})
    return done


def close_task(
    mediation: Mediation,
    task_id: str,
    actor: Actor,
    note: str,
    performed: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Close a task that is no visit with a note (a term check may say whether the term was
    performed). Once; the same refusals as a visit's."""
    note = (note or "").strip()
    if not note:
        raise desk.Invalid("Write what was done first.", {"note": ["Required."]})
    if len(note) > rules.NOTE_MAX:
        raise desk.Invalid("A note is at most 2000 characters.", {"note": ["At most 2000 characters."]})
    if performed is not None and performed not in rules.PERFORMANCE:
        raise desk.Invalid("Choose one of the answers.", {"performed": ["One of the answers."]})
    db = mediation.db

    def work(session: ClientSession) -> dict[str, Any]:
        task = _task_for(db, task_id, actor, session)
        if task["kind"] == rules.VISIT:
            raise desk.Conflict("A visit is recorded with its own form.")
        if task.get("done_at") is not None:
            raise desk.Conflict("This follow-up was already recorded; nothing was changed.")
        at = now or utcnow()
        record: dict[str, Any] = {"note": note}
        if task["kind"] == rules.TERM_CHECK:
            record["performed"] = performed
        _claim(db, session, task, {"done_at": at, "done_by": actor.user_id, "record": record})
        return {**task, "done_at": at, "done_by": actor.user_id, "record": record}

    return in_transaction(db, work)


# Term checks (the desk's periodic job) -----------------------------------------------------------
def check_terms(mediation: Mediation, now: datetime | None = None) -> int:
    """Give the mediator a `term_check` task and a reminder for each agreement term whose due day
    has come; how many this run claimed. The task's insert is the claim (its `_id` is the case and
    the term), in one transaction with `follow_up.term_due`: a replica that loses the race inserts
    nothing and sends nothing."""
    db = mediation.db
    now = now or utcnow()
    tz = registry.timezone(db)
    claimed = 0
    fields = {"agreement": 1, "studio": 1, "owner": 1, "mediators": 1}
    for case in list(db.cases.find({"agreement.term_check_next": {"$lte": now}}, fields)):
        agreement = case.get("agreement") or {}
        terms = agreement.get("terms") or []
        for index, term in rules.terms_due(terms, agreement.get("terms_checked") or [], now, tz):
            try:
                claimed += _claim_term(mediation, case, index, term, now)
            except DuplicateKeyError:
                pass  # another replica claimed it first
            except Exception:  # one broken case must not stop the others
                log.exception("term check failed", extra={"reference": case["_id"]})
        fresh = db.cases.find_one({"_id": case["_id"]}, {"agreement.terms_checked": 1}) or {}
        checked = (fresh.get("agreement") or {}).get("terms_checked") or []
        db.cases.update_one(
            {"_id": case["_id"]},
            {"$set": {"agreement.term_check_next": rules.next_term_check(terms, checked, tz)}},
        )
    return claimed


def _claim_term(mediation: Mediation, case: Mapping[str, Any], index: int, term: Any, now: datetime) -> bool:
    db = mediation.db
    published: list[Envelope] = []
    lead = case.get("owner") or next(iter(case.get("mediators") or []), None)
    due = rules.term_due(term)
    task = {
        "_id": rules.term_task_id(case["_id"], index),
        "kind": rules.TERM_CHECK,
        "case_id": case["_id"],
        "reference": case["_id"],
        "studio": case.get("studio"),
        "assignee": lead,
        "assignee_role": rules.MEDIATOR if lead else rules.STUDIO_LEAD,
        "party": None,
        "due": now,
        "created_at": now,
        "done_at": None,
        "done_by": None,
        "record": None,
        "detail": {
            "term": index,
            "text": rules.term_text(term),
            "term_due": due.isoformat() if due else None,
        },
    }

    def work(session: ClientSession) -> None:
        published.clear()
        db[COLLECTION].insert_one(task, session=session)
        db.cases.update_one(
            {"_id": case["_id"]},
            {
                "$addToSet": {"agreement.terms_checked": index},
                "$push": {
                    "timeline": {
                        "at": now,
                        "action": "term_check_due",
                        "by": "system",
                        "term": index,
                        "public": False,
                    }
                },
            },
            session=session,
        )
        studio = db.studios.find_one({"_id": case.get("studio")}, session=session)
        event = make_envelope(
            "follow_up.term_due",
            {
                "reference": case["_id"],
                "task_id": task["_id"],
                "agreement_number": (case.get("agreement") or {}).get("number", ""),
                "term": index,
                "due": due.isoformat() if due else None,
                "studio": registry.studio_ref(studio) if studio else None,
                "mediators": [desk.staff_ref(db, m, session) for m in ([lead] if lead else [])],
            },
            source=SERVICE,
        )
        published.extend(mediation.outbox.add([event], session=session))

    in_transaction(db, work)
    mediation.outbox.flush(published)
    return True


# Statistics ---------------------------------------------------------------------------------------
def satisfaction(
    db: Database, start: datetime, end: datetime, studios: list[str] | None, cases: list[str] | None = None
) -> dict[str, Any]:
    """Average satisfaction (1-5) and how many visits gave it, recorded in [start, end): for
    `studios` (None: all), or only the visits of `cases` when given (a street's)."""
    query: dict[str, Any] = {"kind": rules.VISIT, "done_at": {"$gte": start, "$lt": end}}
    if studios is not None:
        query["studio"] = {"$in": studios}
    if cases is not None:
        query["case_id"] = {"$in": cases}
    scores = [
        int(row["record"]["satisfied"])
        for row in db[COLLECTION].find(query, {"record.satisfied": 1})
        if (row.get("record") or {}).get("satisfied") is not None
    ]
    return {"count": len(scores), "average": round(sum(scores) / len(scores), 2) if scores else None}
