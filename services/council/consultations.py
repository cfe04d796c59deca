# ruff: noqa: RUF001
"""Consultations (questionnaires and Art 278 votes): authoring, opening, extending and closing.

Every function takes the `Council` context first and raises `errors.Refused` when it says no, having
stored nothing. The lifecycle rules are `domain.consultation_states`, the question rules
`domain.questions`; this module holds them against the database:

- Edits match `{status: draft, locked: false, revision: n}` in the update's filter, so questions can
  never change under an answer or under another editor's change, whatever a check read before.
- Opening snapshots the electorate (the register's flats at that moment, each with its slip number)
  into `electorates`, and writes `consultation.opened` through the outbox in the same transaction.
- Closing sets the status, freezes the result (`results.freeze`) and writes `consultation.closed` in
  ONE transaction. Answers write the consultation document too (answering.py), so an answer and the
  closing conflict and one of them runs again on fresh data: no answer slips in after the freeze.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from services.council import access, results
from services.council.bootstrap import SERVICE, Council
from services.council.domain import codes, votes
from services.council.domain import consultation_states as states
from services.council.domain import questions as qs
from services.council.errors import Refused, forbidden, not_found
from shared.auth import Staff
from shared.db import in_transaction
from shared.messaging.envelope import make_envelope
from shared.taxonomy import community_codes

KINDS = ("questionnaire", "vote")
LANGS = ("zh-CN", "en")
VOTE_QUESTION = "decision"
VOTE_CHOICES = ("for", "against", "abstain")
VOTE_LABELS = {"for": ("同意", "For"), "against": ("反对", "Against"), "abstain": ("弃权", "Abstain")}
TITLE_MAX, DESCRIPTION_MAX = 200, 4000
EDITABLE = ("title", "description", "questions", "vote_item", "opens_at", "closes_at")


# --- who ---------------------------------------------------------------------------------------------


def may_manage(staff: Staff, community: str) -> bool:
    """Create, edit, open, extend and close: the community's committee members and district admins."""
    return access.may_edit_register(staff, community)


def may_enter_paper(staff: Staff, community: str, building: str) -> bool:
    """Paper answers: the committee (and district admins), or the building's own leader."""
    if may_manage(staff, community):
        return True
    return staff.has_role("building_leader") and staff.community == community and building in staff.buildings


# --- questions as stored -------------------------------------------------------------------------------


def question_to_doc(q: qs.Question) -> dict[str, Any]:
    """A question definition as stored in the consultation (only its kind's fields)."""
    doc: dict[str, Any] = {"key": q.key, "kind": q.kind, "prompt": q.prompt, "mandatory": q.mandatory}
    if q.help:
        doc["help"] = q.help
    if q.options:
        doc["options"] = [{"key": o.key, "label": o.label} for o in q.options]
    if q.rows:
        doc["rows"] = [{"key": o.key, "label": o.label} for o in q.rows]
    for name in ("min_selections", "max_selections", "top_k", "max_length"):
        if getattr(q, name) is not None:
            doc[name] = getattr(q, name)
    return doc


def question_from_doc(doc: Mapping[str, Any]) -> qs.Question:
    """The domain's question from a stored (or submitted) definition; unknown fields are ignored."""

    def options(name: str) -> tuple[qs.Option, ...]:
        return tuple(qs.Option(str(o.get("key", "")), str(o.get("label", ""))) for o in doc.get(name) or ())

    return qs.Question(
        key=str(doc.get("key", "")),
        kind=str(doc.get("kind", "")),
        prompt=str(doc.get("prompt", "")),
        mandatory=bool(doc.get("mandatory", False)),
        options=options("options"),
        rows=options("rows"),
        min_selections=doc.get("min_selections"),
        max_selections=doc.get("max_selections"),
        top_k=doc.get("top_k"),
        max_length=doc.get("max_length"),
        help=str(doc.get("help") or ""),
    )


def questions_of(consultation: Mapping[str, Any]) -> tuple[qs.Question, ...]:
    """The consultation's questions as the domain's definitions."""
    return tuple(question_from_doc(d) for d in consultation.get("questions", []))


def vote_question() -> dict[str, Any]:
    """A vote's one question: for / against / abstain, mandatory (labels in both languages)."""
    return {
        "key": VOTE_QUESTION,
        "kind": qs.SINGLE,
        "prompt": "表决 / Vote",
        "mandatory": True,
        "options": [{"key": k, "label": f"{VOTE_LABELS[k][0]} / {VOTE_LABELS[k][1]}"} for k in VOTE_CHOICES],
    }


