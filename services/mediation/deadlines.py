"""The desk's periodic job (a thread of the mediation worker, like notify's digest thread):

- refreshes each open case's deadline status, so due-soon and overdue cases rise in the queue;
- escalates overdue cases (`case.escalated`: the studio lead, then the district admin), each
  escalation claimed once by its `Escalation.key` as the `_id` of an `escalations` row, inserted in
  the same transaction as the event: with several replicas, one insert wins, the others skip;
- returns taken cases nobody has worked on for `desk.UNTOUCHED_TIMEOUT` to the studio's pool;
- reminds the parties and the mediator that the window to apply for judicial confirmation of a
  signed written agreement is closing (`agreement.confirmation_due`), on each day of the studio's
  schedule (`DeadlinePolicy.confirmation_reminder_days`, by default 23 and 30 days after signing),
  each reminder claimed the same way; none once confirmation was applied for or the case archived;
- asks whether ended cases stayed settled, `settlement_check_days` after the ending
  (`settlement.run_checks`: each case claimed once, `case.settlement_check_due`).
- gives the mediator a `term_check` task and a reminder (`follow_up.term_due`) on the due day of each
  agreement term that has one (`visits.check_terms`: the task's insert is the claim).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.mediation import desk, registry, settlement, visits
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import deadlines as dl
from services.mediation.domain import lifecycle as lc
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
CLOCK_STATES = (*lc.PAUSABLE_STATES, lc.WAITING_FOR_PARTY)
# Agreements signed longer ago than this are past their confirmation window (30 local days after
# the day of signing, with a day's margin for time zones): the job's query leaves them out.
CONFIRMATION_LOOKBACK = timedelta(days=dl.DeadlinePolicy().confirmation_days + 2)
_REMINDER_FIELDS = {
    "status": 1,
    "studio": 1,
    "agreement": 1,
    "mediators": 1,
    "reminders_sent": 1,
    "timeline.action": 1,
}


@dataclass
class Report:
    refreshed: int = 0
    escalated: int = 0
    released: int = 0
    reminded: int = 0
    settlement_checks: int = 0
    term_checks: int = 0


def _claim_and_emit(
    mediation: Mediation, claim: dict[str, Any], event: Envelope, case_update: dict[str, Any] | None = None
) -> bool:
    """Insert the claim row and the event together; False when another run claimed it first."""
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> None:
        published.clear()
        db.escalations.insert_one(claim, session=session)
        if case_update:
            db.cases.update_one({"_id": event.data["reference"]}, case_update, session=session)
        published.extend(mediation.outbox.add([event], session=session))

    try:
        in_transaction(db, work)
    except DuplicateKeyError:
        return False
    mediation.outbox.flush(published)
    return True


def escalate(mediation: Mediation, case: dict[str, Any], now: datetime) -> bool:
    db = mediation.db
    deadline = desk.deadline_from_doc(case.get("deadline"))
    if deadline is None:
        return False
    policy = desk.policy_for(db, case.get("studio"))
    past = [dl.EscalationRecord(e["key"], e["level"], e["at"]) for e in case.get("escalations", [])]
    due = dl.due_escalation(case["_id"], deadline, now, policy, past)
    if due is None:
        return False
    studio = db.studios.find_one({"_id": case["studio"]}) or {}
    district = registry.district(db)
    data: dict[str, Any] = {
        "reference": case["_id"],
        "level": due.level,
        "reason": "overdue: the case was due on " + dl.view(deadline, now, policy).due_day.isoformat(),
        "escalated_at": now.isoformat(),
        "studio": registry.studio_ref(studio) if studio else {"code": case["studio"], "name": case["studio"]},
        "due_at": due.due_at.isoformat(),
    }
    if due.level == dl.ADMIN:
        data["admin_email"] = district.get("admin_email")
    event = make_envelope("case.escalated", data, source=SERVICE)
    record = {"key": due.key, "level": due.level, "at": now}
    return _claim_and_emit(
        mediation,
        {"_id": due.key, "kind": "escalation", "reference": case["_id"], "level": due.level, "at": now},
        event,
        {
            "$push": {
                "escalations": record,
                "timeline": {"at": now, "action": "escalated", "by": "system", "level": due.level},
            }
        },
    )


def remind_confirmation(mediation: Mediation, case: dict[str, Any], now: datetime) -> bool:
    """Send the judicial-confirmation reminder due now for this case, if any; True when this run
    claimed it (another replica may have claimed it first: then False, and nothing is sent)."""
    db = mediation.db
    agreement = case.get("agreement") or {}
    signed_at = agreement.get("signed_at")
    if not signed_at:
        return False
    actions = [entry.get("action") for entry in case.get("timeline") or []]
    if not lc.confirmation_pending(case.get("status", ""), actions):
        return False  # applied for already (or archived): the parties have acted
    policy = desk.policy_for(db, case.get("studio"))
    due = dl.confirmation_reminder_due(case["_id"], signed_at, now, policy, case.get("reminders_sent", []))
    if due is None:
        return False
    studio = db.studios.find_one({"_id": case["studio"]})
    event = make_envelope(
        "agreement.confirmation_due",
        {
            "reference": case["_id"],
            "agreement_number": agreement.get("number", ""),
            "signed_at": signed_at.isoformat(),
            "deadline": dl.confirmation_deadline(signed_at, policy).isoformat(),
            "last_day": due.last_day.isoformat(),
            "reminder_day": due.day,
            "final": due.final,
            "studio": registry.studio_ref(studio) if studio else None,
            "mediators": [desk.staff_ref(db, m) for m in case.get("mediators") or []],
        },
        source=SERVICE,
    )
    return _claim_and_emit(
        mediation,
        {
            "_id": due.key,
            "kind": "confirmation_reminder",
            "reference": case["_id"],
            "day": due.day,
            "at": now,
        },
        event,
        {
            "$addToSet": {"reminders_sent": due.key},
            "$push": {
                "timeline": {
                    "at": now,
                    "action": "confirmation_reminder",
                    "by": "system",
                    "day": due.day,
                    "public": False,
                }
            },
        },
    )


def run_once(mediation: Mediation, now: datetime | None = None) -> Report:
    """One pass of the job (safe to run on several replicas at once)."""
    db = mediation.db
    now = now or utcnow()
    report = Report()
    # Open cases with a running or paused clock.
    for case in db.cases.find({"status": {"$in": list(CLOCK_STATES)}, "deadline": {"$ne": None}}):
        deadline = desk.deadline_from_doc(case["deadline"])
        if deadline is None:
            continue
        status = dl.status(deadline, now, desk.policy_for(db, case.get("studio")))
        if status != case.get("deadline_status"):
            db.cases.update_one({"_id": case["_id"]}, {"$set": {"deadline_status": status}})
            report.refreshed += 1
        try:
            report.escalated += escalate(mediation, case, now)
        except Exception:  # one broken case must not stop the others
            log.exception("escalation failed", extra={"reference": case["_id"]})
    # Taken but untouched: back to the pool (the lifecycle's `release`, by the system).
    stale = db.cases.find(
        {"status": lc.ASSIGNED, "touched_at": {"$lt": now - desk.UNTOUCHED_TIMEOUT}}, {"_id": 1, "status": 1}
    )
    for case in list(stale):
        try:
            desk.act(
                mediation,
                case["_id"],
                desk.SYSTEM,
                lc.RELEASE,
                {"note": "untouched for 48 hours: back to the studio's pool"},
                expected_state=lc.ASSIGNED,
                now=now,
                extra=desk._release,
            )
            report.released += 1
        except desk.DeskError:
            pass  # someone acted on it meanwhile
    # Signed written agreements still inside their window, whatever follow-up was recorded since.
    pending = {
        "status": {"$in": list(lc.CONFIRMATION_PENDING_STATES)},
        "agreement.signed_at": {"$gte": now - CONFIRMATION_LOOKBACK},
    }
    for case in db.cases.find(pending, _REMINDER_FIELDS):
        try:
            report.reminded += remind_confirmation(mediation, case, now)
        except Exception:
            log.exception("confirmation reminder failed", extra={"reference": case["_id"]})
    # "Is it settled?": ended cases whose applicants are due to be asked (issue 14.4).
    report.settlement_checks = settlement.run_checks(mediation, now)
    # Agreement terms due today: a task and a reminder for the mediator, once.
    report.term_checks = visits.check_terms(mediation, now)
    return report


class DeadlineJob(threading.Thread):
    """Runs `run_once` every `interval` seconds in the mediation worker."""

    def __init__(self, mediation: Mediation, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="desk-deadlines", daemon=True)
        self.mediation = mediation
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                report = run_once(self.mediation)
                if any(
                    (
                        report.escalated,
                        report.released,
                        report.reminded,
                        report.settlement_checks,
                        report.term_checks,
                    )
                ):
                    log.info("desk job", extra=report.__dict__)
            except Exception:  # database down: try again next round
                log.warning("desk job pass failed", exc_info=True)

    def stop(self) -> None:
        self.stopping.set()
