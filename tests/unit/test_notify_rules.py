"""Notify's rules are data: they agree with the broker topology and name real templates."""

from __future__ import annotations

import pytest

from services.notify.domain import rules as r
from services.notify.rendering import LANGUAGES, has_template
from shared.messaging.events import SCHEMAS
from shared.messaging.topology import NOTIFY_EVENTS


def test_notify_consumes_exactly_the_events_its_rules_handle() -> None:
    assert set(NOTIFY_EVENTS.routing_keys) == set(r.RULES)
    assert len(NOTIFY_EVENTS.routing_keys) == len(set(NOTIFY_EVENTS.routing_keys))


def test_every_rule_names_a_known_event_audience_and_channel() -> None:
    known_events = {event for event, _version in SCHEMAS}
    for event_type, rules in r.RULES.items():
        assert event_type in known_events
        for rule in rules:
            assert rule.audience in r.AUDIENCES, rule
            assert rule.channels and set(rule.channels) <= set(r.CHANNELS), rule
            if rule.audience in r.RESIDENT_AUDIENCES:
                assert set(rule.channels) <= set(r.RESIDENT_CHANNELS), rule


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_a_rule_uses_exists_in_both_languages(language: str) -> None:
    for rules in r.RULES.values():
        for rule in rules:
            if rule.template == r.WEBHOOK_TEMPLATE:
                continue
            assert has_template(rule.template, language, "subject.txt"), rule
            assert has_template(rule.template, language, "body.txt"), rule
            if "sms" in rule.channels:
                assert has_template(rule.template, language, "sms.txt"), rule


def test_session_invitations_and_closing_notices_are_essential_for_parties() -> None:
    for event_type in ("session.scheduled", "session.rescheduled", "session.cancelled", "case.closed"):
        party_rules = [x for x in r.RULES[event_type] if x.audience in (r.APPLICANTS, r.RESPONDENTS)]
        assert party_rules and all(x.essential for x in party_rules)
    status_rules = [x for x in r.RULES["case.status_changed"] if x.audience == r.APPLICANTS]
    assert status_rules and not any(x.essential for x in status_rules)


def test_when_conditions_select_events_by_their_data() -> None:
    red_only = r.Rule(r.DUTY_GROUP, ("wechat_work",), "red_alert", when={"risk_level": ("red",)})
    assert r.applies(red_only, {"risk_level": "red"})
    assert not r.applies(red_only, {"risk_level": "orange"})
    assert not r.applies(red_only, {})
    public = r.Rule(r.APPLICANTS, ("email",), "x", when={"public": (True, None)})
    assert r.applies(public, {})  # the schema's default is public
    assert not r.applies(public, {"public": False})
