"""Patrol tasks: a team's open tasks, accept → report the visit → close, hot-spot sweeps.

A visit report is attached to the case's timeline and published as `patrol.reported` in the same
transaction; its photos are stored with it (in mediation's database, shown to staff only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson.binary import Binary
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation import registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import lifecycle, patrol
from services.mediation.domain.actor import Actor
from services.mediation.domain.risk import end_of_day
from shared.db import in_transaction
from shared.images import DECODABLE, strip_metadata
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.refusals import Refusal
from shared.uploads import Upload, UploadError, check_uploads, sniff

log = logging.getLogger(__name__)

MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PAST = {"accept": "accepted", "report": "reported", "close": "closed"}


class TaskError(Refusal):
    """A task action that cannot be done; nothing was changed. The message is a catalog msgid, said
    in the reader's language by the entrypoints (`Refusal`)."""


class TaskNotFound(TaskError):
    pass


class TaskForbidden(TaskError):
    pass


@dataclass(frozen=True)
class Photo:
    filename: str
    content_type: str
    data: bytes


def photo_type(data: bytes) -> str | None:
    """The image type from the file's first bytes (never trust the name or the browser's claim)."""
    kind = sniff(data)
    return kind if kind in DECODABLE else None


def check_photos(photos: list[Photo]) -> list[str]:
    """Problems with uploaded photos (empty list when they are fine); the checks are shared.uploads'."""
    try:
        clean_photos(photos)
    except UploadError as err:
        return [str(err)]
    return []


def clean_photos(photos: list[Photo]) -> list[Photo]:
    """The photos checked by content and re-encoded without EXIF/GPS (a visit's photo says where
    the disputing neighbours live); raises UploadError at the first that fails."""
    check_uploads(
        [Upload(p.filename, p.data) for p in photos],
        DECODABLE,
        max_files=MAX_PHOTOS,
        max_bytes=MAX_PHOTO_BYTES,
        type_message="Only JPEG, PNG or WebP photos.",
        match_extension=False,  # phone cameras name files freely; the content decides
    )
    # Empty file inputs were skipped by the checks: skip them here too.
    return [Photo(p.filename, "image/jpeg", strip_metadata(p.data)) for p in photos if p.filename or p.data]


# Who may see and act ---------------------------------------------------------------------------
def may_view(actor: Actor, task: dict[str, Any], team: str | None) -> bool:
    if "district_admin" in actor.roles:
        return True
    if "patrol_member" in actor.roles and team == task["team"]:
        return True
    return "studio_lead" in actor.roles and actor.studio is not None and actor.studio == task.get("studio")


def may_act(actor: Actor, task: dict[str, Any], team: str | None) -> bool:
    """Only the team's own members accept, report and close its tasks."""
    return "patrol_member" in actor.roles and team == task["team"]


# Reading ----------------------------------------------------------------------------------------
def team_tasks(db: Database, team: str, active_only: bool = True) -> list[dict[str, Any]]:
    """The team's tasks, the most urgent first (sorted here: the filter keeps the set small)."""
    query: dict[str, Any] = {"team": team}
    if active_only:
        query["status"] = {"$in": list(patrol.ACTIVE_STATUSES)}
    tasks = list(db.patrol_tasks.find(query))
    kind_order = {patrol.KIND_DISPATCH: 0, patrol.KIND_SAME_DAY: 1, patrol.KIND_SWEEP: 2}
    return sorted(tasks, key=lambda t: (kind_order.get(t["kind"], 9), t.get("due_by") or t["created_at"]))


def get_task(db: Database, task_id: str) -> dict[str, Any]:
    task = db.patrol_tasks.find_one({"_id": task_id})
    if task is None:
        raise TaskNotFound("No such task.")
    return task


def photo(db: Database, task_id: str, index: int) -> dict[str, Any] | None:
    return db.task_photos.find_one({"task_id": task_id, "index": index})


def open_cases_by_community(db: Database) -> dict[str, int]:
    rows = db.cases.aggregate(
        [
            {"$match": {"status": {"$in": list(lifecycle.OPEN_STATES)}}},
            {"$group": {"_id": "$community", "n": {"$sum": 1}}},
        ]
    )
    return {row["_id"]: row["n"] for row in rows}


def hot_spots(db: Database, threshold: int = patrol.HOT_SPOT_THRESHOLD) -> list[tuple[str, int]]:
    return patrol.hot_spots(open_cases_by_community(db), threshold)


# Acting -----------------------------------------------------------------------------------------
def _transition(
    mediation: Mediation,
    task_id: str,
    action: str,
    actor: Actor,
    team: str | None,
    extra: dict[str, Any] | None = None,
    build_events: Any = None,
    photos: list[Photo] | None = None,
) -> dict[str, Any]:
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        task = db.patrol_tasks.find_one({"_id": task_id}, session=session)
        if task is None:
            raise TaskNotFound("No such task.")
        if not may_act(actor, task, team):
            raise TaskForbidden("Only a member of the task's team can do this.")
        try:
            status = patrol.next_status(task["status"], action)
        except patrol.InvalidTransition as err:
            raise TaskError("The task has moved on; nothing was changed.", detail=str(err)) from err
        at = utcnow()
        done = PAST[action]
        changes = {"status": status, f"{done}_at": at, f"{done}_by": actor.user_id, **(extra or {})}
        # Conditional on the status read: a concurrent action on the same task conflicts here.
        db.patrol_tasks.update_one(
            {"_id": task_id, "status": task["status"]}, {"$set": changes}, session=session
        )
        for index, item in enumerate(photos or []):
            db.task_photos.insert_one(
                {
                    "_id": new_id(),
                    "task_id": task_id,
                    "index": index,
                    "filename": item.filename[:100],
                    "content_type": photo_type(item.data),
                    "size": len(item.data),
                    "data": Binary(item.data),
                    "at": at,
                },
                session=session,
            )
        entry: dict[str, Any] = {
            "at": at,
            "action": f"patrol_{done}",
            "by": actor.user_id,
            "task_id": task_id,
        }
        if action == "report":
            entry.update(calmed=extra["report"]["calmed"], findings=extra["report"]["findings"])  # type: ignore[index]
        if task.get("reference"):
            db.cases.update_one({"_id": task["reference"]}, {"$push": {"timeline": entry}}, session=session)
        updated = {**task, **changes}
        events = build_events(session, updated, at) if build_events else []
        if action == "close" and task.get("every_days"):
            _next_sweep(db, session, task, at)
        published.extend(mediation.outbox.add(events, session=session))
        return updated

    task = in_transaction(db, work)
    if published:
        mediation.outbox.flush(published)
    log.info("patrol task " + PAST[action], extra={"task_id": task_id})
    return task


