"""Building leaders' view (issue 14.5) on the real database: a leader signed in with mediation's
staff token sees their buildings' cases and their own filings as the tracking page shows them —
never another building's case, never a party's name — and others are refused."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.intake.app import create_app
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.test_intake_web import csrf_token, valid_form

pytestmark = pytest.mark.integration

LEADER = Staff("zhao", "赵强", frozenset({"building_leader"}), community="lianhua", buildings=("1", "2"))
OTHER_LEADER = Staff("qian", "钱", frozenset({"building_leader"}), community="lianhua", buildings=("9",))


@pytest.fixture
def app(stack_settings: Settings) -> Flask:
    return create_app(stack_settings)


def as_staff(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def file(client: FlaskClient, **overrides: str) -> str:
    response = client.post("/", data=valid_form(csrf_token(client), **overrides))
    assert response.status_code == 303
    page = client.get("/submitted?lang=en").get_data(as_text=True)
    import re

    return re.search(r"LC-\d{4}-\d{6}", page).group(0)


def test_a_leader_sees_their_buildings_and_their_filings_and_nothing_else(app, stack_settings) -> None:
    resident = app.test_client()
    in_building_1 = file(resident, building="1", **{"applicants-0-name": "孙一"})
    in_building_5 = file(resident, building="5", **{"applicants-0-name": "周五"})
    leader = as_staff(app, stack_settings, LEADER)
    filed_for_building_7 = file(
        leader,
        building="7",
        filed_by="building_leader",
        **{"filer-name": "赵强", "filer-phone": "13700137000"},
    )

    page = leader.get("/building?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert in_building_1 in html and filed_for_building_7 in html
    assert in_building_5 not in html
    assert "filed by you" in html
    for name in ("孙一", "周五", "张三", "物业公司", "13800138000"):
        assert name not in html  # the public status only

    case_page = leader.get(f"/building/cases/{in_building_1}?lang=en")
    assert case_page.status_code == 200
    assert "Timeline" in case_page.get_data(as_text=True) and "孙一" not in case_page.get_data(as_text=True)
    assert leader.get(f"/building/cases/{filed_for_building_7}").status_code == 200
    assert leader.get(f"/building/cases/{in_building_5}").status_code == 404
    assert (
        as_staff(app, stack_settings, OTHER_LEADER).get(f"/building/cases/{in_building_1}").status_code == 404
    )


def test_others_are_asked_to_log_in_or_refused(app, stack_settings) -> None:
    anonymous = app.test_client().get("/building?lang=en")
    assert anonymous.status_code == 401 and "/login" in anonymous.get_data(as_text=True)
    mediator = Staff("mediator", "M", frozenset({"mediator"}), studio="zhihe")
    assert as_staff(app, stack_settings, mediator).get("/building").status_code == 403
    chinese = as_staff(app, stack_settings, LEADER).get("/building?lang=zh-CN").get_data(as_text=True)
    assert "您负责楼栋的案件" in chinese
