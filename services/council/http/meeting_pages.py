"""The clerk's meeting pages: the community's meetings and a new one (reception days suggested),
one meeting with its hall's state, agenda (linked consultations and their frozen results), the
invitees (masked; one in full, logged), attendance and quorum, votes per item, and the minutes
from draft to publication. Plain HTML forms with CSRF tokens: everything works without JavaScript;
a refused step comes back on the page with the reason at its field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from services.council import access, attendance, meetings, minutes
from services.council.http.context import current_council, current_staff
from services.council.http.forms import LOCAL_TZ, count, meeting_times
from services.council.http.meeting_text import field_labels, reason, state
from shared.auth import requires_role

bp = Blueprint("meeting_pages", __name__, url_prefix="/communities/<community>/meetings")
NO_STORE = {"Cache-Control": "no-store"}
CLERKS = ("committee_member", "district_admin")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the district's clock shows it."""
    return value.astimezone(ZoneInfo(LOCAL_TZ)).strftime(fmt) if value else ""


@bp.app_context_processor
def meeting_globals() -> dict[str, Any]:
    return {
        "meeting_state": state,
        "meeting_fields": field_labels,
        "local_time": local_time,
        "reason_text": reason,
    }


def _guard(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except meetings.NotAllowed:
        abort(403)
    except meetings.NotFound:
        abort(404)


def _errors(err: meetings.Refused) -> dict[str, list[str]]:
    return {err.field or "form": [reason(err.code, str(err))]}


@bp.get("")
@requires_role(*access.COUNCIL_ROLES)
def index(community: str) -> Any:
    """The community's meetings and, for the clerk, the form for a new one."""
    return _index(community, {}, {})


def _index(community: str, errors: dict[str, list[str]], values: dict[str, str]) -> Any:
    council, staff = current_council(), current_staff()
    rows = _guard(lambda: meetings.list_meetings(council, community, staff))
    page = render_template(
        "council/meetings.html",
        community=community,
        meetings=rows,
        may_keep=access.may_keep_meetings(staff, community),
        suggested=meetings.suggested_days(),
        errors=errors,
        values=values,
    )
    return page, (422 if errors else 200)


@bp.post("")
@requires_role(*CLERKS)
def create(community: str) -> Any:
    council, staff = current_council(), current_staff()
    values = {
        k: request.form.get(k, "")
        for k in ("title", "day", "starts_at", "ends_at", "quorum", "amendment_days")
    }
    try:
        starts_at, ends_at = meeting_times(request.form)
    except ValueError as err:
        return _index(community, {str(err): [reason("invalid_times")]}, values)
    days = values["amendment_days"].strip()
    try:
        made = _guard(
            lambda: meetings.create_meeting(
                council,
                community,
                staff,
                title=values["title"],
                starts_at=starts_at,
                ends_at=ends_at,
                quorum=values["quorum"].strip() or "1/2",
                amendment_days=int(days) if days.isdigit() else 3,
            )
        )
    except meetings.Refused as err:
        return _index(community, _errors(err), values)
    flash(gettext("The meeting was saved; the council hall has been requested."))
    return redirect(url_for("meeting_pages.meeting", community=community, meeting_id=made["_id"]))


@bp.get("/<meeting_id>")
@requires_role(*access.COUNCIL_ROLES)
def meeting(community: str, meeting_id: str) -> Any:
    """One meeting: everything the clerk works with, on one page."""
    return _meeting_page(community, meeting_id, {})


def _meeting_page(community: str, meeting_id: str, errors: dict[str, list[str]]) -> Any:
    council, staff = current_council(), current_staff()
    found = _guard(lambda: meetings.meeting_for(council, community, meeting_id, staff))
    page = render_template(
        "council/meeting.html",
        community=community,
        m=meetings.details(council, found),
        minutes=found.get("minutes") or {},
        amendments=minutes.amendments_for_clerk(found),
        may_keep=access.may_keep_meetings(staff, community),
        errors=errors,
        suggested=meetings.suggested_days(),
        public_base=council.settings.council_public_url.rstrip("/"),
    )
    return page, (422 if errors else 200), NO_STORE


def _step(community: str, meeting_id: str, work: Callable[[], Any], done: str) -> Any:
    """Run one of the page's steps: back to the page with a message, or with the refusal."""
    try:
        _guard(work)
    except meetings.Refused as err:
        return _meeting_page(community, meeting_id, _errors(err))
    flash(done)
    return redirect(url_for("meeting_pages.meeting", community=community, meeting_id=meeting_id))


@bp.post("/<meeting_id>/move")
@requires_role(*CLERKS)
def move(community: str, meeting_id: str) -> Any:
    try:
        starts_at, ends_at = meeting_times(request.form)
    except ValueError as err:
        return _meeting_page(community, meeting_id, {str(err): [reason("invalid_times")]})
    return _step(
        community,
        meeting_id,
        lambda: meetings.move_meeting(
            current_council(), community, meeting_id, current_staff(), starts_at=starts_at, ends_at=ends_at
        ),
        gettext("The new time was saved; the council hall has been requested."),
    )


@bp.post("/<meeting_id>/cancel")
@requires_role(*CLERKS)
def cancel(community: str, meeting_id: str) -> Any:
    why = request.form.get("reason", "")
    return _step(
        community,
        meeting_id,
        lambda: meetings.cancel_meeting(current_council(), community, meeting_id, current_staff(), why),
        gettext("The meeting was cancelled and the hall released."),
    )


@bp.post("/<meeting_id>/agenda")
@requires_role(*CLERKS)
def add_item(community: str, meeting_id: str) -> Any:
    form = request.form
    return _step(
        community,
        meeting_id,
        lambda: meetings.add_agenda_item(
            current_council(),
            community,
            meeting_id,
            current_staff(),
            form.get("title", ""),
            form.get("consultation_id", ""),
        ),
        gettext("The agenda item was added."),
    )


@bp.post("/<meeting_id>/invitees")
@requires_role(*CLERKS)
def add_invitee(community: str, meeting_id: str) -> Any:
    form = request.form
    return _step(
        community,
        meeting_id,
        lambda: meetings.add_invitee(
            current_council(),
            community,
            meeting_id,
            current_staff(),
            kind=form.get("kind", ""),
            name=form.get("name", ""),
            phone=form.get("phone", ""),
            email=form.get("email", ""),
            language=form.get("language", "zh-CN"),
        ),
        gettext("The invitee was added."),
    )


@bp.get("/<meeting_id>/invitees/<key>")
@requires_role(*CLERKS)
def invitee(community: str, meeting_id: str, key: str) -> Any:
    """One invitee's contact in full (the view is logged)."""
    person = _guard(
        lambda: meetings.view_invitee(current_council(), community, meeting_id, key, current_staff())
    )
    page = render_template(
        "council/meeting_invitee.html", community=community, meeting_id=meeting_id, p=person
    )
    return page, 200, NO_STORE


@bp.post("/<meeting_id>/invitations")
@requires_role(*CLERKS)
def invite(community: str, meeting_id: str) -> Any:
    return _step(
        community,
        meeting_id,
        lambda: meetings.send_invitations(current_council(), community, meeting_id, current_staff()),
        gettext("The invitations are on their way."),
    )


@bp.post("/<meeting_id>/attendance/<key>")
@requires_role(*CLERKS)
def attendance_by_hand(community: str, meeting_id: str, key: str) -> Any:
    present = request.form.get("present") == "yes"
    return _step(
        community,
        meeting_id,
        lambda: meetings.mark_present(
            current_council(), community, meeting_id, key, current_staff(), present
        ),
        gettext("Attendance was saved."),
    )


@bp.post("/<meeting_id>/codes")
@requires_role(*CLERKS)
def codes(community: str, meeting_id: str) -> Any:
    """New check-in codes, shown once on printable slips (names in full: the view is logged)."""
    try:
        slips = _guard(
            lambda: attendance.issue_codes(current_council(), community, meeting_id, current_staff())
        )
    except meetings.Refused as err:
        return _meeting_page(community, meeting_id, _errors(err))
    found = meetings.get_meeting(current_council(), meeting_id)
    page = render_template(
        "council/meeting_slips.html",
        community=community,
        m=meetings.summary(found),
        slips=slips,
        check_in_url=url_for("checkin_pages.check_in", meeting_id=meeting_id, _external=False),
        public_base=current_council().settings.council_public_url.rstrip("/"),
    )
    return page, 200, NO_STORE


@bp.post("/<meeting_id>/agenda/<item_id>/vote")
@requires_role(*CLERKS)
def vote(community: str, meeting_id: str, item_id: str) -> Any:
    form = request.form
    return _step(
        community,
        meeting_id,
        lambda: meetings.record_vote(
            current_council(),
            community,
            meeting_id,
            item_id,
            current_staff(),
            for_=count(form, "for"),
            against=count(form, "against"),
            abstain=count(form, "abstain"),
        ),
        gettext("The vote was recorded."),
    )


@bp.post("/<meeting_id>/minutes")
@requires_role(*CLERKS)
def draft(community: str, meeting_id: str) -> Any:
    text = request.form.get("text", "")
    return _step(
        community,
        meeting_id,
        lambda: minutes.save_draft(current_council(), community, meeting_id, current_staff(), text),
        gettext("The draft was saved."),
    )


@bp.post("/<meeting_id>/minutes/circulate")
@requires_role(*CLERKS)
def circulate(community: str, meeting_id: str) -> Any:
    return _step(
        community,
        meeting_id,
        lambda: minutes.circulate(current_council(), community, meeting_id, current_staff()),
        gettext("The draft is open for the attendees' amendments."),
    )


@bp.post("/<meeting_id>/minutes/amendments/<amendment_id>")
@requires_role(*CLERKS)
def decide(community: str, meeting_id: str, amendment_id: str) -> Any:
    decision = request.form.get("decision", "")
    return _step(
        community,
        meeting_id,
        lambda: minutes.decide_amendment(
            current_council(), community, meeting_id, amendment_id, decision, current_staff()
        ),
        gettext("The amendment was decided."),
    )


@bp.post("/<meeting_id>/minutes/adopt")
@requires_role(*CLERKS)
def adopt(community: str, meeting_id: str) -> Any:
    text = request.form.get("text")
    return _step(
        community,
        meeting_id,
        lambda: minutes.adopt(current_council(), community, meeting_id, current_staff(), text),
        gettext("The minutes were adopted."),
    )


@bp.post("/<meeting_id>/minutes/publish")
@requires_role(*CLERKS)
def publish(community: str, meeting_id: str) -> Any:
    return _step(
        community,
        meeting_id,
        lambda: minutes.publish(current_council(), community, meeting_id, current_staff()),
        gettext("The minutes were published."),
    )