def accept(mediation: Mediation, task_id: str, actor: Actor, team: str | None) -> dict[str, Any]:
    return _transition(mediation, task_id, "accept", actor, team)


def report(
    mediation: Mediation,
    task_id: str,
    actor: Actor,
    team: str | None,
    findings: str,
    people_met: str,
    calmed: bool,
    photos: list[Photo] | None = None,
    found_early: bool = False,
) -> dict[str, Any]:
    """Report the visit: attached to the case's timeline and published as `patrol.reported`.
    `found_early`: the visit uncovered a dispute before anyone filed it (counted on council's board)."""
    try:
        photos = clean_photos(photos or [])
    except UploadError as err:
        problems = [str(err)]
        raise TaskError(
            "The photos cannot be stored.", {"photos": problems}, detail=" ".join(problems)
        ) from err
    content = {
        "findings": findings,
        "people_met": people_met,
        "calmed": calmed,
        "photos": len(photos),
        "found_early": found_early,
        "by": actor.user_id,
    }

    def events(session: ClientSession, task: dict[str, Any], at: datetime) -> list[Envelope]:
        db = mediation.db
        team_doc = db.patrol_teams.find_one({"_id": task["team"]}, session=session)
        studio = (
            db.studios.find_one({"_id": task.get("studio")}, session=session) if task.get("studio") else None
        )
        return [
            make_envelope(
                "patrol.reported",
                {
                    "task_id": task["_id"],
                    "kind": task["kind"],
                    "reference": task.get("reference"),
                    "team": registry.team_ref(team_doc),
                    "community": task["community"],
                    "calmed": calmed,
                    "findings": findings,
                    # The names of the people met stay in mediation; the event carries a count.
                    "people_met_count": len(
                        [p for p in people_met.replace("\uff0c", ",").split(",") if p.strip()]
                    ),
                    "photos": len(photos),
                    "reported_at": at.isoformat(),
                    "studio": registry.studio_ref(studio) if studio else None,
                    "found_early": found_early,
                },
                source=SERVICE,
            )
        ]

    return _transition(mediation, task_id, "report", actor, team, {"report": content}, events, photos)


def close(mediation: Mediation, task_id: str, actor: Actor, team: str | None) -> dict[str, Any]:
    return _transition(mediation, task_id, "close", actor, team)


def _next_sweep(db: Database, session: ClientSession, task: dict[str, Any], at: datetime) -> None:
    """A periodic sweep: closing one schedules the next, `every_days` later."""
    due = (task.get("due_by") or at) + timedelta(days=task["every_days"])
    db.patrol_tasks.insert_one(
        {
            **{
                k: task[k]
                for k in ("kind", "team", "community", "risk_level", "reason", "every_days", "studio")
            },
            "_id": new_id(),
            "status": patrol.OPEN,
            "reference": None,
            "due_by": max(due, at),
            "created_at": at,
            "created_by": "schedule",
        },
        session=session,
    )


def create_sweep(
    mediation: Mediation,
    community: str,
    team: str | None,
    note: str,
    actor: Actor,
    every_days: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A lead orders a sweep of a (hot-spot) community; `every_days` repeats it when closed."""
    if not ({"studio_lead", "district_admin"} & actor.roles):
        raise TaskForbidden("Only studio leads and district admins create sweeps.")
    db = mediation.db

    def work(session: ClientSession) -> dict[str, Any]:
        at = now or utcnow()
        now_local = at.astimezone(registry.timezone(db, session))
        code = team
        if code is None:
            choice = patrol.pick_team(
                community, registry.street_of(community), registry.team_snapshots(db, session), now_local
            )
            if choice is None:
                raise TaskError("No patrol team covers this community.")
            code = choice.team
        elif db.patrol_teams.find_one({"_id": code}, {"_id": 1}, session=session) is None:
            raise TaskError("No patrol team %(team)s.", params={"team": code})
        open_cases = open_cases_by_community(db).get(community, 0)
        task = {
            "_id": new_id(),
            "kind": patrol.KIND_SWEEP,
            "status": patrol.OPEN,
            "reference": None,
            "team": code,
            "community": community,
            "risk_level": "none",
            "reason": note or f"hot spot: {open_cases} open cases",
            "due_by": end_of_day(now_local),
            "every_days": every_days,
            "created_at": at,
            "created_by": actor.user_id,
            "studio": actor.studio,
        }
        db.patrol_tasks.insert_one(task, session=session)
        return task

    task = in_transaction(db, work)
    log.info("sweep created", extra={"task_id": task["_id"], "community": community})
    return task
