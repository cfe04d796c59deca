""" "Is it settled?" (issue 14.4), intake's part: asking the applicants, storing their answers, and
filing the linked case a studio lead opens after an answer "not settled".

- `on_check_due` (`case.settlement_check_due` from mediation): each applicant gets a one-time survey
  link (only its hash is stored, in `settlement_surveys`); the token travels once to notify in a
  `case.settlement_survey` event from the outbox, whose copy drops it once published, as a
  tracking link's does. A withdrawn, merged or erased case is not asked.
- `answer` stores the answer when the link is opened; it may be changed, and a comment added
  (`comment`), within `SETTLEMENT_ANSWER_WINDOW_HOURS` of the first answer. Every stored change
  emits `case.settlement_answered` in the same transaction.
- `on_reopen_requested` (`case.reopen_requested`): a new case filed from the old one's parties and
  dispute (source `follow_up`, `linked_to` the old reference), which then flows as any filing;
  `case.linked` tells mediation its reference. One per request: `linked_request` is unique.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.intake import filing
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from services.intake.domain import settlement as rules
from shared.db import in_transaction, retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

CONSUMER = "intake.settlement"


class InvalidAnswer(Exception):
    """An answer that is none of the three, or a comment too long: nothing stored."""


@dataclass(frozen=True)
class Answered:
    """What the answer page shows: the stored answer, whether this request changed it, and what the
    link may still do (`rules.state`)."""

    reference: str
    answer: str | None
    comment: str
    changed: bool
    state: str
    changeable_until: datetime | None


def window(intake: Intake) -> timedelta:
    return timedelta(hours=intake.settings.settlement_answer_window_hours)


def on_check_due(intake: Intake, envelope: Envelope) -> None:
    """Send each applicant of the case their survey link, once."""
    data = envelope.data
    db = intake.db
    reference = data["reference"]
    now = utcnow()
    published: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        published.clear()
        case = db.cases.find_one(
            {"_id": reference},
            {"parties": 1, "language": 1, "outcome": 1, "status": 1, "merged_into": 1, "community": 1},
            session=session,
        )
        if case is None or not rules.should_ask({**case, "outcome": case.get("outcome") or data["outcome"]}):
            return
        language = case.get("language") or data.get("language") or "zh-CN"
        url = f"{intake.settings.intake_public_url.rstrip('/')}/settled"
        applicants = [p for p in case.get("parties") or [] if p.get("role") == "applicant"]
        for index, applicant in enumerate(applicants):
            party = case_rules.party_key(index)
            if applicant.get("erased"):
                continue
            token = case_rules.new_tracking_token()
            try:
                db.settlement_surveys.insert_one(
                    {
                        "_id": rules.survey_id(reference, party),
                        "reference": reference,
                        "party": party,
                        "community": case.get("community"),
                        "token_hash": case_rules.hash_token(token),
                        "created_at": now,
                        "expires_at": now + rules.LINK_VALID,
                        "answer": None,
                        "answered_at": None,
                        "first_answered_at": None,
                        "comment": "",
                    },
                    session=session,
                )
            except DuplicateKeyError:
                raise  # asked before (a replay after the processed mark expired): the transaction aborts
            event = make_envelope(
                "case.settlement_survey",
                {
                    "reference": reference,
                    "party": party,
                    "recipient": {
                        "name": applicant.get("name") or "",
                        "phone": applicant.get("phone"),
                        "email": applicant.get("email"),
                        "language": language,
                    },
                    "url": url,
                    "code": token,
                    "expires_at": (now + rules.SECRET_KEPT).isoformat(),
                },
                source=SERVICE,
            )
            published.extend(intake.outbox.add([event], session))

    try:
        done = retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
    except DuplicateKeyError:
        log.info("settlement survey already sent", extra={"reference": reference})
        return
    if done:
        intake.outbox.flush(published)
        log.info("settlement survey sent", extra={"reference": reference, "applicants": len(published)})


def _answered_event(survey: dict[str, Any]) -> Envelope:
    """The survey's current answer as `case.settlement_answered` (its time orders the changes)."""
    return make_envelope(
        "case.settlement_answered",
        {
            "reference": survey["reference"],
            "party": survey["party"],
            "answer": survey["answer"],
            "answered_at": survey["answered_at"].isoformat(),
            "first_answered_at": survey["first_answered_at"].isoformat(),
            "commented": bool(survey.get("comment")),
            "comment": survey.get("comment") or "",
            "community": survey.get("community"),
        },
        source=SERVICE,
    )


def _view(survey: dict[str, Any], changed: bool, now: datetime, span: timedelta) -> Answered:
    first = survey.get("first_answered_at")
    return Answered(
        reference=survey["reference"],
        answer=survey.get("answer"),
        comment=survey.get("comment") or "",
        changed=changed,
        state=rules.state(survey, now, span),
        changeable_until=first + span if first else None,
    )


def find(intake: Intake, token: str, now: datetime | None = None) -> Answered | None:
    """The survey a token opens, without answering; None for a wrong token."""
    survey = intake.db.settlement_surveys.find_one({"token_hash": case_rules.hash_token(token or "")})
    return _view(survey, False, now or utcnow(), window(intake)) if survey else None


