"""Attendance by check-in code: each invitee gets a six-digit code on a slip (the clerk prints the
slips; codes are stored only as keyed hashes, so printing again issues new codes), and types it on
the meeting's public check-in page on their phone. A wrong code is counted per client and meeting;
after `MAX_FAILURES` within `FAILURE_WINDOW` the page refuses even a right one until the window
passes, so six digits cannot be guessed. A code checks in once; the clerk can always check someone
in by hand (`meetings.mark_present`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.council import meetings
from services.council.bootstrap import Council
from services.council.domain import meetings as mt
from shared.auth import Staff
from shared.masking import mask_name
from shared.messaging.envelope import new_id, utcnow


class CheckInRefused(Exception):
    """`code`: "no_meeting" | "closed" | "malformed" | "wrong_code" | "used_code" | "rate_limited"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CheckedIn:
    name: str  # masked: the page is public
    quorum: mt.Quorum


def issue_codes(council: Council, community: str, meeting_id: str, staff: Staff) -> list[dict[str, Any]]:
    """New codes for every invitee not yet present, for the clerk's printed slips (names in full:
    the view is logged). Codes printed before stop working."""
    meetings.require_clerk(staff, community)
    found = meetings.meeting_for(council, community, meeting_id, staff)
    try:
        mt.check_meeting_action(found["status"], "attendance")
    except mt.MeetingError as err:
        raise meetings.refused(err) from err
    secret = council.settings.secret_key
    slips, invitees = [], []
    for invitee in found["invitees"]:
        if invitee.get("present"):
            invitees.append(invitee)
            continue
        code = mt.new_code()
        invitees.append({**invitee, "code_hash": mt.code_hash(secret, meeting_id, code)})
        slips.append({"key": invitee["key"], "name": invitee["name"], "kind": invitee["kind"], "code": code})
    council.db.meetings.update_one({"_id": meeting_id}, {"$set": {"invitees": invitees}})
    council.db.access_log.insert_one(
        {
            "_id": new_id(),
            "community": community,
            "meeting_id": meeting_id,
            "invitee": [s["key"] for s in slips],
            "by": staff.user_id,
            "at": utcnow(),
            "fields": ["name"],
            "via": "check-in slips",
        }
    )
    return slips


def public_meeting(council: Council, meeting_id: str) -> dict[str, Any]:
    """What the public check-in page shows: title, time, place (no names)."""
    found = council.db.meetings.find_one({"_id": meeting_id})
    if found is None or found["status"] == mt.CANCELLED:
        raise CheckInRefused("no_meeting", "No such meeting.")
    return {
        "id": found["_id"],
        "title": found["title"],
        "starts_at": found["starts_at"],
        "ends_at": found["ends_at"],
        "status": found["status"],
        "place": found["hall"].get("place"),
    }


def failures(council: Council, meeting_id: str, client: str, now: datetime) -> int:
    since = now - mt.FAILURE_WINDOW
    return council.db.checkin_failures.count_documents(
        {"meeting_id": meeting_id, "client": client, "at": {"$gt": since}}
    )


def check_in(
    council: Council, meeting_id: str, typed: str, client: str, now: datetime | None = None
) -> CheckedIn:
    """Check in the invitee whose code this is; refused (and a wrong code counted) otherwise."""
    at = now or utcnow()
    found = council.db.meetings.find_one({"_id": meeting_id})
    if found is None or found["status"] == mt.CANCELLED:
        raise CheckInRefused("no_meeting", "No such meeting.")
    if found["status"] != mt.CONFIRMED or not mt.check_in_open(found["starts_at"], found["ends_at"], at):
        raise CheckInRefused("closed", "Check-in opens an hour before the meeting and closes at its end.")
    if mt.rate_limited(failures(council, meeting_id, client, at)):
        raise CheckInRefused("rate_limited", "Too many wrong codes: wait ten minutes, or ask the clerk.")
    if not mt.well_formed(typed):
        raise CheckInRefused("malformed", "The code is the six digits on your slip.")
    wanted = mt.code_hash(council.settings.secret_key, meeting_id, typed)
    invitee = next((i for i in found["invitees"] if i.get("code_hash") == wanted), None)
    if invitee is None:
        council.db.checkin_failures.insert_one(
            {"_id": new_id(), "meeting_id": meeting_id, "client": client, "at": at}
        )
        raise CheckInRefused("wrong_code", "This code is not valid for this meeting.")
    # Conditional on "not present yet": two phones typing one code at once check in once.
    changed = council.db.meetings.update_one(
        {"_id": meeting_id, "invitees": {"$elemMatch": {"key": invitee["key"], "present": False}}},
        {
            "$set": {
                "invitees.$.present": True,
                "invitees.$.checked_in_at": at,
                "invitees.$.checked_in_by": "code",
            }
        },
    )
    if changed.modified_count != 1:
        raise CheckInRefused("used_code", "This code has been used: you are checked in already.")
    return CheckedIn(
        mask_name(invitee["name"]), meetings.quorum_of(meetings.get_meeting(council, meeting_id))
    )
