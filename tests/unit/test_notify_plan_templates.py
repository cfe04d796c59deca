"""`plan.item_finished`: the event's schema and notify's messages for it (households by SMS,
building groups by WeChat Work), in zh-CN and en, planned through notify's RULES with the
households and building-group audiences of council's consultations."""

from __future__ import annotations

import pytest

from services.notify.rendering import render, render_markdown, render_sms, sms_segments
from shared.messaging.envelope import InvalidMessage, make_envelope

URL = "https://council.example.cn/plan/lianhua"
DATA = {
    "item_id": "abc",
    "community": "lianhua",
    "title": {"zh-CN": "更换小区大门", "en": "Replace the gate"},
    "finished_at": "2026-06-30T08:00:00+00:00",
    "url": URL,
    "households": [{"flat_id": "f1", "building": "3", "label": "3-2-401", "phones": ["13800138000"]}],
    "building_groups": [{"building": "3", "webhook_url": "https://qyapi.example/hook"}],
}


def test_the_event_validates_and_refuses_bad_data() -> None:
    envelope = make_envelope("plan.item_finished", DATA, source="council")
    assert envelope.data["households"][0]["language"] == "zh-CN"  # the default filled in
    for broken in (
        {**DATA, "finished_at": "2026-06-30T08:00:00"},
        {k: v for k, v in DATA.items() if k != "url"},
        {**DATA, "title": {"fr": "x"}},
    ):
        with pytest.raises(InvalidMessage):
            make_envelope("plan.item_finished", broken, source="council")


@pytest.mark.parametrize(
    ("language", "title", "community", "said"),
    [
        ("zh-CN", "更换小区大门", "莲花社区", "已完成"),
        ("en", "Replace the gate", "Lianhua Community", "is done"),
    ],
)
def test_messages_name_the_item_and_link_the_public_plan(
    language: str, title: str, community: str, said: str
) -> None:
    context = {"title": title, "url": URL, "community_name": community}
    subject, body = render("plan_item_finished", language, context)
    assert title in subject and community in subject and said in subject
    assert URL in body and title in body
    sms = render_sms("plan_item_finished", language, context, max_segments=2)
    assert URL in sms and title in sms and sms_segments(sms) <= 2
    markdown = render_markdown("plan_item_finished", language, context)
    assert markdown is not None and f"]({URL})" in markdown and title in markdown


def test_a_finished_item_is_planned_for_households_and_building_groups() -> None:
    from datetime import UTC, datetime

    from services.notify.domain import rules as r
    from services.notify.domain.audiences import Directory
    from services.notify.planning import PlanConfig, plan
    from shared.messaging.topology import NOTIFY_EVENTS

    assert "plan.item_finished" in NOTIFY_EVENTS.routing_keys and "plan.item_finished" in r.RULES
    config = PlanConfig(
        enabled_channels=frozenset(r.CHANNELS),
        directory=Directory(),
        timezone="Asia/Shanghai",
        sms_max_segments=2,
        secret_key="k",
        public_url="https://concord.example",
    )
    envelope = make_envelope("plan.item_finished", DATA, source="council")
    # Households are told only when they asked for community notices (opt-in); the group always.
    assert [d["channel"] for d in plan(envelope, None, lambda _k: None, config, now=datetime.now(UTC))] == [
        "wechat_work"
    ]
    opted_in = {"household:lianhua:f1": {"community_notices": True, "channels": ["sms"]}}
    found = plan(envelope, None, opted_in.get, config, now=datetime(2026, 7, 1, tzinfo=UTC))
    by_channel = {d["channel"]: d for d in found}
    assert set(by_channel) == {"sms", "wechat_work"}
    assert by_channel["sms"]["recipient"]["address"] == "13800138000"
    assert (
        "更换小区大门" in by_channel["sms"]["content"]["body"] and URL in by_channel["sms"]["content"]["body"]
    )
    assert by_channel["wechat_work"]["recipient"]["address"] == "https://qyapi.example/hook"
    assert all(d["reference"] == "abc" and d["studio"] is None for d in found)