def _change(
    intake: Intake, token: str, changes: dict[str, Any], now: datetime, allowed: tuple[str, ...]
) -> Answered | None:
    """Apply `changes` to the survey `token` opens if its state is one of `allowed`, with the event,
    in one transaction (guarded by what was read, so two clicks at once store one after the other)."""
    db = intake.db
    span = window(intake)
    published: list[Envelope] = []

    def work(session: ClientSession) -> Answered | None:
        published.clear()
        survey = db.settlement_surveys.find_one(
            {"token_hash": case_rules.hash_token(token or "")}, session=session
        )
        if survey is None:
            return None
        if rules.state(survey, now, span) not in allowed:
            return _view(survey, False, now, span)
        new = {**survey, **changes, "answered_at": now}
        if new.get("first_answered_at") is None:
            new["first_answered_at"] = now
        if new.get("answer") == survey.get("answer") and new.get("comment") == survey.get("comment"):
            return _view(survey, False, now, span)  # a repeated click: nothing new to store or tell
        guard = {"_id": survey["_id"], "answered_at": survey.get("answered_at")}
        update = {k: new[k] for k in ("answer", "comment", "answered_at", "first_answered_at")}
        if db.settlement_surveys.update_one(guard, {"$set": update}, session=session).modified_count != 1:
            raise RuntimeError("survey changed meanwhile")  # not expected inside the transaction
        published.extend(intake.outbox.add([_answered_event(new)], session))
        return _view(new, True, now, span)

    result = in_transaction(db, work)
    intake.outbox.flush(published)
    if result and result.changed:
        log.info("settlement answered", extra={"reference": result.reference, "answer": result.answer})
    return result


def answer(intake: Intake, token: str, value: str, now: datetime | None = None) -> Answered | None:
    """Store `value` for the survey `token` opens (a first answer, or a change within the window);
    None for a wrong token. An expired link or a closed window changes nothing (`state` says why)."""
    if value not in rules.ANSWERS:
        raise InvalidAnswer(value)
    return _change(intake, token, {"answer": value}, now or utcnow(), (rules.ANSWERABLE, rules.CHANGEABLE))


def comment(intake: Intake, token: str, text: str, now: datetime | None = None) -> Answered | None:
    """Add (or replace) the comment of an answered survey within the window; None for a wrong token."""
    cleaned = rules.clean_comment(text)
    if not cleaned or len(cleaned) > rules.MAX_COMMENT:
        raise InvalidAnswer("comment")
    return _change(intake, token, {"comment": cleaned}, now or utcnow(), (rules.CHANGEABLE,))


def on_reopen_requested(intake: Intake, envelope: Envelope) -> None:
    """File the linked case from the old one's parties and dispute, once per request."""
    data = envelope.data
    db = intake.db
    request_id = data["request_id"]
    linked = db.cases.find_one({"linked_request": request_id}, {"_id": 1})
    if linked is None:
        old = db.cases.find_one({"_id": data["reference"]})
        if old is None:
            raise LookupError(f"linked case asked for an unknown case: {data['reference']}")
        applicants = [p for p in old.get("parties") or [] if p.get("role") == "applicant"]
        respondents = [p for p in old.get("parties") or [] if p.get("role") == "respondent"]
        if not applicants or any(p.get("erased") for p in applicants):
            log.warning(
                "linked case not filed: the old case's parties were erased",
                extra={"reference": data["reference"]},
            )
            retry_transient(lambda: process_once(db, CONSUMER, envelope, lambda session: None))
            return
        case_data: dict[str, Any] = {
            key: old[key]
            for key in (
                "category",
                "community",
                "building",
                "unit",
                "description",
                "claims",
                "language",
                "amount",
                "people_affected",
                "threat_of_violence",
                "danger_to_safety",
            )
            if key in old
        }
        case_data.update(
            {
                "applicants": [
                    {k: p.get(k) for k in ("name", "phone", "email") if p.get(k) is not None}
                    for p in applicants
                ],
                "respondents": [
                    {k: p.get(k) for k in ("name", "phone") if p.get(k) is not None} for p in respondents
                ],
                # Filed by the studio for the applicants: each gets a tracking link of their own.
                "filed_by": "clerk",
                "source": "follow_up",
                "agrees_to_mediation": True,
                "linked_to": data["reference"],
                "linked_request": request_id,
            }
        )
        try:
            created = filing.submit_case(intake, case_data, channel="api")
            new_reference = created["reference"]
        except DuplicateKeyError:  # another delivery filed it meanwhile
            new_reference = db.cases.find_one({"linked_request": request_id}, {"_id": 1})["_id"]
    else:
        new_reference = linked["_id"]
    published: list[Envelope] = []
    event = make_envelope(
        "case.linked",
        {"reference": data["reference"], "linked_case": new_reference, "request_id": request_id},
        source=SERVICE,
    )

    def effect(session: ClientSession) -> None:
        published.clear()
        db.cases.update_one(
            {"_id": data["reference"]}, {"$addToSet": {"linked_cases": new_reference}}, session=session
        )
        published.extend(intake.outbox.add([event], session))

    if retry_transient(lambda: process_once(db, CONSUMER, envelope, effect)):
        intake.outbox.flush(published)
        log.info("linked case filed", extra={"reference": new_reference, "linked_to": data["reference"]})
