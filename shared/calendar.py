# Chinese invitation text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The one iCalendar (RFC 5545) invitation builder of Concord: mediation's session scheduling and
notify's emailed invitations both use it, so every copy of a session's invitation has the same UID,
wording and privacy class.

`build_invitation(invite, recipient, stamp)` builds a METHOD:REQUEST calendar for one recipient (a
moved session is the same request again with a higher SEQUENCE, RFC 5546 §3.2.2);
`build_cancellation(invite, recipient, stamp)` the METHOD:CANCEL that removes it from calendars;
`invite_from_event(data, language)` reads a `session.*` event's data into a `SessionInvite`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Concord//Community mediation//EN"
UTC = ZoneInfo("UTC")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


@dataclass(frozen=True)
class Person:
    """Someone on an invitation: a party, a mediator or the studio (organizer)."""

    name: str
    email: str
    language: str = "zh-CN"


@dataclass(frozen=True)
class SessionInvite:
    """What every invitation to one session shares. Holds no party's personal data: each invitation
    names only its own recipient (and the mediators), never the other side."""

    session_id: str
    reference: str
    starts_at: datetime
    ends_at: datetime
    place_name: str
    place_address: str
    organizer: Person  # the studio
    mediators: tuple[Person, ...] = ()
    public: bool = False
    sequence: int = 0  # raised on each move and on cancelling, so calendars replace the old event
    # A council meeting says what it is itself (a session's wording is fixed below).
    summary: str | None = None
    description: str | None = None


_TEXT = {
    "zh-CN": {
        "summary": "人民调解会（案件 {reference}）",
        "cancelled": "已取消：{summary}",
        "private": "本次调解不公开进行。",
        "public": "经各方当事人同意，本次调解公开进行。",
        "body": (
            "案件编号：{reference}\n{visibility}\n请携带身份证件及与纠纷有关的材料准时参加。"
            "人民调解不收取任何费用。如需改期，请联系调解员。"
        ),
    },
    "en": {
        "summary": "Mediation session (case {reference})",
        "cancelled": "Cancelled: {summary}",
        "private": "This session is private.",
        "public": "With every party's agreement, this session is public.",
        "body": (
            "Case reference: {reference}\n{visibility}\nPlease bring your ID and any documents about "
            "the dispute. People's mediation is free of charge. To reschedule, contact your mediator."
        ),
    },
}


def invitation_uid(session_id: str) -> str:
    """The iCalendar UID of a session: the same in every copy and every update of the invitation, and
    the same whoever builds it, so calendars see one event."""
    return f"{session_id}@concord.local"


