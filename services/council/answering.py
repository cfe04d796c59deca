# ruff: noqa: RUF001
"""One answer per flat, through one channel: the slip code, an SMS code, or a paper slip entered by
staff.

- `verify_code` turns a code a resident typed into a `Pass` (consultation, flat, channel). A wrong, an
  unknown, a used, an expired and another consultation's code all get the one same refusal.
- `request_sms_code` sends a short-lived code to the flat's registered phone through notify
  (`consultation.code_requested` in the outbox). It returns nothing and says nothing: whether the flat
  exists, has a phone, or is over its limit is never revealed to the person asking.
- `submit_web` and `enter_paper` store a flat's answers. The ballot's `_id` is
  "<consultation>:<flat>", so the database holds at most one per flat; a change of a web answer is a
  new version (all kept) through the same channel. Each write runs in a transaction that also writes
  the consultation document (setting `locked`), so it conflicts with closing and with a concurrent
  first answer of the same flat: one of them runs again on fresh data and is refused if it must be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.council import consultations
from services.council.bootstrap import SERVICE, Council
from services.council.domain import codes
from services.council.domain import consultation_states as states
from services.council.domain import questions as qs
from services.council.errors import Refused, forbidden
from shared.auth import Staff
from shared.db import in_transaction
from shared.messaging.envelope import make_envelope
from shared.web.ratelimit import RateLimit, RateLimiter

SLIP, SMS, PAPER = "slip", "sms", "paper"
CHANNELS = (SLIP, SMS, PAPER)
_DOMAIN_CHANNEL = {SLIP: states.WEB_SLIP, SMS: states.WEB_SMS, PAPER: states.PAPER}
_CHANNEL_OF_DOMAIN = {v: k for k, v in _DOMAIN_CHANNEL.items()}
# SMS codes sent to one flat per hour, whoever asks: a phone is not flooded, and asking costs money.
SMS_PER_FLAT = RateLimit(3, 3600)


@dataclass(frozen=True)
class Pass:
    """A verified code: the flat it answers for, through which channel, and the code's stored id."""

    consultation_id: str
    flat_id: str
    channel: str
    code_id: str
    label: str


def wrong_code() -> Refused:
    """The one refusal for every code that does not let its holder answer."""
    return Refused(
        422,
        "bad_code",
        "答复码不对，或已用过、已过期。请核对后再试。",
        "This code does not work: it is wrong, used or expired. Check it and try again.",
        {"code": [("答复码不对，或已用过、已过期。", "This code is wrong, used or expired.")]},
    )


def _state_refusal(reason: str) -> Refused:
    status = 422 if reason == "unknown_channel" else 409
    return Refused(status, reason, *states.REASONS[reason])


def check_answering(consultation: Mapping[str, Any], now: datetime) -> None:
    """Refuse unless the consultation is open and within its window."""
    d = states.can_answer(consultation["status"], consultation["opens_at"], consultation["closes_at"], now)
    if not d.allowed:
        raise _state_refusal(d.reason or "not_open")


def _public(council: Council, consultation_id: str) -> dict[str, Any]:
    doc = consultations.get(council, consultation_id)
    if doc["status"] == states.DRAFT:
        raise consultations.not_found()  # a draft is not public
    return doc


def verify_code(council: Council, consultation_id: str, raw_code: str, now: datetime) -> Pass:
    """The pass a code gives, or the one `wrong_code` refusal (closed consultations say so)."""
    doc = _public(council, consultation_id)
    check_answering(doc, now)
    code = codes.normalise(raw_code)
    if not codes.plausible(code):
        raise wrong_code()
    code_id = codes.code_hash(council.settings.secret_key, doc["_id"], code)
    row = council.db.answer_codes.find_one({"_id": code_id})
    if (
        row is None
        or row.get("consultation_id") != doc["_id"]
        or not codes.matches(council.settings.secret_key, doc["_id"], code, row["_id"])
        or row.get("revoked")
        or (row["kind"] == SMS and (row.get("used_at") is not None or row["expires_at"] <= now))
    ):
        raise wrong_code()
    entry = _electorate_entry(council, doc["_id"], flat_id=row["flat_id"])
    if entry is None:
        raise wrong_code()
    return Pass(doc["_id"], row["flat_id"], row["kind"], code_id, entry["label"])


def _electorate_entry(
    council: Council,
    consultation_id: str,
    *,
    flat_id: str | None = None,
    label: tuple[str, str, str] | None = None,
) -> dict[str, Any] | None:
    """One flat of the electorate, by id or by (building, unit, flat) as typed."""
    for f in consultations.electorate(council, consultation_id):
        if flat_id is not None and f["flat_id"] == flat_id:
            return f
        if label is not None and (f["building"], f["unit"], f["flat"]) == label:
            return f
    return None


