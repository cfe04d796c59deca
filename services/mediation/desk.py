"""The mediator desk's use cases: the queue, taking cases (atomically), lifecycle actions, notes,
hand-over and reassignment, merging duplicates, and the access log of personal data.

Every lifecycle change goes through `domain.lifecycle.apply` and is written with its events in one
transaction (the outbox): `case.status_changed` (with `public`), `case.closed` on an ending,
`case.merged` when a duplicate is closed as merged into another case, and `case.assigned` naming
the mediator when one takes or is given the case. The case's update is conditional on the state
(and owner) it was read in — read and written in the same transaction, a concurrent change is a
write conflict and the action is decided again on the fresh case — so a double submit or a
concurrent action changes nothing the second time.

Who may see what: staff see only their own studio's cases (district admins all); a case of another
studio answers "not found", never its content. Personal data (phones, ID numbers, exact addresses)
is shown only to the case's own mediators and their studio lead, and each such view is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation import registry
from services.mediation.bootstrap import SERVICE, Mediation
from services.mediation.domain import deadlines as dl
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import queue as dq
from services.mediation.domain.actor import Actor
from services.mediation.domain.risk import rank
from services.mediation.staff_accounts import building_leaders
from shared.db import in_transaction
from shared.masking import mask_email, mask_id_number, mask_phone, mask_unit
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.refusals import Refusal
from shared.taxonomy import RISK_LEVELS

log = logging.getLogger(__name__)

# Before acceptance: the studio's mediators may act before anyone is named (an applicant who said
# "no" at intake is contacted by any of them).
SCREENING_STATES = (lc.RECEIVED, lc.AWAITING_CONSENT, lc.SCREENING)
# A taken case nobody has worked on for this long goes back to the studio's pool (desk job).
UNTOUCHED_TIMEOUT = timedelta(hours=48)
# The desk job acts for the committee ("system:" is no valid username).
SYSTEM = Actor("system:desk", frozenset({lc.STUDIO_LEAD}))


class DeskError(Refusal):
    """A desk action that cannot be done; nothing was changed. `status` is the HTTP answer; the
    message is a catalog msgid, said in the reader's language by the entrypoints (`Refusal`)."""

    status = 409


def _said(state: str) -> dict[str, str]:
    """A state's label in both languages, for a refusal that names it."""
    return {"zh-CN": lc.label(state, "zh-CN"), "en": lc.label(state, "en")}


class NotFound(DeskError):
    status = 404


class Forbidden(DeskError):
    status = 403


class Invalid(DeskError):
    status = 422


class Conflict(DeskError):
    status = 409


# Who may do what ----------------------------------------------------------------------------------
def is_admin(actor: Actor) -> bool:
    return lc.DISTRICT_ADMIN in actor.roles


def is_lead_of(actor: Actor, case: Mapping[str, Any]) -> bool:
    return lc.STUDIO_LEAD in actor.roles and actor.studio == case.get("studio")


def visible(actor: Actor, case: Mapping[str, Any]) -> bool:
    """Staff see their own studio's cases; district admins see every case."""
    if is_admin(actor) or actor is SYSTEM:
        return True
    if lc.PARTY in actor.roles:
        # Only the consumer of intake's `case.party_requested` acts as a party (staff logins never
        # hold the role): intake checked the party's tracking link for this very case.
        return True
    return bool(actor.roles & {lc.MEDIATOR, lc.STUDIO_LEAD}) and actor.studio == case.get("studio")


def on_case(actor: Actor, case: Mapping[str, Any]) -> bool:
    return actor.user_id in (case.get("mediators") or [])


def may_see_personal(actor: Actor, case: Mapping[str, Any], primary: Mapping[str, Any] | None = None) -> bool:
    """The case's own mediators and their studio lead (PIPL Art 28; PML Art 15). For a duplicate
    merged into `primary`, the primary's mediators too: they carry its dispute and parties on."""
    if on_case(actor, case) or is_lead_of(actor, case):
        return True
    return (
        primary is not None
        and case.get("merged_into") == primary.get("_id")
        and primary.get("studio") == case.get("studio")
        and on_case(actor, primary)
    )


def _may_do_casework(actor: Actor, case: Mapping[str, Any], action: str) -> bool:
    """Casework on a case is its own mediators' (and their lead's); taking it is anyone's in the
    studio; before anyone is named (screening) the studio's mediators may start it."""
    if is_lead_of(actor, case) or is_admin(actor) or actor is SYSTEM:
        return True
    if action == lc.TAKE or case.get("status") in SCREENING_STATES:
        return actor.studio == case.get("studio")
    return on_case(actor, case)


# Reading ------------------------------------------------------------------------------------------
def get_case(db: Database, reference: str, actor: Actor) -> dict[str, Any]:
    """The case if `actor` may see it; NotFound otherwise (the same for another studio's case)."""
    case = db.cases.find_one({"_id": reference})
    if case is None or not visible(actor, case):
        raise NotFound("No case %(reference)s.", params={"reference": reference})
    return case


def record_access(db: Database, case: Mapping[str, Any], actor: Actor, what: str = "personal_data") -> None:
    """Log a view of the case's personal data: who, when, what (shown to the studio lead)."""
    db.access_log.insert_one(
        {
            "_id": new_id(),
            "reference": case["_id"],
            "studio": case.get("studio"),  # the access log viewer shows a lead their studio's rows
            "by": actor.user_id,
            "at": utcnow(),
            "what": what,
        }
    )


def access_log(db: Database, reference: str, limit: int = 50) -> list[dict[str, Any]]:
    return list(db.access_log.find({"reference": reference}).sort("at", DESCENDING).limit(limit))


def masked_party(party: Mapping[str, Any]) -> dict[str, Any]:
    """A party as lists and other staff see it: name, role; contacts masked."""
    return {
        **party,
        "phone": mask_phone(party.get("phone")),
        "email": mask_email(party.get("email")),
        "id_number": mask_id_number(party.get("id_number")),
    }


