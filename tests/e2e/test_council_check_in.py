"""A meeting's check-in page in a real browser (Debian chromium) on a phone, no JavaScript needed:
a wrong code is refused at the field, the slip's code checks the invitee in (their name masked),
the same code again says it was used; in Chinese and in English. axe-core checks each state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from services.council import attendance, meetings
from services.council.app import create_app
from services.council.bootstrap import bootstrap, ensure_indexes
from shared.auth import Staff
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.e2e.conftest import screenshot
from tests.e2e.test_council_register import assert_accessible, assert_fits_the_phone

pytestmark = pytest.mark.e2e

CLERK = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")


def confirmed_meeting(settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    council = bootstrap(settings)
    ensure_indexes(council.db)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=15 + (15 - now.minute % 15))
    made = meetings.create_meeting(
        council, "lianhua", CLERK, title="加装电梯议事会", starts_at=start, ends_at=start + timedelta(hours=2)
    )
    answer = make_envelope(
        "hall.booking_confirmed",
        {
            "meeting_id": made["_id"],
            "request": 1,
            "room": "hall:lianhua",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "confirmed_at": now.isoformat(),
            "place": {"code": "hall:lianhua", "name": "莲花小区议事厅", "name_en": "Lianhua Council Hall"},
        },
        source="mediation",
    )
    meetings.on_hall_answer(council, answer)
    for name, phone in (("王建国", "13800138000"), ("李秀英", "13900139000")):
        meetings.add_invitee(
            council, "lianhua", made["_id"], CLERK, kind="representative", name=name, phone=phone
        )
    return made["_id"], attendance.issue_codes(council, "lianhua", made["_id"], CLERK)


def test_check_in_on_a_phone(phone: Any, settings: Settings, serve_app: Callable[[Flask], str]) -> None:
    url = serve_app(create_app(settings))
    meeting_id, slips = confirmed_meeting(settings)
    page = phone.new_page()

    page.goto(f"{url}/m/{meeting_id}/check-in?lang=zh-CN")
    assert page.locator("h1").inner_text() == "签到"
    assert "加装电梯议事会" in page.content() and "王建国" not in page.content()
    assert_accessible(page, "check-in form")
    assert_fits_the_phone(page)

    page.get_by_label("签到码").fill("12")
    page.get_by_role("button", name="签到").click()
    assert "签到条上的六位数字" in page.locator("#code-error").inner_text()
    assert page.get_by_label("签到码").get_attribute("aria-invalid") == "true"
    assert_accessible(page, "check-in refused")
    screenshot(page, "council-check-in-refused")

    page.get_by_label("签到码").fill(slips[0]["code"])
    page.get_by_role("button", name="签到").click()
    welcome = page.locator("#checked-in").inner_text()
    assert "王**" in welcome and "王建国" not in page.content()
    assert "实到 1 人" in page.content()
    assert_accessible(page, "checked in")
    assert_fits_the_phone(page)
    screenshot(page, "council-check-in-done")

    page.goto(f"{url}/m/{meeting_id}/check-in?lang=en")
    page.get_by_label("Check-in code").fill(slips[0]["code"])
    page.get_by_role("button", name="Check in").click()
    assert "already" in page.locator("#code-error").inner_text()
    page.get_by_label("Check-in code").fill(slips[1]["code"])
    page.get_by_role("button", name="Check in").click()
    assert "2 present of 2 invited" in page.content()