def _register_flat(council: Council, flat_id: str) -> dict[str, Any] | None:
    """The flat's current register row (ids may be strings or ObjectIds there)."""
    ids: list[Any] = [flat_id]
    with contextlib.suppress(InvalidId, TypeError):
        ids.append(ObjectId(flat_id))
    return council.db.flats.find_one({"_id": {"$in": ids}})


def _typed_label(building: str, unit: str, flat: str) -> tuple[str, str, str]:
    return tuple(codes.normalise_label(x) for x in (building, unit, flat))  # type: ignore[return-value]


def request_sms_code(
    council: Council, consultation_id: str, building: str, unit: str, flat: str, language: str, now: datetime
) -> None:
    """Send the flat a code by SMS if it can answer by SMS; otherwise do nothing, silently."""
    doc = _public(council, consultation_id)
    check_answering(doc, now)
    entry = _electorate_entry(council, doc["_id"], label=_typed_label(building, unit, flat))
    if entry is None:
        return
    row = _register_flat(council, entry["flat_id"])
    phones = [p for p in (row or {}).get("phones") or [] if p]
    if not phones:
        return
    ballot = council.db.ballots.find_one({"_id": f"{doc['_id']}:{entry['flat_id']}"}, {"channel": 1})
    if ballot is not None and ballot["channel"] != SMS:
        return  # answered through another channel: an SMS code could not be used
    limiter = RateLimiter(council.db.rate_limits, SMS_PER_FLAT, council.settings.secret_key)
    if not limiter.hit(f"sms-flat:{doc['_id']}", address=entry["flat_id"], now=now.timestamp()):
        return
    expires = now + timedelta(minutes=codes.SMS_CODE_MINUTES)
    for _ in range(3):  # a clash with another flat's live code is astronomically rare; draw again
        code = codes.new_sms_code()
        event = make_envelope(
            "consultation.code_requested",
            {
                "consultation_id": doc["_id"],
                "community": doc["community"],
                "title": doc["title"],
                "flat_label": entry["label"],
                "phone": phones[0],
                "language": "en" if language.lower().startswith("en") else "zh-CN",
                "code": code,
                "expires_at": expires.isoformat(),
            },
            source=SERVICE,
        )

        def work(session: ClientSession, code: str = code, event: Any = event) -> None:
            council.db.answer_codes.insert_one(
                {
                    "_id": codes.code_hash(council.settings.secret_key, doc["_id"], code),
                    "consultation_id": doc["_id"],
                    "flat_id": entry["flat_id"],
                    "kind": SMS,
                    "expires_at": expires,
                    "used_at": None,
                    "created_at": now,
                },
                session=session,
            )
            council.outbox.add([event], session)

        try:
            in_transaction(council.db, work)
        except DuplicateKeyError:
            continue
        council.outbox.flush([event])
        return


# --- answers ---------------------------------------------------------------------------------------------


