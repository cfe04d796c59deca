"""Representatives' meetings (议事会): scheduling in the council hall (asked of mediation, which
owns the hall's calendar), agenda items linked to consultations, invitees, invitations through
notify, attendance by the clerk, the recommendation voted per agenda item, and the quorum.

The hall (docs/council-hall.md): a meeting is stored as "requested" together with a
`hall.booking_requested` event in the outbox; mediation answers `hall.booking_confirmed` or
`hall.booking_refused` and `on_hall_answer` moves the meeting to "confirmed" or "refused". Every
request and release carries the meeting's rising `hall.request` number: only the answer to the
latest request decides, so a redelivered or overtaken answer changes nothing.

Invitees' names, phones and emails are personal data: lists show them masked; the full contact
is shown only through `view_invitee`, which logs the view to `access_log`.
Check-in codes and minutes are in `attendance.py` and `minutes.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo.client_session import ClientSession

from services.council import access
from services.council.bootstrap import SERVICE, Council
from services.council.domain import meetings as mt
from services.council.notice_audience import community_audience
from shared.auth import Staff
from shared.db import in_transaction, retry_transient
from shared.idempotency import process_once
from shared.masking import mask_email, mask_name, mask_phone
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.taxonomy import community_codes

log = logging.getLogger(__name__)
T = TypeVar("T")
HALL_CONSUMER = "council.hall"
TITLE_MAX = 200
PERSONAL = ("name", "phone", "email")


class NotAllowed(Exception):
    """This member of staff may not do this in this community."""


class NotFound(Exception):
    """No such meeting, invitee or agenda item (or one this member of staff may not see)."""


class Refused(Exception):
    """Bad input or a step the meeting's state does not allow: nothing was changed."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def refused(err: mt.MeetingError | mt.MinutesError) -> Refused:
    return Refused(err.code, str(err), getattr(err, "field", None))


# Access -----------------------------------------------------------------------------------------
def require_view(staff: Staff, community: str) -> None:
    if community not in community_codes():
        raise NotFound(f"No community {community}.")
    if not access.may_see_community(staff, community):
        raise NotAllowed("Not a member of this community's council.")


def require_clerk(staff: Staff, community: str) -> None:
    """Meetings are kept by the community's committee members (the clerk) and district admins."""
    require_view(staff, community)
    if not access.may_keep_meetings(staff, community):
        raise NotAllowed("Only the community's committee members keep its meetings.")


def get_meeting(council: Council, meeting_id: str, session: ClientSession | None = None) -> dict[str, Any]:
    found = council.db.meetings.find_one({"_id": meeting_id}, session=session)
    if found is None:
        raise NotFound(f"No meeting {meeting_id}.")
    return found


def meeting_for(council: Council, community: str, meeting_id: str, staff: Staff) -> dict[str, Any]:
    """The community's meeting if this member of staff may see it."""
    require_view(staff, community)
    found = get_meeting(council, meeting_id)
    if found["community"] != community:
        raise NotFound(f"No meeting {meeting_id}.")
    return found


def _write(council: Council, work: Callable[[ClientSession, list[Envelope]], T]) -> T:
    """Run `work` in a transaction; the events it adds to the outbox are published after commit."""
    published: list[Envelope] = []

    def run(session: ClientSession) -> T:
        published.clear()
        return work(session, published)

    result = in_transaction(council.db, run)
    council.outbox.flush(published)
    return result


def _emit(council: Council, session: ClientSession, out: list[Envelope], kind: str, data: dict) -> None:
    out.extend(council.outbox.add([make_envelope(kind, data, source=SERVICE)], session=session))


def _room(community: str) -> str:
    # The hall's code in mediation's calendar (its `room_of`): one hall per community.
    return f"hall:{community}"


