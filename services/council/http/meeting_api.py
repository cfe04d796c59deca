"""Meetings as JSON under /api/v1/communities/<community>/meetings (staff token with a council role;
changes by the community's committee members), and the public check-in under /api/v1/meetings.
Errors have the one Concord shape (`shared.http`): a refusal is 422 (409 for a step the meeting's
state does not allow) with `errors[field]` and the refusal's `code`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_smorest import Blueprint, abort

from services.council import access, attendance, meetings, minutes
from services.council.http.checkin_pages import client_key
from services.council.http.context import current_council, current_staff
from services.council.http.schemas import (
    AdoptSchema,
    AgendaItemInSchema,
    AmendmentDecisionSchema,
    AttendanceSchema,
    CheckInSchema,
    InviteeInSchema,
    MeetingCancelSchema,
    MeetingCreateSchema,
    MeetingMoveSchema,
    MeetingSchema,
    MinutesTextSchema,
    QuorumSchema,
    VoteInSchema,
)
from shared.auth import requires_role

blp = Blueprint(
    "meeting_api",
    __name__,
    url_prefix="/api/v1",
    description="Representatives' meetings: the hall, agenda, invitees, attendance, votes and minutes.",
)
T = TypeVar("T")
CLERKS = ("committee_member", "district_admin")
CONFLICTS = ("stale", "already_invited", "not_confirmed", "decided", "unchanged")


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except meetings.NotAllowed as err:
        abort(403, message=str(err))
    except meetings.NotFound as err:
        abort(404, message=str(err))
    except meetings.Refused as err:
        status = 409 if err.code in CONFLICTS or "_no_" in err.code else 422
        abort(status, message=str(err), errors={err.field or "_schema": [str(err)], "code": [err.code]})
    except attendance.CheckInRefused as err:
        abort(429 if err.code == "rate_limited" else 422, message=str(err), errors={"code": [err.code]})
    raise AssertionError("unreachable")


def _details(community: str, meeting_id: str) -> dict[str, Any]:
    council = current_council()
    found = _call(lambda: meetings.meeting_for(council, community, meeting_id, current_staff()))
    return meetings.details(council, found)


@blp.route("/communities/<community>/meetings", methods=["GET"])
@requires_role(*access.COUNCIL_ROLES)
@blp.response(200, MeetingSchema(many=True))
def list_meetings(community: str) -> Any:
    """The community's meetings, newest first."""
    return _call(lambda: meetings.list_meetings(current_council(), community, current_staff()))