def to_storable(questions: tuple[qs.Question, ...], answers: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised answers as stored: tuples become lists, a matrix's pairs a {row: option} mapping."""
    kinds = {q.key: q.kind for q in questions}
    out: dict[str, Any] = {}
    for key, value in answers.items():
        if kinds.get(key) == qs.MATRIX:
            out[key] = dict(value)
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def _checked(consultation: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    questions = consultations.questions_of(consultation)
    check = qs.check_submission(questions, raw)
    if not check.ok:
        errors: dict[str, list[tuple[str, str]]] = {}
        for p in check.problems:
            errors.setdefault(p.question or "answers", []).append((p.message("zh-CN"), p.message("en")))
        raise Refused(
            422,
            "bad_answers",
            "有的回答需要修改，请看标出的问题。",
            "Some answers need a change: see the questions marked.",
            errors,
        )
    return to_storable(questions, check.answers)


def _record(
    council: Council,
    consultation_id: str,
    entry: Mapping[str, Any],
    channel: str,
    raw: Mapping[str, Any],
    now: datetime,
    *,
    code_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    doc = consultations.get(council, consultation_id)
    check_answering(doc, now)
    answers = _checked(doc, raw)  # bad answers are refused before anything is written
    ballot_id = f"{doc['_id']}:{entry['flat_id']}"

    def work(session: ClientSession) -> dict[str, Any]:
        # Writing the consultation document makes this transaction conflict with closing and with a
        # concurrent answer: one commits, the other runs again and sees the state that won.
        current = council.db.consultations.find_one_and_update(
            {"_id": doc["_id"]},
            {"$set": {"locked": True}, "$inc": {"answers_written": 1}},
            projection={"status": 1, "opens_at": 1, "closes_at": 1},
            session=session,
        )
        existing = council.db.ballots.find_one(
            {"_id": ballot_id}, {"channel": 1, "version": 1}, session=session
        )
        decision = states.can_submit(
            current["status"],
            current["opens_at"],
            current["closes_at"],
            now,
            _DOMAIN_CHANNEL[channel],
            None
            if existing is None
            else states.ExistingAnswer(_DOMAIN_CHANNEL[existing["channel"]], existing["version"]),
        )
        if not decision.allowed:
            raise _state_refusal(decision.reason or "not_open")
        if channel == SMS:
            spent = council.db.answer_codes.update_one(
                {"_id": code_id, "kind": SMS, "used_at": None, "expires_at": {"$gt": now}},
                {"$set": {"used_at": now}},
                session=session,
            )
            if spent.modified_count != 1:
                raise wrong_code()
        elif channel == SLIP:
            live = council.db.answer_codes.find_one(
                {"_id": code_id, "revoked": {"$ne": True}}, {"_id": 1}, session=session
            )
            if live is None:
                raise wrong_code()
        version_entry = {"answers": answers, "at": now, "channel": channel, "version": decision.version}
        if decision.version == 1:
            ballot = {
                "_id": ballot_id,
                "consultation_id": doc["_id"],
                "flat_id": entry["flat_id"],
                "building": entry["building"],
                "channel": channel,
                "answers": answers,
                "version": 1,
                "versions": [version_entry],
                "first_at": now,
                "updated_at": now,
                **dict(extra or {}),
            }
            council.db.ballots.insert_one(ballot, session=session)
            return ballot
        changed = council.db.ballots.find_one_and_update(
            {"_id": ballot_id, "channel": channel, "version": decision.version - 1},
            {
                "$set": {"answers": answers, "version": decision.version, "updated_at": now},
                "$push": {"versions": version_entry},
            },
            return_document=True,
            session=session,
        )
        if changed is None:  # cannot happen inside the transaction; refuse rather than guess
            raise Refused(409, "changed", "答复刚被修改，请重试。", "The answer just changed: try again.")
        return changed

    try:
        return in_transaction(council.db, work)
    except DuplicateKeyError:
        # Another first answer of this flat committed between our read and insert: decide again on it.
        return in_transaction(council.db, work)


def submit_web(council: Council, pass_: Pass, raw: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Store (or change) a flat's web answers through the channel of its code."""
    entry = _electorate_entry(council, pass_.consultation_id, flat_id=pass_.flat_id)
    if entry is None or pass_.channel not in (SLIP, SMS):
        raise wrong_code()
    return _record(council, pass_.consultation_id, entry, pass_.channel, raw, now, code_id=pass_.code_id)


def enter_paper(
    council: Council,
    staff: Staff,
    consultation_id: str,
    flat: tuple[str, str, str],
    slip_number: str,
    raw: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Store a paper slip's answers for a flat (building leaders: their buildings only). The slip
    number must be the flat's; a flat that answered online (or on paper already) is refused."""
    doc = consultations.get_for(council, staff, consultation_id)
    check_answering(doc, now)  # a draft or a closed consultation takes no slips, whatever the flat
    entry = _electorate_entry(council, doc["_id"], label=_typed_label(*flat))
    if entry is None:
        msg = ("名册中没有这一户。", "No such flat in the register.")
        raise Refused(422, "unknown_flat", *msg, {"flat": [msg]})
    if not consultations.may_enter_paper(staff, doc["community"], entry["building"]):
        raise forbidden()
    if codes.normalise_label(slip_number) != entry["slip_number"]:
        msg = ("答复单编号与这一户不符。", "The slip number is not this flat's.")
        raise Refused(422, "wrong_slip", *msg, {"slip_number": [msg]})
    return _record(
        council,
        doc["_id"],
        entry,
        PAPER,
        raw,
        now,
        extra={"slip_number": entry["slip_number"], "entered_by": staff.user_id},
    )


def ballot_of(council: Council, consultation_id: str, flat_id: str) -> dict[str, Any] | None:
    """A flat's ballot (for showing the resident what was recorded)."""
    return council.db.ballots.find_one({"_id": f"{consultation_id}:{flat_id}"})


def channel_from_domain(name: str) -> str:
    """The stored channel name of a domain channel name."""
    return _CHANNEL_OF_DOMAIN[name]
