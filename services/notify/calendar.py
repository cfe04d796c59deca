"""The .ics invitation attached to a session's email (RFC 5545, via icalendar)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from icalendar import Calendar, Event

from services.notify.messages import display_name
from services.notify.templates import language_of


def session_ics(data: Mapping[str, Any], language: str) -> str:
    """A METHOD:REQUEST calendar with one event; its UID is the session's, so a rescheduled
    session updates the entry in the resident's calendar rather than adding a second one."""
    lang = language_of(language)
    place = data.get("place") or {}
    calendar = Calendar()
    calendar.add("prodid", "-//Concord community mediation//notify//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", f"{data['session_id']}@concord.local")
    event.add("dtstamp", datetime.fromisoformat(data.get("scheduled_at") or data["starts_at"]))
    event.add("dtstart", datetime.fromisoformat(data["starts_at"]))
    event.add("dtend", datetime.fromisoformat(data["ends_at"]))
    summary = "Mediation session" if lang == "en" else "调解会"
    event.add("summary", f"{summary} {data['reference']}")
    location = display_name(place, lang)
    if place.get("address"):
        location = f"{location}, {place['address']}"
    event.add("location", location)
    event.add("class", "PUBLIC" if data.get("public") else "PRIVATE")
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")
