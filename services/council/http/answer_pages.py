"""The resident's answering pages (no login, no JavaScript needed, zh-CN and en):

    GET  /c/<id>          the consultation, a code field, and the form to ask for an SMS code
    POST /c/<id>/code     check a code (rate-limited per client) → the questions
    POST /c/<id>/sms      ask for an SMS code (rate-limited per client; the answer never says whether
                          the flat exists or has a phone)
    GET  /c/<id>/answer   the questions (pre-filled with the flat's current answer)
    POST /c/<id>/answer   store or change the answer → the confirmation
    GET  /c/<id>/done     what was recorded, and until when it may be changed
    POST /c/<id>/leave    forget the code on this device

A verified code is kept in the signed session cookie as a pass (consultation, flat, channel, the code's
stored id), never the code itself.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext

from services.council import answering, consultations
from services.council.domain import consultation_states as states
from services.council.domain import questions as qs
from services.council.domain.codes import SMS_CODE_MINUTES
from services.council.errors import Refused
from services.council.http.context import current_council
from services.council.http.forms import LOCAL, answers_from_form, field_id, form_values
from shared.messaging.envelope import utcnow
from shared.web.i18n import html_lang
from shared.web.ratelimit import RateLimit, RateLimiter

bp = Blueprint("answer", __name__, template_folder="../templates")
SESSION_ENTRY = "council_answering"
# Per client (address, hashed): codes tried, and SMS codes asked for, per 10 minutes.
CODE_TRIES = RateLimit(10, 600)
SMS_ASKS = RateLimit(5, 600)


def _lang() -> str:
    return html_lang(str(get_locale() or "zh_CN"))


def _limited(action: str, rate: RateLimit) -> bool:
    """Count a hit for this client; True when it is over its limit."""
    council = current_council()
    return not RateLimiter(council.db.rate_limits, rate, council.settings.secret_key).hit(action)


def _public(consultation_id: str) -> dict[str, Any]:
    try:
        doc = consultations.get(current_council(), consultation_id)
    except Refused:
        abort(404)
    if doc["status"] == states.DRAFT:
        abort(404)
    return doc


def _local(value: Any) -> str:
    return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def _title(doc: dict[str, Any]) -> str:
    lang = _lang()
    return doc["title"].get(lang) or doc["title"].get("zh-CN") or doc["title"].get("en", "")


def _description(doc: dict[str, Any]) -> str:
    lang = _lang()
    return (doc.get("description") or {}).get(lang) or (doc.get("description") or {}).get("zh-CN", "")


def _pass_for(consultation_id: str) -> answering.Pass | None:
    held = session.get(SESSION_ENTRY)
    if not held or held.get("consultation_id") != consultation_id:
        return None
    return answering.Pass(**held)


def _questions(doc: dict[str, Any]) -> list[qs.Question]:
    """The questions, with a vote's labels in the reader's language."""
    out = list(consultations.questions_of(doc))
    if doc["kind"] == "vote":
        zh = _lang() == "zh-CN"
        options = tuple(
            qs.Option(k, consultations.VOTE_LABELS[k][0 if zh else 1]) for k in consultations.VOTE_CHOICES
        )
        out = [
            qs.Question(consultations.VOTE_QUESTION, qs.SINGLE, gettext("Your vote"), True, options=options)
        ]
    return out


def _start(doc: dict[str, Any], status: int = 200, **extra: Any) -> Any:
    now = utcnow()
    can = states.can_answer(doc["status"], doc["opens_at"], doc["closes_at"], now)
    page = render_template(
        "council/answer/start.html",
        doc=doc,
        title=_title(doc),
        description=_description(doc),
        closes=_local(doc["closes_at"]),
        opens=_local(doc["opens_at"]),
        can=can,
        reason=can.message(_lang()) if not can.allowed else "",
        code=extra.pop("code", request.args.get("code", "")),
        errors=extra.pop("errors", {}),
        sms_minutes=SMS_CODE_MINUTES,
        **extra,
    )
    return page, status


@bp.get("/c/<consultation_id>")
def start(consultation_id: str) -> Any:
    """The consultation's public page: enter the slip code, or ask for an SMS code."""
    return _start(_public(consultation_id))


@bp.post("/c/<consultation_id>/code")
def check_code(consultation_id: str) -> Any:
    """Check a code; on success keep the pass in the session and show the questions."""
    doc = _public(consultation_id)
    code = request.form.get("code", "")
    if _limited(f"answer-code:{doc['_id']}", CODE_TRIES):
        message = gettext("Too many tries. Please wait ten minutes and try again.")
        return _start(doc, 429, code=code, errors={"code": [message]})
    try:
        pass_ = answering.verify_code(current_council(), doc["_id"], code, utcnow())
    except Refused as err:
        return _start(doc, err.status, code=code, errors={"code": [err.message(_lang())]})
    session[SESSION_ENTRY] = {
        "consultation_id": pass_.consultation_id,
        "flat_id": pass_.flat_id,
        "channel": pass_.channel,
        "code_id": pass_.code_id,
        "label": pass_.label,
    }
    return redirect(url_for("answer.questions", consultation_id=doc["_id"], lang=_lang()), code=303)


