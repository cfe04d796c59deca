# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Archiving on a phone, in a real browser with the real workers: the studio lead archives an ended
case from its page; the page says the dossier is being made; the mediation worker's archive job
builds it; after a reload the lead downloads it (a PDF of the case file) from the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.intake.app import create_app as create_intake_app
from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from tests.e2e.conftest import assert_no_axe_violations, screenshot
from tests.integration.conftest import CASE, mailbox, stack_settings, workers  # noqa: F401 (fixtures)
from tests.integration.test_mediation_desk import LEAD
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e


def test_archiving_on_a_phone_then_downloading_the_dossier(
    stack_settings,  # noqa: F811
    workers,  # noqa: F811
    serve_app,
    phone,
    tmp_path: Path,
) -> None:
    mediation = bootstrap(stack_settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, stack_settings)
    workers.start("intake")
    workers.start("mediation", DESK_JOB_INTERVAL="1")
    desk_url = serve_app(create_app(stack_settings))
    reference = (
        create_intake_app(stack_settings).test_client().post("/api/v1/cases", json=CASE).json["reference"]
    )
    wait_for(lambda: mediation.db.cases.find_one({"_id": reference}), timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.apply_action(mediation, reference, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})

    lead = next(u for u in DEMO_USERS if u["username"] == "lead")
    page = phone.new_page()
    page.goto(f"{desk_url}/login?lang=zh-CN")
    page.get_by_label("用户名").fill(lead["username"])
    page.get_by_label("密码").fill(lead["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{desk_url}/**")
    # Hold the worker's job back for a moment so the page shows the dossier still being made.
    workers.stop("mediation")
    page.goto(f"{desk_url}/desk/cases/{reference}")
    archive = page.locator('button[data-action="archive"]')
    if not archive.is_visible():  # the first step's form is open already
        page.locator('details:has(button[data-action="archive"]) > summary').click()
    archive.click()
    page.wait_for_load_state()
    assert page.locator("#case-stage").inner_text() == "已归档"
    assert "系统正在根据案卷生成卷宗" in page.locator("#dossier").inner_text()
    screenshot(page, "desk-archived-dossier-pending-zh", full_page=True)

    workers.start("mediation", DESK_JOB_INTERVAL="1")  # its first pass catches up
    wait_for(
        lambda: mediation.db.cases.find_one({"_id": reference}).get("dossier"), timeout=30, what="dossier"
    )
    page.goto(f"{desk_url}/desk/cases/{reference}")
    link = page.locator("#dossier-zh")
    assert link.inner_text() == "下载卷宗（中文，归档正本）"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_no_axe_violations(page, "archived case page")
    screenshot(page, "desk-archived-dossier-zh", full_page=True)
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "dossier.pdf"
    download.value.save_as(saved)
    assert (
        saved.read_bytes().startswith(b"%PDF")
        and download.value.suggested_filename == f"dossier-{reference}-zh-CN.pdf"
    )
    kinds = [r["what"] for r in mediation.db.access_log.find({"reference": reference}).sort("at", 1)]
    assert "dossier_generated" in kinds and kinds[-1] == "dossier_download:zh-CN"
