"""Council's staff pages pass axe-core like the resident form: the committee's consultations (list,
new, draft, paper entry, participation), register, meetings, plan, accounts and building groups, each
on a phone (390x844) and a desktop, in Chinese and in English, with no serious or critical violation
and no sideways scrolling on the phone. Screenshots: var/e2e-screenshots/council-staff-*.png."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from services.council import consultations
from services.council.app import create_app
from shared.auth import COOKIE_NAME, issue_token
from shared.config import Settings
from shared.messaging.envelope import utcnow
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_staff_pages_axe import SIZES, _widest
from tests.integration.council_support import COMMUNITY, committee, new_questionnaire, seed_register

pytestmark = pytest.mark.e2e


def test_council_staff_pages_pass_axe_on_a_phone_and_a_desktop_in_both_languages(
    settings: Settings, serve_app: Callable[[Flask], str], new_context: Callable[..., Any], axe: Callable
) -> None:
    app = create_app(settings)
    url = serve_app(app)
    council = app.extensions["council"]
    seed_register(council)
    now = utcnow()
    opened = new_questionnaire(council, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=2))
    opened = consultations.open_(council, committee(), opened["_id"], now)
    draft = new_questionnaire(council, title={"zh-CN": "公共场地收益", "en": "Income of the shared venue"})
    pages = {
        "consultations": f"/consultations?community={COMMUNITY}",
        "new": f"/consultations/new?community={COMMUNITY}",
        "draft": f"/consultations/{draft['_id']}",
        "paper": f"/consultations/{opened['_id']}/paper",
        "participation": f"/consultations/{opened['_id']}/participation",
        "register": f"/communities/{COMMUNITY}/register",
        "import": f"/communities/{COMMUNITY}/register/import",
        "meetings": f"/communities/{COMMUNITY}/meetings",
        "plan": f"/communities/{COMMUNITY}/plan",
        "accounts": f"/communities/{COMMUNITY}/accounts",
        "groups": f"/communities/{COMMUNITY}/building-groups",
    }
    for size, options in SIZES.items():
        for language in ("zh-CN", "en"):
            context = new_context(locale=language, **options)
            context.add_cookies(
                [{"name": COOKIE_NAME, "value": issue_token(settings, committee()), "url": url}]
            )
            page = context.new_page()
            for name, path in pages.items():
                joiner = "&" if "?" in path else "?"
                answer = page.goto(f"{url}{path}{joiner}lang={language}")
                assert answer is not None and answer.status == 200, (path, answer and answer.status)
                assert page.get_attribute("html", "lang") == language
                where = f"council {name} ({size}, {language})"
                screenshot(page, f"council-staff-{name}-{size}-{language}", full_page=True)
                if size == "phone":
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= PHONE["width"], f"{where}: {width}px wide: {_widest(page)}"
                axe(page, where)
