"""What the meetings' pages say in the reader's language: refusal codes, states, outcomes."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext

REASONS: Mapping[str, object] = {
    # Times and the hall (mediation's refusal reasons included).
    "invalid_times": lazy_gettext("Give a date and the start and end times."),
    "quarter_hour": lazy_gettext("Times are on the quarter hour (e.g. 19:00, 19:15)."),
    "ends_before_start": lazy_gettext("The meeting must end after it starts."),
    "too_long": lazy_gettext("Too long."),
    "past": lazy_gettext("That time has passed."),
    "double_booked": lazy_gettext("The council hall is already booked at that time."),
    "unknown_hall": lazy_gettext("This community has no council hall in mediation's registry."),
    "unchanged": lazy_gettext("The meeting is already at that time."),
    "required": lazy_gettext("Required."),
    "bad_quorum": lazy_gettext("Write the quorum as a share, e.g. 1/2 (more than half) or >=2/3."),
    "bad_window": lazy_gettext("Amendments are open 1 to 30 days."),
    "no_consultation": lazy_gettext("No such consultation in this community."),
    "invalid": lazy_gettext("Check this field."),
    "reason": lazy_gettext("Give the reason for cancelling; the invitees are told it."),
    "not_confirmed": lazy_gettext("Invitations go out once the hall is confirmed."),
    "already_invited": lazy_gettext("The invitations were sent already."),
    "no_invitees": lazy_gettext("Invite someone first."),
    "bad_count": lazy_gettext("Counts are whole numbers, 0 or more."),
    "more_votes_than_present": lazy_gettext("More votes than people present."),
    "stale": lazy_gettext("This changed in the meantime; nothing was changed."),
    # Minutes.
    "not_draft": lazy_gettext("The minutes are no longer a draft."),
    "empty": lazy_gettext("Write the text first."),
    "not_amending": lazy_gettext("The minutes are not open for amendments."),
    "window_closed": lazy_gettext("The time for amendments has ended."),
    "window_open": lazy_gettext("Attendees may still propose amendments until the window ends."),
    "open_amendments": lazy_gettext("Accept or reject every amendment first."),
    "not_attendee": lazy_gettext("Only those who attended propose amendments."),
    "decided": lazy_gettext("This amendment was decided already."),
    "not_adopted": lazy_gettext("Only adopted minutes are published."),
    # Check-in.
    "no_meeting": lazy_gettext("No such meeting."),
    "closed": lazy_gettext("Check-in opens an hour before the meeting and closes at its end."),
    "malformed": lazy_gettext("The code is the six digits on your slip."),
    "wrong_code": lazy_gettext("This code is not valid for this meeting."),
    "used_code": lazy_gettext("This code has been used: you are checked in already."),
    "rate_limited": lazy_gettext("Too many wrong codes: wait ten minutes, or ask the clerk."),
}

STATES: Mapping[str, object] = {
    "requested": lazy_gettext("Hall requested"),
    "confirmed": lazy_gettext("Confirmed"),
    "refused": lazy_gettext("Hall refused"),
    "cancelled": lazy_gettext("Cancelled"),
    "draft": lazy_gettext("Draft"),
    "amending": lazy_gettext("Open for amendments"),
    "adopted": lazy_gettext("Adopted"),
    "published": lazy_gettext("Published"),
    "proposed": lazy_gettext("Proposed"),
    "accepted": lazy_gettext("Accepted"),
    "rejected": lazy_gettext("Rejected"),
    "not_adopted": lazy_gettext("Not adopted"),
    "no_quorum": lazy_gettext("No quorum"),
    "representative": lazy_gettext("Representative"),
    "council_member": lazy_gettext("Council member"),
}

FIELDS: Mapping[str, object] = {
    "title": lazy_gettext("Title"),
    "day": lazy_gettext("Day"),
    "starts_at": lazy_gettext("Starts"),
    "ends_at": lazy_gettext("Ends"),
    "quorum": lazy_gettext("Quorum"),
    "amendment_days": lazy_gettext("Days for amendments"),
    "consultation_id": lazy_gettext("Consultation"),
    "kind": lazy_gettext("Invited as"),
    "name": lazy_gettext("Name"),
    "phone": lazy_gettext("Phone"),
    "email": lazy_gettext("Email"),
    "reason": lazy_gettext("Reason"),
    "for": lazy_gettext("For"),
    "against": lazy_gettext("Against"),
    "abstain": lazy_gettext("Abstain"),
    "text": lazy_gettext("Text"),
    "code": lazy_gettext("Check-in code"),
    "form": lazy_gettext("This step"),
}


def reason(code: str, fallback: str = "") -> str:
    """A refusal code in the reader's language (the English message when the code is new)."""
    text = REASONS.get(code)
    return str(text) if text is not None else fallback or code


def state(code: str | None) -> str:
    return str(STATES.get(code or "", code or ""))


def field_labels() -> dict[str, str]:
    return {name: str(label) for name, label in FIELDS.items()}
