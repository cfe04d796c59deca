# Residents write Chinese punctuation.
# ruff: noqa: RUF001
"""The public plan and the public accounts in a real browser (Debian chromium) on a phone, no login:
the plan's tree with rolled-up progress and a timeline photo, in Chinese and in English; the monthly
statements and an entry; a resident's question refused with a wrong resident code (the error at the
field) and taken with the right one. axe-core checks each page; the pages never scroll sideways;
screenshots are saved under var/e2e-screenshots to look at."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from PIL import Image

from services.council import accounts, plan
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap
from shared.auth import Staff
from shared.config import Settings
from shared.uploads import Upload
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e

COMMUNITY = "lianhua"
WEI = Staff("wei", "魏芳", frozenset({"committee_member"}), community=COMMUNITY)
LIU = Staff("liu", "刘洋", frozenset({"committee_member"}), community=COMMUNITY)


def photo() -> bytes:
    image = Image.new("RGB", (320, 240), (180, 180, 170))
    for x in range(40, 280):
        for y in range(60, 200, 20):
            image.putpixel((x, y), (90, 60, 30))  # a gate's bars, roughly
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def seed(council: Council) -> dict[str, str]:
    db = council.db
    db.consultations.insert_one(
        {
            "_id": "vote-gate",
            "community": COMMUNITY,
            "kind": "vote",
            "status": "closed",
            "title": {"zh-CN": "老旧小区改造方案", "en": "Renovation of the old compound"},
            "result": {"vote": {"outcome": "passed"}},
        }
    )
    db.flats.insert_one(
        {
            "_id": "f1",
            "community": COMMUNITY,
            "building": "3",
            "unit": "2",
            "flat": "401",
            "area_hundredths": 8950,
            "owner_names": ["王芳"],
            "phones": ["13800138000"],
            "owner_key": "k1",
            "occupancy": "owner_occupied",
            "developer_held": False,
        }
    )
    parent = plan.create_item(
        council,
        COMMUNITY,
        {
            "title": "老旧小区改造",
            "title_en": "Renovating the old compound",
            "decision_kind": "vote",
            "decision_id": "vote-gate",
            "budget": "380000.00",
            "start": "2026-05-10",
            "end": "2026-12-31",
        },
        WEI,
    )
    gate = plan.create_item(
        council,
        COMMUNITY,
        {
            "title": "更换小区大门",
            "title_en": "Replace the gate",
            "parent_id": parent["id"],
            "weight": "3",
            "status": "in_progress",
            "progress": "60",
            "budget": "120000.00",
            "contractor": "莲花建筑有限公司",
        },
        WEI,
    )
    plan.create_item(
        council,
        COMMUNITY,
        {
            "title": "封堵3号楼阳台裂缝",
            "title_en": "Seal the balcony cracks of building 3",
            "parent_id": parent["id"],
            "weight": "1",
            "status": "done",
            "budget": "30000.00",
            "contractor": "安居防水工程队",
        },
        WEI,
    )
    plan.add_timeline(
        council, COMMUNITY, gate["id"], "旧门已拆除，新门框已安装。", [Upload("gate.jpg", photo())], WEI
    )
    entries = [
        ("2026-09-05", "income", "parking", "12600.00", "莲花物业公司"),
        ("2026-09-18", "income", "advertising", "3000.00", "城市传媒广告公司"),
        ("2026-09-28", "spending", "maintenance", "4850.50", "安居防水工程队"),
        ("2026-10-06", "income", "venue_rent", "800.00", "李强"),
        ("2026-10-20", "spending", "cleaning_greening", "1200.00", "绿园保洁公司"),
    ]
    ids = []
    pdf = Upload("receipt.pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    for day, kind, category, amount, counterparty in entries:
        values = {
            "day": day,
            "kind": kind,
            "category": category,
            "amount": amount,
            "counterparty": counterparty,
            "counterparty_private": "yes" if counterparty == "李强" else "no",
        }
        entry = accounts.create_entry(council, COMMUNITY, values, pdf, WEI)
        accounts.approve(council, COMMUNITY, entry["id"], LIU)
        ids.append(entry["id"])
    [code] = accounts.issue_codes(council, COMMUNITY, WEI)
    question = accounts.ask(
        council, COMMUNITY, ids[0], ("3", "2", "401"), code["code"], "九月停车费包括哪些车位？"
    )
    accounts.answer(council, COMMUNITY, question["id"], "地面共有车位42个，按月收费。", None, LIU)
    return {"code": code["code"], "entry": ids[0]}


def assert_accessible(page: Any, where: str) -> None:
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    assert serious == [], f"{where}: {[(v['id'], v['help']) for v in serious]}"


def assert_fits_the_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def test_the_public_plan_and_accounts_on_a_phone(
    phone: Any, settings: Settings, serve_app: Callable[[Flask], str]
) -> None:
    url = serve_app(create_app(settings))
    council = bootstrap(settings)
    seeded = seed(council)
    page = phone.new_page()

    page.goto(f"{url}/plan/{COMMUNITY}")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "莲花社区实施计划"
    top = page.locator(".plan-item").first
    assert "老旧小区改造" in top.inner_text() and "已完成 70.0%" in top.inner_text()  # (3 x 60 + 1 x 100) / 4
    assert page.locator("progress").first.get_attribute("value") == "70.0"
    image = page.locator(".photos img").first
    assert image.evaluate("img => img.complete && img.naturalWidth") == 320
    assert_accessible(page, "public plan zh-CN")
    assert_fits_the_phone(page)
    screenshot(page, "council-plan-phone-zh", full_page=True)

    page.click("a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert "Replace the gate" in page.inner_text("main") and "60.0 % done" in page.inner_text("main")
    assert_accessible(page, "public plan en")
    assert_fits_the_phone(page)
    screenshot(page, "council-plan-phone-en", full_page=True)

    page.click("text=Public accounts")
    statements = page.locator("table.statements").inner_text()
    assert "2026-09" in statements and "10749.50" in statements  # 12600 + 3000 - 4850.50
    assert "10349.50" in statements  # October: 10749.50 + 800 - 1200
    assert "李强" not in page.inner_text("main")  # a private counterparty is masked
    assert_accessible(page, "public accounts en")
    assert_fits_the_phone(page)
    screenshot(page, "council-accounts-phone-en", full_page=True)

    page.click("a[hreflang=zh-CN]")
    page.goto(f"{url}/accounts/{COMMUNITY}/entries/{seeded['entry']}")
    assert "地面共有车位42个" in page.inner_text("main")
    page.fill("#building", "3")
    page.fill("#unit", "2")
    page.fill("#flat", "401")
    page.fill("#code", "ACDEF-GHJKM")
    page.fill("#text", "广告费什么时候到账？")
    page.click("button[type=submit]")
    assert "楼栋、单元、房号或住户码不对。" in page.inner_text(".error-summary")
    assert page.get_attribute("#code", "aria-invalid") == "true"
    assert page.input_value("#text") == "广告费什么时候到账？"  # what was typed is kept
    assert_accessible(page, "question refused")
    assert_fits_the_phone(page)
    screenshot(page, "council-accounts-question-refused-phone-zh", full_page=True)

    page.fill("#code", seeded["code"].lower())
    page.click("button[type=submit]")
    assert "问题已提交" in page.inner_text("main")
    assert "1个问题等待业委会答复。" in page.inner_text("main")
    assert council.db.account_questions.count_documents({"answer": None}) == 1
    screenshot(page, "council-accounts-question-sent-phone-zh", full_page=True)
