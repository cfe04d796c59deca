"""The registry: studios, patrol teams, council halls and reception days; seeded from YAML, changed
by district admins through the API (validated by `http.schemas`, audited), read as routing snapshots."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation.domain.patrol import ACTIVE_STATUSES, Shift, TeamSnapshot, parse_time
from services.mediation.domain.routing import Leave, Member, StudioSnapshot
from services.mediation.domain.visits import DEFAULT_FOLLOW_UP_DAYS
from shared.db import in_transaction
from shared.messaging.envelope import new_id, utcnow
from shared.taxonomy import communities
from shared.web.i18n import N_

SEED_FILE = Path(__file__).parent / "seed" / "registry.yaml"
DISTRICT_ID = "district"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_RECEPTION_DAYS = (6, 26)

ENTITIES = {"studio": "studios", "team": "patrol_teams", "community": "communities"}
# What the audit log records changes of: the registry's entities and staff accounts.
AUDITED = (*ENTITIES, "user")


class RegistryError(Exception):
    """A registry change that breaks a rule (unknown entry, duplicate code).

    `message` is a catalog msgid with %(name)s placeholders filled from `params`: the API answers
    in English, pages translate it (`gettext(err.message, **err.params)`).
    """

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class NotFound(RegistryError):
    pass


# What routing reads, kept in the process -------------------------------------------------------
# How long routing trusts its copy of the district's settings, the studios and the round-robin
# cursors before reading them again. Routing's writes check what the decision rests on (the
# chosen studio's open cases, the cursor it advances), so a copy that is stale there is read again
# at once; what is not checked (another studio's count lowered by a closing in another process, a
# registry edit made elsewhere) is seen within this time.
ROUTING_VIEW_SECONDS = 2.0


@dataclass
class RoutingView:
    """The registry as routing last read it: the district's settings, the studios' documents and
    the round-robin cursors (`cursor_key` -> the studio last in turn)."""

    district: dict[str, Any]
    studio_rows: list[dict[str, Any]]
    cursors: dict[str, str | None]
    read_at: float = field(default_factory=time.monotonic)

    def studio_row(self, code: str) -> dict[str, Any]:
        return next(row for row in self.studio_rows if row["_id"] == code)


_views: dict[str, RoutingView] = {}
_views_lock = threading.Lock()


def routing_view(db: Database, *, fresh: bool = False, session: ClientSession | None = None) -> RoutingView:
    """Routing's copy of the registry for `db`, read again when older than ROUTING_VIEW_SECONDS
    or when `fresh` (a write found it stale): three round trips then, none otherwise. A fresh read
    within `session` sees the transaction's snapshot, so the writes that follow cannot find it
    stale: another writer in between is a write conflict, which the transaction retries."""
    with _views_lock:
        view = _views.get(db.name)
    if view is not None and not fresh and time.monotonic() - view.read_at < ROUTING_VIEW_SECONDS:
        return view
    view = RoutingView(
        district=district(db, session),
        studio_rows=list(db.studios.find({}, session=session)),
        cursors={c["_id"]: c.get("last") for c in db.routing_cursors.find({}, session=session)},
    )
    with _views_lock:
        _views[db.name] = view
    return view


def routed(db: Database, view: RoutingView, studio: str, cursor: str | None) -> None:
    """After a routing committed: its own writes (one more open case, the cursor) in the copy, so
    the next case needs no read to see them."""
    with _views_lock:
        if _views.get(db.name) is not view:
            return  # read again meanwhile: the new copy has them
        row = view.studio_row(studio)
        row["open_cases"] = row.get("open_cases", 0) + 1
        if cursor is not None:
            view.cursors[cursor] = studio


def forget_routing_view(db: Database) -> None:
    """This process changed the registry or a studio's open cases: routing reads them again."""
    with _views_lock:
        _views.pop(db.name, None)


