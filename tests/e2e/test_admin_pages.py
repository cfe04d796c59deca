"""Administration in a real browser: a studio lead on a phone (Chinese) creates a mediator's account,
adds them to the studio and records their leave; the new mediator logs in with the temporary
password and must choose their own. A district admin on a desktop (English) adds a studio and a
patrol team. Every page is checked by axe-core and fits the phone without sideways scrolling."""

from __future__ import annotations

import re

import pytest

from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from shared.config import Settings
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def demo(role: str) -> dict:
    return next(u for u in DEMO_USERS if u["role"] == role)


def log_in(page, url: str, username: str, password: str, button: str) -> None:
    page.goto(f"{url}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name=button).click()


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def url(settings: Settings, serve_app) -> str:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    return serve_app(create_app(settings))


def test_a_lead_on_a_phone_adds_a_mediator_and_their_leave(url: str, phone, new_context, axe) -> None:
    lead = demo("studio_lead")
    page = phone.new_page()
    log_in(page, url, lead["username"], lead["password"], "登录")
    page.get_by_role("link", name="工作人员账号").first.click()
    axe(page, "staff list (zh, phone)")
    page.get_by_role("link", name="新建工作人员账号").click()
    axe(page, "new account form (zh, phone)")
    assert fits(page)
    # An empty form is refused with the errors linked to their fields.
    page.get_by_role("button", name="创建账号").click()
    assert page.get_by_role("alert").is_visible()
    page.locator("#username").fill("sun")
    page.locator("#name").fill("孙丽")
    page.get_by_role("button", name="创建账号").click()
    secret = page.locator("code.secret").inner_text()
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", secret)
    axe(page, "temporary password (zh, phone)")
    screenshot(page, "admin-temporary-password-zh")

    page.get_by_role("link", name="我的工作室").first.click()
    page.locator("#username").select_option("sun")
    page.get_by_role("button", name="添加该成员").click()
    assert page.get_by_role("heading", name=re.compile("孙丽")).is_visible()
    page.locator("#start-sun").fill("2026-12-01")
    page.locator("#end-sun").fill("2026-12-05")
    page.get_by_role("button", name=re.compile("记录请假.*孙丽")).click()
    assert page.get_by_text("2026-12-01 至 2026-12-05 请假").is_visible()
    assert fits(page)
    axe(page, "studio page (zh, phone)")
    screenshot(page, "admin-studio-lead-zh", full_page=True)

    # The new mediator's first login asks for their own password.
    newcomer = new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    log_in(newcomer, url, "sun", secret, "登录")
    newcomer.wait_for_url(f"{url}/account/password")
    axe(newcomer, "own password (zh, phone)")
    newcomer.locator("#current_password").fill(secret)
    newcomer.locator("#new_password").fill("sun-own-password")
    newcomer.locator("#new_password_again").fill("sun-own-password")
    newcomer.get_by_role("button", name="修改密码").click()
    assert "您的密码已修改。" in newcomer.content()


def test_an_admin_adds_a_studio_and_a_patrol_team(url: str, desktop, axe) -> None:
    admin = demo("district_admin")
    page = desktop.new_page()
    log_in(page, url, admin["username"], admin["password"], "Log in")
    page.get_by_role("link", name="Add a studio").click()
    axe(page, "new studio (en, desktop)")
    page.locator("#code").fill("xinqiao")
    page.locator("#name_zh").fill("新桥调解室")
    page.locator("#name_en").fill("Xinqiao Studio")
    page.locator("#capacity").fill("")
    page.get_by_role("button", name="Add the studio").click()
    assert page.get_by_role("alert").is_visible()  # refused at its field, nothing stored
    page.locator("#capacity").fill("15")
    page.get_by_label("Lianhua").check()
    page.get_by_role("button", name="Add the studio").click()
    assert page.get_by_role("heading", name="Xinqiao Studio").is_visible()
    assert page.get_by_text("Studio added.").is_visible()
    axe(page, "studio page (en, desktop)")

    page.get_by_role("link", name="Back to the registry").click()
    page.get_by_role("link", name="Add a patrol team").click()
    page.locator("#code").fill("xinqiao-patrol")
    page.locator("#name_zh").fill("新桥巡查队")
    page.locator("#name_en").fill("Xinqiao Patrol")
    page.get_by_role("button", name="Add the team").click()
    page.locator("#s-mon").check()
    page.locator("#start").fill("08:00")
    page.locator("#end").fill("18:00")
    page.get_by_role("button", name="Add the shift").click()
    assert page.get_by_text("Monday 08:00\u201318:00").is_visible()
    axe(page, "team page (en, desktop)")
    screenshot(page, "admin-team-en", full_page=True)
