"""Turn one event into the deliveries it causes. Pure: the caller reads contacts and preferences.

For each rule of the event (services.notify.domain.rules) that applies, each recipient of its audience,
and each channel the recipient can and wants to be reached on, one delivery is planned with its
content fully rendered, so what is sent (and resent) is exactly what was planned. Delivery ids are
derived from the event, recipient and channel: the same event can never plan the same delivery
twice. One person reached by two rules (a building leader who is also an applicant) gets one
message per channel, from the first rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory, Recipient, resolve
from services.notify.messages import build_context, webhook_payload
from services.notify.preferences import choose_channels, make_token, preference_key
from services.notify.rendering import render, render_footer, render_html, render_markdown, render_sms
from shared.calendar import (
    Person,
    build_cancellation,
    build_invitation,
    invite_from_event,
    meeting_invite_from_event,
)
from shared.messaging.envelope import Envelope

PENDING = "pending"
# Session events whose emails carry the .ics: the invitation, its update after a move (a REQUEST
# again, with the higher SEQUENCE the event carries) and the cancellation that removes it.
CALENDAR_METHODS = {
    "session.scheduled": "REQUEST",
    "session.rescheduled": "REQUEST",
    "session.cancelled": "CANCEL",
    "meeting.invited": "REQUEST",
    "meeting.rescheduled": "REQUEST",
    "meeting.cancelled": "CANCEL",
}

PreferencesLookup = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class PlanConfig:
    """What planning needs from the settings."""

    enabled_channels: frozenset[str]
    directory: Directory
    timezone: str
    sms_max_segments: int
    secret_key: str
    public_url: str


def delivery_id(message_id: str, recipient_key: str, channel: str) -> str:
    """Deterministic, so the same event can never plan the same delivery twice."""
    return hashlib.sha256(f"{message_id}|{recipient_key}|{channel}".encode()).hexdigest()[:32]


def reference_of(data: Mapping[str, Any]) -> str:
    """What a delivery is filed under: the case's reference, or council's consultation or plan item id."""
    return str(data.get("reference") or data.get("consultation_id") or data.get("item_id") or "")


def preferences_url(config: PlanConfig, key: str) -> str:
    return f"{config.public_url.rstrip('/')}/preferences/{make_token(config.secret_key, key)}"


def recipient_preference_key(recipient: Recipient, data: Mapping[str, Any]) -> str:
    """Where a resident's choices are kept: a household's own key, else the case's and their place."""
    return recipient.preference_key or preference_key(reference_of(data), recipient.key)


def render_content(
    channel: str,
    template: str,
    recipient: Recipient,
    envelope: Envelope,
    did: str,
    config: PlanConfig,
) -> dict[str, Any]:
    """Everything the channel will send, rendered now (stored with the delivery)."""
    data = envelope.data
    if channel == "webhook":
        payload = webhook_payload(envelope.type, envelope.message_id, envelope.occurred_at, did, data)
        return {"subject": envelope.type, "body": "", "payload": payload}
    prefs_url = None
    if recipient.resident:
        prefs_url = preferences_url(config, recipient_preference_key(recipient, data))
    context = build_context(
        data,
        recipient_name=recipient.name,
        language=recipient.language,
        timezone=config.timezone,
        preferences_url=prefs_url,
    )
    subject, body = render(template, recipient.language, context)
    if channel == "sms":
        # A household only ever gets SMS: its preferences link rides in every one (never cut off).
        household = bool(prefs_url and recipient.preference_key)
        return {
            "subject": subject,
            "body": render_sms(
                template, recipient.language, context, config.sms_max_segments, preferences_link=household
            ),
        }
    if channel == "wechat_work":
        return {
            "subject": subject,
            "body": body,
            "markdown": render_markdown(template, recipient.language, context),
        }
    # email: the HTML layout carries the preferences link itself; the text part gets a footer.
    html = render_html(subject, body, recipient.language, context)
    if prefs_url:
        body = f"{body.rstrip()}\n\n{render_footer(recipient.language, context)}"
    content: dict[str, Any] = {"subject": subject, "body": body, "html": html}
    method = CALENDAR_METHODS.get(envelope.type)
    if method:
        build = build_cancellation if method == "CANCEL" else build_invitation
        meeting = envelope.type.startswith("meeting.")
        read = meeting_invite_from_event if meeting else invite_from_event
        content["attachments"] = [
            {
                "filename": "meeting.ics" if meeting else "session.ics",
                "content_type": f"text/calendar; method={method}",
                "data": build(
                    read(data, recipient.language),
                    Person(recipient.name, recipient.addresses.get("email", ""), recipient.language),
                    datetime.fromisoformat(envelope.occurred_at),
                ).decode("utf-8"),
            }
        ]
    return content


def plan(
    envelope: Envelope,
    contacts: Mapping[str, Any] | None,
    preferences: PreferencesLookup,
    config: PlanConfig,
    *,
    studio_code: str | None = None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The deliveries `envelope` causes (documents ready to insert)."""
    data = envelope.data
    planned: list[dict[str, Any]] = []
    reached: set[tuple[str, str]] = set()
    for rule in r.RULES.get(envelope.type, ()):
        if not r.applies(rule, data):
            continue
        for recipient in resolve(rule.audience, data, contacts, config.directory):
            available = [c for c in recipient.addresses if c in config.enabled_channels]
            prefs = preferences(recipient_preference_key(recipient, data)) if recipient.resident else None
            chosen = choose_channels(
                rule.channels, available, prefs, essential=rule.essential, opt_in=rule.opt_in
            )
            for channel in chosen:
                address = recipient.addresses[channel]
                if (channel, address) in reached:
                    continue
                reached.add((channel, address))
                did = delivery_id(envelope.message_id, recipient.key, channel)
                planned.append(
                    {
                        "_id": did,
                        "reference": reference_of(data),
                        "studio": studio_code,
                        "event_type": envelope.type,
                        "event_id": envelope.message_id,
                        "correlation_id": envelope.correlation_id,
                        "channel": channel,
                        "template": rule.template,
                        "essential": rule.essential,
                        "recipient": {"key": recipient.key, "audience": rule.audience, "address": address},
                        "language": recipient.language,
                        "content": render_content(channel, rule.template, recipient, envelope, did, config),
                        "status": PENDING,
                        "attempts": 0,
                        "attempt_log": [],
                        "created_at": now,
                        "updated_at": now,
                        # The body holds CODE_PLACEHOLDER; the code itself is kept apart until sent.
                        "has_secret": bool(data.get("code")),
                    }
                )
    return planned
