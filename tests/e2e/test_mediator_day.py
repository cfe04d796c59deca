# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""A mediator's day in a real browser, with the real workers running: log in, take the next case,
record the rights notice, schedule a session in the council hall, start mediating, draft the
written agreement, download and render its PDF, mark it signed (the case closes) — and the
resident's tracking page (intake, served too) shows each public step."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.intake.app import create_app as create_intake_app
from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from tests.e2e.conftest import screenshot
from tests.integration.conftest import CASE, mailbox, stack_settings, workers  # noqa: F401 (fixtures)
from tests.integration.test_mediation_desk import LEAD
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e


def test_a_mediators_day(stack_settings, workers, serve_app, desktop, tmp_path: Path) -> None:  # noqa: F811
    mediation = bootstrap(stack_settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, stack_settings)
    workers.start("intake")
    workers.start("mediation")
    intake_app = create_intake_app(stack_settings)
    intake_url = serve_app(intake_app)
    desk_url = serve_app(create_app(stack_settings))

    # A resident files a dispute; mediation routes it to the studio; the lead accepts it.
    created = intake_app.test_client().post("/api/v1/cases", json=CASE)
    reference, token = created.json["reference"], created.json["tracking_token"]
    tracking = desktop.new_page()

    def tracked(text: str) -> bool:
        tracking.goto(f"{intake_url}/track/{reference}?token={token}&lang=zh-CN")
        return text in tracking.locator("#timeline").inner_text()

    wait_for(lambda: tracked("已分派调解工作室"), timeout=20, what="routing on the tracking page")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)

    # The mediator logs in and lands on the desk.
    mediator = next(u for u in DEMO_USERS if u["role"] == "mediator")
    page = desktop.new_page()
    page.goto(f"{desk_url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(mediator["username"])
    page.get_by_label("密码").fill(mediator["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{desk_url}/desk")
    assert reference in page.locator("#pool-title + div, #pool-title ~ *").first.inner_text()
    assert "13800138000" not in page.content() and "2-301" not in page.content()
    screenshot(page, "desk-queue-zh", full_page=True)

    page.get_by_role("button", name="承办下一件").click()
    page.wait_for_url(f"{desk_url}/desk/cases/{reference}")
    assert page.locator("#case-stage").inner_text() == "已指派调解员"
    assert "13800138000" in page.content()  # the case's own mediator sees the contacts
    wait_for(lambda: tracked("已确定调解员"), timeout=20, what="mediator assigned on the tracking page")

    # Rights and duties explained (MoJ 2002 Art 30).
    page.get_by_label("已知悉权利义务的当事人").fill("张三，李四")
    page.get_by_role("button", name="告知权利义务").last.click()
    assert page.locator("#case-stage").inner_text() == "已告知权利义务"
    wait_for(lambda: tracked("已告知权利义务"), timeout=20, what="rights notified on the tracking page")

    # A session on the next reception day in the council hall.
    page.get_by_role("button", name="预订议事厅并通知当事人").click()
    assert page.get_by_role("status").first.inner_text().startswith("调解会已安排")
    screenshot(page, "desk-case-session-zh", full_page=True)
    wait_for(lambda: tracked("已安排调解会"), timeout=20, what="the session on the tracking page")

    # Mediation, the written agreement, its PDF.
    page.locator("summary", has_text="开始调解").click()
    page.get_by_role("button", name="开始调解").click()
    assert page.locator("#case-stage").inner_text() == "调解中"
    page.get_by_label("争议事项").fill("夜间装修施工时间。")
    page.get_by_label("各方责任").fill("李四对夜间施工噪音负主要责任。")
    page.get_by_label("协议内容（每行一条）").fill("李四每日20时后停止装修施工。\n李四向张三赔礼道歉。")
    page.get_by_label("履行方式").fill("自觉履行")
    page.get_by_label("履行地点").fill("莲花社区3栋")
    page.get_by_label("履行期限").fill("自签订之日起")
    page.get_by_role("button", name="保存协议").click()
    number = page.locator("#agreement-number").inner_text()
    assert number.startswith("ZHIHE-")
    with page.expect_download() as download:
        page.locator("#pdf-zh").click()
    pdf = tmp_path / "agreement.pdf"
    download.value.save_as(str(pdf))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    assert "人民调解协议书" in text and "李四每日20时后停止装修施工" in text and number in text
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True
    )
    [png] = list(tmp_path.glob("page*.png"))
    rendered = desktop.new_page()
    rendered.goto(png.as_uri())
    # Non-blank: some pixels are ink (canvas read of the rendered PNG).
    dark = rendered.evaluate(
        """() => { const img = document.querySelector('img'); const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d');
        g.drawImage(img, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i] < 128) n++; } return n; }"""
    )
    assert dark > 500

    # Signed: the case closes with a written agreement.
    page.get_by_role("button", name="各方已签字：以协议结案").click()
    assert page.locator("#case-stage").inner_text() == "达成书面协议"
    screenshot(page, "desk-case-closed-zh", full_page=True)
    wait_for(lambda: tracked("达成书面调解协议"), timeout=20, what="closed on the tracking page")
    assert tracking.locator("#current-status").inner_text().startswith("已结案")
    screenshot(tracking, "tracking-closed-zh", full_page=True)
    steps = tracking.locator("#timeline").inner_text()
    order = [
        "已受理登记",
        "已分派调解工作室",
        "已受理调解",
        "已确定调解员",
        "已告知权利义务",
        "已安排调解会",
        "已结案",
    ]
    positions = [steps.find(step) for step in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), steps

    # In English, the desk reads the same.
    page.goto(f"{desk_url}/desk?lang=en")
    assert page.get_by_role("heading", name="Mediator desk").is_visible()
    screenshot(page, "desk-queue-en", full_page=True)