@blp.route("/communities/<community>/meetings", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(MeetingCreateSchema)
@blp.response(201, MeetingSchema)
def create_meeting(body: dict[str, Any], community: str) -> Any:
    """A new meeting, "requested" until mediation confirms or refuses the council hall."""
    made = _call(lambda: meetings.create_meeting(current_council(), community, current_staff(), **body))
    return meetings.details(current_council(), made)


@blp.route("/communities/<community>/meetings/<meeting_id>", methods=["GET"])
@requires_role(*access.COUNCIL_ROLES)
@blp.response(200, MeetingSchema)
def get_meeting(community: str, meeting_id: str) -> Any:
    """One meeting with its agenda (linked consultations' results) and invitees (masked)."""
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/move", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(MeetingMoveSchema)
@blp.response(200, MeetingSchema)
def move_meeting(body: dict[str, Any], community: str, meeting_id: str) -> Any:
    """Ask for the hall at another time."""
    _call(lambda: meetings.move_meeting(current_council(), community, meeting_id, current_staff(), **body))
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/cancel", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(MeetingCancelSchema)
@blp.response(200, MeetingSchema)
def cancel_meeting(body: dict[str, Any], community: str, meeting_id: str) -> Any:
    """Cancel; the hall is released and invitees told."""
    _call(
        lambda: meetings.cancel_meeting(
            current_council(), community, meeting_id, current_staff(), body["reason"]
        )
    )
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/agenda", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(AgendaItemInSchema)
@blp.response(201, MeetingSchema)
def add_agenda_item(body: dict[str, Any], community: str, meeting_id: str) -> Any:
    """An agenda item, optionally linked to a consultation of the community."""
    _call(lambda: meetings.add_agenda_item(current_council(), community, meeting_id, current_staff(), **body))
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/invitees", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(InviteeInSchema)
@blp.response(201, MeetingSchema)
def add_invitee(body: dict[str, Any], community: str, meeting_id: str) -> Any:
    """Invite a representative or a council member."""
    _call(lambda: meetings.add_invitee(current_council(), community, meeting_id, current_staff(), **body))
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/invitations", methods=["POST"])
@requires_role(*CLERKS)
@blp.response(200, MeetingSchema)
def send_invitations(community: str, meeting_id: str) -> Any:
    """Send the invitations (with the .ics) through notify; the hall must be confirmed."""
    _call(lambda: meetings.send_invitations(current_council(), community, meeting_id, current_staff()))
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/attendance/<key>", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(AttendanceSchema)
@blp.response(200, QuorumSchema)
def attendance_by_hand(body: dict[str, Any], community: str, meeting_id: str, key: str) -> Any:
    """The clerk checks an invitee in (or out) by hand; returns the quorum."""
    q = _call(
        lambda: meetings.mark_present(
            current_council(), community, meeting_id, key, current_staff(), body["present"]
        )
    )
    return {"present": q.present, "invited": q.invited, "needed": q.needed, "reached": q.reached}


@blp.route("/communities/<community>/meetings/<meeting_id>/agenda/<item_id>/vote", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(VoteInSchema)
@blp.response(200, MeetingSchema)
def record_vote(body: dict[str, Any], community: str, meeting_id: str, item_id: str) -> Any:
    """The representatives' recommendation on one item: for, against, abstaining."""
    _call(
        lambda: meetings.record_vote(
            current_council(), community, meeting_id, item_id, current_staff(), **body
        )
    )
    return _details(community, meeting_id)


@blp.route("/communities/<community>/meetings/<meeting_id>/minutes", methods=["PUT"])
@requires_role(*CLERKS)
@blp.arguments(MinutesTextSchema)
@blp.response(204)
def save_draft(body: dict[str, Any], community: str, meeting_id: str) -> None:
    """Write the draft of the minutes."""
    _call(lambda: minutes.save_draft(current_council(), community, meeting_id, current_staff(), body["text"]))


@blp.route("/communities/<community>/meetings/<meeting_id>/minutes/circulate", methods=["POST"])
@requires_role(*CLERKS)
@blp.response(204)
def circulate(community: str, meeting_id: str) -> None:
    """Open the attendees' amendment window."""
    _call(lambda: minutes.circulate(current_council(), community, meeting_id, current_staff()))


@blp.route(
    "/communities/<community>/meetings/<meeting_id>/minutes/amendments/<amendment_id>", methods=["POST"]
)
@requires_role(*CLERKS)
@blp.arguments(AmendmentDecisionSchema)
@blp.response(204)
def decide(body: dict[str, Any], community: str, meeting_id: str, amendment_id: str) -> None:
    """Accept or reject an amendment."""
    _call(
        lambda: minutes.decide_amendment(
            current_council(), community, meeting_id, amendment_id, body["decision"], current_staff()
        )
    )


@blp.route("/communities/<community>/meetings/<meeting_id>/minutes/adopt", methods=["POST"])
@requires_role(*CLERKS)
@blp.arguments(AdoptSchema)
@blp.response(204)
def adopt(body: dict[str, Any], community: str, meeting_id: str) -> None:
    """Adopt the minutes once the amendment window has ended."""
    _call(lambda: minutes.adopt(current_council(), community, meeting_id, current_staff(), body.get("text")))


@blp.route("/communities/<community>/meetings/<meeting_id>/minutes/publish", methods=["POST"])
@requires_role(*CLERKS)
@blp.response(200)
def publish(community: str, meeting_id: str) -> Any:
    """Publish adopted minutes; returns the public page's address."""
    return {"url": _call(lambda: minutes.publish(current_council(), community, meeting_id, current_staff()))}


@blp.route("/meetings/<meeting_id>/check-in", methods=["POST"])
@blp.arguments(CheckInSchema)
@blp.response(200)
def check_in(body: dict[str, Any], meeting_id: str) -> Any:
    """Public: check in with the slip's code (rate-limited per client)."""
    done = _call(lambda: attendance.check_in(current_council(), meeting_id, body["code"], client_key()))
    return {"name": done.name, "present": done.quorum.present, "invited": done.quorum.invited}
