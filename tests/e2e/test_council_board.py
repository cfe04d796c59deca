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
    assert page.get_by_text("暂无。").is_visible()  # no consultation results yet
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
