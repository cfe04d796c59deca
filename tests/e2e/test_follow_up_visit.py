# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""A mediator records a follow-up visit (回访) in a real browser on a phone (390 px) with JavaScript
off: from the desk home's follow-up list to the visit's form, a refused incomplete record (clear
errors, nothing stored), then the record with a renewed conflict, which raises the case's risk; the
task leaves the list. Screenshots: var/e2e-screenshots/follow-up-visit-*.png."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from tests.e2e.conftest import PHONE, PHONE_USER_AGENT, screenshot
from tests.integration.test_mediation_desk import MEDIATOR, accepted_case

pytestmark = pytest.mark.e2e


def test_a_mediator_records_a_visit_on_a_phone_without_javascript(settings, serve_app, new_context) -> None:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    parties = [{"role": "applicant", "name": "张三"}, {"role": "respondent", "name": "李四"}]
    reference = accepted_case(mediation, now=datetime.now(UTC), parties=parties)
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION)
    desk.apply_action(mediation, reference, MEDIATOR, lc.AGREE_ORAL, {"content": "每日20时后停止施工"})
    url = serve_app(create_app(settings))

    phone = new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        locale="zh-CN",
        java_script_enabled=False,
    )
    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    page = phone.new_page()
    page.goto(f"{url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(mediator["username"])
    page.get_by_label("密码").fill(mediator["password"])
    page.get_by_role("button", name="登录").click()
    page.goto(f"{url}/desk")
    tasks = page.locator("section", has=page.locator("#tasks-title"))
    assert "2" in tasks.locator(".count").inner_text()
    assert "张三" not in tasks.inner_text() and "李四" not in tasks.inner_text()
    page.locator("#all-tasks").click()
    page.get_by_role("link", name="回访").filter(has_text="被申请人1").click()
    assert page.locator("h1").inner_text() == "回访"

    # Incomplete (no satisfaction, no answer about a renewed conflict): refused, nothing stored.
    page.get_by_label("电话").check()
    page.get_by_label("部分履行").check()
    page.get_by_role("button", name="登记回访").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible() and "满意程度" in summary.inner_text() and "矛盾反复" in summary.inner_text()
    assert "请在1至5分中选择" in summary.inner_text() and "Missing" not in summary.inner_text()
    assert (
        mediation.db.follow_up_tasks.find_one({"_id": f"{reference}:visit:respondent-1"})["done_at"] is None
    )
    screenshot(page, "follow-up-visit-refused-zh", full_page=True)

    page.get_by_label("电话").check()
    page.get_by_label("部分履行").check()
    page.locator("#satisfied-2").check()
    page.locator("#renewed_conflict-true").check()
    page.get_by_label("说明").fill("对方仍有夜间施工，邻里关系紧张。")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "follow-up-visit-form-zh", full_page=True)
    page.get_by_role("button", name="登记回访").click()
    assert "回访已登记" in page.get_by_role("status").first.inner_text()
    assert f"{reference}:visit:respondent-1" not in page.content()
    assert page.locator(f'a[href="/desk/tasks/{reference}:visit:applicant-1"]').count() == 1
    task = mediation.db.follow_up_tasks.find_one({"_id": f"{reference}:visit:respondent-1"})
    assert task["record"]["satisfied"] == 2 and task["record"]["renewed_conflict"] is True
    assert mediation.db.cases.find_one({"_id": reference})["risk_level"] == "yellow"
    screenshot(page, "follow-up-visit-done-zh", full_page=True)
