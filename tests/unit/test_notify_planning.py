"""Planning deliveries from events, preferences and opt-outs, webhook signatures, digests: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from services.notify.channels.webhook import sign, verify_signature
from services.notify.delivery import _contacts_from
from services.notify.digest import summarise
from services.notify.domain import rules as r
from services.notify.domain.audiences import ContactsNotYetKnown, Directory
from services.notify.planning import PlanConfig, plan
from services.notify.preferences import choose_channels, make_token, preference_key, read_token
from tests.support.notify_events import REFERENCE, event

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CONFIG = PlanConfig(
    enabled_channels=frozenset({"email", "sms", "wechat_work", "webhook"}),
    directory=Directory(duty_group_url="http://127.0.0.1:9/duty", webhook_urls=("http://127.0.0.1:9/hook",)),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="secret",
    public_url="https://concord.example",
)
CONTACTS = _contacts_from(event("case.submitted").data)


def no_prefs(key: str) -> None:
    return None


def targets(deliveries: list[dict]) -> set[tuple[str, str, str]]:
    return {(d["recipient"]["audience"], d["channel"], d["recipient"]["address"]) for d in deliveries}


def test_assignment_tells_studio_applicant_and_filer_on_each_of_their_channels() -> None:
    planned = plan(event("case.assigned"), CONTACTS, no_prefs, CONFIG, studio_code="zhihe", now=NOW)
    assert targets(planned) == {
        ("studio", "email", "zhihe@studios.example"),
        ("applicants", "email", "zhang@example.com"),
        ("applicants", "sms", "13800138000"),
        ("filer", "email", "wang@example.com"),
        ("filer", "sms", "13600136000"),
        ("systems", "webhook", "http://127.0.0.1:9/hook"),
    }
    assert all(d["studio"] == "zhihe" and d["status"] == "pending" for d in planned)


def test_red_cases_also_alert_the_duty_group() -> None:
    planned = plan(event("case.assigned", risk_level="red"), CONTACTS, no_prefs, CONFIG, now=NOW)
    assert ("duty_group", "wechat_work", "http://127.0.0.1:9/duty") in targets(planned)


def test_unconfigured_channel_or_missing_address_yields_no_delivery() -> None:
    email_only = PlanConfig(**{**CONFIG.__dict__, "enabled_channels": frozenset({"email"})})
    planned = plan(event("case.assigned"), CONTACTS, no_prefs, email_only, now=NOW)
    assert {d["channel"] for d in planned} == {"email"}
    no_email = {**CONTACTS, "parties": [{**CONTACTS["parties"][0], "email": None}], "filer": None}
    planned = plan(event("case.assigned"), no_email, no_prefs, email_only, now=NOW)
    assert [d["recipient"]["audience"] for d in planned] == ["studio"]


def test_same_event_plans_the_same_ids_and_different_events_different_ones() -> None:
    envelope = event("case.closed")
    first = plan(envelope, CONTACTS, no_prefs, CONFIG, now=NOW)
    again = plan(envelope, CONTACTS, no_prefs, CONFIG, now=NOW)
    other = plan(event("case.closed"), CONTACTS, no_prefs, CONFIG, now=NOW)
    assert [d["_id"] for d in first] == [d["_id"] for d in again]
    assert not {d["_id"] for d in first} & {d["_id"] for d in other}
    assert len({d["_id"] for d in first}) == len(first)


def test_one_person_named_by_two_rules_gets_one_message_per_channel() -> None:
    contacts = {**CONTACTS, "filer": {"name": "张三", "email": "zhang@example.com", "phone": "13800138000"}}
    planned = plan(event("case.assigned"), contacts, no_prefs, CONFIG, now=NOW)
    to_zhang = [d for d in planned if d["recipient"]["address"] in ("zhang@example.com", "13800138000")]
    assert len(to_zhang) == 2


def test_resident_events_wait_for_the_contacts() -> None:
    with pytest.raises(ContactsNotYetKnown):
        plan(event("case.assigned"), None, no_prefs, CONFIG, now=NOW)


def test_internal_status_changes_tell_nobody() -> None:
    assert plan(event("case.status_changed", public=False), CONTACTS, no_prefs, CONFIG, now=NOW) == []


def test_session_invitation_carries_an_ics_and_reaches_both_parties_and_mediator() -> None:
    planned = plan(event("session.scheduled"), CONTACTS, no_prefs, CONFIG, now=NOW)
    emails = [d for d in planned if d["channel"] == "email"]
    assert {d["recipient"]["address"] for d in emails} == {
        "zhang@example.com",
        "li@example.com",
        "zhao@studios.example",
    }
    ics = emails[0]["content"]["attachments"][0]
    calendar = Calendar.from_ical(ics["data"])
    vevent = calendar.walk("VEVENT")[0]
    assert str(vevent["UID"]) == "s-1@concord.local"
    assert vevent.decoded("DTSTART") == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event_type", "method", "sequence", "status"),
    [("session.rescheduled", "REQUEST", 1, "CONFIRMED"), ("session.cancelled", "CANCEL", 2, "CANCELLED")],
)
def test_moved_and_cancelled_sessions_reach_every_invitee_with_the_ics_that_replaces_the_first(
    event_type: str, method: str, sequence: int, status: str
) -> None:
    invited = plan(event("session.scheduled"), CONTACTS, no_prefs, CONFIG, now=NOW)
    planned = plan(event(event_type), CONTACTS, no_prefs, CONFIG, now=NOW)
    # The same people on the same channels as the invitation, whatever they opted out of.
    assert {t[1:] for t in targets(planned)} == {t[1:] for t in targets(invited)}
    assert all(d["essential"] for d in planned)
    for delivery in (d for d in planned if d["channel"] == "email"):
        [ics] = delivery["content"]["attachments"]
        assert ics["content_type"] == f"text/calendar; method={method}"
        calendar = Calendar.from_ical(ics["data"])
        assert str(calendar["method"]) == method
        vevent = calendar.walk("VEVENT")[0]
        assert str(vevent["UID"]) == "s-1@concord.local"  # the invitation's UID
        assert vevent.decoded("SEQUENCE") == sequence and str(vevent["STATUS"]) == status
    # A legal notice like the invitation: an opt-out of non-essential messages does not stop it.
    opted_out = {preference_key(REFERENCE, "applicant:0"): {"channels": ["email", "sms"], "opt_out": True}}
    kept = plan(event(event_type), CONTACTS, opted_out.get, CONFIG, now=NOW)
    assert {d["channel"] for d in kept if d["recipient"]["key"] == "applicant:0"} == {"email", "sms"}


def test_a_move_says_the_new_and_the_old_time_and_a_cancellation_its_reason() -> None:
    [moved] = [
        d
        for d in plan(event("session.rescheduled"), CONTACTS, no_prefs, CONFIG, now=NOW)
        if d["channel"] == "email" and d["recipient"]["address"] == "zhang@example.com"
    ]
    body = moved["content"]["body"]
    assert "2026年12月6日 09:30" in body and "原定 2026年11月26日 09:30" in body
    [cancelled] = [
        d
        for d in plan(event("session.cancelled"), CONTACTS, no_prefs, CONFIG, now=NOW)
        if d["channel"] == "sms" and d["recipient"]["address"] == "13800138000"
    ]
    assert "已取消" in cancelled["content"]["body"] and "2026年11月26日 09:30" in cancelled["content"]["body"]
    [mail] = [
        d
        for d in plan(event("session.cancelled"), CONTACTS, no_prefs, CONFIG, now=NOW)
        if d["channel"] == "email" and d["recipient"]["address"] == "zhang@example.com"
    ]
    assert "The hall is closed for repairs that day." in mail["content"]["body"]


def test_webhook_payload_has_codes_and_times_but_no_personal_data() -> None:
    for event_type in r.RULES:
        for d in plan(event(event_type), CONTACTS, no_prefs, CONFIG, now=NOW):
            if d["channel"] != "webhook":
                continue
            payload = d["content"]["payload"]
            assert payload["id"] == d["_id"] and payload["data"]["reference"] == REFERENCE
            text = json.dumps(payload, ensure_ascii=False)
            for private in ("张三", "13800138000", "example.com", "INTERNAL", "private details", "2-301"):
                assert private not in text, (event_type, private)


def test_opt_out_stops_non_essential_messages_but_not_legal_notices() -> None:
    key = preference_key(REFERENCE, "applicant:0")
    prefs = {key: {"channels": ["email", "sms"], "opt_out": True}}
    status = plan(event("case.status_changed"), CONTACTS, prefs.get, CONFIG, now=NOW)
    assert not [d for d in status if d["recipient"]["key"] == "applicant:0"]
    session = plan(event("session.scheduled"), CONTACTS, prefs.get, CONFIG, now=NOW)
    assert {d["channel"] for d in session if d["recipient"]["key"] == "applicant:0"} == {"email", "sms"}


def test_channel_choice_is_followed_and_a_legal_notice_falls_back_to_all() -> None:
    assert choose_channels(("email", "sms"), ["email", "sms"], {"channels": ["sms"]}, essential=False) == [
        "sms"
    ]
    assert choose_channels(("email", "sms"), ["email", "sms"], None, essential=False) == ["email", "sms"]
    assert choose_channels(("email", "sms"), ["email"], {"channels": ["sms"]}, essential=False) == []
    assert choose_channels(("email", "sms"), ["email"], {"channels": ["sms"]}, essential=True) == ["email"]
    assert choose_channels(("email",), ["email", "sms"], None, essential=True) == ["email"]


def test_preference_links_are_signed() -> None:
    token = make_token("secret", "LC-2026-000042:applicant:0")
    assert read_token("secret", token) == "LC-2026-000042:applicant:0"
    assert read_token("other-secret", token) is None
    assert read_token("secret", token[:-2] + "xx") is None
    assert read_token("secret", "not a token") is None


def test_webhook_signature_covers_body_and_time_and_expires() -> None:
    body = b'{"event": "case.closed"}'
    header = sign("s3cret", 1_800_000_000, body)
    assert verify_signature("s3cret", header, "1800000000", body, now=1_800_000_010)
    assert not verify_signature("s3cret", header, "1800000000", body + b" ", now=1_800_000_010)
    assert not verify_signature("wrong", header, "1800000000", body, now=1_800_000_010)
    assert not verify_signature("s3cret", header, "1800000001", body, now=1_800_000_010)  # time is signed
    assert not verify_signature("s3cret", header, "1800000000", body, now=1_800_000_000 + 301)  # replay
    assert not verify_signature("s3cret", header, "soon", body)


def test_digest_summary_picks_overdue_and_due_soon_and_skips_paused() -> None:
    def case(ref: str, days: float, status: str = "investigating", open_: bool = True) -> dict:
        return {"_id": ref, "open": open_, "status": status, "due_at": NOW + timedelta(days=days)}

    cases = [
        case("A", -2),
        case("B", 1),
        case("C", 10),
        case("D", -5, status="waiting_for_party"),
        case("E", -1, open_=False),
        case("F", -3),
    ]
    summary = summarise(cases, NOW, due_soon_days=3)
    assert summary.open_count == 5
    assert [c["_id"] for c in summary.overdue] == ["F", "A"]
    assert [c["_id"] for c in summary.due_soon] == ["B"]


def test_masking_keeps_addresses_apart_without_revealing_them() -> None:
    from services.notify.delivery import _redact
    from shared.masking import mask_address

    assert mask_address("sms", "13800138000") == "138****8000"
    assert mask_address("email", "zhang@example.com") == "z***@example.com"
    assert mask_address("wechat_work", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET") == (
        "https://qyapi.weixin.qq.com/…"
    )
    assert _redact("550 <zhang@example.com>: no such user", "zhang@example.com", "email") == (
        "550 <z***@example.com>: no such user"
    )


LEADERS = [
    {"user_id": "zhao", "name": "赵强", "email": "zhao@building.example", "language": "zh-CN"},
    {"user_id": "li", "name": "Li", "email": None, "language": "en"},  # no address: no delivery
]


@pytest.mark.parametrize(
    ("event_type", "template"),
    [
        ("session.scheduled", "building_session_scheduled"),
        ("session.rescheduled", "building_session_rescheduled"),
        ("session.cancelled", "building_session_cancelled"),
        ("case.closed", "building_case_closed"),
    ],
)
def test_building_leaders_hear_of_sessions_and_endings_without_the_parties(event_type, template) -> None:
    planned = plan(event(event_type, building_leaders=LEADERS), CONTACTS, no_prefs, CONFIG, now=NOW)
    [told] = [d for d in planned if d["recipient"]["audience"] == "building_leaders"]
    assert (told["channel"], told["recipient"]["address"], told["template"]) == (
        "email",
        "zhao@building.example",
        template,
    )
    text = told["content"]["subject"] + told["content"]["body"]
    assert REFERENCE in text and "赵强" in text
    for party in CONTACTS["parties"]:  # never the parties' names or contacts
        assert party["name"] not in text and (party.get("phone") or "-") not in text
    without = plan(event(event_type), CONTACTS, no_prefs, CONFIG, now=NOW)
    assert not [d for d in without if d["recipient"]["audience"] == "building_leaders"]
