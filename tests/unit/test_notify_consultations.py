"""Notify's planning of council's consultation events (pure): households by SMS at each registered
phone (a phone shared by two flats texted once), building groups by WeChat Work, and the one-time
code never in a planned delivery, a preview or a logged provider answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notify.delivery import _redact
from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory
from services.notify.messages import CODE_PLACEHOLDER
from services.notify.planning import PlanConfig, plan
from shared.messaging.envelope import make_envelope
from shared.messaging.events import validate_data
from shared.messaging.topology import NOTIFY_EVENTS
from tests.support.notify_events import GATE_ROBOT, consultation_data

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="k",
    public_url="https://concord.example",
)


def planned(event_type: str, **changes: Any) -> list[dict[str, Any]]:
    data = {**consultation_data(event_type), **changes}
    validate_data(event_type, 1, data)  # the samples are valid events
    return plan(make_envelope(event_type, data, source="council"), None, lambda _k: None, CONFIG, now=NOW)


def test_every_consultation_event_is_routed_to_notify() -> None:
    for event_type in ("consultation.opened", "consultation.closed", "consultation.reminder"):
        assert event_type in NOTIFY_EVENTS.routing_keys and event_type in r.RULES
    assert "consultation.code_requested" in NOTIFY_EVENTS.routing_keys


def test_households_get_an_sms_per_phone_and_the_building_group_a_wechat_message() -> None:
    found = planned("consultation.opened")
    sms = sorted(d["recipient"]["address"] for d in found if d["channel"] == "sms")
    assert sms == ["13500135000", "13500135001", "13500135002"]
    [group] = [d for d in found if d["channel"] == "wechat_work"]
    assert group["recipient"]["address"] == GATE_ROBOT and "大门更换" in group["content"]["markdown"]
    assert all(d["reference"] == "cons-1" and d["studio"] is None for d in found)
    # One owner's two flats with the same phone: one text.
    shared = consultation_data("consultation.reminder")["households"]
    shared[1]["phones"] = ["13500135000"]
    texts = [d for d in planned("consultation.reminder", households=shared) if d["channel"] == "sms"]
    assert sorted(d["recipient"]["address"] for d in texts) == ["13500135000", "13500135001"]


def test_closing_tells_the_vote_outcome_in_the_households_language() -> None:
    data = consultation_data("consultation.closed")
    data["households"][0]["language"] = "en"
    found = planned("consultation.closed", households=data["households"])
    english = next(d for d in found if d["recipient"]["address"] == "13500135000")
    chinese = next(d for d in found if d["recipient"]["address"] == "13500135002")
    assert "New gate" in english["content"]["body"] and "passed" in english["content"]["body"]
    assert "2/2" in english["content"]["body"] and "/c/cons-1" in english["content"]["body"]
    assert "通过" in chinese["content"]["body"]


def test_the_code_is_never_in_a_planned_delivery() -> None:
    [delivery] = planned("consultation.code_requested")
    assert delivery["channel"] == "sms" and delivery["recipient"]["address"] == "13500135000"
    assert delivery["has_secret"] is True
    assert "K7Q2M9" not in repr(delivery) and CODE_PLACEHOLDER in delivery["content"]["body"]
    assert not any(d.get("has_secret") for d in planned("consultation.opened"))


def test_a_provider_answer_quoting_the_code_or_the_phone_is_redacted() -> None:
    answer = 'HTTP 200: {"echo": "code K7Q2M9 to 13500135000"}'
    redacted = _redact(answer, "13500135000", "sms", "K7Q2M9")
    assert "K7Q2M9" not in redacted and "13500135000" not in redacted and CODE_PLACEHOLDER in redacted


def test_previews_of_consultation_messages_show_no_code() -> None:
    from types import SimpleNamespace

    from services.notify import delivery_log as log

    notify: Any = SimpleNamespace(plan_config=CONFIG)
    for template in (
        "consultation_opened",
        "consultation_reminder",
        "consultation_closed",
        "consultation_code",
    ):
        assert template in log.templates()
        for language in ("zh-CN", "en"):
            shown = log.preview(notify, template, language, "sms")
            assert shown is not None and "{{" not in shown["body"]
    code = log.preview(notify, "consultation_code", "en", "sms")
    assert "000000" not in code["body"] and CODE_PLACEHOLDER in code["body"]
