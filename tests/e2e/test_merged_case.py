"""A duplicate merged on a phone, in a real browser with the real workers: the mediator of the
older case merges the newer filing into it from the newer case's page; the merged case's page
links the case its dispute continues in (which lists it back), and the resident of the merged case
sees on their tracking page that it was merged and the other case's reference, nothing else."""

from __future__ import annotations

import pytest

from services.intake.app import create_app as create_intake_app
from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from tests.e2e.conftest import screenshot
from tests.integration.conftest import CASE, mailbox, stack_settings, workers  # noqa: F401 (fixtures)
from tests.integration.test_mediation_desk import LEAD
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e


def test_merging_a_duplicate_on_a_phone(stack_settings, workers, serve_app, phone) -> None:  # noqa: F811
    mediation = bootstrap(stack_settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, stack_settings)
    workers.start("intake")
    workers.start("mediation")
    intake_app = create_intake_app(stack_settings)
    intake_url = serve_app(intake_app)
    desk_url = serve_app(create_app(stack_settings))
    api = intake_app.test_client()

    # Two filings about the same dispute; the newer is flagged as related to the older.
    older = api.post("/api/v1/cases", json=CASE).json["reference"]
    wait_for(lambda: mediation.db.cases.find_one({"_id": older}), timeout=20, what="routing")
    other = {**CASE, "applicants": [{"name": "王五", "phone": "13700137000", "email": "wangwu@example.com"}]}
    created = api.post("/api/v1/cases", json=other).json
    newer, token = created["reference"], created["tracking_token"]
    assert api.get(f"/api/v1/cases/{newer}?token={token}").json["related_case_exists"] is True
    wait_for(lambda: mediation.db.cases.find_one({"_id": newer}), timeout=20, what="routing")
    assert mediation.db.cases.find_one({"_id": newer})["possible_duplicates"] == [older]
    for reference in (older, newer):
        desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
        desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    desk.take(mediation, older, Actor(mediator["username"], frozenset({"mediator"}), "zhihe"))

    # The mediator of the older case merges the newer filing into it, from the newer case's page.
    page = phone.new_page()
    page.goto(f"{desk_url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(mediator["username"])
    page.get_by_label("密码").fill(mediator["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{desk_url}/desk")
    page.goto(f"{desk_url}/desk/cases/{newer}")
    page.locator(f'button[data-merge-into="{older}"]').click()
    page.wait_for_url(f"{desk_url}/desk/cases/{older}#merged")
    assert page.get_by_role("status").first.inner_text().startswith(f"案件 {newer} 已结案并并入本案")
    assert newer in page.locator("#merged").inner_text() and "王五" in page.locator("#merged").inner_text()
    screenshot(page, "desk-primary-with-merged-zh", full_page=True)

    page.goto(f"{desk_url}/desk/cases/{newer}")
    assert page.locator("#case-stage").inner_text() == "已并入其他案件"
    notice = page.locator("#merged-into")
    assert older in notice.inner_text()
    assert notice.get_by_role("link", name=older).get_attribute("href") == f"/desk/cases/{older}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "desk-merged-case-zh", full_page=True)

    # The resident of the merged case: the status, the other case's reference, nothing of it.
    tracking = phone.new_page()

    def tracked() -> bool:
        tracking.goto(f"{intake_url}/track/{newer}?token={token}&lang=zh-CN")
        return "已并入其他案件" in tracking.locator("#current-status").inner_text()

    wait_for(tracked, timeout=20, what="the merge on the tracking page")
    assert older in tracking.locator("#merged-into").inner_text()
    assert "张三" not in tracking.content() and "13800138000" not in tracking.content()
    assert tracking.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(tracking, "tracking-merged-zh", full_page=True)
