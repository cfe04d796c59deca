"""A resident files a dispute in a real browser (Debian chromium), on a phone, in both languages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from services.intake.app import create_app
from shared.config import Settings
from shared.db import get_database
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def intake_url(settings: Settings, serve_app: Callable[[Flask], str]) -> str:
    return serve_app(create_app(settings))


def fill_valid_case(page, community: str = "lianhua", category: str = "neighbours") -> None:
    page.fill("#applicants-0-name", "张三")
    page.fill("#applicants-0-phone", "13800138000")
    page.fill("#respondents-0-name", "李四")
    page.select_option("#community", community)
    page.fill("#building", "3")
    page.fill("#unit", "2-301")
    page.select_option("#category", category)
    page.fill("#description", "楼上每晚22点后装修噪音很大")
    page.check("#consent")


def test_phone_chinese_file_and_track(phone, intake_url: str, settings: Settings) -> None:
    page = phone.new_page()
    page.goto(intake_url + "/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "申请免费人民调解"
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "intake-form-phone-zh")

    fill_valid_case(page)
    page.check("#threat_of_violence-yes")
    page.click("button[value=submit]")
    page.wait_for_selector("#reference")
    reference = page.inner_text("#reference")
    assert re.fullmatch(r"LC-\d{4}-\d{6}", reference)
    assert "接下来会怎样" in page.content()
    screenshot(page, "intake-submitted-phone-zh")
    case = get_database(settings, "intake").cases.find_one({"_id": reference})
    assert case["threat_of_violence"] is True and case["channel"] == "web"

    page.click("#tracking-link")
    page.wait_for_selector("#timeline")
    assert page.inner_text("#current-status") == "已受理登记"
    screenshot(page, "intake-track-phone-zh")


def test_phone_english_error_path_keeps_values_and_links_to_fields(
    phone, intake_url: str, settings: Settings
) -> None:
    page = phone.new_page()
    page.goto(intake_url + "/")
    page.click("a[hreflang=en]")  # the language switch is a plain link
    assert page.get_attribute("html", "lang") == "en"
    page.fill("#applicants-0-name", "Zhang San")
    page.fill("#applicants-0-phone", "call me")
    page.fill("#description", "Water leaks from the flat above.")
    page.click("button[value=submit]")

    summary = page.locator("#error-summary")
    assert summary.is_visible()
    text = summary.inner_text()
    assert "Applicant 1: phone" in text and "Community" in text and "Privacy notice" in text
    # Values typed are still there; the cookie kept English across the POST.
    assert page.input_value("#applicants-0-name") == "Zhang San"
    assert page.input_value("#applicants-0-phone") == "call me"
    assert page.input_value("#description") == "Water leaks from the flat above."
    assert page.get_attribute("#applicants-0-phone", "aria-invalid") == "true"
    screenshot(page, "intake-errors-phone-en")

    page.click("#error-summary a[href='#building']")
    assert page.evaluate("document.activeElement.id") == "building"
    assert get_database(settings, "intake").cases.count_documents({}) == 0

    # Fix everything and file it.
    page.fill("#applicants-0-phone", "13800138000")
    page.fill("#respondents-0-name", "Property company")
    page.select_option("#community", "heping")
    page.fill("#building", "7")
    page.select_option("#category", "property_management")
    page.check("#consent")
    page.click("button[value=submit]")
    page.wait_for_selector("#reference")
    assert "Your dispute has been filed" in page.content()


def test_keyboard_only_reaches_skip_link_and_adds_a_party(desktop, intake_url: str) -> None:
    page = desktop.new_page()
    page.goto(intake_url + "/?lang=en")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.fill("#respondents-0-name", "Neighbour upstairs")
    page.focus("button[value=add_respondent]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#respondents-1-name")
    assert page.input_value("#respondents-0-name") == "Neighbour upstairs"
    # Every visible input has a label.
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => e.id !== 'website' && !document.querySelector(`label[for="${e.id}"]`))
             .map(e => e.id)"""
    )
    assert unlabeled == []
    screenshot(page, "intake-form-desktop-en")


def test_form_works_without_javascript(new_context, intake_url: str, settings: Settings) -> None:
    context = new_context(java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="en")
    page = context.new_page()
    page.goto(intake_url + "/?lang=en")
    fill_valid_case(page, community="xinyuan", category="property_management")
    page.click("button[value=submit]")
    page.wait_for_selector("#reference")
    assert get_database(settings, "intake").cases.count_documents({"community": "xinyuan"}) == 1