# Seeding ----------------------------------------------------------------------------------------
def _studio_doc(studio: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": studio["code"],
        "name": studio["name"],
        "email": studio.get("email"),
        "lead_email": studio.get("lead_email"),
        "wechat_webhook": studio.get("wechat_webhook"),
        "communities": studio.get("communities", []),
        "streets": studio.get("streets", []),
        "categories": studio.get("categories", []),
        "capacity": int(studio["capacity"]),
        "working_days": studio.get("working_days", []),
        # Days from a case's ending to its follow-up visits (`visits`); a lead sets their own.
        "follow_up_days": int(studio.get("follow_up_days") or DEFAULT_FOLLOW_UP_DAYS),
        "members": [{"leave": [], "role": "mediator", **m} for m in studio.get("members", [])],
        "is_default": bool(studio.get("default", studio.get("is_default", False))),
        "settlement_check_days": int(studio.get("settlement_check_days") or 28),
    }


def _team_doc(team: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": team["code"],
        "name": team["name"],
        "email": team.get("email"),
        "phone": team.get("phone"),
        "wechat_webhook": team.get("wechat_webhook"),
        "communities": team.get("communities", []),
        "streets": team.get("streets", []),
        "shifts": team.get("shifts", []),
        "members": team.get("members", []),
        "on_call": bool(team.get("on_call", False)),
    }


def seed_registry(db: Database, path: Path = SEED_FILE) -> int:
    """Insert the seed file's entries that are missing, by code (idempotent).

    Existing entries are left as they are: after the first seed the registry is the admins' to
    change (audited), and open-case counts are never reset.
    """
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    district = doc.get("district", {})
    db.registry_settings.update_one(
        {"_id": DISTRICT_ID},
        {
            "$setOnInsert": {
                "timezone": district.get("timezone", DEFAULT_TIMEZONE),
                "default_reception_days": district.get(
                    "default_reception_days", list(DEFAULT_RECEPTION_DAYS)
                ),
                "admin_email": district.get("admin_email"),
            }
        },
        upsert=True,
    )
    for studio in doc.get("studios", []):
        db.studios.update_one(
            {"_id": studio["code"]},
            {"$setOnInsert": {**_studio_doc(studio), "open_cases": 0}},
            upsert=True,
        )
    for team in doc.get("patrol_teams", []):
        db.patrol_teams.update_one({"_id": team["code"]}, {"$setOnInsert": _team_doc(team)}, upsert=True)
    for community in doc.get("communities", []):
        fields = {"hall": community.get("hall")}
        if "reception_days" in community:
            fields["reception_days"] = community["reception_days"]
        db.communities.update_one({"_id": community["code"]}, {"$setOnInsert": fields}, upsert=True)
    forget_routing_view(db)
    return len(doc.get("studios", [])) + len(doc.get("patrol_teams", []))


# Reading ----------------------------------------------------------------------------------------
def district(db: Database, session: ClientSession | None = None) -> dict[str, Any]:
    found = db.registry_settings.find_one({"_id": DISTRICT_ID}, session=session) or {}
    return {
        "timezone": found.get("timezone", DEFAULT_TIMEZONE),
        "default_reception_days": found.get("default_reception_days", list(DEFAULT_RECEPTION_DAYS)),
        "admin_email": found.get("admin_email"),
    }


def timezone(db: Database, session: ClientSession | None = None) -> ZoneInfo:
    return ZoneInfo(district(db, session)["timezone"])


def street_of(community: str) -> str | None:
    return next((c.street for c in communities() if c.code == community), None)


def _members(raw: list[dict[str, Any]]) -> tuple[Member, ...]:
    def as_date(value: Any) -> date:
        return value if isinstance(value, date) else date.fromisoformat(str(value))

    return tuple(
        Member(
            m["username"],
            tuple(Leave(as_date(p["start"]), as_date(p["end"])) for p in m.get("leave", [])),
        )
        for m in raw
    )


def snapshots(
    db: Database, session: ClientSession | None = None, rows: list[dict[str, Any]] | None = None
) -> list[StudioSnapshot]:
    """The studios as routing sees them (open cases counted in the caller's transaction), from
    `rows` when the caller has read the studios' documents already."""
    return [
        StudioSnapshot(
            code=s["code"],
            communities=frozenset(s.get("communities", [])),
            categories=frozenset(s.get("categories", [])),
            capacity=s["capacity"],
            open_cases=s.get("open_cases", 0),
            is_default=s.get("is_default", False),
            streets=frozenset(s.get("streets", [])),
            members=_members(s.get("members", [])),
        )
        for s in (rows if rows is not None else db.studios.find({}, session=session))
    ]