def _hall_request(meeting: Mapping[str, Any], request: int) -> dict[str, Any]:
    return {
        "meeting_id": meeting["_id"],
        "request": request,
        "community": meeting["community"],
        "room": _room(meeting["community"]),
        "starts_at": meeting["starts_at"].isoformat(),
        "ends_at": meeting["ends_at"].isoformat(),
        "title": meeting["title"],
    }


# Scheduling ---------------------------------------------------------------------------------------
def _title(text: str) -> str:
    title = (text or "").strip()
    if not title:
        raise Refused("required", "The meeting needs a title.", "title")
    if len(title) > TITLE_MAX:
        raise Refused("too_long", f"At most {TITLE_MAX} characters.", "title")
    return title


def create_meeting(
    council: Council,
    community: str,
    staff: Staff,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    quorum: str = "1/2",
    amendment_days: int = 3,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new meeting, "requested" until mediation confirms or refuses the hall."""
    require_clerk(staff, community)
    at = now or utcnow()
    title = _title(title)
    try:
        mt.check_times(starts_at, ends_at, at)
    except mt.MeetingError as err:
        raise refused(err) from err
    try:
        mt.Threshold.parse(quorum)
    except ValueError as err:
        raise Refused("bad_quorum", str(err), "quorum") from err
    if not isinstance(amendment_days, int) or not 1 <= amendment_days <= 30:
        raise Refused("bad_window", "Amendments are open 1 to 30 days.", "amendment_days")
    meeting_id = new_id()
    doc = {
        "_id": meeting_id,
        # What invitations and notify call the meeting (议事会 = YS): short enough to read out.
        "reference": f"YS-{meeting_id[:8].upper()}",
        "community": community,
        "title": title,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": mt.REQUESTED,
        "hall": {"request": 1, "status": mt.REQUESTED, "reason": None, "place": None},
        "sequence": 0,
        "invited_at": None,
        "quorum": quorum,
        "amendment_days": amendment_days,
        "agenda": [],
        "invitees": [],
        "minutes": {"status": mt.DRAFT, "text": "", "amendments": []},
        "created_by": staff.user_id,
        "created_at": at,
    }

    def work(session: ClientSession, out: list[Envelope]) -> dict[str, Any]:
        council.db.meetings.insert_one(doc, session=session)
        _emit(council, session, out, "hall.booking_requested", _hall_request(doc, 1))
        return doc

    made = _write(council, work)
    log.info("meeting requested", extra={"meeting_id": doc["_id"]})
    return made


def move_meeting(
    council: Council,
    community: str,
    meeting_id: str,
    staff: Staff,
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new time (or a new try after a refusal): the hall is asked again; the old time is
    released by mediation when it handles the new request (docs/council-hall.md)."""
    require_clerk(staff, community)
    at = now or utcnow()
    try:
        mt.check_times(starts_at, ends_at, at)
    except mt.MeetingError as err:
        raise refused(err) from err

    def work(session: ClientSession, out: list[Envelope]) -> dict[str, Any]:
        found = get_meeting(council, meeting_id, session)
        if found["community"] != community:
            raise NotFound(f"No meeting {meeting_id}.")
        try:
            mt.check_meeting_action(found["status"], "move")
        except mt.MeetingError as err:
            raise refused(err) from err
        if (found["starts_at"], found["ends_at"]) == (starts_at, ends_at) and found["status"] != mt.REFUSED:
            raise Refused("unchanged", "The meeting is already at that time.", "starts_at")
        request = int(found["hall"]["request"]) + 1
        updated = {
            **found,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "status": mt.REQUESTED,
            "hall": {**found["hall"], "request": request, "status": mt.REQUESTED, "reason": None},
        }
        if not found.get("previous_starts_at") and found["status"] == mt.CONFIRMED:
            updated["previous_starts_at"] = found["starts_at"]
        council.db.meetings.replace_one(
            {"_id": meeting_id, "hall.request": request - 1}, updated, session=session
        )
        _emit(council, session, out, "hall.booking_requested", _hall_request(updated, request))
        return updated

    return _write(council, work)


def cancel_meeting(
    council: Council, community: str, meeting_id: str, staff: Staff, reason: str, now: datetime | None = None
) -> dict[str, Any]:
    """Cancel: the hall is released and, if invitations went out, the invitees are told."""
    require_clerk(staff, community)
    why = (reason or "").strip()
    if not why or len(why) > 500:
        raise Refused("reason", "Give the reason for cancelling (at most 500 characters).", "reason")
    at = now or utcnow()

    def work(session: ClientSession, out: list[Envelope]) -> dict[str, Any]:
        found = get_meeting(council, meeting_id, session)
        if found["community"] != community:
            raise NotFound(f"No meeting {meeting_id}.")
        try:
            mt.check_meeting_action(found["status"], "cancel")
        except mt.MeetingError as err:
            raise refused(err) from err
        request = int(found["hall"]["request"]) + 1
        sequence = int(found.get("sequence") or 0) + 1
        council.db.meetings.update_one(
            {"_id": meeting_id},
            {
                "$set": {
                    "status": mt.CANCELLED,
                    "hall.request": request,
                    "hall.status": "released",
                    "sequence": sequence,
                    "cancelled": {"at": at, "by": staff.user_id, "reason": why},
                }
            },
            session=session,
        )
        _emit(
            council,
            session,
            out,
            "hall.booking_released",
            {"meeting_id": meeting_id, "request": request, "room": _room(community)},
        )
        updated = {**found, "status": mt.CANCELLED, "sequence": sequence}
        if found.get("invited_at") and found["hall"].get("place"):
            _emit(
                council,
                session,
                out,
                "meeting.cancelled",
                _invitation(council, updated, session) | {"reason": why},
            )
        return updated

    return _write(council, work)


def on_hall_answer(council: Council, envelope: Envelope) -> None:
    """Mediation's answer: the meeting is "confirmed" (with the hall's place) or "refused" (with
    the reason). A confirmed move of an invited meeting sends the updated invitation."""
    data = envelope.data
    meeting_id, request = data["meeting_id"], int(data["request"])
    published: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        published.clear()
        found = council.db.meetings.find_one({"_id": meeting_id}, session=session)
        if found is None or not mt.answer_applies(found["hall"], request):
            return  # unknown, cancelled meanwhile, or an answer to an older request
        if envelope.type == "hall.booking_confirmed":
            changes = {
                "status": mt.CONFIRMED,
                "hall.status": mt.CONFIRMED,
                "hall.place": data.get("place"),
                "hall.reason": None,
                "hall.answered_at": utcnow(),
            }
            if found.get("invited_at") and found.get("previous_starts_at"):
                sequence = int(found.get("sequence") or 0) + 1
                changes["sequence"] = sequence
                moved = {**found, "sequence": sequence, "hall": {**found["hall"], "place": data.get("place")}}
                event = _invitation(council, moved, session) | {
                    "previous_starts_at": found["previous_starts_at"].isoformat()
                }
                published.extend(
                    council.outbox.add(
                        [make_envelope("meeting.rescheduled", event, source=SERVICE)], session=session
                    )
                )
            council.db.meetings.update_one(
                {"_id": meeting_id}, {"$set": changes, "$unset": {"previous_starts_at": ""}}, session=session
            )
        else:
            council.db.meetings.update_one(
                {"_id": meeting_id},
                {
                    "$set": {
                        "status": mt.REFUSED,
                        "hall.status": mt.REFUSED,
                        "hall.reason": data["reason"],
                        "hall.message": data.get("message") or "",
                        "hall.answered_at": utcnow(),
                    }
                },
                session=session,
            )

    if retry_transient(lambda: process_once(council.db, HALL_CONSUMER, envelope, effect)):
        council.outbox.flush(published)
        log.info("hall answer applied", extra={"meeting_id": meeting_id, "event": envelope.type})


# Agenda ---------------------------------------------------------------------------------------------
def consultation_summary(council: Council, community: str, consultation_id: str) -> dict[str, Any] | None:
    """A linked consultation as an agenda item shows it: its title and, once closed, its frozen
    result. Read defensively: the consultations collection is written by another part of council."""
    found = council.db.consultations.find_one({"_id": consultation_id, "community": community})
    if found is None:
        return None
    title = found.get("title") or {}
    summary: dict[str, Any] = {
        "id": consultation_id,
        "title": title if isinstance(title, dict) else {"zh-CN": str(title), "en": str(title)},
        "status": found.get("status"),
        "result": None,
    }
    result = found.get("result") if found.get("status") == "closed" else None
    if isinstance(result, dict):
        vote = result.get("vote") if isinstance(result.get("vote"), dict) else None
        summary["result"] = {
            "answered": result.get("answered"),
            "eligible": result.get("eligible"),
            "outcome": (vote or {}).get("outcome"),
            "frozen_at": result.get("frozen_at"),
        }
    return summary


def add_agenda_item(
    council: Council, community: str, meeting_id: str, staff: Staff, title: str, consultation_id: str = ""
) -> dict[str, Any]:
    """An agenda item, optionally the consultation it is about (which must be the community's)."""
    require_clerk(staff, community)
    text = (title or "").strip()
    if not text or len(text) > TITLE_MAX:
        raise Refused("required", f"An agenda item needs a title (at most {TITLE_MAX} characters).", "title")
    linked = (consultation_id or "").strip() or None
    if linked and consultation_summary(council, community, linked) is None:
        raise Refused("no_consultation", "No such consultation in this community.", "consultation_id")
    item = {"id": new_id()[:12], "title": text, "consultation_id": linked, "vote": None}
    found = meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "edit")
    except mt.MeetingError as err:
        raise refused(err) from err
    council.db.meetings.update_one({"_id": meeting_id}, {"$push": {"agenda": item}})
    return item


