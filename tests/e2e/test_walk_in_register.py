# Chinese test data uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The walk-in register in a real browser on a phone (Chinese, and without JavaScript): a clerk
records a visitor whose matter becomes a case and reads out the tracking code; a missing field is
explained at the field; axe-core finds nothing serious; the page fits the phone."""

from __future__ import annotations

import pytest

from services.intake.app import create_app
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

CLERK = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")


def test_a_clerk_records_a_walk_in_on_a_phone(settings: Settings, serve_app, new_context, axe) -> None:
    url = serve_app(create_app(settings))
    for javascript in (True, False):
        context = new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN",
            java_script_enabled=javascript,
        )  # fmt: skip
        context.add_cookies([{"name": COOKIE_NAME, "value": issue_token(settings, CLERK), "url": url}])
        page = context.new_page()
        page.goto(f"{url}/reception")
        assert page.get_by_role("heading", name="来访登记").is_visible()
        if javascript:
            axe(page, "walk-in register (zh, phone)")
        page.get_by_label("来访人姓名").fill("钱多多")
        page.get_by_label("来访人电话").fill("13700137000")
        page.get_by_label("楼栋").fill("3")
        page.get_by_label("来访事由").fill("楼上漏水，物业不处理。")
        page.locator("#category").select_option("neighbours")
        page.get_by_label("转为调解案件").check()
        page.get_by_role("button", name="登记来访").click()
        # No other party for a case: refused at that field, nothing recorded.
        assert page.get_by_role("alert").is_visible()
        assert page.locator("#other_party-error").is_visible()
        page.get_by_label("对方当事人（立案时）").fill("楼上住户")
        page.get_by_role("button", name="登记来访").click()
        assert page.locator("#walk-in-done").is_visible()
        assert page.locator("#walk-in-reference").inner_text().startswith("LC-")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        if javascript:
            axe(page, "walk-in recorded (zh, phone)")
            screenshot(page, "walk-in-recorded-zh", full_page=True)
        assert "钱多多" not in page.locator("#today ~ ul").inner_text()  # today's list masks names
