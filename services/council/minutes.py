"""A meeting's minutes: drafted by a committee member → circulated to the attendees, who may
propose amendments within the meeting's window (3 days by default) → each amendment accepted or
rejected by the drafter → adopted once the window has ended → published on a public page, with
`minutes.published` telling the invitees, the households that asked for community notices and
the building groups (through notify).

Attendees are residents, not staff: they identify themselves on the public minutes page with the
code of their check-in slip (the same keyed hash), and only those checked in may propose. Wrong
codes count towards the same per-client limit as the check-in page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession

from services.council import attendance, meetings
from services.council.bootstrap import Council
from services.council.domain import meetings as mt
from shared.auth import Staff
from shared.masking import mask_name
from shared.messaging.envelope import Envelope, new_id, utcnow

TEXT_MAX = 50_000
AMENDMENT_MAX = 2_000


def _minutes(meeting: dict[str, Any]) -> dict[str, Any]:
    return meeting.get("minutes") or {"status": mt.DRAFT, "text": "", "amendments": []}


def _for_clerk(council: Council, community: str, meeting_id: str, staff: Staff) -> dict[str, Any]:
    meetings.require_clerk(staff, community)
    found = meetings.meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "minutes")
    except mt.MeetingError as err:
        raise meetings.refused(err) from err
    return found


def _set(council: Council, meeting_id: str, status: str, changes: dict[str, Any]) -> None:
    """Change the minutes only if they are still in `status` (a concurrent step wins once)."""
    done = council.db.meetings.update_one(
        {"_id": meeting_id, "minutes.status": status},
        {"$set": {f"minutes.{name}": value for name, value in changes.items()}},
    )
    if done.matched_count != 1:
        raise meetings.Refused("stale", "The minutes changed in the meantime; nothing was changed.")


def save_draft(council: Council, community: str, meeting_id: str, staff: Staff, text: str) -> None:
    """Write (or rewrite) the draft."""
    found = _for_clerk(council, community, meeting_id, staff)
    minutes = _minutes(found)
    try:
        mt.check_draft(minutes.get("status"))
    except mt.MinutesError as err:
        raise meetings.refused(err) from err
    body = (text or "").strip()
    if not body or len(body) > TEXT_MAX:
        raise meetings.Refused("empty", "The minutes need text (at most 50,000 characters).", "text")
    _set(council, meeting_id, mt.DRAFT, {"text": body, "drafted_by": staff.user_id, "drafted_at": utcnow()})


def circulate(
    council: Council, community: str, meeting_id: str, staff: Staff, now: datetime | None = None
) -> datetime:
    """Open the amendment window; returns when it ends."""
    found = _for_clerk(council, community, meeting_id, staff)
    minutes = _minutes(found)
    at = now or utcnow()
    try:
        ends = mt.circulate(
            minutes.get("status"), minutes.get("text") or "", at, timedelta(days=found["amendment_days"])
        )
    except mt.MinutesError as err:
        raise meetings.refused(err) from err
    _set(council, meeting_id, mt.DRAFT, {"status": mt.AMENDING, "circulated_at": at, "window_ends": ends})
    return ends


def propose_amendment(
    council: Council, meeting_id: str, typed_code: str, text: str, client: str, now: datetime | None = None
) -> dict[str, Any]:
    """An attendee's amendment, identified by their slip's code (public page)."""
    at = now or utcnow()
    found = council.db.meetings.find_one({"_id": meeting_id})
    if found is None or found["status"] == mt.CANCELLED:
        raise attendance.CheckInRefused("no_meeting", "No such meeting.")
    if mt.rate_limited(attendance.failures(council, meeting_id, client, at)):
        raise attendance.CheckInRefused("rate_limited", "Too many wrong codes: wait ten minutes.")
    body = (text or "").strip()
    if not body or len(body) > AMENDMENT_MAX:
        raise meetings.Refused("empty", "Write the amendment (at most 2,000 characters).", "text")
    wanted = mt.code_hash(council.settings.secret_key, meeting_id, typed_code)
    invitee = next((i for i in found["invitees"] if i.get("code_hash") == wanted), None)
    if not mt.well_formed(typed_code) or invitee is None:
        council.db.checkin_failures.insert_one(
            {"_id": new_id(), "meeting_id": meeting_id, "client": client, "at": at}
        )
        raise attendance.CheckInRefused("wrong_code", "This code is not valid for this meeting.")
    minutes = _minutes(found)
    try:
        mt.check_amendment(
            minutes.get("status"), at, minutes.get("window_ends"), bool(invitee.get("present"))
        )
    except mt.MinutesError as err:
        raise meetings.refused(err) from err
    amendment = {"id": new_id()[:12], "by": invitee["key"], "text": body, "status": mt.PROPOSED, "at": at}
    done = council.db.meetings.update_one(
        {"_id": meeting_id, "minutes.status": mt.AMENDING}, {"$push": {"minutes.amendments": amendment}}
    )
    if done.matched_count != 1:
        raise meetings.Refused("not_amending", "The minutes are not open for amendments.")
    return amendment


def decide_amendment(
    council: Council, community: str, meeting_id: str, amendment_id: str, decision: str, staff: Staff
) -> None:
    """The drafter accepts (and works into the text) or rejects an amendment."""
    found = _for_clerk(council, community, meeting_id, staff)
    minutes = _minutes(found)
    amendment = next((a for a in minutes.get("amendments", []) if a["id"] == amendment_id), None)
    if amendment is None:
        raise meetings.NotFound("No such amendment.")
    try:
        mt.check_decision(minutes.get("status"), amendment["status"], decision)
    except mt.MinutesError as err:
        raise meetings.refused(err) from err
    # Conditional on the list as it was read: a concurrent decision or proposal makes this one stale
    # (the whole list is written back; the positional operator on a nested array is not portable).
    before = minutes.get("amendments", [])
    after = [
        a | {"status": decision, "decided_by": staff.user_id} if a["id"] == amendment_id else a
        for a in before
    ]
    done = council.db.meetings.update_one(
        {"_id": meeting_id, "minutes.status": mt.AMENDING, "minutes.amendments": before},
        {"$set": {"minutes.amendments": after}},
    )
    if done.matched_count != 1:
        raise meetings.Refused("stale", "The amendments changed in the meantime; nothing was changed.")


def adopt(
    council: Council,
    community: str,
    meeting_id: str,
    staff: Staff,
    text: str | None = None,
    now: datetime | None = None,
) -> None:
    """Adopt the minutes (with the accepted amendments worked into `text`, if given)."""
    found = _for_clerk(council, community, meeting_id, staff)
    minutes = _minutes(found)
    at = now or utcnow()
    open_ = sum(1 for a in minutes.get("amendments", []) if a["status"] == mt.PROPOSED)
    try:
        mt.check_adopt(minutes.get("status"), at, minutes.get("window_ends"), open_)
    except mt.MinutesError as err:
        raise meetings.refused(err) from err
    changes: dict[str, Any] = {"status": mt.ADOPTED_MINUTES, "adopted_at": at, "adopted_by": staff.user_id}
    if text is not None and text.strip():
        if len(text) > TEXT_MAX:
            raise meetings.Refused("too_long", "At most 50,000 characters.", "text")
        changes["text"] = text.strip()
    _set(council, meeting_id, mt.AMENDING, changes)


def publish(
    council: Council, community: str, meeting_id: str, staff: Staff, now: datetime | None = None
) -> str:
    """Publish adopted minutes on their public page and tell the invitees, households and building
    groups; returns the page's URL."""
    meetings.require_clerk(staff, community)
    at = now or utcnow()
    url = f"{council.settings.council_public_url.rstrip('/')}/m/{meeting_id}/minutes"

    def work(session: ClientSession, out: list[Envelope]) -> str:
        found = meetings.get_meeting(council, meeting_id, session)
        if found["community"] != community:
            raise meetings.NotFound(f"No meeting {meeting_id}.")
        try:
            mt.check_publish(_minutes(found).get("status"))
        except mt.MinutesError as err:
            raise meetings.refused(err) from err
        council.db.meetings.update_one(
            {"_id": meeting_id, "minutes.status": mt.ADOPTED_MINUTES},
            {"$set": {"minutes.status": mt.PUBLISHED, "minutes.published_at": at}},
            session=session,
        )
        invitation = meetings._invitation(council, found, session)
        keys = ("meeting_id", "reference", "community", "title", "starts_at", "invitees")
        # The community's households (opt-in in notify) and building groups are told as well.
        data = {k: invitation[k] for k in (*keys, "households", "building_groups")}
        meetings._emit(
            council, session, out, "minutes.published", data | {"url": url, "published_at": at.isoformat()}
        )
        return url

    return meetings._write(council, work)


