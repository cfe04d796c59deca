# ruff: noqa: RUF001
"""A resident answers a questionnaire on a phone with the code from the flat's slip, in a real browser
(Debian chromium): in Chinese without JavaScript (a mistake shown at its question, then the answer and
its confirmation), and in English with JavaScript (the language switch, a change of the answer, type of
at least 18px). axe-core checks every page; screenshots go to var/e2e-screenshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from services.council import consultations, slips
from services.council.app import create_app
from services.council.bootstrap import Council
from shared.config import Settings
from shared.messaging.envelope import utcnow
from tests.e2e.conftest import PHONE, PHONE_USER_AGENT, screenshot
from tests.integration.council_support import QUESTIONS, committee, new_questionnaire, seed_register

pytestmark = pytest.mark.e2e

RANK = {
    "key": "first",
    "kind": "ranking",
    "prompt": "先做哪一项？",
    "top_k": 2,
    "options": [
        {"key": "gate", "label": "大门"},
        {"key": "cctv", "label": "监控"},
        {"key": "lift", "label": "电梯"},
    ],
}
MATRIX = {
    "key": "service",
    "kind": "matrix",
    "prompt": "对物业服务的评价",
    "options": [
        {"key": "good", "label": "满意"},
        {"key": "fair", "label": "一般"},
        {"key": "poor", "label": "不满意"},
    ],
    "rows": [{"key": "clean", "label": "保洁"}, {"key": "guard", "label": "安保"}],
}


@pytest.fixture
def served(
    settings: Settings, serve_app: Callable[[Flask], str]
) -> tuple[str, Council, dict, dict[str, str]]:
    app = create_app(settings)
    url = serve_app(app)
    council = app.extensions["council"]
    seed_register(council)
    now = utcnow()
    doc = new_questionnaire(
        council,
        questions=[*QUESTIONS, RANK, MATRIX],
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=2),
    )
    doc = consultations.open_(council, committee(), doc["_id"], now)
    issued = slips.issue(council, committee(), doc["_id"], "1", now)
    codes = {f["flat_id"]: f["code"] for f in issued}
    return url, council, doc, codes


def phone_context(new_context: Callable[..., Any], javascript: bool, locale: str) -> Any:
    return new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        locale=locale,
        java_script_enabled=javascript,
    )


def test_answering_by_slip_code_in_chinese_without_javascript(
    served: tuple, new_context: Callable[..., Any]
) -> None:
    url, council, doc, codes = served
    page = phone_context(new_context, javascript=False, locale="zh-CN").new_page()
    page.goto(f"{url}/c/{doc['_id']}?code={codes['f11']}")  # as the slip's QR code opens it
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "老旧小区改造意见征询"
    assert page.input_value("#code") == codes["f11"]
    screenshot(page, "council-answer-start-zh", full_page=True)
    page.click("text=继续")

    # The mandatory question left out: the error is at it, the rest stays as ticked.
    assert "房号1-1-101" in page.inner_text("main")
    page.check("#q-works-paint")
    page.click("text=提交答复")
    assert page.get_attribute("#q-gate", "aria-invalid") == "true"
    assert "此题必答" in page.inner_text("#q-gate-error")
    assert page.is_checked("#q-works-paint")
    assert council.db.ballots.count_documents({}) == 0
    screenshot(page, "council-answer-error-zh", full_page=True)

    page.check("#q-gate-yes")
    page.select_option("#q-first-r1", "lift")
    page.select_option("#q-first-r2", "gate")
    page.check("#q-service-clean-good")
    page.fill("#q-remarks", "希望尽快加装电梯")
    page.click("text=提交答复")
    assert page.inner_text("h1") == "谢谢，您的答复已记录"
    recorded = page.inner_text(".recorded")
    assert "同意" in recorded and "1. 电梯" in recorded and "保洁: 满意" in recorded
    assert "之前可以修改答复" in page.inner_text("main")
    screenshot(page, "council-answer-done-zh", full_page=True)
    ballot = council.db.ballots.find_one({"flat_id": "f11"})
    assert ballot["channel"] == "slip" and ballot["answers"]["first"] == ["lift", "gate"]
    assert ballot["answers"]["service"] == {"clean": "good"}


def test_answering_in_english_with_javascript_and_changing_the_answer(
    served: tuple, new_context: Callable[..., Any], axe: Callable[[Any, str], None]
) -> None:
    url, council, doc, codes = served
    page = phone_context(new_context, javascript=True, locale="zh-CN").new_page()
    page.goto(f"{url}/c/{doc['_id']}")
    axe(page, "start page (zh-CN)")
    page.click("a[hreflang=en]")  # the language switch
    assert page.get_attribute("html", "lang") == "en"
    body_size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.answering')).fontSize)")
    assert body_size >= 18

    page.fill("#code", "WRONG-CODE1")
    page.click("text=Continue")
    assert page.get_attribute("#code", "aria-invalid") == "true"
    assert "wrong, used or expired" in page.inner_text("#code-error")
    axe(page, "wrong code")
    screenshot(page, "council-answer-wrong-code-en", full_page=True)

    page.fill("#code", codes["f12"].lower())  # typed in lower case: still the code
    page.click("text=Continue")
    page.click("text=Send my answer")  # nothing chosen
    assert "Please answer this question." in page.inner_text("#q-gate-error")
    axe(page, "questions with an error")
    screenshot(page, "council-answer-error-en", full_page=True)
    page.check("#q-gate-no")
    page.click("text=Send my answer")
    assert page.inner_text("h1") == "Thank you: your answer is recorded"
    axe(page, "confirmation")

    page.click("text=Change my answer")
    assert page.is_checked("#q-gate-no")
    page.check("#q-gate-yes")
    page.click("text=Send my answer")
    assert "(version 2)" in page.inner_text("main")
    screenshot(page, "council-answer-done-en", full_page=True)
    ballot = council.db.ballots.find_one({"flat_id": "f12"})
    assert [v["answers"]["gate"] for v in ballot["versions"]] == ["no", "yes"]

    # The SMS form, asked for a flat: the same neutral message for any flat.
    page.goto(f"{url}/c/{doc['_id']}?lang=en")
    page.fill("#building", "1")
    page.fill("#unit", "1")
    page.fill("#flat", "909")
    page.click("text=Send me a code")
    assert "If this flat has a registered phone" in page.inner_text("[role=status]")
    axe(page, "SMS code asked")


def test_staff_pages_of_a_consultation_pass_axe(
    served: tuple, settings: Settings, new_context: Callable[..., Any], axe: Callable[[Any, str], None]
) -> None:
    from shared.auth import COOKIE_NAME, issue_token

    url, council, doc, _codes = served
    draft = new_questionnaire(council, title={"zh-CN": "公共场地收益", "en": "Income of the shared venue"})
    context = phone_context(new_context, javascript=True, locale="zh-CN")
    context.add_cookies([{"name": COOKIE_NAME, "value": issue_token(settings, committee()), "url": url}])
    page = context.new_page()
    page.goto(f"{url}/consultations?community=lianhua")
    assert "公共场地收益" in page.inner_text("main")
    axe(page, "list of consultations")
    page.goto(f"{url}/consultations/{draft['_id']}")
    page.fill("#prompt", "收益用于哪方面？")
    page.fill("#options", "维修基金\n公共设施")
    page.click("button:has-text('添加问题')")
    assert "问题已添加" in page.inner_text("[role=status]")
    axe(page, "draft with the question editor")
    screenshot(page, "council-staff-draft-zh", full_page=True)
    page.goto(f"{url}/consultations/{doc['_id']}/paper")
    page.click("button:has-text('录入纸质答复单')")  # empty: errors at the fields
    assert page.get_attribute("#building", "aria-invalid") == "true"
    axe(page, "paper entry with errors")
    screenshot(page, "council-staff-paper-zh", full_page=True)
