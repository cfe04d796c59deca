"""The plan that decisions yield, and its progress: items, their tree and roll-up, timeline entries
with photos, the public view, and `plan.item_finished` when an item is done.

A decision is a passed vote (a closed consultation of kind "vote" whose frozen result's outcome is
"passed", see `consultations` and `results`) or an adopted recommendation of a representatives'
meeting (`meetings`). Both live in collections other modules own, so they are read defensively
(`find_decision`): a reference that cannot be confirmed is refused.

Collections (`<prefix>_council`):
- `plan_items`: {_id, community, title, title_en, decision {kind, id, title}, parent_id, weight (str),
  position, status, progress (str, exact decimal), budget_fen (int), contractor, start, end (ISO
  dates), created_*, updated_*, finished_at}. A parent's own status and progress are not used: they
  roll up from its children (`domain/plan.py`).
- `plan_timeline`: {_id, community, item_id, at, by, text, photos [{id, content_type, size}]}.
- `plan_revisions`: {_id: community, rev}: every change of a community's plan increments it inside
  its transaction, so two concurrent edits of one plan conflict and one is retried on fresh data
  (the tree is checked as a whole; two edits that are each fine could together make a cycle).
- GridFS bucket `plan_photos` (metadata: community, item_id).

Committee members of the community edit; anyone reads the public plan. Every change and its events
are written in one transaction (shared/outbox.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from services.council.bootstrap import SERVICE, Council
from services.council.domain import plan as rules
from services.council.notice_audience import community_audience
from services.council.photos import StoredFile, check_photos, discard, store
from shared.auth import Staff
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.taxonomy import community_codes
from shared.uploads import Upload, UploadError

BUCKET = "plan_photos"
DECISION_KINDS = ("vote", "recommendation")
TEXT_MAX = 200
TIMELINE_MAX = 2000
FIELDS = (
    "title",
    "title_en",
    "decision_kind",
    "decision_id",
    "parent_id",
    "weight",
    "status",
    "progress",
    "budget",
    "contractor",
    "start",
    "end",
)
# Where the domain's problems show on the edit form.
PROBLEM_FIELDS = {
    "progress_out_of_range": "progress",
    "done_needs_100": "progress",
    "planned_needs_0": "progress",
    "weight_not_positive": "weight",
    "partial_weights": "weight",
    "unknown_parent": "parent_id",
    "cycle": "parent_id",
    "unknown_status": "status",
    "duplicate_id": "title",
}


class NotAllowed(Exception):
    """Only the community's committee members change its plan."""


class NotFound(Exception):
    """No such community, item or photo."""


class Refused(Exception):
    """Bad input, nothing changed: `errors` maps a field to its reason codes (see http/plan_text.py)."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {','.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)


def upload_code(err: UploadError) -> str:
    """An upload's refusal as one reason string: "upload:" and its English msgid with its values."""
    return "upload:" + (err.message % err.params if err.params else err.message)


# Who -------------------------------------------------------------------------------------------------
def check_community(community: str) -> None:
    if community not in community_codes():
        raise NotFound(f"No community {community}.")


def may_edit(staff: Staff, community: str) -> bool:
    """The community's committee members keep its plan (district admins read it like the public)."""
    return staff.has_role("committee_member") and staff.community == community


def require_edit(staff: Staff, community: str) -> None:
    check_community(community)
    if not may_edit(staff, community):
        raise NotAllowed("Only the community's committee members change its plan.")


