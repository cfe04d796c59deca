"""The public result page of a closed consultation in a real browser on a phone (Debian chromium):
Chinese and English, readable without scrolling sideways, no unreviewed free text, axe-core clean;
and an Art 278 vote's result with both dimensions. Screenshots under var/e2e-screenshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask

from services.council import results
from services.council.app import create_app
from shared.config import Settings
from shared.db import in_transaction
from shared.messaging.envelope import utcnow
from tests.e2e.conftest import screenshot
from tests.integration.council_data import ballot, consultation, flat, seed

pytestmark = pytest.mark.e2e


def closed(app: Flask, cid: str) -> None:
    council = app.extensions["council"]

    def work(session: Any) -> None:
        doc = council.db.consultations.find_one({"_id": cid}, session=session)
        snapshot = results.freeze(council, doc, session)
        council.db.consultations.update_one(
            {"_id": cid},
            {"$set": {"status": "closed", "closed_at": utcnow(), "result": snapshot}},
            session=session,
        )

    in_transaction(council.db, work)


@pytest.fixture
def council_app(settings: Settings) -> Flask:
    app = create_app(settings)
    db = app.extensions["council"].db
    flats = [flat(b, "1", f"{n:02d}01") for b in ("1", "2", "3") for n in range(1, 9)]
    answers = [
        {"gate": "yes", "works": ["paint", "heat"], "order": ["a", "b"], "remarks": "请联系我 13912345678"},
        {"gate": "no", "works": ["cctv"], "order": ["b", "a"]},
        {"gate": "yes", "works": ["heat"], "order": ["a", "b"], "remarks": "大门太旧"},
    ]
    seed(
        db,
        flats,
        consultation("c1", buildings=("1", "2", "3")),
        [ballot("c1", f, answers[i % 3]) for i, f in enumerate(flats[:17])],
    )
    closed(app, "c1")
    votes = [flat("9", "1", f"{n:02d}01", area="88.5") for n in range(1, 13)]
    choices = ["for"] * 8 + ["against", "abstain"]
    seed(
        db,
        votes,
        consultation("v1", kind="vote", vote_item=7, buildings=("9",)),
        [ballot("v1", f, {"vote": c}) for f, c in zip(votes, choices, strict=False)],
    )
    closed(app, "v1")
    return app


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_public_result_on_a_phone_in_both_languages(
    phone: Any, council_app: Flask, serve_app: Callable[[Flask], str]
) -> None:
    url = serve_app(council_app)
    page = phone.new_page()
    page.goto(f"{url}/c/c1/result")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "小区改造意见征集"
    assert "已结束。24户中有17户参与" in page.inner_text("main")  # the page speaks Chinese
    body = page.inner_text("main")
    assert "17" in body and "24" in body  # 17 of 24 flats answered
    assert "13912345678" not in page.content() and "大门太旧" not in page.content()
    assert no_sideways_scroll(page)
    screenshot(page, "council-result-phone-zh", full_page=True)
    serious = [v for v in Axe().run(page).response["violations"] if v["impact"] in {"serious", "critical"}]
    assert serious == [], serious
    page.click("a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert "17 of 24 flats answered" in page.inner_text("main")
    assert "Replace the gate?" in page.inner_text("main")
    screenshot(page, "council-result-phone-en", full_page=True)


def test_vote_result_on_a_phone_shows_area_and_headcount(
    phone: Any, council_app: Flask, serve_app: Callable[[Flask], str]
) -> None:
    url = serve_app(council_app)
    page = phone.new_page()
    page.goto(f"{url}/c/v1/result?lang=en")
    main = page.inner_text("main")
    assert "Vote under Civil Code Art. 278" in main and "Matter 7" in main
    assert "No quorum" in main or "Passed" in main or "Not passed" in main
    assert "1062.00" in main  # eligible area: 12 flats of 88.5 m2
    assert "Persons" in main and "Quorum" in main
    assert no_sideways_scroll(page)
    screenshot(page, "council-vote-result-phone-en", full_page=True)
    serious = [v for v in Axe().run(page).response["violations"] if v["impact"] in {"serious", "critical"}]
    assert serious == [], serious
    assert page.goto(f"{url}/c/nope/result").status == 404