def _problems_refusal(problems: Sequence[qs.Problem]) -> Refused:
    errors: dict[str, list[tuple[str, str]]] = {}
    for p in problems:
        errors.setdefault(f"questions.{p.question}" if p.question else "questions", []).append(
            (p.message("zh-CN"), p.message("en"))
        )
    return Refused(422, "bad_questions", "问题设置有误。", "The questions have problems.", errors)


def _checked_questions(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    try:
        checked = qs.check_questionnaire([question_from_doc(d) for d in raw])
    except qs.QuestionnaireError as err:
        raise _problems_refusal(err.problems) from err
    return [question_to_doc(q) for q in checked]


def _texts(value: Any, name: str, limit: int, required: bool) -> dict[str, str]:
    """A {"zh-CN", "en"} text: trimmed, bounded; a required one needs at least one language."""
    value = value or {}
    if not isinstance(value, Mapping) or any(k not in LANGS for k in value):
        raise Refused(422, "bad_field", "格式不对。", "Wrong form.", {name: [("格式不对。", "Wrong form.")]})
    out = {lang: str(value.get(lang) or "").strip() for lang in LANGS}
    if required and not any(out.values()):
        raise Refused(
            422,
            "bad_field",
            "请填写。",
            "Please fill this in.",
            {name: [("请填写。", "Please fill this in.")]},
        )
    if any(len(t) > limit for t in out.values()):
        msg = (f"最多{limit}个字。", f"At most {limit} characters.")
        raise Refused(422, "bad_field", msg[0], msg[1], {name: [msg]})
    return out


def _window(opens_at: Any, closes_at: Any) -> None:
    if not isinstance(opens_at, datetime) or not isinstance(closes_at, datetime):
        raise Refused(422, "bad_window", "请填写开始和截止时间。", "Give the start and the end.")
    if opens_at.tzinfo is None or closes_at.tzinfo is None:
        raise Refused(422, "naive_time", *states.REASONS["naive_time"])
    if closes_at <= opens_at:
        raise Refused(
            422, "bad_window", *states.REASONS["bad_window"], {"closes_at": [states.REASONS["bad_window"]]}
        )


def _vote_item(value: Any) -> int:
    try:
        return votes.item(value).number
    except votes.VoteInputError as err:
        msg = ("表决事项须为1到9。", "The Art 278 item must be 1 to 9.")
        raise Refused(422, "bad_vote_item", *msg, {"vote_item": [msg]}) from err


# --- reading -------------------------------------------------------------------------------------------


def get(council: Council, consultation_id: str, session: ClientSession | None = None) -> dict[str, Any]:
    """One consultation, or `not_found`."""
    doc = council.db.consultations.find_one({"_id": str(consultation_id)}, session=session)
    if doc is None:
        raise not_found()
    return doc


def get_for(council: Council, staff: Staff, consultation_id: str) -> dict[str, Any]:
    """One consultation for a member of staff of its community (another community's reads as unknown)."""
    doc = get(council, consultation_id)
    if not access.may_see_community(staff, doc["community"]):
        raise not_found()
    return doc


def list_for(council: Council, staff: Staff, community: str) -> list[dict[str, Any]]:
    """A community's consultations, newest first (without results and questions)."""
    if not access.may_see_community(staff, community):
        raise forbidden()
    return list(
        council.db.consultations.find({"community": community}, {"result": 0, "questions": 0}).sort(
            "created_at", -1
        )
    )


# --- authoring -----------------------------------------------------------------------------------------


def create(council: Council, staff: Staff, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new draft questionnaire or vote. `data`: community, kind, title and description
    ({"zh-CN", "en"}), questions (questionnaire; may be empty in a draft) or vote_item (vote), opens_at,
    closes_at (timezone-aware)."""
    community = str(data.get("community") or "")
    if community not in community_codes():
        msg = ("没有这个小区。", "No such community.")
        raise Refused(422, "unknown_community", *msg, {"community": [msg]})
    if not may_manage(staff, community):
        raise forbidden()
    kind = data.get("kind")
    if kind not in KINDS:
        msg = ("请选择问卷或表决。", "Choose a questionnaire or a vote.")
        raise Refused(422, "bad_kind", *msg, {"kind": [msg]})
    title = _texts(data.get("title"), "title", TITLE_MAX, required=True)
    description = _texts(data.get("description"), "description", DESCRIPTION_MAX, required=False)
    _window(data.get("opens_at"), data.get("closes_at"))
    vote_item = None
    if kind == "vote":
        vote_item = _vote_item(data.get("vote_item"))
        questions = [vote_question()]
    else:
        raw = data.get("questions") or []
        questions = _checked_questions(raw) if raw else []
    doc = {
        "_id": uuid.uuid4().hex[:16],
        "community": community,
        "kind": kind,
        "title": title,
        "description": description,
        "questions": questions,
        "vote_item": vote_item,
        "opens_at": data["opens_at"],
        "closes_at": data["closes_at"],
        "status": states.DRAFT,
        "locked": False,
        "revision": 1,
        "created_by": staff.user_id,
        "created_at": now,
        "opened_at": None,
        "closed_at": None,
        "closed_by": None,
        "result": None,
        "buildings": [],
        "eligible": 0,
        "answers_written": 0,
    }
    council.db.consultations.insert_one(doc)
    return doc


def _why_not_editable(doc: Mapping[str, Any]) -> Refused:
    if doc["status"] != states.DRAFT:
        return Refused(409, "not_draft", *states.REASONS["not_draft"])
    if doc.get("locked"):
        return Refused(409, "has_answers", *states.REASONS["has_answers"])
    return Refused(
        409, "changed", "内容刚被他人修改，请刷新后重试。", "Someone else just changed it: reload."
    )


def edit(
    council: Council,
    staff: Staff,
    consultation_id: str,
    changes: Mapping[str, Any],
    revision: int | None = None,
) -> dict[str, Any]:
    """Change a draft that has no answer (the database's filter enforces both, and the revision when
    given). `changes` may hold title, description, questions (questionnaire), vote_item (vote), opens_at,
    closes_at."""
    doc = get_for(council, staff, consultation_id)
    if not may_manage(staff, doc["community"]):
        raise forbidden()
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise Refused(
            422,
            "unknown_field",
            "未知的字段。",
            "Unknown field.",
            {k: [("未知的字段。", "Unknown field.")] for k in unknown},
        )
    update: dict[str, Any] = {}
    if "title" in changes:
        update["title"] = _texts(changes["title"], "title", TITLE_MAX, required=True)
    if "description" in changes:
        update["description"] = _texts(changes["description"], "description", DESCRIPTION_MAX, required=False)
    if "questions" in changes:
        if doc["kind"] == "vote":
            msg = ("表决只有一个固定的问题。", "A vote has its one fixed question.")
            raise Refused(422, "vote_questions", *msg, {"questions": [msg]})
        raw = changes["questions"] or []
        update["questions"] = _checked_questions(raw) if raw else []
    if "vote_item" in changes:
        if doc["kind"] != "vote":
            msg = ("只有表决有表决事项。", "Only a vote has an Art 278 item.")
            raise Refused(422, "not_a_vote", *msg, {"vote_item": [msg]})
        update["vote_item"] = _vote_item(changes["vote_item"])
    if "opens_at" in changes or "closes_at" in changes:
        opens_at = changes.get("opens_at", doc["opens_at"])
        closes_at = changes.get("closes_at", doc["closes_at"])
        _window(opens_at, closes_at)
        update["opens_at"], update["closes_at"] = opens_at, closes_at
    filter_: dict[str, Any] = {"_id": doc["_id"], "status": states.DRAFT, "locked": False}
    filter_["revision"] = revision if revision is not None else doc["revision"]
    after = council.db.consultations.find_one_and_update(
        filter_, {"$set": update, "$inc": {"revision": 1}}, return_document=True
    )
    if after is None:
        raise _why_not_editable(get(council, doc["_id"]))
    return after


def add_question(
    council: Council, staff: Staff, consultation_id: str, question: Mapping[str, Any]
) -> dict[str, Any]:
    """Append one question to a draft questionnaire (the pages' editor, one question per form)."""
    doc = get_for(council, staff, consultation_id)
    return edit(
        council, staff, consultation_id, {"questions": [*doc["questions"], dict(question)]}, doc["revision"]
    )


def remove_question(council: Council, staff: Staff, consultation_id: str, key: str) -> dict[str, Any]:
    """Remove one question from a draft questionnaire."""
    doc = get_for(council, staff, consultation_id)
    kept = [q for q in doc["questions"] if q["key"] != key]
    return edit(council, staff, consultation_id, {"questions": kept}, doc["revision"])


# --- the lifecycle ---------------------------------------------------------------------------------------


def flat_label(flat: Mapping[str, Any]) -> str:
    """ "3-2-401": building-unit-flat, how residents and messages name a flat."""
    return "-".join(str(flat.get(k) or "") for k in ("building", "unit", "flat") if flat.get(k))


def public_url(council: Council, consultation_id: str, suffix: str = "") -> str:
    """The consultation's public page (answering, or `/result`) for messages and QR codes."""
    return f"{council.settings.council_public_url.rstrip('/')}/c/{consultation_id}{suffix}"


def household_refs(
    council: Council,
    consultation: Mapping[str, Any],
    buildings: Sequence[str] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
    session: ClientSession | None = None,
) -> list[dict[str, Any]]:
    """Households to tell, as consultation events carry them (flat id, building, label, phones),
    from the register's flats at opening; `buildings` limits them, `skip` leaves flats out."""
    ids = [f["_id"] for f in results.eligible_flats(council, consultation, session)]
    query: dict[str, Any] = {"_id": {"$in": ids}}
    if buildings is not None:
        query["building"] = {"$in": list(buildings)}
    rows = council.db.flats.find(query, {"building": 1, "unit": 1, "flat": 1, "phones": 1}, session=session)
    return [
        {
            "flat_id": f["_id"],
            "building": f["building"],
            "label": flat_label(f),
            "phones": list(f.get("phones") or []),
            "language": "zh-CN",
        }
        for f in sorted(rows, key=flat_label)
        if f["_id"] not in skip
    ]


def _notice(
    council: Council, doc: Mapping[str, Any], url: str, households: list[dict[str, Any]]
) -> dict[str, Any]:
    groups = [
        {"building": str(g["building"]), "webhook_url": g["webhook_url"]}
        for g in council.db.building_groups.find({"community": doc["community"]})
        if g.get("webhook_url") and str(g.get("building")) in set(doc.get("buildings") or [])
    ]
    return {
        "consultation_id": doc["_id"],
        "community": doc["community"],
        "kind": doc["kind"],
        "title": doc["title"],
        "vote_item": doc.get("vote_item"),
        "closes_at": doc["closes_at"].isoformat(),
        "url": url,
        "households": households,
        "building_groups": groups,
    }


def electorate(
    council: Council, consultation_id: str, session: ClientSession | None = None
) -> list[dict[str, Any]]:
    """The flats entitled to answer, as snapshotted at opening (empty before)."""
    row = council.db.electorates.find_one({"_id": consultation_id}, session=session)
    return list(row["flats"]) if row else []


def open_(council: Council, staff: Staff, consultation_id: str, now: datetime) -> dict[str, Any]:
    """Open a draft: snapshot the electorate and buildings, and write `consultation.opened` (households
    with their phones, building groups) with it in one transaction."""
    doc = get_for(council, staff, consultation_id)
    if not may_manage(staff, doc["community"]):
        raise forbidden()
    decision = states.can_open(doc["status"], len(doc["questions"]), doc["opens_at"], doc["closes_at"], now)
    if not decision.allowed:
        raise Refused(409, decision.reason or "refused", *states.REASONS[decision.reason or "not_draft"])
    flats = list(
        council.db.flats.find({"community": doc["community"]}).sort(
            [("building", ASCENDING), ("unit", ASCENDING), ("flat", ASCENDING)]
        )
    )
    if not flats:
        raise Refused(
            409, "empty_register", "本小区的住户名册是空的。", "The community's household register is empty."
        )
    snapshot = [
        {
            "flat_id": str(f["_id"]),
            "building": str(f.get("building") or ""),
            "unit": str(f.get("unit") or ""),
            "flat": str(f.get("flat") or ""),
            "label": flat_label(f),
            "area_hundredths": int(f.get("area_hundredths") or 0),
            "owner_key": str(f.get("owner_key") or f["_id"]),
            "developer_held": bool(f.get("developer_held", False)),
            "slip_number": codes.slip_number(index),
        }
        for index, f in enumerate(flats, start=1)
    ]
    buildings = sorted({s["building"] for s in snapshot})
    opened = {**doc, "buildings": buildings}
    households = [
        {
            "flat_id": s["flat_id"],
            "building": s["building"],
            "label": s["label"],
            "phones": list(f.get("phones") or []),
        }
        for s, f in zip(snapshot, flats, strict=True)
    ]
    event = make_envelope(
        "consultation.opened",
        {
            **_notice(council, opened, public_url(council, doc["_id"]), households),
            "opens_at": doc["opens_at"].isoformat(),
        },
        source=SERVICE,
    )

    def work(session: ClientSession) -> dict[str, Any]:
        after = council.db.consultations.find_one_and_update(
            {"_id": doc["_id"], "status": states.DRAFT, "revision": doc["revision"]},
            {
                "$set": {
                    "status": states.OPEN,
                    "opened_at": now,
                    "opened_by": staff.user_id,
                    "buildings": buildings,
                    "eligible": len(snapshot),
                },
                "$inc": {"revision": 1},
            },
            return_document=True,
            session=session,
        )
        if after is None:
            raise _why_not_editable(get(council, doc["_id"]))
        council.db.electorates.replace_one(
            {"_id": doc["_id"]},
            {"_id": doc["_id"], "community": doc["community"], "flats": snapshot},
            upsert=True,
            session=session,
        )
        council.outbox.add([event], session)
        return after

    after = in_transaction(council.db, work)
    council.outbox.flush([event])
    return after


def extend(
    council: Council, staff: Staff, consultation_id: str, closes_at: datetime, now: datetime
) -> dict[str, Any]:
    """Move an open consultation's end later (only while open and before the end has passed)."""
    doc = get_for(council, staff, consultation_id)
    if not may_manage(staff, doc["community"]):
        raise forbidden()
    if not isinstance(closes_at, datetime):
        raise Refused(422, "bad_window", "请填写新的截止时间。", "Give the new end.")
    decision = states.can_extend(doc["status"], doc["closes_at"], closes_at, now)
    if not decision.allowed:
        reason = decision.reason or "not_open"
        raise Refused(
            409 if reason in ("not_open", "window_ended") else 422,
            reason,
            *states.REASONS[reason],
            {"closes_at": [states.REASONS[reason]]},
        )
    after = council.db.consultations.find_one_and_update(
        {"_id": doc["_id"], "status": states.OPEN, "closes_at": doc["closes_at"]},
        {"$set": {"closes_at": closes_at}, "$inc": {"revision": 1}},
        return_document=True,
    )
    if after is None:
        raise Refused(
            409, "changed", "内容刚被他人修改，请刷新后重试。", "Someone else just changed it: reload."
        )
    return after


def close(council: Council, staff: Staff | None, consultation_id: str, now: datetime) -> dict[str, Any]:
    """Close an open consultation in ONE transaction: status, the frozen result (`results.freeze`) and
    `consultation.closed`. `staff` None is the closing job (only once the window has ended)."""
    doc = get(council, consultation_id)
    if staff is not None and not access.may_see_community(staff, doc["community"]):
        raise not_found()
    if staff is not None and not may_manage(staff, doc["community"]):
        raise forbidden()
    events: list[Any] = []

    def work(session: ClientSession) -> dict[str, Any]:
        events.clear()
        current = get(council, consultation_id, session)
        decision = (
            states.can_close(current["status"])
            if staff is not None
            else states.close_due(current["status"], current["closes_at"], now)
        )
        if not decision.allowed:
            raise Refused(409, decision.reason or "not_open", *states.REASONS[decision.reason or "not_open"])
        closing = {**current, "status": states.CLOSED, "closed_at": now}
        snapshot = results.freeze(council, closing, session)
        after = council.db.consultations.find_one_and_update(
            {"_id": current["_id"], "status": states.OPEN},
            {
                "$set": {
                    "status": states.CLOSED,
                    "closed_at": now,
                    "closed_by": staff.user_id if staff is not None else "closing-job",
                    "result": snapshot,
                },
                "$inc": {"revision": 1},
            },
            return_document=True,
            session=session,
        )
        if after is None:
            raise Refused(409, "not_open", *states.REASONS["not_open"])
        vote = snapshot.get("vote") or {}
        reason = vote.get("reason") or {}
        data = {
            # Every household of the electorate hears the result, as they heard of the opening.
            **_notice(
                council,
                after,
                public_url(council, after["_id"], "/result"),
                household_refs(council, after, session=session),
            ),
            "answered": int(snapshot.get("answered", 0)),
            "eligible": int(snapshot.get("eligible", 0)),
            "outcome": vote.get("outcome"),
        }
        if reason:
            data["reason"] = reason
        events.append(make_envelope("consultation.closed", data, source=SERVICE))
        council.outbox.add(events, session)
        return after

    after = in_transaction(council.db, work)
    council.outbox.flush(events)
    return after


def close_due(council: Council, now: datetime) -> list[str]:
    """The closing job: close every open consultation whose window has ended; their ids."""
    closed = []
    for row in council.db.consultations.find({"status": states.OPEN, "closes_at": {"$lte": now}}, {"_id": 1}):
        try:
            close(council, None, row["_id"], now)
        except Refused:
            continue  # closed meanwhile by a committee member or another job
        closed.append(row["_id"])
    return closed
