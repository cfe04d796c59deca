"""The public board in a real browser (Debian chromium) on a phone, no login, in Chinese and in
English: a community's, a street's and the district's pages built from a stream of mediation events
(the read model's own code), the quarter chosen with a plain form, charts beside their tables, the
CSV link; axe-core finds no serious violation and the page never scrolls sideways. Screenshots are
saved under var/e2e-screenshots to look at."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from services.council import statistics
from services.council.app import create_app
from services.council.bootstrap import bootstrap, ensure_indexes
from shared.config import Settings
from tests.e2e.conftest import screenshot
from tests.e2e.test_council_register import assert_accessible, assert_fits_the_phone
from tests.support.board_events import events
from tests.support.board_sections import fill

pytestmark = pytest.mark.e2e


def _board(settings: Settings) -> None:
    council = bootstrap(settings)
    ensure_indexes(council.db)
    for envelope in events(seed=3, cases=120):
        statistics.on_event(council, envelope)
    statistics.refresh_dirty(council)


def test_board_on_a_phone_in_both_languages(
    phone: Any, settings: Settings, serve_app: Callable[[Flask], str]
) -> None:
    _board(settings)
    url = serve_app(create_app(settings))
    page = phone.new_page()

    page.goto(f"{url}/board/lianhua")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text().startswith("公开栏")
    assert page.locator("svg.chart").count() >= 1
    # Every chart sits beside its data table.
    for chart in page.locator("figure.chart-box").all():
        assert (
            chart.locator("xpath=following-sibling::div[contains(@class,'table-scroll')]//table").count() == 1
        )
    cells = page.locator("table.board-figures td").all_inner_texts()
    assert cells and all(c in ("<5", "x") or not 0 < int(c) < 5 for c in cells)
    consultations = page.locator("section[aria-labelledby=consultations]")
    assert consultations.get_by_text("暂无。").is_visible()  # no consultation results yet
    assert_accessible(page, "community board zh")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-community-phone-zh", full_page=True)

    # The quarter is chosen with a plain form (no JavaScript needed).
    quarters = page.locator("#period option").all_inner_texts()
    assert len(quarters) >= 2
    page.select_option("#period", quarters[-1])
    page.get_by_role("button", name="显示").click()
    assert f"period={quarters[-1]}" in page.url
    assert page.locator("#period").input_value() == quarters[-1]

    # The CSV link answers with a BOM-prefixed UTF-8 file.
    href = page.get_by_role("link", name=re.compile("CSV")).get_attribute("href")
    response = page.request.get(url + href)
    assert response.ok and response.body().startswith("\ufeff".encode())

    page.goto(f"{url}/board/street/qinghe?lang=en&period=2026-Q4")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="How to read these figures fairly").count() == 0  # summary text
    assert page.get_by_text("How to read these figures fairly").is_visible()
    assert page.get_by_role("columnheader", name="Street total").count() >= 1
    assert_accessible(page, "street board en")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-street-phone-en", full_page=True)

    page.goto(f"{url}/board/district?period=2026-Q4")
    assert page.get_by_text("Success rate", exact=True).is_visible()
    assert_accessible(page, "district board en")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-district-phone-en", full_page=True)


def test_minutes_plan_and_accounts_on_a_phone_in_both_languages(
    phone: Any, settings: Settings, serve_app: Callable[[Flask], str], axe: Callable[[object, str], None]
) -> None:
    _board(settings)
    council = bootstrap(settings)
    filled = fill(council)
    url = serve_app(create_app(settings))
    page = phone.new_page()

    page.goto(f"{url}/board/lianhua?lang=en")
    minutes = page.locator("section[aria-labelledby=board-minutes]")
    assert minutes.get_by_role("heading", name="Minutes of representatives' meetings").is_visible()
    # Five shown, the rest behind "More minutes" (a <details>: no JavaScript needed to open it).
    assert minutes.locator("> ul > li").count() == 5
    more = minutes.locator("details.more")
    assert not more.get_by_role("link").first.is_visible()
    more.locator("summary").click()
    assert more.get_by_role("link").count() == 2 and more.get_by_role("link").first.is_visible()
    link = minutes.get_by_role("link", name="第7次议事会")
    assert link.get_attribute("href") == f"/m/{filled['published'][-1]}/minutes"

    # The plan: every bar is a <progress> with its name, and the percentage is there as text.
    plan = page.locator("section[aria-labelledby=board-plan]")
    bar = plan.get_by_role("progressbar", name="Progress of Renovating the old estate")
    assert bar.get_attribute("value") == "62.5"
    assert plan.get_by_text("62.5 % done").is_visible()
    assert plan.get_by_text("¥100,000.00").is_visible()

    # The accounts: the latest statement as a table of exact yuan.
    accounts = page.locator("section[aria-labelledby=board-accounts]")
    closing = accounts.get_by_role("row", name=re.compile("Closing balance"))
    assert closing.get_by_role("cell").inner_text() == "¥1,250.10"
    axe(page, "community board sections en")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-sections-phone-en", full_page=True)

    # Following the links reaches the public pages they name.
    page.get_by_role("link", name="The whole plan, with its timeline and photos").click()
    assert page.url.endswith("/plan/lianhua")
    page.go_back()
    link = page.locator("section[aria-labelledby=board-minutes]").get_by_role("link", name="第7次议事会")
    link.click()
    assert page.url.endswith(f"/m/{filled['published'][-1]}/minutes")

    page.goto(f"{url}/board/lianhua?lang=zh-CN")
    assert page.get_by_role("heading", name="业主代表议事会会议纪要").is_visible()
    assert page.get_by_text("已完成 62.5%").is_visible()
    assert page.get_by_role("heading", name="公共收益公示").is_visible()
    axe(page, "community board sections zh")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-sections-phone-zh", full_page=True)

    # An empty community says so in each section.
    page.goto(f"{url}/board/xinyuan")
    for section in ("minutes", "plan", "accounts"):
        assert page.locator(f"section[aria-labelledby=board-{section}]").get_by_text("暂无。").is_visible()
    axe(page, "empty community board zh")

    # A street's board links each of its communities' boards, plans and accounts.
    page.goto(f"{url}/board/street/qinghe?lang=en")
    links = page.locator("section[aria-labelledby=board-communities]")
    board_link = links.get_by_role("link", name="Board of Lianhua Community")
    assert board_link.get_attribute("href") == "/board/lianhua"
    assert links.get_by_role("link", name="Public accounts of Heping Community").is_visible()
    axe(page, "street board links en")
    assert_fits_the_phone(page)
    screenshot(page, "council-board-street-links-phone-en", full_page=True)