def team_snapshots(db: Database, session: ClientSession | None = None) -> list[TeamSnapshot]:
    counts = {
        row["_id"]: row["n"]
        for row in db.patrol_tasks.aggregate(
            [
                {"$match": {"status": {"$in": list(ACTIVE_STATUSES)}}},
                {"$group": {"_id": "$team", "n": {"$sum": 1}}},
            ],
            session=session,
        )
    }
    return [
        TeamSnapshot(
            code=t["code"],
            communities=frozenset(t.get("communities", [])),
            streets=frozenset(t.get("streets", [])),
            shifts=tuple(
                Shift(frozenset(s["days"]), parse_time(s["start"]), parse_time(s["end"]))
                for s in t.get("shifts", [])
            ),
            on_call=t.get("on_call", False),
            open_tasks=counts.get(t["code"], 0),
        )
        for t in db.patrol_teams.find({}, session=session)
    ]


def studio_ref(studio: dict[str, Any]) -> dict[str, Any]:
    """A studio as events carry it, with the channels notify needs."""
    return {
        "code": studio["code"],
        "name": studio["name"]["zh-CN"],
        "name_en": studio["name"]["en"],
        "email": studio.get("email"),
        "lead_email": studio.get("lead_email"),
        "wechat_webhook": studio.get("wechat_webhook"),
    }


def team_ref(team: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": team["code"],
        "name": team["name"]["zh-CN"],
        "name_en": team["name"]["en"],
        "email": team.get("email"),
        "phone": team.get("phone"),
        "wechat_webhook": team.get("wechat_webhook"),
    }


def community_view(db: Database, code: str) -> dict[str, Any] | None:
    community = next((c for c in communities() if c.code == code), None)
    if community is None:
        return None
    stored = db.communities.find_one({"_id": code}) or {}
    return {
        "code": code,
        "name": {"zh-CN": community.zh, "en": community.en},
        "street": community.street,
        "hall": stored.get("hall"),
        "reception_days": stored.get("reception_days") or district(db)["default_reception_days"],
    }


# Changing (district admins) ---------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Dates become ISO strings so leave periods are stored (and audited) as JSON-like values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def record_audit(
    db: Database,
    session: ClientSession | None,
    actor: str,
    action: str,
    entity: str,
    key: str,
    changes: dict,
) -> None:
    """One audit entry: who changed which entity how (`changes`: field -> before/after)."""
    db.audit.insert_one(
        {
            "_id": new_id(),
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "entity": entity,
            "key": key,
            "changes": changes,
        },
        session=session,
    )


def create(db: Database, entity: str, data: dict[str, Any], actor: str) -> dict[str, Any]:
    """Add a studio or team (validated input); refuses a code in use. Audited in the same transaction."""
    collection = db[ENTITIES[entity]]
    doc = _plain(_studio_doc(data) if entity == "studio" else _team_doc(data))

    def work(session: ClientSession) -> dict[str, Any]:
        if collection.find_one({"_id": doc["code"]}, {"_id": 1}, session=session):
            raise RegistryError(N_("The code %(code)s is in use already."), code=doc["code"])
        stored = {"_id": doc["code"], **doc}
        if entity == "studio":
            stored["open_cases"] = 0
        collection.insert_one(stored, session=session)
        record_audit(
            db, session, actor, "create", entity, doc["code"], {k: {"after": v} for k, v in doc.items()}
        )
        return stored

    try:
        return in_transaction(db, work)
    finally:
        forget_routing_view(db)  # after the write: a copy read before it would keep the old entry


class Changed(RegistryError):
    """The entry changed between reading it and writing it (another admin's edit): reload and retry."""


