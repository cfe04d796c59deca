"""Notify's pages in a real browser (Debian chromium): the delivery log and previews for staff,
and a resident's preferences page on a phone, without JavaScript, in both languages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from services.notify import delivery
from services.notify.app import create_app
from services.notify.planning import preferences_url
from services.notify.preferences import preference_key
from shared.auth import Staff, issue_token
from shared.config import Settings
from tests.e2e.conftest import screenshot
from tests.support.notify_events import REFERENCE, event

pytestmark = pytest.mark.e2e

ADMIN = Staff("u-admin", "Admin", frozenset({"district_admin"}), language="en")


@pytest.fixture
def notify_app(settings: Settings) -> Flask:
    app = create_app(settings)
    notify = app.extensions["notify"]
    delivery.handle_event(notify, event("case.submitted"))
    delivery.handle_event(notify, event("case.assigned"))
    # One delivery that failed for good, as the log shows it.
    failed = notify.db.deliveries.find_one({"recipient.audience": "filer"})
    notify.db.deliveries.update_one(
        {"_id": failed["_id"]},
        {"$set": {"status": "failed", "attempts": 3, "dead_lettered": True, "last_error": "HTTP 500: busy"}},
    )
    return app


def staff_cookie(context, url: str, settings: Settings) -> None:
    context.add_cookies([{"name": "concord_staff", "value": issue_token(settings, ADMIN), "url": url}])


def test_delivery_log_on_a_phone_in_both_languages(
    phone, notify_app: Flask, serve_app: Callable[[Flask], str], settings: Settings
) -> None:
    url = serve_app(notify_app)
    staff_cookie(phone, url, settings)
    page = phone.new_page()
    page.goto(url + "/admin/deliveries")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "发送记录"
    assert "zhang@example.com" not in page.content() and "z***@example.com" in page.content()
    screenshot(page, "notify-log-phone-zh", full_page=True)
    # Every form control has a label.
    for control in page.query_selector_all("main input:not([type=hidden]), main select"):
        assert page.query_selector(f"label[for='{control.get_attribute('id')}']") is not None
    page.fill("#reference", REFERENCE)
    page.select_option("#status", "failed")
    page.click("button[type=submit]")
    assert "1 条发送记录" in page.inner_text("#results")
    page.click("table a")
    assert "HTTP 500: busy" in page.inner_text("main")
    page.goto(page.url + "?lang=en")
    assert page.inner_text("h1").startswith("Delivery")
    screenshot(page, "notify-delivery-phone-en", full_page=True)
    page.click("text=Resend")
    assert "A new copy was queued for sending." in page.inner_text("main")


def test_template_preview_on_a_desktop(desktop, notify_app: Flask, serve_app, settings: Settings) -> None:
    url = serve_app(notify_app)
    staff_cookie(desktop, url, settings)
    page = desktop.new_page()
    page.goto(url + "/admin/templates?lang=en")
    page.select_option("#template", "session_invitation")
    page.select_option("#language", "zh-CN")
    page.click("button[type=submit]")
    assert "调解会通知" in page.inner_text("#preview-title")
    screenshot(page, "notify-templates-desktop-en", full_page=True)
    page.click("text=Open the HTML version")
    assert "调解会" in page.inner_text("h1")
    screenshot(page, "notify-email-html", full_page=True)


def test_resident_opts_out_on_a_phone_without_javascript(
    new_context, notify_app: Flask, serve_app, settings: Settings
) -> None:
    url = serve_app(notify_app)
    notify = notify_app.extensions["notify"]
    link = preferences_url(notify.plan_config, preference_key(REFERENCE, "applicant:0"))
    path = link.split("/preferences/", 1)[1]
    context = new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    page.goto(f"{url}/preferences/{path}")
    assert page.inner_text("h1") == "您的通知设置"
    assert "138****8000" in page.inner_text("main") and "13800138000" not in page.content()
    screenshot(page, "notify-preferences-phone-zh", full_page=True)
    page.uncheck("#channel-email")
    page.check("#opt-out")
    page.click("button[type=submit]")
    assert "您的设置已保存" in page.inner_text("main")
    assert notify.db.preferences.find_one()["channels"] == ["sms"]
    page.goto(f"{url}/preferences/{path}?lang=en")
    assert page.is_checked("#opt-out") and not page.is_checked("#channel-email")
    screenshot(page, "notify-preferences-phone-en", full_page=True)


def test_household_asks_for_community_notices_on_a_phone_without_javascript(
    new_context, notify_app: Flask, serve_app, settings: Settings, axe
) -> None:
    """A council household's page (reached from the link in its SMS): community notices yes/no and
    the channel, on a phone, no JavaScript, both languages; axe-core finds nothing serious."""
    from services.notify.domain.audiences import household_key

    url = serve_app(notify_app)
    notify = notify_app.extensions["notify"]
    key = household_key("lianhua", "f11")
    path = preferences_url(notify.plan_config, key).split("/preferences/", 1)[1]
    context = new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    page.goto(f"{url}/preferences/{path}")
    assert page.inner_text("h1") == "本户的通知设置" and "莲花社区" in page.inner_text("main")
    assert page.is_checked("#notices-no") and page.is_checked("#channel-sms")  # opt-in: "no" until asked
    screenshot(page, "notify-household-preferences-phone-zh", full_page=True)
    page.check("#notices-yes")
    page.click("button[type=submit]")
    assert "您的设置已保存" in page.inner_text("main")
    saved = notify.db.preferences.find_one({"_id": key})
    assert saved["community_notices"] is True and saved["channels"] == ["sms"]
    # Unticking the only channel is refused, and nothing changes.
    page.uncheck("#channel-sms")
    page.click("button[type=submit]")
    assert "请至少选择一种通知方式" in page.inner_text("main")
    assert notify.db.preferences.find_one({"_id": key})["channels"] == ["sms"]
    page.goto(f"{url}/preferences/{path}?lang=en")
    assert page.is_checked("#notices-yes") and "Community notices" in page.inner_text("main")
    screenshot(page, "notify-household-preferences-phone-en", full_page=True)
    checked = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en").new_page()
    checked.goto(f"{url}/preferences/{path}?lang=en")
    axe(checked, "the household preferences page")
