"""The household register in a real browser (Debian chromium) on a phone, without JavaScript-only
steps: a committee member uploads a file with bad rows (every row's reason shown, nothing stored),
then a clean one (preview → confirm), finds the flats masked in the list, and edits one flat (the
error appears at the field; the corrected value is saved), in Chinese and in English. axe-core
checks each page; screenshots are saved under var/e2e-screenshots to look at."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask

from services.council.app import create_app
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

COMMITTEE = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")
HEADER = "楼栋,单元,房号,专有部分面积,业主姓名,联系电话,业主编号,居住情况,开发商持有"
BAD = [
    "1,1,101,89.50,王芳,13800138000,W1,自住,否",
    "1,1,102,0,李强,13900139000,L1,出租,否",
    "1,1,101,70,赵六,,,自住,否",
]
CLEAN = [
    "1,1,101,89.50,王芳,13800138000,W1,自住,否",
    "1,1,102,62.35,李强、孙丽,13900139000,L1,出租,否",
    "2,1,101,75.20,王芳,13800138000,W1,自住,否",
    "2,1,102,98.15,,,,空置,是",
]


def csv_upload(rows: list[str]) -> dict[str, Any]:
    data = ("\r\n".join([HEADER, *rows]) + "\r\n").encode("gb18030")  # as Chinese Excel saves it
    return {"name": "登记表.csv", "mimeType": "text/csv", "buffer": data}


def assert_accessible(page: Any, where: str) -> None:
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    assert serious == [], f"{where}: {[(v['id'], v['help']) for v in serious]}"


def assert_fits_the_phone(page: Any) -> None:
    # The page itself never scrolls sideways; only a table's own scroll region may.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def test_upload_preview_confirm_and_edit_on_a_phone(
    phone: Any, settings: Settings, serve_app: Callable[[Flask], str]
) -> None:
    url = serve_app(create_app(settings))
    phone.add_cookies([{"name": COOKIE_NAME, "value": issue_token(settings, COMMITTEE), "url": url}])
    flats = get_database(settings, "council").flats
    page = phone.new_page()

    page.goto(f"{url}/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("text=住户登记册")  # the community's register, from its section on the home page
    page.click("text=从文件导入住户")
    assert page.inner_text("h1").startswith("导入住户")
    assert_accessible(page, "import form")

    # A file with bad rows: every problem listed with its row; nothing imported.
    page.set_input_files("#file", csv_upload(BAD))
    page.click("button[type=submit]")
    problems = page.inner_text(".error-summary")
    assert "第 3 行" in problems and "面积必须大于 0 平方米" in problems
    assert "第 4 行" in problems and "与第 2 行是同一户" in problems
    assert page.query_selector("text=导入这些住户") is None
    assert flats.count_documents({}) == 0
    assert_accessible(page, "preview with errors")
    assert_fits_the_phone(page)
    screenshot(page, "council-register-preview-errors-phone-zh", full_page=True)

    # A clean file: the preview lists the rows; only the confirmation imports them.
    page.click("text=上传改正后的文件")
    page.set_input_files("#file", csv_upload(CLEAN))
    page.click("button[type=submit]")
    assert "4 户待添加" in page.inner_text("main")
    assert flats.count_documents({}) == 0
    assert_fits_the_phone(page)
    page.click("text=导入这些住户")
    assert "已向登记册添加 4 户" in page.inner_text("main")
    assert flats.count_documents({"community": "lianhua"}) == 4
    listed = page.inner_text("table.register")
    assert (
        "王*" in listed and "138****8000" in listed and "王芳" not in listed and "13800138000" not in listed
    )
    assert_accessible(page, "register list")
    assert_fits_the_phone(page)
    screenshot(page, "council-register-list-phone-zh", full_page=True)

    # Edit one flat in English: a bad area is refused at its field, a good one saved.
    page.click("text=1 栋 1 单元 101 室")
    page.click("a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    page.fill("#area", "-5")
    page.click("button[type=submit]")
    assert "The area must be more than 0 m²." in page.inner_text("#area-error")
    assert page.get_attribute("#area", "aria-invalid") == "true"
    assert flats.find_one({"building": "1", "flat": "101"})["area_hundredths"] == 8950
    assert_accessible(page, "edit form with an error")
    assert_fits_the_phone(page)
    screenshot(page, "council-register-edit-error-phone-en", full_page=True)
    page.fill("#area", "88.80")
    page.check("#occupancy-let")
    page.click("button[type=submit]")
    assert "The flat was saved." in page.inner_text("main")
    saved = flats.find_one({"building": "1", "flat": "101"})
    assert saved["area_hundredths"] == 8880 and saved["occupancy"] == "let"
    screenshot(page, "council-register-edit-saved-phone-en", full_page=True)