# Decisions -------------------------------------------------------------------------------------------
def find_decision(council: Council, community: str, kind: str, ref: str) -> dict[str, Any] | None:
    """The decision `ref` of `kind` if it is one (a passed vote, an adopted recommendation) of this
    community, as {kind, id, title}; else None. Other modules write these collections: every field
    is read as optional."""
    if kind == "vote":
        doc = council.db.consultations.find_one({"_id": ref, "community": community})
        if not doc or doc.get("kind") != "vote" or doc.get("status") not in ("closed", "published"):
            return None
        vote = (doc.get("result") or {}).get("vote") or {}
        if vote.get("outcome") != "passed":
            return None
        return {"kind": kind, "id": ref, "title": _title_text(doc.get("title"))}
    if kind == "recommendation":
        # Either its own document, or an agenda item "meeting_id:item_id" inside a meeting.
        doc = council.db.recommendations.find_one({"_id": ref, "community": community})
        if doc and (doc.get("status") == "adopted" or doc.get("outcome") == "adopted"):
            return {"kind": kind, "id": ref, "title": _title_text(doc.get("title") or doc.get("text"))}
        meeting_id, _, item_id = ref.partition(":")
        meeting = (
            council.db.meetings.find_one({"_id": meeting_id, "community": community}) if item_id else None
        )
        for item in (meeting or {}).get("agenda") or []:
            if str(item.get("id")) != item_id:
                continue
            rec = item.get("recommendation") or {}
            adopted = (
                rec.get("outcome") == "adopted"
                or rec.get("status") == "adopted"
                or rec.get("adopted") is True
            )
            if adopted:
                return {"kind": kind, "id": ref, "title": _title_text(item.get("title") or rec.get("text"))}
        return None
    return None


def _title_text(title: Any) -> str:
    if isinstance(title, Mapping):
        return str(title.get("zh-CN") or title.get("en") or "")
    return str(title or "")


# Parsing -----------------------------------------------------------------------------------------------
def parse_decimal(text: str, places: int) -> Decimal | None:
    """A decimal typed by a person (full-width digits, commas as thousands separators, spaces), or
    None when it is not one with at most `places` decimals. Never a float."""
    folded = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text.strip())
    folded = folded.replace(",", "").replace(" ", "").replace("¥", "").replace("元", "")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", folded):  # no "1e3", "NaN" or "Infinity"
        return None
    try:
        value = Decimal(folded)
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-places)):
        return None
    return value


def fen(amount: Decimal) -> int:
    """Yuan with at most two decimals as integer fen (exact)."""
    return int(amount * 100)


def yuan(fen_: int | None) -> str | None:
    """Integer fen as a yuan string with two decimals ("1234.50")."""
    if fen_ is None:
        return None
    return str((Decimal(fen_) / 100).quantize(Decimal("0.01")))


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_fields(values: Mapping[str, str], *, creating: bool) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Form or JSON fields (strings) to stored values; absent fields stay absent when editing."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}

    def err(name: str, code: str) -> None:
        errors.setdefault(name, []).append(code)

    unknown = sorted(set(values) - set(FIELDS))
    for name in unknown:
        err(name, "not_a_field")
    given = {k: str(v if v is not None else "").strip() for k, v in values.items() if k in FIELDS}
    if creating or "title" in given:
        title = given.get("title", "")
        if not title:
            err("title", "required")
        elif len(title) > TEXT_MAX:
            err("title", "too_long")
        out["title"] = title
    for name in ("title_en", "contractor"):
        if name in given:
            if len(given[name]) > TEXT_MAX:
                err(name, "too_long")
            out[name] = given[name]
    if creating or "status" in given:
        status = given.get("status") or rules.PLANNED
        if status not in rules.STATUSES:
            err("status", "unknown_status")
        out["status"] = status
    if creating or "progress" in given:
        # A new item's progress follows its status when not typed: done is 100 %, anything else 0.
        raw = given.get("progress") or ("100" if out.get("status") == rules.DONE else "0")
        progress = parse_decimal(raw, 2)
        if progress is None or not 0 <= progress <= 100:
            err("progress", "progress_out_of_range")
        else:
            out["progress"] = str(progress)
    if "weight" in given:
        if not given["weight"]:
            out["weight"] = None
        else:
            weight = parse_decimal(given["weight"], 4)
            if weight is None or weight <= 0:
                err("weight", "weight_not_positive")
            else:
                out["weight"] = str(weight)
    if "budget" in given:
        if not given["budget"]:
            out["budget_fen"] = None
        else:
            budget = parse_decimal(given["budget"], 2)
            if budget is None or budget < 0:
                err("budget", "bad_budget")
            else:
                out["budget_fen"] = fen(budget)
    for name in ("start", "end"):
        if name in given:
            if not given[name]:
                out[name] = None
            elif _date(given[name]) is None:
                err(name, "bad_date")
            else:
                out[name] = given[name]
    start, end = out.get("start"), out.get("end")
    if start and end and end < start:
        err("end", "end_before_start")
    if "parent_id" in given:
        out["parent_id"] = given["parent_id"] or None
    for name in ("decision_kind", "decision_id"):
        if name in given:
            out[name] = given[name]
    return out, errors