def _address(person: Person, role: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    address.params["ROLE"] = vText(role)
    return address


def _calendar(invite: SessionInvite, recipient: Person, stamp: datetime, method: str) -> bytes:
    """One VEVENT for `recipient`: times in UTC, the place, the studio as organizer, the recipient
    and the mediators as attendees. A CANCEL carries the same UID and the invite's SEQUENCE (which
    must be higher than the last request's), so calendars remove the event they already hold."""
    text = _TEXT["zh-CN" if recipient.language.lower().startswith("zh") else "en"]
    visibility = text["public"] if invite.public else text["private"]
    cancelled = method == "CANCEL"
    summary = invite.summary or text["summary"].format(reference=invite.reference)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", invitation_uid(invite.session_id))
    event.add("dtstamp", _aware(stamp, "stamp").astimezone(UTC))
    event.add("dtstart", _aware(invite.starts_at, "starts_at").astimezone(UTC))
    event.add("dtend", _aware(invite.ends_at, "ends_at").astimezone(UTC))
    event.add("sequence", invite.sequence)
    event.add("summary", text["cancelled"].format(summary=summary) if cancelled else summary)
    event.add("location", ", ".join(part for part in (invite.place_name, invite.place_address) if part))
    description = invite.description or text["body"].format(reference=invite.reference, visibility=visibility)
    event.add("description", description)
    event.add("class", "PUBLIC" if invite.public else "PRIVATE")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if invite.organizer.email:
        event.add("organizer", _address(invite.organizer, "CHAIR"), encode=0)
    if recipient.email:
        event.add("attendee", _address(recipient, "REQ-PARTICIPANT"), encode=0)
    for mediator in invite.mediators:
        if mediator.email and mediator.email != recipient.email:
            event.add("attendee", _address(mediator, "CHAIR"), encode=0)
    cal.add_component(event)
    return cal.to_ical()


def build_invitation(invite: SessionInvite, recipient: Person, stamp: datetime) -> bytes:
    """An iCalendar (RFC 5545) REQUEST for `recipient`: one VEVENT, times in UTC, the place, the studio
    as organizer, the recipient and the mediators as attendees. `stamp` is when it is issued. Sent
    again with a higher `sequence` when the session moves: calendars update the event in place."""
    return _calendar(invite, recipient, stamp, "REQUEST")


def build_cancellation(invite: SessionInvite, recipient: Person, stamp: datetime) -> bytes:
    """The iCalendar CANCEL of a session for `recipient` (RFC 5546 §3.2.5): the same UID as its
    invitation, STATUS:CANCELLED and `invite.sequence` above every request sent before."""
    return _calendar(invite, recipient, stamp, "CANCEL")


def invite_from_event(data: Mapping[str, Any], language: str) -> SessionInvite:
    """A `session.scheduled`, `session.rescheduled` or `session.cancelled` event's data as an
    invitation; names in `language` where the event has them (places and studios carry an English
    name). Its `sequence` is the event's (0 for the first invitation)."""
    english = not language.lower().startswith("zh")
    place = data.get("place") or {}
    studio = data.get("studio") or {}

    def name(ref: Mapping[str, Any]) -> str:
        return str((ref.get("name_en") if english else None) or ref.get("name") or ref.get("code") or "")

    return SessionInvite(
        session_id=data["session_id"],
        reference=data["reference"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        place_name=name(place),
        place_address=place.get("address") or "",
        organizer=Person(name(studio) or "Concord", studio.get("email") or ""),
        mediators=tuple(
            Person(m.get("name") or "", m.get("email") or "") for m in data.get("mediators") or []
        ),
        public=bool(data.get("public", False)),
        sequence=int(data.get("sequence") or 0),
    )


_MEETING_TEXT = {
    "zh-CN": {
        "summary": "业主议事会：{title}",
        "body": "议事会编号：{reference}\n议程：\n{agenda}\n签到页面：{url}",
    },
    "en": {
        "summary": "Owners' council meeting: {title}",
        "body": "Meeting {reference}\nAgenda:\n{agenda}\nCheck in: {url}",
    },
}


def meeting_invite_from_event(data: Mapping[str, Any], language: str) -> SessionInvite:
    """A council `meeting.*` event's data as an invitation (the meeting's id is its UID, its
    `sequence` the event's). Council meetings are public: minutes are published."""
    english = not language.lower().startswith("zh")
    text = _MEETING_TEXT["en" if english else "zh-CN"]
    place = data.get("place") or {}
    agenda = "\n".join(f"{i}. {item}" for i, item in enumerate(data.get("agenda") or [], 1)) or "-"
    return SessionInvite(
        session_id=data["meeting_id"],
        reference=data.get("reference") or data["meeting_id"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        place_name=str((place.get("name_en") if english else None) or place.get("name") or ""),
        place_address=place.get("address") or "",
        organizer=Person("Owners' council" if english else "业主委员会", ""),
        public=True,
        sequence=int(data.get("sequence") or 0),
        summary=text["summary"].format(title=data.get("title") or ""),
        description=text["body"].format(
            reference=data.get("reference") or "", agenda=agenda, url=data.get("url") or ""
        ),
    )