def public_minutes(council: Council, meeting_id: str) -> dict[str, Any] | None:
    """Published minutes for the public page: the text, the votes, attendance as counts (no names)."""
    found = council.db.meetings.find_one({"_id": meeting_id})
    if found is None or _minutes(found).get("status") != mt.PUBLISHED:
        return None
    q = meetings.quorum_of(found)
    return {
        "id": found["_id"],
        "community": found["community"],
        "title": found["title"],
        "starts_at": found["starts_at"],
        "place": found["hall"].get("place"),
        "text": found["minutes"]["text"],
        "published_at": found["minutes"].get("published_at"),
        "quorum": {"present": q.present, "invited": q.invited, "reached": q.reached},
        "agenda": [
            {
                "title": item["title"],
                "vote": {k: (item.get("vote") or {}).get(k) for k in ("for", "against", "abstain", "outcome")}
                if item.get("vote")
                else None,
            }
            for item in found["agenda"]
        ],
    }


def published_list(council: Council, community: str, limit: int = 50) -> list[dict[str, Any]]:
    """A community's published minutes for the public, newest meeting first: only the meeting's id,
    title and start (the text is on each minutes' own page)."""
    rows = (
        council.db.meetings.find(
            {"community": community, "minutes.status": mt.PUBLISHED}, {"title": 1, "starts_at": 1}
        )
        .sort("starts_at", -1)
        .limit(limit)
    )
    return [
        {"id": row["_id"], "title": row.get("title", ""), "starts_at": row.get("starts_at")} for row in rows
    ]


def amendments_for_clerk(meeting: dict[str, Any]) -> list[dict[str, Any]]:
    """The amendments as the clerk's page lists them: who proposed (masked), what, and its status."""
    names = {i["key"]: i["name"] for i in meeting["invitees"]}
    return [
        a | {"by_name": mask_name(names.get(a["by"], ""))} for a in _minutes(meeting).get("amendments", [])
    ]
