"""The resident's tracking page on a phone (390 px) in a real browser, in English and in Chinese: the
studio and the hall by their names in the page's language, a shared note as its own line, a moved
session's old time struck out, and "When:" on the same line as its time. axe-core finds no serious
violation. Screenshots: var/e2e-screenshots/tracking-phone-*.png."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from services.intake import tracking
from services.intake.app import create_app
from services.intake.bootstrap import bootstrap
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.e2e.conftest import screenshot
from tests.integration.conftest import CASE
from tests.support.notify_events import data_for

pytestmark = pytest.mark.e2e


def _event(event_type: str, reference: str, **data: object) -> Any:
    return make_envelope(event_type, data_for(event_type, reference, **data), source="mediation")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_tracking_page_on_a_phone(
    language: str, settings: Settings, serve_app: Callable[[Flask], str], phone: Any, axe: Callable
) -> None:
    app = create_app(settings)
    created = app.test_client().post("/api/v1/cases", json=CASE).json
    reference, token = created["reference"], created["tracking_token"]
    intake = bootstrap(settings)
    tracking.on_case_assigned(intake, _event("case.assigned", reference))
    tracking.on_session_scheduled(intake, _event("session.scheduled", reference))
    tracking.on_session_rescheduled(intake, _event("session.rescheduled", reference))
    tracking.on_case_status_changed(
        intake,
        _event(
            "case.status_changed",
            reference,
            status="in_mediation",
            previous_status="in_mediation",
            changed_at="2026-11-25T02:00:00+00:00",
            note="Please bring the receipts of the property fees.",
        ),
    )
    url = serve_app(app)

    page = phone.new_page()
    page.goto(f"{url}/track/{reference}?token={token}&lang={language}")
    page.wait_for_selector("#timeline")
    english = language == "en"
    text = page.inner_text("#timeline")
    studio, hall = (
        ("Zhihe Mediation Studio", "Lianhua Council Hall")
        if english
        else ("至和调解工作室", "莲花社区议事厅")
    )
    assert studio in text and hall in text
    assert ("Message from the mediation studio" if english else "调解工作室留言") in text
    assert page.locator("#timeline del time").count() == 2  # the first time, and "instead of" it
    # "When:" and its time share a line: the label's top and the time's top are level.
    when = page.locator("#timeline li div", has_text="When" if english else "时间").first
    label_top = when.evaluate("div => div.getBoundingClientRect().top")
    time_top = when.locator("time").evaluate("t => t.getBoundingClientRect().top")
    assert abs(time_top - label_top) < 4, (label_top, time_top)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, f"tracking-phone-{language}", full_page=True)
    axe(page, f"tracking page ({language})")