# Invitees -------------------------------------------------------------------------------------------
def add_invitee(
    council: Council,
    community: str,
    meeting_id: str,
    staff: Staff,
    *,
    kind: str,
    name: str,
    phone: str = "",
    email: str = "",
    language: str = "zh-CN",
) -> dict[str, Any]:
    """Invite a representative or a council member (a name and a phone or an email to reach them)."""
    require_clerk(staff, community)
    problems = []
    if kind not in mt.KINDS:
        problems.append(("kind", "One of: representative, council_member."))
    if not (name or "").strip() or len(name.strip()) > 50:
        problems.append(("name", "A name of at most 50 characters."))
    phone, email = (phone or "").strip(), (email or "").strip()
    if phone and not (phone.isdigit() and 7 <= len(phone) <= 15):
        problems.append(("phone", "A phone number of 7 to 15 digits."))
    if email and ("@" not in email or len(email) > 200):
        problems.append(("email", "Not an email address."))
    if not phone and not email:
        problems.append(("phone", "A phone or an email, to send the invitation."))
    if problems:
        field, message = problems[0]
        raise Refused("invalid", message, field)
    found = meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "edit")
    except mt.MeetingError as err:
        raise refused(err) from err
    invitee = {
        "key": new_id()[:12],
        "kind": kind,
        "name": name.strip(),
        "phone": phone or None,
        "email": email or None,
        "language": "en" if language == "en" else "zh-CN",
        "code_hash": None,
        "present": False,
        "checked_in_at": None,
        "checked_in_by": None,
    }
    council.db.meetings.update_one({"_id": meeting_id}, {"$push": {"invitees": invitee}})
    return invitee


