"""The meetings' public pages (no login, phone-first): the check-in page where an invitee types the
code of their slip, the attendees' amendment page while the minutes circulate, and the published
minutes. The client's address is only ever used as a keyed hash (the rate limit's key)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, abort, render_template, request

from services.council import attendance, meetings, minutes
from services.council.domain import meetings as mt
from services.council.http.context import current_council
from services.council.http.meeting_text import reason

bp = Blueprint("checkin_pages", __name__, url_prefix="/m/<meeting_id>")
NO_STORE = {"Cache-Control": "no-store"}


def client_key() -> str:
    """Who is typing codes, as a keyed hash of their address (an address is personal data)."""
    secret = current_council().settings.secret_key.encode()
    return hmac.new(secret, (request.remote_addr or "unknown").encode(), hashlib.sha256).hexdigest()[:32]


def _public(meeting_id: str) -> dict[str, Any]:
    try:
        return attendance.public_meeting(current_council(), meeting_id)
    except attendance.CheckInRefused:
        abort(404)


@bp.get("/check-in")
def check_in(meeting_id: str) -> Any:
    """The form: one field, the six digits of the slip."""
    return (
        render_template("council/check_in.html", m=_public(meeting_id), errors={}, done=None),
        200,
        NO_STORE,
    )


@bp.post("/check-in")
def check_in_post(meeting_id: str) -> Any:
    meeting = _public(meeting_id)
    try:
        done = attendance.check_in(current_council(), meeting_id, request.form.get("code", ""), client_key())
    except attendance.CheckInRefused as err:
        status = 429 if err.code == "rate_limited" else 422
        page = render_template(
            "council/check_in.html", m=meeting, errors={"code": [reason(err.code, str(err))]}, done=None
        )
        return page, status, NO_STORE
    return render_template("council/check_in.html", m=meeting, errors={}, done=done), 200, NO_STORE


@bp.get("/minutes")
def published(meeting_id: str) -> Any:
    """Published minutes: the text, each item's recommendation, attendance in numbers."""
    shown = minutes.public_minutes(current_council(), meeting_id)
    if shown is None:
        abort(404)
    return render_template("council/minutes_public.html", m=shown)


def _amend_page(meeting_id: str, errors: dict[str, list[str]], done: bool, text: str = "") -> Any:
    found = current_council().db.meetings.find_one({"_id": meeting_id})
    if found is None or (found.get("minutes") or {}).get("status") != mt.AMENDING:
        abort(404)
    page = render_template(
        "council/minutes_amend.html",
        m=attendance.public_meeting(current_council(), meeting_id),
        draft=found["minutes"],
        errors=errors,
        done=done,
        text=text,
    )
    return page, (422 if errors else 200), NO_STORE


@bp.get("/amend")
def amend(meeting_id: str) -> Any:
    """The circulated draft and the form for an attendee's amendment."""
    return _amend_page(meeting_id, {}, False)


@bp.post("/amend")
def amend_post(meeting_id: str) -> Any:
    text = request.form.get("text", "")
    try:
        minutes.propose_amendment(
            current_council(), meeting_id, request.form.get("code", ""), text, client_key()
        )
    except attendance.CheckInRefused as err:
        return _amend_page(meeting_id, {"code": [reason(err.code, str(err))]}, False, text)
    except meetings.Refused as err:
        return _amend_page(meeting_id, {err.field or "code": [reason(err.code, str(err))]}, False, text)
    return _amend_page(meeting_id, {}, True)