def case_view(
    db: Database, case: dict[str, Any], actor: Actor, now: datetime | None = None
) -> dict[str, Any]:
    """The case as `actor` may see it: personal data in full (and the view logged) or masked."""
    view = dict(case)
    primary = (
        db.cases.find_one({"_id": case["merged_into"]}, {"mediators": 1, "studio": 1})
        if case.get("merged_into")
        else None
    )
    full = may_see_personal(actor, case, primary)
    view["personal_data"] = "full" if full else "masked"
    if full:
        record_access(db, case, actor)
    else:
        view["parties"] = [masked_party(p) for p in case.get("parties", [])]
        view["unit"] = mask_unit(case.get("unit"))
        if view.get("filer"):
            view["filer"] = masked_party(view["filer"])
    view["deadline_view"] = deadline_view(db, case, now or utcnow())
    return view


@dataclass(frozen=True)
class QueueFilters:
    risk: str | None = None
    category: str | None = None
    community: str | None = None
    status: str | None = None

    def any(self) -> bool:
        return bool(self.risk or self.category or self.community or self.status)


@dataclass
class Queue:
    """The desk's lists, each its first page (or the page after `after`) in the order shown, and
    each list's total (`counts`: mine, pool, screening, others) for the "more" beside it."""

    mine: list[dict[str, Any]] = field(default_factory=list)
    pool: list[dict[str, Any]] = field(default_factory=list)
    screening: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # taken by colleagues (leads see them)
    counts: dict[str, int] = field(default_factory=dict)


LIST_FIELDS = {
    "category": 1,
    "community": 1,
    "building": 1,
    "risk_level": 1,
    "risk_rank": 1,
    "status": 1,
    "studio": 1,
    "owner": 1,
    "owner_name": 1,
    "mediators": 1,
    "due_at": 1,
    "deadline_status": 1,
    "received_at": 1,
    "assigned_at": 1,
    "merged_into": 1,
    "queue": 1,
}
# The desk's lists as the API and the page name them, and the stored list each one reads.
QUEUE_LISTS = {"pool": dq.POOL, "screening": dq.SCREENING, "others": dq.TAKEN}
QUEUE_PAGE = 50  # rows per list by default
QUEUE_PAGE_MAX = 500
# A risk level with at most this many cases more than the page still needs is read in one query
# (one round trip beats several windows for a few dozen documents).
_WHOLE_LEVEL_SLACK = 25
# Safety bound on the rows a filtered queue or a mediator's own cases read.
_READ_CAP = 2000