def masked_invitee(invitee: Mapping[str, Any]) -> dict[str, Any]:
    """An invitee as lists show them."""
    return {
        "key": invitee["key"],
        "kind": invitee["kind"],
        "name": mask_name(invitee["name"]),
        "phone": mask_phone(invitee.get("phone")),
        "email": mask_email(invitee.get("email")),
        "present": bool(invitee.get("present")),
        "checked_in_at": invitee.get("checked_in_at"),
        "checked_in_by": invitee.get("checked_in_by"),
        "has_code": bool(invitee.get("code_hash")),
    }


def view_invitee(council: Council, community: str, meeting_id: str, key: str, staff: Staff) -> dict[str, Any]:
    """One invitee in full, for the clerk; the view is logged (who, which fields, when)."""
    require_clerk(staff, community)
    found = meeting_for(council, community, meeting_id, staff)
    invitee = next((i for i in found["invitees"] if i["key"] == key), None)
    if invitee is None:
        raise NotFound("No such invitee.")
    council.db.access_log.insert_one(
        {
            "_id": new_id(),
            "community": community,
            "meeting_id": meeting_id,
            "invitee": key,
            "by": staff.user_id,
            "at": utcnow(),
            "fields": list(PERSONAL),
            "via": "meetings",
        }
    )
    return masked_invitee(invitee) | {k: invitee.get(k) for k in PERSONAL}


