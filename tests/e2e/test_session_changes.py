# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Moving and cancelling a session from the desk's case page in a real browser, on a phone (390 px),
in Chinese and in English: plain forms (no script needed), the refusal of the past shown at the
field, the session's new time and its cancellation on the page. Screenshots of the session section
are kept (var/e2e-screenshots/session-changes-*.png) to look at."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
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


def test_move_and_cancel_a_session_on_a_phone(settings, serve_app, phone) -> None:
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    reference = accepted_case(mediation, now=datetime.now(UTC))
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    nine = datetime.combine(day, time(9), tzinfo=SHANGHAI)
    first = sessions.schedule(mediation, reference, MEDIATOR, nine, nine + timedelta(hours=1))["_id"]
    second = sessions.schedule(
        mediation, reference, MEDIATOR, nine + timedelta(hours=4), nine + timedelta(hours=5)
    )["_id"]
    url = serve_app(create_app(settings))

    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    page = phone.new_page()
    page.goto(f"{url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(mediator["username"])
    page.get_by_label("密码").fill(mediator["password"])
    page.get_by_role("button", name="登录").click()
    page.goto(f"{url}/desk/cases/{reference}#sessions")

    # Both forms of the first session open, as a mediator would see them before choosing.
    panel = page.locator(f"#session-{first}")
    panel.locator("summary", has_text="调整本次调解会时间").click()
    panel.locator("summary", has_text="取消本次调解会").click()
    assert panel.get_by_label("新日期").input_value() == day.isoformat()
    assert panel.get_by_label("开始").input_value() == "09:00"
    session_list = page.locator("#sessions")
    session_list.screenshot(path=str(_shot("zh")))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    # The past is refused at the field, and the form stays open with what was typed.
    panel.get_by_label("新日期").fill("2020-01-06")
    panel.get_by_role("button", name="改期").click()
    assert "不能将调解会安排在过去的时间" in page.locator("#refusal").inner_text()
    panel = page.locator(f"#session-{first}")
    assert panel.locator(f"#move-{first}-start-error").is_visible()
    assert panel.get_by_label("新日期").input_value() == "2020-01-06"
    page.screenshot(path=str(_shot("refused-zh")), full_page=True)

    # Moved to 11:00, then the other session cancelled with a reason.
    panel.get_by_label("新日期").fill(day.isoformat())
    panel.get_by_label("开始").fill("11:00")
    panel.get_by_label("结束").fill("12:00")
    panel.get_by_role("button", name="改期").click()
    assert page.get_by_role("status").first.inner_text().startswith("调解会已改期")
    assert f"{day.isoformat()} 11:00" in page.locator(f"#session-{first} h3").inner_text()
    assert "原定于" in page.locator(f"#session-{first}").inner_text()
    other = page.locator(f"#session-{second}")
    other.locator("summary", has_text="取消本次调解会").click()
    other.get_by_label("取消原因").fill("被申请人出差，待其返回后另行安排。")
    other.get_by_role("button", name="取消调解会并通知受邀人员").click()
    assert page.get_by_role("status").first.inner_text().startswith("调解会已取消")
    cancelled = page.locator(f"#session-{second}")
    assert "已取消" in cancelled.inner_text() and cancelled.locator("del").count() == 1
    assert cancelled.locator("form").count() == 0  # nothing more can be done to it

    # The same section in English, the moved session's forms open.
    page.goto(f"{url}/desk/cases/{reference}?lang=en#sessions")
    panel = page.locator(f"#session-{first}")
    panel.locator("summary", has_text="Move this session").click()
    panel.locator("summary", has_text="Cancel this session").click()
    assert "Cancelled" in page.locator(f"#session-{second}").inner_text()
    page.locator("#sessions").screenshot(path=str(_shot("en")))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _shot(language: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"session-changes-{language}.png"