def queue(
    db: Database,
    actor: Actor,
    filters: QueueFilters = QueueFilters(),
    studio: str | None = None,
    *,
    limit: int = QUEUE_PAGE,
    after: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> Queue:
    """The desk's lists: my cases (overdue and due-soon first, then risk, then due date); the
    studio's unclaimed accepted cases (the pool), cases waiting for screening and colleagues'
    cases, each by risk then due date then received. Each list holds at most `limit` rows;
    `after` = (list name, reference) starts that list after that case (the "more" of a list).
    Nothing personal is read.

    Unfiltered, each list's page is read level by level (risk) through the index
    studio+queue+risk_rank+due_at, a long level by due-date windows (`dq.due_windows`), and the
    totals come from the counts kept on the studio; a mediator's own cases are read whole (index
    mediators+studio+queue). With a filter, the studio's open cases that match are read (slower)."""
    code = studio if (studio and is_admin(actor)) else actor.studio
    limit = max(1, min(int(limit), QUEUE_PAGE_MAX))
    if filters.any():
        return _filtered_queue(db, actor, code, filters, limit, after)
    result = Queue()
    mine = list(
        db.cases.find(
            {"mediators": actor.user_id, "studio": code, "queue": {"$in": list(dq.LISTS)}}, LIST_FIELDS
        ).limit(_READ_CAP)
    )
    mine.sort(key=dq.mine_key)
    mine_ids = {c["_id"] for c in mine}
    studio_doc = db.studios.find_one({"_id": code}, {"queue_counts": 1}) or {}
    counts = studio_doc.get("queue_counts")
    result.counts["mine"] = len(mine)
    result.mine = _page(mine, dq.mine_key, "mine", limit, after)
    for name, stored in QUEUE_LISTS.items():
        cursor = _cursor(db, code, after[1]) if after and after[0] == name else None
        mine_here = sum(1 for c in mine if c.get("queue") == stored)
        result.counts[name] = max(0, dq.total(counts, stored) - mine_here)
        rows = _first_page(db, code, stored, counts, limit, mine_ids, cursor, now or utcnow())
        setattr(result, name, rows)
    return result


def _page(
    rows: list[dict[str, Any]],
    key: Callable[[Mapping[str, Any]], Any],
    name: str,
    limit: int,
    after: tuple[str, str] | None,
) -> list[dict[str, Any]]:
    """One page of a list read whole and sorted: after the named case, at most `limit` rows."""
    if after and after[0] == name:
        index = next((i for i, c in enumerate(rows) if c["_id"] == after[1]), None)
        if index is not None:
            rows = rows[index + 1 :]
    return rows[:limit]


def _cursor(db: Database, studio: str | None, reference: str) -> tuple[Any, ...] | None:
    """The sort key of the case a page starts after (None: no such case in the studio)."""
    case = db.cases.find_one({"_id": reference}, {"risk_rank": 1, "due_at": 1, "received_at": 1, "studio": 1})
    if case is None or case.get("studio") != studio:
        return None
    return dq.list_key(case)


def _first_page(
    db: Database,
    studio: str | None,
    stored: str,
    counts: Mapping[str, Any] | None,
    limit: int,
    leave_out: set[str],
    cursor: tuple[Any, ...] | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The first `limit` cases of one list in `dq.list_key` order (after `cursor`), reading risk
    levels from the highest: the levels that fit the page together in one query, a level longer
    than the page still needs by due-date windows from the earliest until the page is full. Every
    query is equality on studio and queue, then risk_rank (equal or $in), then at most a range on
    due_at: all inside the index, so only those cases are read (SecantusDB reads every document a
    filter matches before it sorts or limits)."""
    rows: list[dict[str, Any]] = []
    # Counts missing (a studio not counted yet): every level is looked at, by windows.
    per_rank = (counts.get(stored) or {}) if counts is not None else None

    def keep(found: list[dict[str, Any]]) -> None:
        found = [c for c in found if c["_id"] not in leave_out]
        if cursor is not None:
            found = [c for c in found if dq.list_key(c) > cursor]
        rows.extend(sorted(found, key=dq.list_key))

    ranks = [r for r in dq.RANKS if cursor is None or r <= -cursor[0]]  # none above the cursor's
    while ranks and len(rows) < limit:
        need = limit - len(rows) + len(leave_out)
        # The next levels whose cases together fit the page (with some slack) are read in one
        # query (risk_rank $in: still inside the index). The counts decide how levels are read,
        # never whether: a count that drifted (a case edited by hand) can slow the read or
        # misstate a total, but never hide a case.
        group: list[int] = []
        fits = 0
        while ranks and per_rank is not None:
            fits += int(per_rank.get(str(ranks[0]), 0))
            if fits > need + _WHOLE_LEVEL_SLACK:
                if stored == dq.SCREENING:
                    # The level that fills the page is read whole anyway (no due dates to
                    # window by): in the same query as the levels before it, one round trip less.
                    group.append(ranks.pop(0))
                break
            group.append(ranks.pop(0))
        if group:
            query: dict[str, Any] = {"studio": studio, "queue": stored}
            if set(group) != set(dq.RANKS):
                # Every level at once is the whole list: no condition on the level then (the same
                # cases; SecantusDB took 11 ms for 50 of them, against 17 ms with the $in).
                query["risk_rank"] = group[0] if len(group) == 1 else {"$in": group}
            keep(list(db.cases.find(query, LIST_FIELDS)))
            continue
        rank_ = ranks.pop(0)
        base = {"studio": studio, "queue": stored, "risk_rank": rank_}
        if stored == dq.SCREENING:
            # No case has a due date before it is accepted: no window would narrow the read.
            keep(list(db.cases.find(base, LIST_FIELDS)))
            continue
        start_due = cursor[1] if cursor is not None and rank_ == -cursor[0] else None
        for window in dq.due_windows(now):
            if start_due is not None and ("$lt" in window and window["$lt"].timestamp() <= start_due):
                continue  # wholly before the cursor
            keep(list(db.cases.find({**base, "due_at": window}, LIST_FIELDS)))
            if len(rows) >= limit:
                break
        else:
            keep(list(db.cases.find({**base, "due_at": None}, LIST_FIELDS)))
    return rows[:limit]


def _filtered_queue(
    db: Database,
    actor: Actor,
    code: str | None,
    filters: QueueFilters,
    limit: int,
    after: tuple[str, str] | None,
) -> Queue:
    """The lists under a filter: the studio's open cases that match are read (index studio+status)
    and split and sorted here; the totals are the rows' own."""
    query: dict[str, Any] = {"studio": code, "status": {"$in": list(lc.OPEN_STATES)}}
    if filters.status in lc.OPEN_STATES:
        query["status"] = filters.status
    for name in ("risk", "category", "community"):
        value = getattr(filters, name)
        if value:
            query["risk_level" if name == "risk" else name] = value
    rows = [c for c in db.cases.find(query, LIST_FIELDS).limit(_READ_CAP) if not c.get("merged_into")]
    lists: dict[str, list[dict[str, Any]]] = {"mine": [], "pool": [], "screening": [], "others": []}
    for case in rows:
        stored = dq.list_of(case)
        if actor.user_id in (case.get("mediators") or []):
            lists["mine"].append(case)
        elif stored == dq.POOL:
            lists["pool"].append(case)
        elif stored == dq.SCREENING:
            lists["screening"].append(case)
        else:
            lists["others"].append(case)
    result = Queue()
    for name, found in lists.items():
        key = dq.mine_key if name == "mine" else dq.list_key
        found.sort(key=key)
        result.counts[name] = len(found)
        setattr(result, name, _page(found, key, name, limit, after))
    return result


def move_counts(
    db: Database,
    studio: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    session: ClientSession | None,
) -> None:
    """Move the studio's desk counts for a case that changed from `before` to `after` (None: new
    to the studio, or gone from it), in the caller's transaction."""
    changes = dq.count_changes(before, after)
    if changes and studio:
        db.studios.update_one({"_id": studio}, {"$inc": changes}, session=session)


def recount_queue(db: Database, studio: str) -> dict[str, dict[str, int]]:
    """Recompute a studio's desk counts from its open cases, and the list stored on each (the
    start-up backfill, and the repair if counts were ever edited by hand). In one transaction:
    a concurrent change of a case of the studio conflicts with it and one of them is retried."""

    def work(session: ClientSession) -> dict[str, dict[str, int]]:
        cases = list(
            db.cases.find(
                {"studio": studio, "status": {"$in": list(lc.OPEN_STATES)}},
                {"status": 1, "owner": 1, "merged_into": 1, "risk_rank": 1, "queue": 1},
                session=session,
            )
        )
        for case in cases:
            stored = dq.list_of(case)
            if case.get("queue") != stored:
                db.cases.update_one({"_id": case["_id"]}, {"$set": {"queue": stored}}, session=session)
        counts = dq.tally(cases)
        db.studios.update_one(
            {"_id": studio}, {"$set": {"queue_counts": counts, "queue_counted_at": utcnow()}}, session=session
        )
        return counts

    return in_transaction(db, work)


def backfill_queue(db: Database) -> int:
    """Count the desk's lists of every studio never counted (cases routed before the counts
    existed); the worker's start-up. Returns how many studios were counted."""
    codes = [s["_id"] for s in db.studios.find({"queue_counted_at": None}, {"_id": 1})]
    for code in codes:
        recount_queue(db, code)
    return len(codes)


# Deadlines ----------------------------------------------------------------------------------------
def policy_for(
    db: Database, studio_code: str | None, session: ClientSession | None = None
) -> dl.DeadlinePolicy:
    studio = db.studios.find_one({"_id": studio_code}, session=session) or {}
    return dl.DeadlinePolicy.from_config(studio, str(registry.timezone(db, session)))


def deadline_to_doc(deadline: dl.Deadline) -> dict[str, Any]:
    return {
        "accepted_at": deadline.accepted_at,
        "base_due_at": deadline.base_due_at,
        "pauses": [{"started_at": p.started_at, "ended_at": p.ended_at} for p in deadline.pauses],
        "stopped_at": deadline.stopped_at,
    }


def deadline_from_doc(doc: Mapping[str, Any] | None) -> dl.Deadline | None:
    if not doc:
        return None
    return dl.Deadline(
        accepted_at=doc["accepted_at"],
        base_due_at=doc["base_due_at"],
        pauses=tuple(dl.Pause(p["started_at"], p.get("ended_at")) for p in doc.get("pauses", [])),
        stopped_at=doc.get("stopped_at"),
    )


def deadline_view(db: Database, case: Mapping[str, Any], now: datetime) -> dl.DeadlineView | None:
    deadline = deadline_from_doc(case.get("deadline"))
    if deadline is None:
        return None
    return dl.view(deadline, now, policy_for(db, case.get("studio")))


def _clock(
    db: Database,
    session: ClientSession,
    case: Mapping[str, Any],
    clock: str | None,
    at: datetime,
    studio: Callable[[], Mapping[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The deadline fields to store after a transition's clock instruction (`studio`: the case's
    studio document as the caller read it in this transaction, read here otherwise)."""
    current = deadline_from_doc(case.get("deadline"))
    if clock is None or (current is None and clock != "start"):
        return {}  # nothing to store: no policy to read (a take's round trips)
    if studio is None:
        policy = policy_for(db, case.get("studio"), session)
    else:
        policy = dl.DeadlinePolicy.from_config(studio() or {}, str(registry.timezone(db, session)))
    if clock == "start":
        current = dl.start(at, policy)
    elif clock == "pause" and current is not None and not current.paused:
        current = dl.pause(current, at)
    elif clock == "resume" and current is not None and current.paused:
        current = dl.resume(current, at)
    elif clock == "stop" and current is not None:
        current = dl.stop(current, at)
    elif clock is None or current is None:
        return {}
    running = current.stopped_at is None and not current.paused
    return {
        "deadline": deadline_to_doc(current),
        # Denormalised for the queue's sort: none while paused or stopped.
        "due_at": dl.due_at(current) if running else None,
        "deadline_status": dl.status(current, at, policy),
    }


# Events -------------------------------------------------------------------------------------------
def staff_ref(
    db: Database, user_id: str, session: ClientSession | None = None, known: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A staff member as events name them; `known`: their user document (name, email) read already."""
    user = (
        known
        if known is not None
        else db.users.find_one({"_id": user_id}, {"name": 1, "email": 1}, session=session) or {}
    )
    return {"user_id": user_id, "name": user.get("name") or user_id, "email": user.get("email")}


def _public_note(transition: lc.Transition, language: str = "zh-CN") -> str | None:
    """What the parties are told when a case ends (their routes onward); never internal notes."""
    payload = transition.payload
    if transition.action == lc.FAIL:
        return str(payload.get("note"))
    if transition.action == lc.REFER:
        target = lc.label(str(payload.get("target")), language, lc.REFERRAL_TARGET_LABELS)
        return f"{target}: {payload.get('target_name')}"
    if transition.action in (lc.NOT_ACCEPT, lc.RECORD_REFUSAL):
        return str(payload.get("referral"))
    return None


# Acting -------------------------------------------------------------------------------------------
Extra = Callable[[ClientSession, dict[str, Any], lc.Transition, datetime], dict[str, Any]]
# Who may act on the case as read in the transaction: raises a DeskError to refuse.
Check = Callable[[ClientSession, dict[str, Any]], None]
# Reads the case to act on inside the transaction (None: no such case).
Find = Callable[[ClientSession], dict[str, Any] | None]


@dataclass
class Done:
    case: dict[str, Any]
    transition: lc.Transition
    events: list[Envelope]


# Recorded by the mediator when a case ends (optional): the persons concerned when the dispute was
# kept from becoming a criminal case, and when a group petition was prevented (0 or absent: not so).
PREVENTION_FIELDS: tuple[str, ...] = ("criminal_prevented_persons", "petition_prevented_persons")
MAX_PREVENTION_PERSONS = 9999


def prevention_counts(payload: Mapping[str, Any]) -> dict[str, int]:
    """The two prevention counts from an ending action's payload (a form's text or JSON integers);
    blank means 0. Raises Invalid naming each field that is not a whole number 0..9999."""
    counts: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for name in PREVENTION_FIELDS:
        raw = payload.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            counts[name] = 0
            continue
        value: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            value = int(raw.strip())
        if value is None or not 0 <= value <= MAX_PREVENTION_PERSONS:
            errors[name] = [f"A whole number of persons from 0 to {MAX_PREVENTION_PERSONS}."]
        else:
            counts[name] = value
    if errors:
        raise Invalid("The prevention counts must be whole numbers of persons.", errors)
    return counts


def actions_done(case: Mapping[str, Any]) -> list[str]:
    """The lifecycle actions on the case's timeline (what the history-dependent rows look at)."""
    return [entry.get("action", "") for entry in case.get("timeline") or []]


def act(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    action: str,
    payload: Mapping[str, Any] | None = None,
    *,
    expected_state: str | None = None,
    now: datetime | None = None,
    extra: Extra | None = None,
    check: Check | None = None,
    find: Find | None = None,
    users: dict[str, Mapping[str, Any]] | None = None,
) -> Done:
    """Apply one lifecycle action to a case, atomically with its events.

    `expected_state` (what the form showed) makes a double submit harmless: the second finds the
    case moved on and is refused (Conflict) with nothing changed. `extra` adds action-specific
    fields to the case update inside the same transaction. `check` replaces the casework check
    when an action is decided on another case's page (a merge is the primary's mediators' call).
    `find` reads the case inside the transaction instead of by `reference` (take-next: the
    pool's first case, read once); `users` holds users `extra` read already (name, email).
    """
    db = mediation.db
    published: list[Envelope] = []
    payload = dict(payload or {})

    def work(session: ClientSession) -> Done:
        published.clear()
        case = find(session) if find is not None else db.cases.find_one({"_id": reference}, session=session)
        if case is None or not visible(actor, case):
            raise NotFound("No case %(reference)s.", params={"reference": reference})
        reference_ = case["_id"]
        # The studio's document, read at most once per transaction (deadline policy, its
        # reference in the events, the desk's counts).
        studio_doc: list[dict[str, Any] | None] = []

        def studio_once() -> dict[str, Any] | None:
            if not studio_doc:
                studio_doc.append(db.studios.find_one({"_id": case["studio"]}, session=session))
            return studio_doc[0]

        state = case.get("status", lc.RECEIVED)
        if expected_state and expected_state != state:
            raise Conflict(
                "The case has moved on (it is %(state)s now); nothing was changed.",
                {"state": state},
                {"state": _said(state)},
            )
        if check is not None:
            check(session, case)
        elif lc.rule_for(state, action) is not None and not _may_do_casework(actor, case, action):
            raise Forbidden("Only the case's own mediators or their studio lead can do this.")
        try:
            transition = lc.apply(
                state,
                action,
                actor.roles,
                payload,
                paused_from=case.get("paused_from"),
                actions_done=actions_done(case),
            )
        except lc.IllegalTransition as err:
            # The rule's own wording (codes, roles) stays the English detail for API clients and logs.
            if err.reason == "role":
                raise Forbidden(
                    "Your role may not do this at this step of the case.", detail=str(err)
                ) from err
            if err.reason == "payload":
                raise Invalid(
                    "Some information is missing or not valid: see the marked fields.",
                    err.errors,
                    detail=str(err),
                ) from err
            raise Conflict(
                "This cannot be done while the case is %(state)s.",
                params={"state": _said(state)},
                detail=str(err),
            ) from err
        at = now or utcnow()
        changes: dict[str, Any] = {"status": transition.to_state, "paused_from": transition.paused_from}
        prevention = prevention_counts(payload) if transition.outcome else {}
        if transition.outcome:
            changes["prevention"] = prevention
            # When and how it ended: the "is it settled?" check runs from here (settlement.py).
            changes["ended_at"], changes["outcome"] = at, transition.outcome
        changes.update(_clock(db, session, case, transition.clock, at, studio_once))
        if transition.to_state == lc.ARCHIVED:
            changes["archived_at"] = at  # the retention period runs from here (retention.py)
        if extra is not None:
            changes.update(extra(session, case, transition, at))
        if actor.user_id != SYSTEM.user_id and on_case(actor, {**case, **changes}):
            changes["touched_at"] = at
        # The desk list it is on, and its studio's counts, change in this same write.
        changes["queue"] = dq.list_of({**case, **changes})
        entry = {
            "at": at,
            "action": action,
            "by": actor.user_id,
            "from": state,
            "to": transition.to_state,
            "public": transition.public,
            "details": {k: v for k, v in transition.payload.items() if k != "expected_state"},
        }
        # Conditional on what was read, by the transaction: the case was read in it, so a change
        # committed since (or in flight) makes this write a WriteConflict, and `in_transaction`
        # runs the work again on the fresh case (which then refuses or, for take-next, takes the
        # next one). The filter is the `_id` alone on purpose: on the cases collection, whose other
        # indexes cover the guard's fields, SecantusDB planned `_id` plus the guard as a scan of
        # the whole collection (explain: COLLSCAN; 6 ms at 6,000 cases against 1 ms by `_id`).
        result = db.cases.update_one(
            {"_id": reference_}, {"$set": changes, "$push": {"timeline": entry}}, session=session
        )
        if result.matched_count != 1:
            raise Conflict("The case changed in the meantime; nothing was changed.")
        updated = {**case, **changes}
        count_changes = dq.count_changes(case, updated)
        if count_changes and not studio_doc:
            # The counts' write answers the studio's document too: one round trip for both.
            studio_doc.append(
                db.studios.find_one_and_update(
                    {"_id": case["studio"]}, {"$inc": count_changes}, session=session
                )
            )
        elif count_changes:
            db.studios.update_one({"_id": case["studio"]}, {"$inc": count_changes}, session=session)
        found_studio = studio_once()
        studio = registry.studio_ref(found_studio) if found_studio else None
        events: list[Envelope] = []
        if transition.changes_state:
            events.append(
                make_envelope(
                    "case.status_changed",
                    {
                        "reference": reference_,
                        "status": transition.to_state,
                        "previous_status": state,
                        "changed_at": at.isoformat(),
                        "public": transition.public,
                        "closing": transition.closes_case,
                    },
                    source=SERVICE,
                )
            )
        if transition.outcome:
            events.append(
                make_envelope(
                    "case.closed",
                    {
                        "reference": reference_,
                        "outcome": transition.outcome,
                        "closed_at": at.isoformat(),
                        "public_note": _public_note(transition, case.get("language") or "zh-CN"),
                        "studio": studio,
                        "building_leaders": building_leaders(
                            db, case.get("community"), case.get("building"), session
                        ),
                        **prevention,
                    },
                    source=SERVICE,
                )
            )
        if transition.to_state == lc.MERGED and transition.changes_state:
            events.append(
                make_envelope(
                    "case.merged",
                    {
                        "reference": reference_,
                        "merged_into": transition.payload["into"],
                        "merged_at": at.isoformat(),
                        "studio": studio,
                    },
                    source=SERVICE,
                )
            )
        if transition.closes_case:
            # A closed case (merged ones too) no longer counts in the studio's load.
            db.studios.update_one({"_id": case["studio"]}, {"$inc": {"open_cases": -1}}, session=session)
            # Its future sessions are called off with it: the hall freed, the invitees told.
            # Imported here: sessions builds on this module (its refusals are the desk's).
            from services.mediation.sessions import call_off_for_ending

            events += call_off_for_ending(db, session, updated, transition.to_state, actor.user_id, at)
            # Follow-up visits to each party, for the case's lead mediator (`visits`): with the
            # ending or not at all. Imported here: visits builds on this module too.
            from services.mediation.visits import tasks_for_ending

            tasks_for_ending(db, session, updated, transition.to_state, at)
        new_owner = changes.get("owner")
        if new_owner and new_owner != case.get("owner") and studio:
            events.append(
                make_envelope(
                    "case.assigned",
                    {
                        "reference": reference_,
                        "studio": studio,
                        "assigned_at": at.isoformat(),
                        "rule": "taken by mediator" if action == lc.TAKE else f"{action} by {actor.user_id}",
                        "needs_manual_routing": False,
                        "risk_level": case.get("risk_level", "none"),
                        "mediator": staff_ref(db, new_owner, session, (users or {}).get(new_owner)),
                    },
                    source=SERVICE,
                )
            )
        published.extend(mediation.outbox.add(events, session=session))
        return Done(updated, transition, events)

    done = in_transaction(db, work)
    if done.transition.closes_case:
        registry.forget_routing_view(db)  # one open case fewer: this process's routing reads again
    mediation.outbox.flush(published)
    log.info(
        "case action", extra={"reference": done.case["_id"], "action": action, "to": done.transition.to_state}
    )
    return done


def _release(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
    return {"owner": None, "owner_name": None, "mediators": [], "taken_at": None, "touched_at": None}


def replace_mediators(
    session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime
) -> dict[str, Any]:
    """A party asked for another mediator (PML Art 23): the case goes back to the pool, and the
    mediators it had may no longer take it themselves (only the lead can give it back to them)."""
    excluded = list(dict.fromkeys([*(case.get("excluded_mediators") or []), *(case.get("mediators") or [])]))
    return {**_release(session, case, t, at), "excluded_mediators": excluded}


def _check_studio_members(db: Database, case: Mapping[str, Any], mediators: list[str]) -> None:
    members = {
        u["_id"]
        for u in db.users.find(
            {"_id": {"$in": mediators}, "studio": case["studio"], "active": True}, {"_id": 1}
        )
    }
    unknown = [m for m in mediators if m not in members]
    if unknown:
        raise Invalid(
            "Not a mediator of this studio: %(names)s.",
            {"mediators": [", ".join(unknown)]},
            {"names": ", ".join(unknown)},
        )


def apply_action(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    action: str,
    payload: Mapping[str, Any] | None = None,
    *,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> Done:
    """Any lifecycle action from the desk or the API, with the side effects its row implies."""
    payload = dict(payload or {})
    db = mediation.db
    extra: Extra | None = None
    if action == lc.TAKE:
        return take(mediation, reference, actor, now=now)
    if action == lc.MERGE:
        # The generic form names the case this one is merged into; the same use case as the page's.
        into = str(payload.get("into") or "").strip()
        if not into:
            raise Invalid("Say which case this one is merged into.", {"into": ["Required."]})
        return merge(mediation, into, reference, actor, expected_state=expected_state, now=now)
    if action in (lc.ASSIGN, lc.REASSIGN):
        mediators = [m.strip() for m in payload.get("mediators") or [] if isinstance(m, str) and m.strip()]
        if mediators:
            _check_studio_members(db, get_case(db, reference, actor), mediators)
        users: dict[str, Mapping[str, Any]] = {}
        return act(
            mediation,
            reference,
            actor,
            action,
            payload,
            expected_state=expected_state,
            now=now,
            extra=_assign_extra(db, mediators, users),
            users=users,
        )
    if action == lc.RELEASE:
        extra = _release
    elif action == lc.REQUEST_OTHER_MEDIATOR:
        extra = replace_mediators
    return act(
        mediation, reference, actor, action, payload, expected_state=expected_state, now=now, extra=extra
    )


def _assign_extra(
    db: Database, mediators: list[str], users: dict[str, Mapping[str, Any]] | None = None
) -> Extra:
    """The owner's fields of an assignment or a take; the owner's user document read is kept in
    `users` (for `act`'s `case.assigned`, which names them with their email: one read, not two)."""

    def extra(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        if not mediators:
            return {}
        owner = mediators[0]
        user = db.users.find_one({"_id": owner}, {"name": 1, "email": 1}, session=session) or {}
        if users is not None:
            users[owner] = user
        return {
            "owner": owner,
            "owner_name": user.get("name", owner),
            "mediators": list(dict.fromkeys(mediators)),
            "taken_at": at,
            "touched_at": at,
        }

    return extra


# Taking cases -------------------------------------------------------------------------------------
def take(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    now: datetime | None = None,
    *,
    find: Find | None = None,
) -> Done:
    """Take this case: only an unowned accepted case of the actor's studio; never two owners (the
    case is checked as read inside the transaction, and a colleague's take committed meanwhile
    makes this write a write conflict, retried on the fresh case: see `act`). `find`: read the
    case to take inside the transaction instead (take-next)."""
    if not actor.roles & lc.CASEWORK:
        raise Forbidden("Only mediators and studio leads take cases.")
    users: dict[str, Mapping[str, Any]] = {}
    assign = _assign_extra(mediation.db, [actor.user_id], users)

    def extra(session: ClientSession, case: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        # Checked on the case as read in the transaction: a party asked for another mediator.
        if actor.user_id in (case.get("excluded_mediators") or []):
            raise Forbidden(
                "A party asked for another mediator than you on this case: "
                "only the studio lead can assign it to you again."
            )
        return assign(session, case, t, at)

    return act(mediation, reference, actor, lc.TAKE, now=now, extra=extra, find=find, users=users)


def take_next(mediation: Mediation, actor: Actor, now: datetime | None = None) -> Done | None:
    """Take the most urgent unclaimed case of the actor's studio (highest risk, then earliest due);
    None when the pool is empty. A case another mediator takes first is skipped, not shared."""
    if not actor.roles & lc.CASEWORK or not actor.studio:
        raise Forbidden("Only mediators and studio leads of a studio take cases.")
    db = mediation.db
    studio = actor.studio
    skipped: set[str] = set()
    picked: list[str] = []

    def find(session: ClientSession) -> dict[str, Any]:
        # Looked for inside the take's transaction and read whole there: the case is read once,
        # and a colleague's take of it in the meantime is a write conflict, retried on fresh data.
        case = _first_unclaimed(db, studio, skipped, now or utcnow(), actor.user_id, None, session)
        if case is None:
            raise _PoolEmpty()
        picked.append(case["_id"])
        return case

    for _ in range(50):
        picked.clear()
        try:
            return take(mediation, "", actor, now=now, find=find)
        except _PoolEmpty:
            return None
        except (NotFound, Conflict):
            if not picked:
                raise
            skipped.add(picked[-1])  # someone else took it first: try the next one
    return None


class _PoolEmpty(Exception):
    """No unclaimed case for this mediator in the pool (take-next answers None)."""


# Due-date windows searched in turn for the most urgent case of a risk level. SecantusDB reads
# every document a filter matches before it sorts (~35 µs each: 30 ms for a pool of 850), so the
# case due first is looked for among the few due within days before the whole level is read.
_TAKE_HORIZONS = (timedelta(days=2), timedelta(days=10), None)
# Rows read per window to step over the cases a party asked this mediator off: a mediator replaced
# on more cases than this at the very top of one window finds that window's later cases no more.
_TAKE_SCAN = 50


def most_urgent_unclaimed(
    db: Database, studio: str, skipped: set[str], now: datetime, user_id: str | None = None
) -> str | None:
    """The pool's first case in the queue page's order: highest risk, then earliest due (a case
    without a due date last), then earliest received, leaving out the cases `user_id` was replaced
    on at a party's request. Index studio+status+owner+risk_rank+due_at."""
    found = _first_unclaimed(db, studio, skipped, now, user_id, {"_id": 1, "excluded_mediators": 1})
    return found["_id"] if found is not None else None


def _first_unclaimed(
    db: Database,
    studio: str,
    skipped: set[str],
    now: datetime,
    user_id: str | None,
    projection: Mapping[str, Any] | None,
    session: ClientSession | None = None,
) -> dict[str, Any] | None:
    """`most_urgent_unclaimed`'s case, with `projection` (None: whole), read in `session`."""
    pool: dict[str, Any] = {"studio": studio, "status": lc.ACCEPTED, "owner": None}
    if skipped:
        pool["_id"] = {"$nin": sorted(skipped)}
    order = [("due_at", ASCENDING), ("received_at", ASCENDING)]

    def first(query: dict[str, Any]) -> dict[str, Any] | None:
        # Never a case whose party asked for another mediator than this one. Checked on the rows,
        # not in the filter: a field outside the index makes SecantusDB scan the whole collection.
        # All the rows come in one batch: no cursor is left open on the server.
        rows = db.cases.find(query, projection, sort=order, session=session).limit(_TAKE_SCAN)
        return next((r for r in rows if user_id not in (r.get("excluded_mediators") or ())), None)

    for level in reversed(RISK_LEVELS):
        for horizon in _TAKE_HORIZONS:
            due = {"$lt": now + horizon} if horizon else {"$gte": datetime.min}
            found = first({**pool, "risk_rank": rank(level), "due_at": due})
            if found is not None:
                return found
        found = first({**pool, "risk_rank": rank(level), "due_at": None})
        if found is not None:
            return found
    return None


# Notes, hand-over, merging -----------------------------------------------------------------------
def add_note(
    mediation: Mediation, reference: str, actor: Actor, text: str, shared: bool, now: datetime | None = None
) -> dict[str, Any]:
    """An internal note (staff only) or a shared note, which reaches the resident's tracking page
    through a public `case.status_changed` that keeps the status. Internal notes never leave."""
    text = (text or "").strip()
    if not text:
        raise Invalid("Write the note first.", {"text": ["Required."]})
    if len(text) > 2000:
        raise Invalid("A note is at most 2000 characters.", {"text": ["At most 2000 characters."]})
    db = mediation.db
    published: list[Envelope] = []

    def work(session: ClientSession) -> dict[str, Any]:
        published.clear()
        case = db.cases.find_one({"_id": reference}, session=session)
        if case is None or not visible(actor, case):
            raise NotFound("No case %(reference)s.", params={"reference": reference})
        if not (on_case(actor, case) or is_lead_of(actor, case)):
            raise Forbidden("Only the case's own mediators or their studio lead write notes.")
        at = now or utcnow()
        note = {"id": new_id(), "at": at, "by": actor.user_id, "text": text, "shared": bool(shared)}
        changes: dict[str, Any] = {
            "$push": {
                "notes": note,
                "timeline": {
                    "at": at,
                    "action": "note_shared" if shared else "note",
                    "by": actor.user_id,
                    "public": bool(shared),
                },
            }
        }
        if on_case(actor, case):
            changes["$set"] = {"touched_at": at}
        db.cases.update_one({"_id": reference}, changes, session=session)
        if shared:
            status = case.get("status", lc.RECEIVED)
            published.extend(
                mediation.outbox.add(
                    [
                        make_envelope(
                            "case.status_changed",
                            {
                                "reference": reference,
                                "status": status,
                                "previous_status": status,
                                "changed_at": at.isoformat(),
                                "public": True,
                                "note": text,
                            },
                            source=SERVICE,
                        )
                    ],
                    session=session,
                )
            )
        return note

    note = in_transaction(db, work)
    mediation.outbox.flush(published)
    return note


def hand_over(
    mediation: Mediation,
    reference: str,
    actor: Actor,
    note: str,
    *,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> Done:
    """The owner hands the case back to the studio's pool with a note for whoever takes it next
    (a `release` in the lifecycle; the note is kept as an internal note)."""
    db = mediation.db
    case = get_case(db, reference, actor)
    if case.get("owner") != actor.user_id and not is_lead_of(actor, case):
        raise Forbidden("Only the case's mediator (or the studio lead) can hand it over.")
    done = apply_action(
        mediation, reference, actor, lc.RELEASE, {"note": note}, expected_state=expected_state, now=now
    )
    db.cases.update_one(
        {"_id": reference},
        {
            "$push": {
                "notes": {
                    "id": new_id(),
                    "at": now or utcnow(),
                    "by": actor.user_id,
                    "text": note.strip(),
                    "shared": False,
                    "handover": True,
                }
            }
        },
    )
    return done


def merge(
    mediation: Mediation,
    reference: str,
    duplicate: str,
    actor: Actor,
    *,
    expected_state: str | None = None,
    now: datetime | None = None,
) -> Done:
    """Close `duplicate` as merged into `reference` (the primary, which carries the dispute on).

    The lifecycle's `merge` on the duplicate (allowed only before any mediator took it up), in one
    transaction with the primary's side: the duplicate is closed with `merged_into` (its clock
    stopped, off the studio's load), the primary lists it in `merged`, both timelines record it,
    and `case.status_changed` (closing) plus `case.merged` go through the outbox, so intake's
    tracking page and notify tell the duplicate's parties where their dispute went. Nothing is
    copied: the duplicate's parties and attachments stay on its own record, linked both ways.

    Refused with nothing changed: merging into itself, into another studio's case (404), into a
    closed case, a case closed already, and chains — into a case that was itself merged, or a case
    that others were merged into. `expected_state` is the duplicate's state as a form showed it.
    Only the primary's mediators and the studio lead merge.
    """
    reference, duplicate = reference.strip(), duplicate.strip()
    if not duplicate:
        raise Invalid("Say which case is the duplicate.", {"duplicate": ["Required."]})
    if reference == duplicate:
        raise Invalid("A case cannot be merged into itself.", {"duplicate": ["Choose another case."]})
    db = mediation.db
    # Outside the transaction only to word the refusal: act reads the duplicate again inside it.
    other = db.cases.find_one({"_id": duplicate}, {"studio": 1})
    if other is None or not visible(actor, other):
        raise NotFound(
            "There is no case %(duplicate)s in this studio.",
            {"duplicate": ["Not found."]},
            {"duplicate": duplicate},
        )

    def check(session: ClientSession, dup: dict[str, Any]) -> None:
        primary = db.cases.find_one({"_id": reference}, session=session)
        if primary is None or not visible(actor, primary):
            raise NotFound("No case %(reference)s.", params={"reference": reference})
        if dup.get("studio") != primary.get("studio"):
            raise NotFound(
                "There is no case %(duplicate)s in this studio.",
                {"duplicate": ["Not found."]},
                {"duplicate": duplicate},
            )
        if not (is_lead_of(actor, primary) or on_case(actor, primary)):
            raise Forbidden(
                "Only the mediators of %(reference)s or the studio lead merge duplicates into it.",
                params={"reference": reference},
            )
        if primary.get("merged_into"):
            raise Conflict(
                "%(reference)s was itself merged into %(primary)s: merge into that case instead.",
                params={"reference": reference, "primary": primary["merged_into"]},
            )
        if lc.is_closed(primary.get("status", lc.RECEIVED)):
            raise Conflict(
                "%(reference)s is closed (%(state)s): a duplicate is merged into an open case.",
                params={"reference": reference, "state": _said(primary["status"])},
            )
        if dup.get("merged_into"):
            raise Conflict(
                "%(duplicate)s is merged into %(primary)s already; nothing was changed.",
                params={"duplicate": duplicate, "primary": dup["merged_into"]},
            )
        if dup.get("merged"):
            raise Conflict(
                "Other cases were merged into %(duplicate)s: it cannot itself be merged (no chains). "
                "Merge %(reference)s into %(duplicate)s instead.",
                params={"duplicate": duplicate, "reference": reference},
            )
        dup_state = dup.get("status", lc.RECEIVED)
        if lc.is_closed(dup_state):
            raise Conflict(
                "%(duplicate)s is closed already (%(state)s); nothing to merge.",
                params={"duplicate": duplicate, "state": _said(dup_state)},
            )
        if lc.rule_for(dup_state, lc.MERGE) is None:
            raise Conflict(
                "%(duplicate)s is %(state)s: only a case no mediator has taken up yet "
                "can be merged; end it the ordinary way instead.",
                params={"duplicate": duplicate, "state": _said(dup_state)},
            )
        # A case sent back to the pool (a party asked for another mediator) may still hold a
        # booked session: closing it would keep the hall booked and the invitees uninformed.
        if db.sessions.find_one({"reference": duplicate, "status": "scheduled"}, {"_id": 1}, session=session):
            raise Conflict(
                "%(duplicate)s has a session scheduled: cancel it first (its invitees are told), then merge.",
                params={"duplicate": duplicate},
            )

    def extra(session: ClientSession, dup: dict[str, Any], t: lc.Transition, at: datetime) -> dict[str, Any]:
        # The primary's side, conditional on what `check` saw: a concurrent change refuses the merge.
        primary_update = db.cases.update_one(
            {"_id": reference, "merged_into": None, "status": {"$nin": list(lc.CLOSED_STATES)}},
            {
                "$addToSet": {"merged": duplicate},
                "$push": {
                    "timeline": {
                        "at": at,
                        "action": "merged",
                        "by": actor.user_id,
                        "case": duplicate,
                        "public": False,  # the primary's parties never learn of the other filing
                    }
                },
            },
            session=session,
        )
        if primary_update.matched_count != 1:
            raise Conflict(
                "%(reference)s changed in the meantime; nothing was changed.", params={"reference": reference}
            )
        return {"merged_into": reference}

    return act(
        mediation,
        duplicate,
        actor,
        lc.MERGE,
        {"into": reference},
        expected_state=expected_state,
        now=now,
        extra=extra,
        check=check,
    )


def merged_cases(db: Database, case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The duplicates merged into `case`, as its page links them: their parties' names and roles
    (contacts stay on their own page, masked or logged there) and their attachments."""
    references = case.get("merged") or []
    if not references:
        return []
    rows = list(
        db.cases.find(
            {"_id": {"$in": references}, "studio": case.get("studio")},
            {"status": 1, "received_at": 1, "parties.name": 1, "parties.role": 1, "attachments": 1},
        )
    )
    for row in rows:  # stored as the event carried it (ISO text)
        if isinstance(row.get("received_at"), str):
            row["received_at"] = datetime.fromisoformat(row["received_at"])
    return sorted(rows, key=lambda c: c["_id"])


def studio_mediators(db: Database, studio: str) -> list[dict[str, Any]]:
    return list(
        db.users.find(
            {"studio": studio, "active": True, "roles": {"$in": [lc.MEDIATOR, lc.STUDIO_LEAD]}},
            {"name": 1, "roles": 1},
        ).sort("_id")
    )
