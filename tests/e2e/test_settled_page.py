""" "Is it settled?" (issue 14.4) in a real browser, on a phone: the answer page in Chinese without
JavaScript (one click stores the answer, another changes it, a comment is sent by a plain form), in
English with the accessibility check, and a wrong link's clear page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from services.intake.app import create_app
from services.intake.domain import case_rules
from services.intake.domain import settlement as rules
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import utcnow
from tests.e2e.conftest import PHONE, PHONE_USER_AGENT, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def intake_url(settings: Settings, serve_app: Callable[[Flask], str]) -> str:
    return serve_app(create_app(settings))


def survey(settings: Settings, token: str, reference: str = "LC-2026-000321") -> None:
    """A survey link as intake's worker leaves it (only the token's hash stored)."""
    now = utcnow()
    get_database(settings, "intake").settlement_surveys.insert_one(
        {
            "_id": rules.survey_id(reference, "applicant:0"),
            "reference": reference,
            "party": "applicant:0",
            "community": "lianhua",
            "token_hash": case_rules.hash_token(token),
            "created_at": now,
            "expires_at": now + timedelta(days=60),
            "answer": None,
            "answered_at": None,
            "first_answered_at": None,
            "comment": "",
        }
    )


def stored(settings: Settings) -> dict:
    return get_database(settings, "intake").settlement_surveys.find_one({}) or {}


def test_phone_answer_change_and_comment_without_javascript_in_chinese(
    new_context, intake_url: str, settings: Settings
) -> None:
    token = case_rules.new_tracking_token()
    survey(settings, token)
    context = new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        locale="zh-CN",
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto(f"{intake_url}/settled?token={token}&lang=zh-CN")  # the SMS's one link
    assert page.locator("#settled-choices a").count() == 3
    assert stored(settings)["answer"] is None  # looking at the choices stores nothing
    screenshot(page, "intake-settled-choices-phone-zh", full_page=True)

    page.click("#settled-choices a:has-text('没有，纠纷未化解')")  # noqa: RUF001
    page.wait_for_selector("#settled-saved")
    assert "您的回答已保存：没有，纠纷未化解" in page.inner_text("#settled-saved")  # noqa: RUF001
    assert stored(settings)["answer"] == "not_settled"
    box = page.locator("#comment-form button").bounding_box()
    assert box and box["x"] + box["width"] <= 390
    screenshot(page, "intake-settled-saved-phone-zh", full_page=True)

    page.click("#settled-change a:has-text('不确定')")
    page.wait_for_selector("#settled-saved")
    assert stored(settings)["answer"] == "not_sure"
    page.fill("#comment", "楼上最近又开始装修了。")
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector("#comment-saved")
    assert stored(settings)["comment"] == "楼上最近又开始装修了。"
    assert "楼上最近又开始装修了。" in page.input_value("#comment")
    assert page.locator("#settled-saved").count() == 0 and "不确定" in page.inner_text("#settled-stored")
    outbox = get_database(settings, "intake").outbox
    assert outbox.count_documents({"envelope.type": "case.settlement_answered"}) == 3
    screenshot(page, "intake-settled-commented-phone-zh", full_page=True)


def test_phone_answer_page_in_english_is_accessible_and_a_wrong_link_is_clear(
    phone, intake_url: str, settings: Settings, axe
) -> None:
    token = case_rules.new_tracking_token()
    survey(settings, token)
    page = phone.new_page()
    page.goto(f"{intake_url}/settled/settled?token={token}&lang=en")
    page.wait_for_selector("#settled-saved")
    assert "Your answer is saved: Yes, it is settled" in page.inner_text("#settled-saved")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    axe(page, "the settled answer page")
    screenshot(page, "intake-settled-saved-phone-en", full_page=True)

    # An empty comment: the error at the field, nothing stored.
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector("#error-summary")
    assert "Please write your comment" in page.inner_text("#error-summary")
    assert stored(settings)["comment"] == ""
    axe(page, "the settled answer page with an error")

    wrong = page.goto(f"{intake_url}/settled/not_settled?token=not-a-token&lang=en")
    assert wrong is not None and wrong.status == 404
    assert "This link is not valid" in page.inner_text("#settled-invalid")
    assert stored(settings)["answer"] == "settled"
    axe(page, "the settled page for a wrong link")
    screenshot(page, "intake-settled-invalid-phone-en")
