"""Issue 15 items 1, 2 and 6 in a real browser: a mediator finds a case by a phone's last four
digits on a phone without JavaScript, the ended cases page and the lead's access log (with the
search just made in it) pass axe-core and fit a phone's width."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.mediation import desk, routing
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from shared.config import Settings
from tests.e2e.conftest import screenshot
from tests.integration.test_mediation_desk import LEAD, T0
from tests.integration.test_mediation_routing import submitted

pytestmark = pytest.mark.e2e

PHONE_SIZE = {"width": 390, "height": 844}


def _login(page: object, url: str, user: dict, chinese: bool = True) -> None:
    page.goto(f"{url}/login?lang={'zh-CN' if chinese else 'en'}")  # type: ignore[attr-defined]
    page.get_by_label("用户名" if chinese else "Username").fill(user["username"])  # type: ignore[attr-defined]
    page.get_by_label("密码" if chinese else "Password").fill(user["password"])  # type: ignore[attr-defined]
    page.get_by_role("button", name="登录" if chinese else "Log in").click()  # type: ignore[attr-defined]


def test_find_a_case_ended_cases_and_the_access_log(
    settings: Settings, serve_app: Callable, new_context: Callable, axe: Callable
) -> None:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    lead = next(u for u in DEMO_USERS if u["role"] == "studio_lead")
    me = Actor(mediator["username"], frozenset({"mediator"}), "zhihe")
    references = []
    for name, number in (("张三", "13800138000"), ("王五", "13700008000"), ("李四", "13911112222")):
        event = submitted(parties=[{"role": "applicant", "name": name, "phone": number}])
        routing.on_case_submitted(mediation, event, now=T0)
        reference = event.data["reference"]
        desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING, now=T0)
        desk.apply_action(mediation, reference, LEAD, lc.ACCEPT, now=T0)
        references.append(reference)
    # The first case ended last month: failed, waiting to be archived.
    desk.take(mediation, references[0], me)
    desk.apply_action(mediation, references[0], me, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, references[0], me, lc.FAIL, {"note": "可向人民法院起诉"})
    url = serve_app(create_app(settings))

    # A phone without JavaScript: the search is a plain GET form.
    plain = new_context(viewport=PHONE_SIZE, is_mobile=True, locale="zh-CN", java_script_enabled=False)
    page = plain.new_page()
    _login(page, url, mediator)
    page.goto(f"{url}/desk/search")
    page.get_by_label("案件编号、当事人姓名全名、电话或电话后四位").fill("8000")
    page.get_by_role("button", name="查找").click()
    found = page.locator("table.queue").inner_text()
    assert references[0] in found and references[1] in found and references[2] not in found
    assert "13800138000" not in page.content() and "张三" not in found
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
    screenshot(page, "desk-search-phone-zh", full_page=True)

    # With JavaScript, for axe: the search, the ended cases.
    phone = new_context(viewport=PHONE_SIZE, is_mobile=True, locale="zh-CN")
    page = phone.new_page()
    _login(page, url, mediator)
    page.goto(f"{url}/desk/search?q=8000&state=ended")
    assert references[0] in page.locator("main").inner_text() and references[1] not in page.content()
    axe(page, "desk search")
    page.goto(f"{url}/desk/ended")
    ended = page.locator("#archiving-title").locator("xpath=..").inner_text()
    assert references[0] in ended and "归档" in ended
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
    axe(page, "ended cases")
    screenshot(page, "desk-ended-phone-zh", full_page=True)

    # The lead reads the access log: the mediator's search by a phone is there.
    desktop = new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = desktop.new_page()
    _login(page, url, lead, chinese=False)
    page.goto(f"{url}/access-log?lang=en")
    log = page.locator("table").inner_text()
    assert mediator["username"] in log and "Searched by a phone or name" in log and references[1] in log
    axe(page, "access log")
    screenshot(page, "access-log-desktop-en", full_page=True)