def _invitation(
    council: Council, meeting: Mapping[str, Any], session: ClientSession | None = None
) -> dict[str, Any]:
    """What `meeting.*` events tell notify: the meeting, the hall, each invitee's contact, and the
    community's households and building groups (told too: households that asked for community
    notices, every building group), with the public board as their link."""
    households, groups = community_audience(council, meeting["community"], session)
    place = meeting["hall"].get("place") or {
        "code": _room(meeting["community"]),
        "name": _room(meeting["community"]),
    }
    base = council.settings.council_public_url.rstrip("/")
    return {
        "meeting_id": meeting["_id"],
        "reference": meeting.get("reference") or f"YS-{meeting['_id'][:8].upper()}",
        "community": meeting["community"],
        "title": meeting["title"],
        "starts_at": meeting["starts_at"].isoformat(),
        "ends_at": meeting["ends_at"].isoformat(),
        "place": place,
        "invitees": [
            {
                "key": i["key"],
                "name": i["name"],
                "phone": i.get("phone"),
                "email": i.get("email"),
                "language": i.get("language") or "zh-CN",
            }
            for i in meeting["invitees"]
        ],
        "agenda": [item["title"] for item in meeting["agenda"]],
        "sequence": int(meeting.get("sequence") or 0),
        "url": f"{base}/m/{meeting['_id']}/check-in",
        # Households and groups get no check-in link: the public board shows the community's council.
        "board_url": f"{base}/board/{meeting['community']}",
        "households": households,
        "building_groups": groups,
    }


def send_invitations(
    council: Council, community: str, meeting_id: str, staff: Staff, now: datetime | None = None
) -> dict[str, Any]:
    """Invite everyone on the list (through notify, with the .ics), once the hall is confirmed."""
    require_clerk(staff, community)

    def work(session: ClientSession, out: list[Envelope]) -> dict[str, Any]:
        found = get_meeting(council, meeting_id, session)
        if found["community"] != community:
            raise NotFound(f"No meeting {meeting_id}.")
        if found["status"] != mt.CONFIRMED:
            raise Refused("not_confirmed", "Invitations go out once the hall is confirmed.")
        if found.get("invited_at"):
            raise Refused("already_invited", "The invitations were sent already.")
        if not found["invitees"]:
            raise Refused("no_invitees", "Invite someone first.")
        at = now or utcnow()
        council.db.meetings.update_one(
            {"_id": meeting_id, "invited_at": None}, {"$set": {"invited_at": at}}, session=session
        )
        _emit(council, session, out, "meeting.invited", _invitation(council, found, session))
        return {**found, "invited_at": at}

    return _write(council, work)


# Attendance, quorum and votes ---------------------------------------------------------------------
def quorum_of(meeting: Mapping[str, Any]) -> mt.Quorum:
    present = sum(1 for i in meeting["invitees"] if i.get("present"))
    return mt.quorum(present, len(meeting["invitees"]), mt.Threshold.parse(meeting.get("quorum") or "1/2"))


