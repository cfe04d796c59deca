"""A patrol member on a phone: log in, see the team's open tasks, accept one, report the visit
with a photo, close it; the report reaches the case's timeline and the outbox as an event."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.mediation import routing
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from shared.config import Settings
from tests.e2e.conftest import screenshot
from tests.integration.test_mediation_routing import WEDNESDAY_10AM, submitted
from tests.support.images import plain

pytestmark = pytest.mark.e2e

JPEG = plain("JPEG")


def test_patrol_member_handles_a_dispatch_on_a_phone(
    settings: Settings, serve_app, phone, tmp_path: Path
) -> None:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    event = submitted(threat_of_violence=True, building="7")
    routing.on_case_submitted(mediation, event, now=WEDNESDAY_10AM)
    reference = event.data["reference"]
    url = serve_app(create_app(settings))
    patrol = next(u for u in DEMO_USERS if u["role"] == "patrol_member")

    page = phone.new_page()
    page.goto(f"{url}/patrol")  # not logged in: sent to the login form
    assert "/login" in page.url
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_label("用户名").fill(patrol["username"])
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("密码").fill(patrol["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{url}/patrol")
    screenshot(page, "patrol-tasks-zh")

    # The task list fits the phone (no sideways scrolling) and shows no unit number.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    card = page.locator(".card").first
    assert "紧急出警" in card.inner_text() and "莲花社区" in card.inner_text()
    assert "2-301" not in page.content()
    card.get_by_role("link").click()
    page.get_by_role("button", name="接受任务").click()
    assert page.locator("#task-status").inner_text() == "已接受"
    assert "2-301" in page.content()  # the team sees where to go

    # An empty report is refused with the errors linked to the fields.
    page.get_by_role("button", name="提交报告").click()
    assert page.get_by_role("alert").is_visible()
    photo = tmp_path / "scene.jpg"
    photo.write_bytes(JPEG)
    page.get_by_label("现场情况").fill("双方当面沟通, 同意晚上十点后停止装修")
    page.get_by_label("见到的人").fill("张三, 李四")
    page.get_by_label("是", exact=True).check()
    page.get_by_label("照片", exact=False).set_input_files(str(photo))
    screenshot(page, "patrol-report-form-zh")
    page.get_by_role("button", name="提交报告").click()
    assert page.locator("#task-status").inner_text() == "已报告"
    page.get_by_role("button", name="关闭任务").click()
    page.wait_for_url(f"{url}/patrol")
    assert page.locator(".card").count() == 0

    # In English, by the language switch (a plain link).
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="My team's tasks").is_visible()
    screenshot(page, "patrol-tasks-en")

    timeline = mediation.db.cases.find_one({"_id": reference})["timeline"]
    assert [e["action"] for e in timeline][-3:] == ["patrol_accepted", "patrol_reported", "patrol_closed"]
    report = mediation.db.outbox.find_one({"envelope.type": "patrol.reported"})["envelope"]["data"]
    assert report["reference"] == reference and report["calmed"] is True and report["photos"] == 1