# Reading ------------------------------------------------------------------------------------------------
def items(council: Council, community: str, session: ClientSession | None = None) -> list[dict[str, Any]]:
    """The community's plan items in their stored order."""
    return list(
        council.db.plan_items.find({"community": community}, session=session).sort(
            [("position", ASCENDING), ("created_at", ASCENDING)]
        )
    )


def as_plan_item(doc: Mapping[str, Any]) -> rules.PlanItem:
    """A stored item as the domain's rules see it."""
    return rules.PlanItem(
        item_id=doc["_id"],
        title=doc.get("title", ""),
        status=doc.get("status", rules.PLANNED),
        progress=Decimal(doc.get("progress") or "0"),
        parent_id=doc.get("parent_id"),
        weight=Decimal(doc["weight"]) if doc.get("weight") else None,
    )


def rolled(docs: Iterable[Mapping[str, Any]]) -> dict[str, rules.Rolled]:
    """Every item's progress and status after the roll-up."""
    return rules.rollup(as_plan_item(d) for d in docs)


def view(doc: Mapping[str, Any], roll: rules.Rolled, depth: int = 0) -> dict[str, Any]:
    """An item as pages and the API show it (money as yuan strings, progress rounded for display)."""
    return {
        "id": doc["_id"],
        "community": doc["community"],
        "title": doc.get("title", ""),
        "title_en": doc.get("title_en") or "",
        "decision": doc.get("decision"),
        "parent_id": doc.get("parent_id"),
        "weight": doc.get("weight"),
        "depth": depth,
        "leaf": roll.leaf,
        "status": roll.status,
        "progress": str(rules.percent_display(roll.progress)),
        "own_progress": doc.get("progress") or "0",
        "budget": yuan(doc.get("budget_fen")),
        "contractor": doc.get("contractor") or "",
        "start": doc.get("start"),
        "end": doc.get("end"),
        "finished_at": doc.get("finished_at"),
        "updated_at": doc.get("updated_at"),
    }


def plan_tree(council: Council, community: str) -> list[dict[str, Any]]:
    """The community's plan, depth first, each item with its rolled-up progress and its timeline."""
    check_community(community)
    docs = items(council, community)
    roll = rolled(docs)
    by_id = {d["_id"]: d for d in docs}
    timeline: dict[str, list[dict[str, Any]]] = {}
    for entry in council.db.plan_timeline.find({"community": community}).sort("at", ASCENDING):
        timeline.setdefault(entry["item_id"], []).append(
            {
                "id": entry["_id"],
                "at": entry["at"],
                "text": entry.get("text", ""),
                "photos": [p["id"] for p in entry.get("photos", [])],
            }
        )
    out = []
    for depth, it in rules.ordered(as_plan_item(d) for d in docs):
        item = view(by_id[it.item_id], roll[it.item_id], depth)
        item["timeline"] = timeline.get(it.item_id, [])
        out.append(item)
    return out


def get_item(council: Council, community: str, item_id: str) -> dict[str, Any]:
    """One item (rolled up) with its timeline."""
    for item in plan_tree(council, community):
        if item["id"] == item_id:
            return item
    raise NotFound(f"No plan item {item_id}.")


