# Chinese test data uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Council's staff pages of participation and review in a real browser on a phone, without JavaScript:
a building leader sees their building's unanswered flats and sends the day's reminder (once); a
committee member reviews free text and publishes a redacted version. axe-core finds no serious
violations; nothing scrolls sideways. Screenshots under var/e2e-screenshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask

from services.council.app import create_app
from shared.auth import COOKIE_NAME, issue_token
from shared.config import Settings
from tests.e2e.conftest import screenshot
from tests.e2e.test_council_results import closed
from tests.integration.council_data import ballot, committee, consultation, flat, leader, seed

pytestmark = pytest.mark.e2e


def serious(page: Any) -> list[dict[str, Any]]:
    return [v for v in Axe().run(page).response["violations"] if v["impact"] in {"serious", "critical"}]


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture
def council_app(settings: Settings) -> Flask:
    app = create_app(settings)
    db = app.extensions["council"].db
    flats = [flat(b, u, f"{n}01") for b in ("1", "2") for u in ("1", "2") for n in range(1, 7)]
    answered = [f for f in flats if f["flat"] in ("101", "201", "301")]
    seed(db, flats, consultation("c1"), [ballot("c1", f, {"gate": "yes"}) for f in answered])
    texts = [flat("3", "1", f"{n}01") for n in range(1, 4)]
    remarks = ["楼道灯坏了，请联系我 13912345678", "希望尽快开工", "无"]
    seed(
        db,
        texts,
        consultation("c2", buildings=("3",)),
        [ballot("c2", f, {"gate": "no", "remarks": r}) for f, r in zip(texts, remarks, strict=True)],
    )
    closed(app, "c2")
    return app


def test_a_leader_reminds_their_building_on_a_phone(
    phone: Any, council_app: Flask, serve_app: Callable[[Flask], str], settings: Settings
) -> None:
    url = serve_app(council_app)
    phone.add_cookies([{"name": COOKIE_NAME, "value": issue_token(settings, leader(("1",))), "url": url}])
    page = phone.new_page()
    page.goto(f"{url}/consultations/c1/participation")
    assert page.get_attribute("html", "lang") == "zh-CN"
    main = page.inner_text("main")
    assert "1号楼" in main and "2号楼" not in main
    assert serious(page) == []
    page.click("text=1号楼")
    main = page.inner_text("main")
    assert "1-1-401" in main and "1-1-101" not in main
    assert no_sideways_scroll(page)
    screenshot(page, "council-participation-building-phone-zh", full_page=True)
    assert serious(page) == []
    page.click("button[type=submit]")
    assert "已向" in page.inner_text("main") and "户发送提醒" in page.inner_text("main")
    page.click("button[type=submit]")
    assert "今天已经提醒过这栋楼" in page.inner_text("main")
    screenshot(page, "council-participation-reminded-phone-zh", full_page=True)


def test_a_committee_member_reviews_free_text_on_a_phone(
    phone: Any, council_app: Flask, serve_app: Callable[[Flask], str], settings: Settings
) -> None:
    url = serve_app(council_app)
    phone.add_cookies([{"name": COOKIE_NAME, "value": issue_token(settings, committee()), "url": url}])
    page = phone.new_page()
    page.goto(f"{url}/consultations/c2/results/review?lang=en")
    assert page.inner_text("h1") == "Review free-text answers"
    assert no_sideways_scroll(page)
    assert serious(page) == []
    screenshot(page, "council-review-phone-en", full_page=True)
    fieldsets = page.query_selector_all("fieldset.review")
    assert len(fieldsets) == 3
    for box in fieldsets:
        text = box.inner_text()
        if "13912345678" in text:
            box.query_selector("input[value=publish]").check()
            box.query_selector("textarea").fill("楼道灯坏了（联系方式已删去）")
        elif "希望尽快开工" in text:
            box.query_selector("input[value=publish]").check()
        else:
            box.query_selector("input[value=withhold]").check()
    page.click("button[type=submit]")
    assert "3 reviews saved" in page.inner_text("main")
    page.goto(f"{url}/c/c2/result?lang=en")
    main = page.inner_text("main")
    assert "楼道灯坏了（联系方式已删去）" in main and "希望尽快开工" in main
    assert "13912345678" not in page.content()
    assert "2 published; 0 not reviewed yet; 1 withheld" in main
