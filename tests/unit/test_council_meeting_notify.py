"""Notify's part of council meetings: invitees reached by email (with the .ics) and SMS; a moved
meeting updates the same calendar event (same UID, higher SEQUENCE), a cancelled one removes it;
published minutes carry the public link and no calendar file."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory
from services.notify.planning import PlanConfig, plan
from services.notify.preferences import preference_key
from tests.support.notify_events import INVITEE, event

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="k",
    public_url="https://notify.example",
)
REFERENCE = "YS-3F2A9C1B"


def no_prefs(key: str) -> None:
    return None


def calendar_of(delivery: dict) -> Calendar:
    [attachment] = delivery["content"]["attachments"]
    assert attachment["filename"] == "meeting.ics"
    return Calendar.from_ical(attachment["data"])


def test_invitation_reaches_each_invitee_by_email_with_the_ics_and_by_sms() -> None:
    planned = plan(event("meeting.invited", REFERENCE), None, no_prefs, CONFIG, now=NOW)
    assert {(d["channel"], d["recipient"]["address"]) for d in planned} == {
        ("email", INVITEE["email"]),
        ("sms", INVITEE["phone"]),
    }
    mail = next(d for d in planned if d["channel"] == "email")
    assert "加装电梯" in mail["content"]["subject"] and REFERENCE in mail["content"]["subject"]
    assert "王建国" in mail["content"]["body"] and "莲花小区议事厅" in mail["content"]["body"]
    cal = calendar_of(mail)
    [vevent] = cal.walk("VEVENT")
    assert (str(cal["METHOD"]), str(vevent["UID"]), int(vevent["SEQUENCE"])) == (
        "REQUEST",
        "m-1@concord.local",
        0,
    )
    assert "加装电梯" in str(vevent["SUMMARY"]) and "调解" not in str(vevent["SUMMARY"])


def test_moved_and_cancelled_meetings_update_and_remove_the_same_calendar_event() -> None:
    moved = plan(event("meeting.rescheduled", REFERENCE), None, no_prefs, CONFIG, now=NOW)
    mail = next(d for d in moved if d["channel"] == "email")
    [vevent] = calendar_of(mail).walk("VEVENT")
    assert (str(vevent["UID"]), int(vevent["SEQUENCE"])) == ("m-1@concord.local", 1)
    cancelled = plan(event("meeting.cancelled", REFERENCE), None, no_prefs, CONFIG, now=NOW)
    mail = next(d for d in cancelled if d["channel"] == "email")
    cal = calendar_of(mail)
    [vevent] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "CANCEL" and int(vevent["SEQUENCE"]) == 2
    assert "议事厅临时维修" in mail["content"]["body"]


def test_published_minutes_carry_the_link_and_respect_an_opt_out() -> None:
    planned = plan(event("minutes.published", REFERENCE), None, no_prefs, CONFIG, now=NOW)
    mail = next(d for d in planned if d["channel"] == "email")
    assert "https://council.example/m/m-1/minutes" in mail["content"]["body"]
    assert "attachments" not in mail["content"]
    key = preference_key(REFERENCE, f"invitee:{INVITEE['key']}")
    opted_out = {key: {"channels": ["email", "sms"], "opt_out": True}}
    assert plan(event("minutes.published", REFERENCE), None, opted_out.get, CONFIG, now=NOW) == []
    # An invitation is essential: the invitee still gets it.
    assert plan(event("meeting.invited", REFERENCE), None, opted_out.get, CONFIG, now=NOW)
