# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The reports in a real browser: a studio lead on a phone sees their studio's table and the
per-mediator table (axe-core finds nothing serious); a district admin on a desktop picks a street and
a quarter with the plain form (no JavaScript needed) and downloads the CSV and the XLSX."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from services.mediation.app import create_app
from services.mediation.staff_accounts import DEMO_USERS
from tests.e2e.conftest import screenshot
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_reports import drive

pytestmark = pytest.mark.e2e


def log_in(page, url: str, role: str, submit: str) -> None:
    user = next(u for u in DEMO_USERS if u["role"] == role)
    page.goto(f"{url}/login")
    page.locator("#username").fill(user["username"])
    page.locator("#password").fill(user["password"])
    page.get_by_role("button", name=submit).click()


def test_a_lead_reads_the_report_on_a_phone(settings, mediation, serve_app, phone, axe) -> None:
    drive(mediation, seed=9, cases=12, only={"community": "lianhua", "category": "neighbours"})
    url = serve_app(create_app(settings))
    page = phone.new_page()
    log_in(page, url, "studio_lead", "登录")
    page.goto(f"{url}/reports?period=2026&lang=zh-CN")
    assert page.locator("h1").inner_text() == "统计报表：至和调解工作室，2026"
    table = page.locator("table.report")
    assert "调解成功率（%）" in table.inner_text() and "至和调解工作室合计" in table.inner_text()
    assert "陈敏" in page.locator("#mediators-title + div").inner_text()
    # The wide table scrolls inside its own box: the page itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    axe(page, "the lead's report on a phone")
    screenshot(page, "reports-lead-phone-zh", full_page=True)


def test_an_admin_picks_a_street_and_downloads(settings, mediation, serve_app, desktop, axe) -> None:
    drive(mediation, seed=5, cases=15)
    url = serve_app(create_app(settings))
    page = desktop.new_page()
    log_in(page, url, "district_admin", "Log in")
    page.goto(f"{url}/reports?lang=en")
    page.get_by_label("Period").fill("2026-Q3")
    page.get_by_label("Area").select_option(label="Qinghe Street")
    page.get_by_role("button", name="Show").click()
    assert page.locator("h1").inner_text() == "Reports: Qinghe Street, 2026-Q3"
    assert "Lianhua Community" in page.locator("table.report thead").inner_text()
    axe(page, "the admin's street report")
    screenshot(page, "reports-admin-street-en", full_page=True)
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    body = csv_download.value.path().read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and "Lianhua Community" in body.decode("utf-8-sig")
    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Download XLSX").click()
    sheet = load_workbook(io.BytesIO(xlsx_download.value.path().read_bytes())).active
    assert sheet["A1"].value == "Community" and sheet.freeze_panes == "B2"
    page.get_by_label("Period").fill("2026-13")
    page.get_by_role("button", name="Show").click()
    assert "Not a period" in page.locator(".field-error").inner_text()