# Changing -----------------------------------------------------------------------------------------------
def create_item(
    council: Council, community: str, values: Mapping[str, str], staff: Staff, now: datetime | None = None
) -> dict[str, Any]:
    """Add an item. A top-level item names its decision (kind and id); a child inherits its parent's."""
    require_edit(staff, community)
    now = now or utcnow()
    fields_, errors = parse_fields(values, creating=True)
    parent_id = fields_.pop("parent_id", None)
    kind, ref = fields_.pop("decision_kind", ""), fields_.pop("decision_id", "")
    decision = None
    if parent_id is None:
        if kind not in DECISION_KINDS:
            errors.setdefault("decision_kind", []).append("required")
        elif not ref:
            errors.setdefault("decision_id", []).append("required")
        else:
            decision = find_decision(council, community, kind, ref)
            if decision is None:
                errors.setdefault("decision_id", []).append("not_a_decision")
    if errors:
        raise Refused(errors)
    item_id = new_id()
    doc: dict[str, Any] = {
        "_id": item_id,
        "community": community,
        "title_en": "",
        "contractor": "",
        "weight": None,
        "budget_fen": None,
        "start": None,
        "end": None,
        **fields_,
        "parent_id": parent_id,
        "decision": decision,
        "created_by": staff.user_id,
        "created_at": now,
        "updated_by": staff.user_id,
        "updated_at": now,
        "finished_at": None,
    }

    def work(session: ClientSession) -> list[Envelope]:
        current = items(council, community, session)
        if parent_id is not None:
            parent = next((d for d in current if d["_id"] == parent_id), None)
            if parent is None:
                raise Refused({"parent_id": ["unknown_parent"]})
            doc["decision"] = parent.get("decision")
        doc["position"] = len(current)
        events = _check_and_events(council, community, current, [*current, doc], doc["_id"], now)
        _bump(council, community, session)
        council.db.plan_items.insert_one(doc, session=session)
        _mark_finished(council, events, now, session)
        return council.outbox.add(events, session=session)

    published = in_transaction(council.db, work)
    council.outbox.flush(published)
    return get_item(council, community, item_id)


