"""Rendering every message in both languages; SMS and WeChat Work limits; nothing private leaks."""

from __future__ import annotations

import pytest

from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory, Recipient
from services.notify.messages import build_context
from services.notify.planning import PlanConfig, render_content
from services.notify.rendering import (
    LANGUAGES,
    fit_bytes,
    fit_sms,
    render,
    render_html,
    render_sms,
    sms_segments,
)
from tests.support.notify_events import event

CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key="k",
    public_url="https://concord.example",
)
CASES = [
    (event_type, rule.template, channel)
    for event_type, rules in r.RULES.items()
    for rule in rules
    if rule.template != r.WEBHOOK_TEMPLATE
    for channel in rule.channels
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("event_type", "template", "channel"), CASES)
def test_every_message_renders_in_both_languages(event_type, template, channel, language) -> None:
    envelope = event(event_type)
    recipient = Recipient("applicant:0", "张三", language, {channel: "x"}, resident=True)
    content = render_content(channel, template, recipient, envelope, "d1", CONFIG)
    # A case's messages name the case; council's consultations and plan items are named by title.
    named = envelope.data["reference"]
    if event_type.startswith(("consultation.", "plan.")):
        named = envelope.data["title"][language]
    community_notice = {rule.audience for rule in r.RULES[event_type] if rule.template == template}
    if event_type.startswith(("meeting.", "minutes.")) and r.HOUSEHOLDS in community_notice:
        named = envelope.data["title"]  # households know a meeting by its subject, not its reference
    assert named in content["subject"] + content["body"] + (content.get("markdown") or "")
    assert "{{" not in content["body"] and "{%" not in content["body"]
    if channel == "sms":
        # Written to fit: never cut by the length limit.
        assert sms_segments(content["body"]) <= 2 and not content["body"].endswith(("…", "..."))
    if channel == "email":
        assert content["html"].startswith("<!DOCTYPE html>") and f'lang="{language}"' in content["html"]
        assert "/preferences/" in content["body"]


def test_english_and_chinese_say_the_same_thing_in_their_own_words() -> None:
    data = event("session.scheduled").data
    zh = render(
        "session_invitation",
        "zh-CN",
        build_context(data, recipient_name="张三", language="zh-CN", timezone="Asia/Shanghai"),
    )
    en = render(
        "session_invitation",
        "en",
        build_context(data, recipient_name="Zhang", language="en", timezone="Asia/Shanghai"),
    )
    assert "调解会" in zh[0] and "2026年11月26日 09:30" in zh[1]  # 01:30 UTC is 09:30 in Shanghai
    assert "Mediation session" in en[0] and "26 Nov 2026, 09:30" in en[1]
    assert "Lianhua Council Hall" in en[1] and "莲花社区议事厅" in zh[1]


@pytest.mark.parametrize(
    ("final", "zh_words", "en_words"),
    [
        (False, "申请期限至2026年12月31日（含当日）届满", "ends on 31 Dec 2026"),  # noqa: RUF001
        (True, "今天（2026年12月31日）", "Today, 31 Dec 2026"),  # noqa: RUF001
    ],
)
def test_confirmation_reminders_say_the_day_the_window_closes(
    final: bool, zh_words: str, en_words: str
) -> None:
    data = event("agreement.confirmation_due", final=final).data
    for language, words in (("zh-CN", zh_words), ("en", en_words)):
        context = build_context(data, recipient_name="张三", language=language, timezone="Asia/Shanghai")
        subject, body = render("confirmation_due", language, context)
        assert words in body and "2026" in subject, (language, body)
        sms = render_sms("confirmation_due", language, context, 2)
        assert ("2026年12月31日" if language == "zh-CN" else "31 Dec 2026") in sms
    # A reminder queued before `last_day` existed: the day before the (exclusive) deadline.
    old = {k: v for k, v in data.items() if k not in ("last_day", "final", "reminder_day")}
    context = build_context(old, recipient_name="张三", language="zh-CN", timezone="Asia/Shanghai")
    assert "2026年12月31日" in render("confirmation_due", "zh-CN", context)[1]


def test_merged_duplicates_parties_hear_the_other_reference_only() -> None:
    data = event("case.merged").data
    for language in ("zh-CN", "en"):
        context = build_context(data, recipient_name="张三", language=language, timezone="Asia/Shanghai")
        subject, body = render("case_merged", language, context)
        assert data["merged_into"] in subject and data["merged_into"] in body and data["reference"] in body


def test_unknown_language_falls_back_to_chinese() -> None:
    subject, _ = render(
        "case_closed",
        "fr",
        build_context(event("case.closed").data, recipient_name="x", language="fr", timezone="UTC"),
    )
    assert "已结案" in subject


def test_internal_notes_and_other_parties_never_reach_a_resident() -> None:
    for event_type in r.RULES:
        envelope = event(event_type)
        recipient = Recipient("applicant:0", "张三", "zh-CN", {"email": "a", "sms": "b"}, resident=True)
        for rule in r.RULES[event_type]:
            if rule.audience != r.APPLICANTS:
                continue
            for channel in rule.channels:
                content = render_content(channel, rule.template, recipient, envelope, "d1", CONFIG)
                text = repr(content)
                assert "INTERNAL-NOTE" not in text
                assert "李四" not in text and "13900139000" not in text and "li@example.com" not in text
                assert "private details" not in text


def test_html_part_escapes_what_it_shows() -> None:
    context = build_context(
        event("case.closed").data, recipient_name="<script>x</script>", language="en", timezone="UTC"
    )
    subject, body = render("case_closed", "en", context)
    html = render_html(subject, body, "en", context)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_sms_segments_count_gsm7_and_ucs2() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("调" * 70) == 1
    assert sms_segments("调" * 71) == 2
    assert sms_segments("调" * 134) == 2
    assert sms_segments("调" * 135) == 3


def test_long_sms_is_cut_to_fit_with_an_ellipsis() -> None:
    assert fit_sms("short", 1) == "short"
    cut = fit_sms("调" * 300, 2)
    assert sms_segments(cut) == 2 and cut.endswith("…")
    cut_one = fit_sms("b" * 500, 1)
    assert len(cut_one) == 160 and cut_one.endswith("...")


def test_sms_rendering_applies_the_segment_limit() -> None:
    context = build_context(event("case.closed").data, recipient_name="x", language="zh-CN", timezone="UTC")
    assert sms_segments(render_sms("case_closed", "zh-CN", context, 1)) == 1


def test_wechat_text_is_cut_on_a_character_boundary() -> None:
    cut = fit_bytes("调" * 2000, 2048)
    assert len(cut.encode()) <= 2048 and cut.endswith("…")
    assert fit_bytes("ok", 10) == "ok"