@bp.post("/c/<consultation_id>/sms")
def ask_sms(consultation_id: str) -> Any:
    """Ask for an SMS code: the same answer whether or not the flat exists or has a phone."""
    doc = _public(consultation_id)
    building, unit, flat = (request.form.get(k, "").strip() for k in ("building", "unit", "flat"))
    errors = {
        name: [gettext("Please fill this in.")]
        for name, value in (("building", building), ("unit", unit), ("flat", flat))
        if not value or len(value) > 20
    }
    if errors:
        return _start(
            doc, 422, sms_errors=errors, sms_values={"building": building, "unit": unit, "flat": flat}
        )
    if _limited(f"answer-sms:{doc['_id']}", SMS_ASKS):
        message = gettext("Too many requests. Please wait ten minutes and try again.")
        return _start(doc, 429, sms_errors={"building": [message]})
    try:
        answering.request_sms_code(current_council(), doc["_id"], building, unit, flat, _lang(), utcnow())
    except Refused as err:
        return _start(doc, err.status, sms_errors={"building": [err.message(_lang())]})
    return _start(doc, sms_sent=True)


def _questions_page(
    doc: dict[str, Any], pass_: answering.Pass, values: dict[str, Any], errors: dict, status: int = 200
) -> Any:
    page = render_template(
        "council/answer/questions.html",
        doc=doc,
        title=_title(doc),
        closes=_local(doc["closes_at"]),
        questions=_questions(doc),
        pass_=pass_,
        values=values,
        errors=errors,
        field_id=field_id,
        qs=qs,
    )
    return page, status


@bp.get("/c/<consultation_id>/answer")
def questions(consultation_id: str) -> Any:
    """The questions, pre-filled with what the flat answered before (the same channel may change it)."""
    doc = _public(consultation_id)
    pass_ = _pass_for(doc["_id"])
    if pass_ is None:
        return redirect(url_for("answer.start", consultation_id=doc["_id"], lang=_lang()), code=303)
    ballot = answering.ballot_of(current_council(), doc["_id"], pass_.flat_id)
    values = form_values(_questions(doc), ballot["answers"]) if ballot else {}
    return _questions_page(doc, pass_, values, {})


@bp.post("/c/<consultation_id>/answer")
def submit(consultation_id: str) -> Any:
    """Store or change the flat's answer; errors are shown at their questions."""
    doc = _public(consultation_id)
    pass_ = _pass_for(doc["_id"])
    if pass_ is None:
        return redirect(url_for("answer.start", consultation_id=doc["_id"], lang=_lang()), code=303)
    questions_ = _questions(doc)
    raw = answers_from_form(questions_, request.form)
    try:
        answering.submit_web(current_council(), pass_, raw, utcnow())
    except Refused as err:
        values = {k: v for k, v in request.form.items(multi=False)}
        for q in questions_:
            if q.kind == qs.MULTIPLE:
                values[field_id(q.key)] = request.form.getlist(field_id(q.key))
        lang = _lang()
        errors = {field_id(key): messages for key, messages in err.field_messages(lang).items()}
        if not errors:
            errors = {"answers": [err.message(lang)]}
        if err.code == "bad_code":
            session.pop(SESSION_ENTRY, None)
            return _start(doc, err.status, errors={"code": [err.message(lang)]})
        return _questions_page(doc, pass_, values, errors, err.status)
    return redirect(url_for("answer.done", consultation_id=doc["_id"], lang=_lang()), code=303)


@bp.get("/c/<consultation_id>/done")
def done(consultation_id: str) -> Any:
    """What was recorded for the flat, and until when it may be changed."""
    doc = _public(consultation_id)
    pass_ = _pass_for(doc["_id"])
    ballot = answering.ballot_of(current_council(), doc["_id"], pass_.flat_id) if pass_ else None
    if pass_ is None or ballot is None:
        return redirect(url_for("answer.start", consultation_id=doc["_id"], lang=_lang()), code=303)
    return render_template(
        "council/answer/done.html",
        doc=doc,
        title=_title(doc),
        closes=_local(doc["closes_at"]),
        questions=_questions(doc),
        ballot=ballot,
        pass_=pass_,
        updated=_local(ballot["updated_at"]),
        qs=qs,
    )


@bp.post("/c/<consultation_id>/leave")
def leave(consultation_id: str) -> Any:
    """Forget the code on this device (a shared phone)."""
    session.pop(SESSION_ENTRY, None)
    return redirect(url_for("answer.start", consultation_id=consultation_id, lang=_lang()), code=303)
