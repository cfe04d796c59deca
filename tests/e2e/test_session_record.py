# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Recording a session that ended early from the desk's case page in a real browser, on a phone
(390 px): the optional "ended at" time in the plain record form (no script needed), the hall's
quarter hours after it freed, so another case books them at once. A screenshot of the record form
is kept (var/e2e-screenshots/session-record-zh.png) to look at."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.mediation import desk, sessions
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from tests.e2e.conftest import SCREENSHOTS
from tests.integration.test_mediation_desk import MEDIATOR, accepted_case

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_session_that_ended_early_is_recorded_and_frees_the_hall(settings, serve_app, phone) -> None:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    now = datetime.now(UTC)
    reference, other = accepted_case(mediation, now=now), accepted_case(mediation, now=now)
    for case in (reference, other):
        desk.take(mediation, case, MEDIATOR)
        desk.apply_action(mediation, case, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    nine = datetime.combine(day, time(9), tzinfo=SHANGHAI)
    held = sessions.schedule(mediation, reference, MEDIATOR, nine, nine + timedelta(hours=2))["_id"]
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION)
    url = serve_app(create_app(settings))

    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    page = phone.new_page()
    page.goto(f"{url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(mediator["username"])
    page.get_by_label("密码").fill(mediator["password"])
    page.get_by_role("button", name="登录").click()
    page.goto(f"{url}/desk/cases/{reference}#sessions")

    panel = page.locator(f"#session-{held}")
    panel.get_by_label("出席人员").fill("张三, 李四")
    panel.get_by_label("各方陈述及经过").fill("双方陈述后达成一致，会议提前结束。")
    panel.get_by_label("结果").select_option("agreement")
    panel.get_by_label("实际结束时间").fill("09:40")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOTS / "session-record-zh.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    panel.get_by_role("button", name="保存调解笔录").click()
    assert page.get_by_role("status").first.inner_text()
    assert "提前于 09:40 结束" in page.locator(f"#session-{held}").inner_text()
    stored = mediation.db.sessions.find_one({"_id": held})
    assert stored["status"] == "held" and stored["record"]["ended_at"] == nine + timedelta(minutes=40)
    # Held until 09:45 (its quarter hour): 10:00 on is free for another case at once.
    assert mediation.db.room_slots.count_documents({"session_id": held}) == 3
    sessions.schedule(mediation, other, MEDIATOR, nine + timedelta(hours=1), nine + timedelta(hours=2))