def update_item(
    council: Council,
    community: str,
    item_id: str,
    values: Mapping[str, str],
    staff: Staff,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Change an item's fields (strings as typed; absent ones stay). The whole plan must stay sound;
    items that become done (themselves or by roll-up) emit `plan.item_finished`."""
    require_edit(staff, community)
    now = now or utcnow()
    fields_, errors = parse_fields(values, creating=False)
    for name in ("decision_kind", "decision_id"):
        if name in fields_:
            fields_.pop(name)
            errors.setdefault(name, []).append("not_editable")
    if fields_.get("status") == rules.DONE and "progress" not in fields_:
        fields_["progress"] = "100"  # "done" says it all; the rules want a done leaf at 100 %
    if errors:
        raise Refused(errors)

    def work(session: ClientSession) -> list[Envelope]:
        current = items(council, community, session)
        doc = next((d for d in current if d["_id"] == item_id), None)
        if doc is None:
            raise NotFound(f"No plan item {item_id}.")
        changed = {**doc, **fields_, "updated_by": staff.user_id, "updated_at": now}
        start, end = changed.get("start"), changed.get("end")
        if start and end and end < start:
            raise Refused({"end": ["end_before_start"]})
        new_parent = fields_.get("parent_id")
        if new_parent is not None and not any(d["_id"] == new_parent for d in current):
            raise Refused({"parent_id": ["unknown_parent"]})
        after = [changed if d["_id"] == item_id else d for d in current]
        events = _check_and_events(council, community, current, after, item_id, now)
        _bump(council, community, session)
        council.db.plan_items.update_one(
            {"_id": item_id}, {"$set": {k: v for k, v in changed.items() if k != "_id"}}, session=session
        )
        _mark_finished(council, events, now, session)
        return council.outbox.add(events, session=session)

    published = in_transaction(council.db, work)
    council.outbox.flush(published)
    return get_item(council, community, item_id)


def _bump(council: Council, community: str, session: ClientSession) -> None:
    council.db.plan_revisions.update_one(
        {"_id": community}, {"$inc": {"rev": 1}}, upsert=True, session=session
    )


def _check_and_events(
    council: Council,
    community: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    item_id: str,
    now: datetime,
) -> list[Envelope]:
    """Refuse an unsound plan (problems of the changed item at its fields; others at "plan"); return
    the `plan.item_finished` events of the items that became done."""
    problems = rules.plan_problems(as_plan_item(d) for d in after)
    if problems:
        errors: dict[str, list[str]] = {}
        changed = next(d for d in after if d["_id"] == item_id)
        for p in problems:
            # Mixed weights are the parent's problem, but the item just added or changed caused it.
            ours = p.item_id == item_id or (
                p.code == "partial_weights" and p.item_id == changed.get("parent_id")
            )
            field = PROBLEM_FIELDS.get(p.code, "plan") if ours else "plan"
            if p.code not in errors.get(field, []):
                errors.setdefault(field, []).append(p.code)
        raise Refused(errors)
    old = rolled(before) if before else {}
    new = rolled(after)
    finished = [
        d
        for d in after
        if new[d["_id"]].status == rules.DONE and (d["_id"] not in old or old[d["_id"]].status != rules.DONE)
    ]
    return [_finished_event(council, community, d, now) for d in finished]


def _mark_finished(council: Council, events: list[Envelope], now: datetime, session: ClientSession) -> None:
    ids = [e.data["item_id"] for e in events]
    if ids:
        council.db.plan_items.update_many(
            {"_id": {"$in": ids}}, {"$set": {"finished_at": now}}, session=session
        )


def public_url(council: Council, community: str) -> str:
    """The public plan page, for messages."""
    return f"{council.settings.council_public_url.rstrip('/')}/plan/{community}"


def audience(council: Council, community: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The community's households and building groups, as events carry them (notify decides, by each
    household's preferences, who is actually told)."""
    return community_audience(council, community)


def _finished_event(council: Council, community: str, doc: Mapping[str, Any], now: datetime) -> Envelope:
    households, groups = audience(council, community)
    title = {"zh-CN": doc.get("title", "")}
    if doc.get("title_en"):
        title["en"] = doc["title_en"]
    return make_envelope(
        "plan.item_finished",
        {
            "item_id": doc["_id"],
            "community": community,
            "title": title,
            "finished_at": now.isoformat(),
            "url": public_url(council, community),
            "households": households,
            "building_groups": groups,
        },
        source=SERVICE,
    )


# Timeline ------------------------------------------------------------------------------------------------
def add_timeline(
    council: Council,
    community: str,
    item_id: str,
    text: str,
    uploads: Iterable[Upload],
    staff: Staff,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A dated note on an item with up to six photos, each checked by content and stripped of its
    EXIF/GPS before it is stored. Raises Refused (and stores nothing) for bad text or files."""
    require_edit(staff, community)
    now = now or utcnow()
    text = (text or "").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["text"] = ["required"]
    elif len(text) > TIMELINE_MAX:
        errors["text"] = ["too_long"]
    try:
        photos = check_photos(uploads)
    except UploadError as err:
        errors["photos"] = [upload_code(err)]
        photos = []
    if errors:
        raise Refused(errors)
    if council.db.plan_items.find_one({"_id": item_id, "community": community}, {"_id": 1}) is None:
        raise NotFound(f"No plan item {item_id}.")
    stored: list[StoredFile] = [
        store(council, BUCKET, content, "image/jpeg", {"community": community, "item_id": item_id})
        for content in photos
    ]
    entry = {
        "_id": new_id(),
        "community": community,
        "item_id": item_id,
        "at": now,
        "by": staff.user_id,
        "text": text,
        "photos": [s.as_dict() for s in stored],
    }

    def work(session: ClientSession) -> None:
        if council.db.plan_items.find_one({"_id": item_id, "community": community}, session=session) is None:
            raise NotFound(f"No plan item {item_id}.")
        _bump(council, community, session)
        council.db.plan_timeline.insert_one(entry, session=session)

    try:
        in_transaction(council.db, work)
    except Exception:
        discard(council, BUCKET, stored)
        raise
    return {"id": entry["_id"], "at": now, "text": text, "photos": [s.id for s in stored]}