def update(
    db: Database,
    entity: str,
    key: str,
    changes: dict[str, Any],
    actor: str,
    expect: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Change fields of a studio, team or community; only real changes are written and audited.

    `expect` (field -> value read before) makes a read-modify-write safe: when another edit changed
    one of those fields meanwhile, `Changed` is raised and nothing is written.
    """
    collection = db[ENTITIES[entity]]
    new = _plain(changes)
    new.pop("code", None)
    if entity == "studio" and "members" in new:
        new["members"] = [{"leave": [], "role": "mediator", **m} for m in new["members"]]

    def work(session: ClientSession) -> dict[str, Any]:
        current = collection.find_one({"_id": key}, session=session)
        if current is None:
            if entity != "community" or community_view(db, key) is None:
                raise NotFound(N_("No %(entity)s %(code)s."), entity=entity, code=key)
            current = {"_id": key}
            collection.insert_one(current, session=session)
        if expect and any(current.get(field) != _plain(value) for field, value in expect.items()):
            raise Changed(N_("Someone else changed this meanwhile; reload the page and try again."))
        diff = {
            field: {"before": current.get(field), "after": value}
            for field, value in new.items()
            if current.get(field) != value
        }
        if diff:
            collection.update_one(
                {"_id": key}, {"$set": {k: v["after"] for k, v in diff.items()}}, session=session
            )
            record_audit(db, session, actor, "update", entity, key, diff)
        return collection.find_one({"_id": key}, session=session)

    try:
        return in_transaction(db, work)
    finally:
        forget_routing_view(db)  # after the write: a copy read before it would keep the old entry


def audit_log(
    db: Database, entity: str | None = None, key: str | None = None, limit: int = 100
) -> list[dict]:
    query: dict[str, Any] = {}
    if entity:
        query["entity"] = entity
    if key:
        query["key"] = key
    return list(db.audit.find(query).sort("at", -1).limit(limit))


# Studio members and their leave (district admins, and a studio's lead for their own studio) ---
def _members_of(db: Database, code: str) -> list[dict[str, Any]]:
    studio = db.studios.find_one({"_id": code}, {"members": 1})
    if studio is None:
        raise NotFound(N_("No studio %(code)s."), code=code)
    return [dict(m, leave=list(m.get("leave", []))) for m in studio.get("members", [])]


def add_member(db: Database, code: str, member: dict[str, Any], actor: str) -> dict[str, Any]:
    """Add a person (validated `StudioMemberSchema` data) to a studio's members; refuses a repeat."""
    members = _members_of(db, code)
    if any(m["username"] == member["username"] for m in members):
        raise RegistryError(N_("%(username)s is a member already."), username=member["username"])
    new = [*members, {"leave": [], **member}]
    return update(db, "studio", code, {"members": new}, actor, expect={"members": members})


def remove_member(db: Database, code: str, username: str, actor: str) -> dict[str, Any]:
    members = _members_of(db, code)
    kept = [m for m in members if m["username"] != username]
    if len(kept) == len(members):
        raise NotFound(N_("%(username)s is not a member of %(code)s."), username=username, code=code)
    return update(db, "studio", code, {"members": kept}, actor, expect={"members": members})


def add_leave(db: Database, code: str, username: str, start: date, end: date, actor: str) -> dict[str, Any]:
    """Record a member's leave (routing scales the studio's capacity by who is at work)."""
    before = _members_of(db, code)
    members = copy.deepcopy(before)
    member = next((m for m in members if m["username"] == username), None)
    if member is None:
        raise NotFound(N_("%(username)s is not a member of %(code)s."), username=username, code=code)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    if period in member.get("leave", []):
        raise RegistryError(N_("This leave is recorded already."))
    member["leave"] = sorted([*member.get("leave", []), period], key=lambda p: p["start"])
    return update(db, "studio", code, {"members": members}, actor, expect={"members": before})


def remove_leave(db: Database, code: str, username: str, start: str, actor: str) -> dict[str, Any]:
    before = _members_of(db, code)
    members = copy.deepcopy(before)
    member = next((m for m in members if m["username"] == username), None)
    if member is None:
        raise NotFound(N_("%(username)s is not a member of %(code)s."), username=username, code=code)
    kept = [p for p in member.get("leave", []) if str(p["start"]) != start]
    if len(kept) == len(member.get("leave", [])):
        raise NotFound(N_("No such leave."))
    member["leave"] = kept
    return update(db, "studio", code, {"members": members}, actor, expect={"members": before})
