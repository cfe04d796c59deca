"""Composition root of mediation."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.database import Database

from shared.config import Settings
from shared.service import ServiceContext, ensure_messaging_indexes

SERVICE = "mediation"


@dataclass
class Mediation(ServiceContext):
    """Everything mediation's use cases need; the database client is opened lazily per process."""

    name = SERVICE


def ensure_indexes(db: Database) -> None:
    """Indexes of mediation's collections (idempotent; run by the app and the worker)."""
    ensure_messaging_indexes(db)
    db.cases.create_index([("studio", ASCENDING), ("status", ASCENDING)])
    db.cases.create_index([("community", ASCENDING), ("status", ASCENDING)])
    # Routing's possible duplicates (`domain.routing.duplicate_candidates_query`): equalities
    # first, then the window; SecantusDB walks it only for a filter of exactly these fields.
    db.cases.create_index(
        [
            ("community", ASCENDING),
            ("building", ASCENDING),
            ("category", ASCENDING),
            ("received_at", ASCENDING),
        ]
    )
    db.studios.create_index("code", unique=True)
    # Selective filters: SecantusDB sorts in memory, so a team's task list must match few rows.
    db.patrol_tasks.create_index([("team", ASCENDING), ("status", ASCENDING)])
    db.patrol_tasks.create_index([("reference", ASCENDING), ("status", ASCENDING)])
    db.task_photos.create_index([("task_id", ASCENDING), ("index", ASCENDING)])
    db.audit.create_index([("entity", ASCENDING), ("key", ASCENDING)])
    db.routing_failures.create_index("at")
    # The desk: a studio's open cases (queue), a mediator's own cases, the deadline job's scan.
    db.cases.create_index([("studio", ASCENDING), ("status", ASCENDING), ("owner", ASCENDING)])
    # Take-next: the pool per risk level, searched by due-date window (`desk.take_next`).
    db.cases.create_index(
        [
            ("studio", ASCENDING),
            ("status", ASCENDING),
            ("owner", ASCENDING),
            ("risk_rank", ASCENDING),
            ("due_at", ASCENDING),
        ]
    )
    db.cases.create_index("mediators")
    # The desk's lists, first page by risk level and due-date window (`desk.queue`), and a
    # mediator's own open cases.
    db.cases.create_index(
        [("studio", ASCENDING), ("queue", ASCENDING), ("risk_rank", ASCENDING), ("due_at", ASCENDING)]
    )
    db.cases.create_index([("mediators", ASCENDING), ("studio", ASCENDING), ("queue", ASCENDING)])
    db.sessions.create_index([("room", ASCENDING), ("starts_at", ASCENDING)])
    db.sessions.create_index("reference")
    db.access_log.create_index([("reference", ASCENDING), ("at", ASCENDING)])
    # The desk's search (`search`): keyed hashes of phones and names, received date, place, category.
    db.cases.create_index([("studio", ASCENDING), ("search_keys", ASCENDING)])
    db.cases.create_index("search_keys")
    db.cases.create_index([("studio", ASCENDING), ("received_at", ASCENDING)])
    db.cases.create_index([("studio", ASCENDING), ("community", ASCENDING), ("building", ASCENDING)])
    db.cases.create_index([("studio", ASCENDING), ("category", ASCENDING), ("status", ASCENDING)])
    db.cases.create_index("search_kid")
    # The reports: one month's cases and visits (`reports.count_month`), the months kept.
    db.cases.create_index("timeline.at")
    db.patrol_tasks.create_index("reported_at")
    db.report_months.create_index([("level", ASCENDING), ("area", ASCENDING), ("month", ASCENDING)])
    # The access log viewer: a studio's rows, a person's rows, newest first.
    db.access_log.create_index([("studio", ASCENDING), ("at", ASCENDING)])
    db.access_log.create_index([("by", ASCENDING), ("at", ASCENDING)])
    db.access_log.create_index("at")
    # The archive job: archived cases without a dossier; archived cases by date (retention).
    db.cases.create_index([("status", ASCENDING), ("dossier.id", ASCENDING)])
    db.cases.create_index([("status", ASCENDING), ("archived_at", ASCENDING)])
    # Escalations, reminders and room slots are claimed by their unique `_id` (several replicas).
    # "Is it settled?": a studio's ended cases by ending date (`settlement.run_checks`).
    db.cases.create_index([("studio", ASCENDING), ("ended_at", ASCENDING)], sparse=True)
    # Follow-up tasks (`visits`): a mediator's open tasks, a studio's lead tasks, a case's tasks;
    # the deadline job's agreements with a term check due.
    tasks = db.follow_up_tasks
    tasks.create_index([("assignee", ASCENDING), ("done_at", ASCENDING), ("due", ASCENDING)])
    tasks.create_index([("studio", ASCENDING), ("assignee_role", ASCENDING), ("done_at", ASCENDING)])
    tasks.create_index([("done_at", ASCENDING), ("due", ASCENDING)])
    tasks.create_index("case_id")
    tasks.create_index([("kind", ASCENDING), ("done_at", ASCENDING)])
    db.cases.create_index("agreement.term_check_next")


def bootstrap(settings: Settings | None = None) -> Mediation:
    return Mediation(settings or Settings.from_env())