def mark_present(
    council: Council, community: str, meeting_id: str, key: str, staff: Staff, present: bool = True
) -> mt.Quorum:
    """The clerk checks someone in (or out) by hand; returns the quorum after the change."""
    require_clerk(staff, community)
    found = meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "attendance")
    except mt.MeetingError as err:
        raise refused(err) from err
    if not any(i["key"] == key for i in found["invitees"]):
        raise NotFound("No such invitee.")
    council.db.meetings.update_one(
        {"_id": meeting_id, "invitees.key": key},
        {
            "$set": {
                "invitees.$.present": bool(present),
                "invitees.$.checked_in_at": utcnow() if present else None,
                "invitees.$.checked_in_by": staff.user_id if present else None,
            }
        },
    )
    return quorum_of(get_meeting(council, meeting_id))


def record_vote(
    council: Council,
    community: str,
    meeting_id: str,
    item_id: str,
    staff: Staff,
    *,
    for_: int,
    against: int,
    abstain: int,
) -> dict[str, Any]:
    """The representatives' recommendation on one agenda item, as the clerk counted it."""
    require_clerk(staff, community)
    found = meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "vote")
        q = quorum_of(found)
        outcome = mt.recommendation(for_, against, abstain, q.present, q.reached)
    except mt.MeetingError as err:
        raise refused(err) from err
    if not any(item["id"] == item_id for item in found["agenda"]):
        raise NotFound("No such agenda item.")
    vote = {
        "for": outcome.for_,
        "against": outcome.against,
        "abstain": outcome.abstain,
        "outcome": outcome.outcome,
        "present": q.present,
        "by": staff.user_id,
        "at": utcnow(),
    }
    council.db.meetings.update_one(
        {"_id": meeting_id, "agenda.id": item_id}, {"$set": {"agenda.$.vote": vote}}
    )
    return vote


# Reading ----------------------------------------------------------------------------------------------
def list_meetings(council: Council, community: str, staff: Staff) -> list[dict[str, Any]]:
    """The community's meetings, newest first (invitees masked)."""
    require_view(staff, community)
    rows = council.db.meetings.find({"community": community}).sort("starts_at", -1).limit(200)
    return [summary(row) for row in rows]


def summary(meeting: Mapping[str, Any]) -> dict[str, Any]:
    q = quorum_of(meeting)
    return {
        "id": meeting["_id"],
        "community": meeting["community"],
        "title": meeting["title"],
        "starts_at": meeting["starts_at"],
        "ends_at": meeting["ends_at"],
        "status": meeting["status"],
        "hall": {k: meeting["hall"].get(k) for k in ("status", "reason", "place", "request")},
        "sequence": int(meeting.get("sequence") or 0),
        "invited": bool(meeting.get("invited_at")),
        "quorum": {
            "present": q.present,
            "invited": q.invited,
            "needed": q.needed,
            "reached": q.reached,
            "threshold": meeting.get("quorum") or "1/2",
        },
        "minutes_status": (meeting.get("minutes") or {}).get("status", mt.DRAFT),
    }


def details(council: Council, meeting: Mapping[str, Any]) -> dict[str, Any]:
    """A meeting for its page and the API: agenda (with linked consultations), invitees masked."""
    return summary(meeting) | {
        "agenda": [
            item
            | {
                "consultation": consultation_summary(council, meeting["community"], item["consultation_id"])
                if item.get("consultation_id")
                else None
            }
            for item in meeting["agenda"]
        ],
        "invitees": [masked_invitee(i) for i in meeting["invitees"]],
    }


def suggested_days(now: datetime | None = None, days: int = 3) -> list:
    """The next reception days (6th and 26th), when meetings are naturally held."""
    from zoneinfo import ZoneInfo

    local = (now or utcnow()).astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    return mt.next_reception_days(local, None, days)
