"""Staff pages pass axe-core like the resident form: the login, the mediator's desk (queue, case
page, the follow-up tasks and a visit's form), the studio lead's pages, the patrol member's pages
and the district admin's pages, each on a phone (390x844) and a desktop, in Chinese and in English,
with no serious or critical violation and no sideways scrolling on the phone.
Screenshots: var/e2e-screenshots/staff-<role>-<page>-<size>-<lang>.png."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.mediation import desk, routing, sessions, settlement
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from shared.config import Settings
from shared.messaging.envelope import make_envelope
from tests.e2e.conftest import PHONE, PHONE_USER_AGENT, screenshot
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, accepted_case
from tests.integration.test_mediation_routing import WEDNESDAY_10AM, submitted

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")
SIZES = {
    "phone": {
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": PHONE_USER_AGENT,
    },
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
LOGIN_LABELS = {"zh-CN": ("用户名", "密码", "登录"), "en": ("Username", "Password", "Log in")}


def _staged(settings: Settings) -> dict[str, str]:
    """A studio's day on the desk: a case taken with a session booked and a note, a case in the
    pool, and a red-risk case whose dispatch waits for the patrol team."""
    mediation = bootstrap(settings)
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    seed_demo_users(mediation.db, settings)
    now = datetime.now(UTC)
    reference = accepted_case(mediation, now=now)
    accepted_case(mediation, now=now)  # left in the pool
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    nine = datetime.combine(day, time(9), tzinfo=SHANGHAI)
    sessions.schedule(mediation, reference, MEDIATOR, nine, nine + timedelta(hours=1))
    desk.add_note(mediation, reference, MEDIATOR, "请双方带上物业费收据。", shared=True)
    red = submitted(threat_of_violence=True, building="7")
    routing.on_case_submitted(mediation, red, now=WEDNESDAY_10AM)
    task = mediation.db.patrol_tasks.find_one({"reference": red.data["reference"]})
    assert task is not None, "the red case dispatched no patrol task"
    # An ended case whose applicant answered "not settled", with a comment (issue 14.4).
    ended = accepted_case(mediation, now=now)
    desk.apply_action(mediation, ended, LEAD, lc.REFER, {"target": "court", "target_name": "某区人民法院"})
    answer = {
        "reference": ended,
        "party": "applicant:0",
        "answer": "not_settled",
        "answered_at": now.isoformat(),
        "comment": "楼上又开始装修了。",
        "community": "lianhua",
    }
    settlement.on_settlement_answered(
        mediation, make_envelope("case.settlement_answered", answer, source="intake")
    )
    # An oral agreement reached: its parties' follow-up visits wait on the mediator's desk.
    agreed = accepted_case(mediation, now=now)
    desk.take(mediation, agreed, MEDIATOR)
    desk.apply_action(mediation, agreed, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, agreed, MEDIATOR, lc.START_MEDIATION)
    desk.apply_action(mediation, agreed, MEDIATOR, lc.AGREE_ORAL, {"content": "停止夜间施工"})
    return {
        "reference": reference,
        "task": str(task["_id"]),
        "red": red.data["reference"],
        "ended": ended,
        "visit": f"{agreed}:visit:applicant-1",
    }


def _pages(role: str, staged: dict[str, str]) -> dict[str, str]:
    """The pages a role works on, by a short name."""
    return {
        "mediator": {
            "queue": "/desk",
            # A list paged on ("Show more"): its hint and the way back to the first page.
            "queue_more": f"/desk?list=screening&after={staged['red']}",
            "case": f"/desk/cases/{staged['reference']}",
            "tasks": "/desk/tasks",
            "visit": f"/desk/tasks/{staged['visit']}",
        },
        "studio_lead": {
            "home": "/lead",
            "case": f"/lead/cases/{staged['red']}",
            "not-settled": f"/desk/cases/{staged['ended']}",  # the answers and "open a linked case"
        },
        "patrol_member": {"tasks": "/patrol", "task": f"/patrol/tasks/{staged['task']}"},
        "district_admin": {
            "home": "/admin",
            "studio": "/admin/studios/zhihe",
            "community": "/admin/communities/lianhua",
            "failures": "/admin/failures",
        },
    }[role]


def _widest(page: Any) -> list[str]:
    """The elements reaching past the phone's width (to say what to fix)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + (e.id || '')
                + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )


@pytest.mark.parametrize("role", ["mediator", "studio_lead", "patrol_member", "district_admin"])
def test_staff_pages_pass_axe_on_a_phone_and_a_desktop_in_both_languages(
    role: str, settings: Settings, serve_app: Callable, new_context: Callable[..., Any], axe: Callable
) -> None:
    staged = _staged(settings)
    url = serve_app(create_app(settings))
    user = next(u for u in DEMO_USERS if u["role"] == role)
    for size, options in SIZES.items():
        for language in ("zh-CN", "en"):
            page = new_context(locale=language, **options).new_page()
            page.goto(f"{url}/login?lang={language}")
            if role == "mediator":  # the login form itself, once per size and language
                axe(page, f"login ({size}, {language})")
            username, password, button = LOGIN_LABELS[language]
            page.get_by_label(username).fill(user["username"])
            page.get_by_label(password).fill(user["password"])
            page.get_by_role("button", name=button).click()
            page.wait_for_load_state()
            assert "/login" not in page.url, f"{role} could not log in"
            for name, path in _pages(role, staged).items():
                answer = page.goto(f"{url}{path}{'&' if '?' in path else '?'}lang={language}")
                assert answer is not None and answer.status == 200, (path, answer and answer.status)
                assert page.get_attribute("html", "lang") == language
                where = f"{role} {name} ({size}, {language})"
                screenshot(page, f"staff-{role}-{name}-{size}-{language}", full_page=True)
                if size == "phone":
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= PHONE["width"], f"{where}: {width}px wide: {_widest(page)}"
                axe(page, where)
