"""Follow-up visits (回访) through mediation's pages and API on a real database: the studio's
follow-up days kept by its lead; the desk home's short list and the full list (never a name or a
phone); a visit recorded on its page, refused with a clear error and nothing changed when it is
incomplete, repeated, a colleague's or another studio's; the same through the API; terms with a
due date on the agreement form and in the printed agreement's data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.mediation import agreements, desk
from services.mediation.app import create_app
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_visits import DRAFT, in_mediation, oral_agreement, tasks

pytestmark = pytest.mark.integration

S_MEDIATOR = Staff("mediator", "陈敏", frozenset({"mediator"}), studio="zhihe")
S_ZHOU = Staff("zhou", "周平", frozenset({"mediator"}), studio="zhihe")
S_LEAD = Staff("lead", "王立", frozenset({"studio_lead"}), studio="zhihe")
S_OTHER = Staff("heping-1", "赵强", frozenset({"mediator"}), studio="heping-rc")
S_ADMIN = Staff("admin", "Admin", frozenset({"district_admin"}))
GOOD = {
    "how": "visit",
    "performed": "performed",
    "satisfied": "5",
    "renewed_conflict": "false",
    "note": "很好",
}


@pytest.fixture
def app(settings: Settings, mediation: Mediation) -> Flask:
    return create_app(settings)


def client_as(app: Flask, settings: Settings, staff: Staff, language: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def post(client: FlaskClient, path: str, form_page: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, form_page), **data})


def test_the_lead_sets_the_studios_follow_up_days(app, settings, mediation) -> None:
    lead = client_as(app, settings, S_LEAD)
    page = lead.get("/admin/studios/zhihe").get_data(as_text=True)
    assert 'name="follow_up_days"' in page and 'value="14"' in page
    response = post(
        lead,
        "/admin/studios/zhihe",
        "/admin/studios/zhihe",
        {"working_days": ["mon"], "follow_up_days": "21"},
    )
    assert response.status_code == 302
    assert mediation.db.studios.find_one({"_id": "zhihe"})["follow_up_days"] == 21
    for bad in ("0", "181", "soon"):
        refused = post(
            lead,
            "/admin/studios/zhihe",
            "/admin/studios/zhihe",
            {"working_days": ["mon"], "follow_up_days": bad},
        )
        assert refused.status_code == 422 and 'id="error-summary"' in refused.get_data(as_text=True)
        assert mediation.db.studios.find_one({"_id": "zhihe"})["follow_up_days"] == 21
    admin = client_as(app, settings, S_ADMIN)
    assert 'name="follow_up_days"' in admin.get("/admin/studios/heping-rc").get_data(as_text=True)
    assert admin.get("/api/v1/studios/zhihe").json["follow_up_days"] == 21


def test_the_desk_lists_the_tasks_without_names_or_phones(app, settings, mediation) -> None:
    reference = oral_agreement(mediation)
    client = client_as(app, settings, S_MEDIATOR, "zh-CN")
    home = client.get("/desk").get_data(as_text=True)
    assert "回访任务" in home and 'href="/desk/tasks"' in home and reference in home
    full = client.get("/desk/tasks").get_data(as_text=True)
    assert full.count(f"/desk/tasks/{reference}:visit:") == 2 and "申请人1" in full and "被申请人1" in full
    for personal in ("张三", "李四", "13800138000", "13900139000"):
        assert personal not in home and personal not in full
    assert reference not in client_as(app, settings, S_ZHOU).get("/desk/tasks").get_data(as_text=True)
    api = client.get("/api/v1/desk/tasks").json["tasks"]
    assert [t["party"] for t in api] == ["applicant-1", "respondent-1"] and "张三" not in str(api)


def test_a_visit_recorded_on_its_page_once(app, settings, mediation) -> None:
    reference = oral_agreement(mediation)
    task_id = f"{reference}:visit:applicant-1"
    path = f"/desk/tasks/{task_id}"
    client = client_as(app, settings, S_MEDIATOR)
    page = client.get(path).get_data(as_text=True)
    assert 'name="performed"' in page and 'name="satisfied"' in page and "Record the visit" in page
    # Incomplete: a clear error at the field, nothing changed.
    before = tasks(mediation, reference)
    refused = post(client, f"{path}/visit", path, {**GOOD, "satisfied": "9", "how": ""})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'href="#satisfied"' in body and 'href="#how"' in body
    missing = post(client, f"{path}/visit", path, {k: v for k, v in GOOD.items() if k != "performed"})
    assert missing.status_code == 422 and 'href="#performed"' in missing.get_data(as_text=True)
    assert tasks(mediation, reference) == before
    # Someone else's: another studio's is not found, a colleague's forbidden.
    other = client_as(app, settings, S_OTHER)
    assert other.get(path).status_code == 404
    assert post(client, f"{path}/visit", path, GOOD).status_code == 302
    stored = mediation.db.follow_up_tasks.find_one({"_id": task_id})
    assert stored["record"]["satisfied"] == 5 and stored["done_by"] == "mediator"
    assert (
        client_as(app, settings, S_ZHOU).get(f"/desk/tasks/{reference}:visit:respondent-1").status_code == 403
    )
    # Twice: refused in the reader's language, the record kept.
    zh = client_as(app, settings, S_MEDIATOR, "zh-CN")
    again = zh.post(f"{path}/visit", data={"csrf_token": csrf(zh, "/desk"), **GOOD, "satisfied": "1"})
    assert again.status_code == 409 and "此回访已登记" in again.get_data(as_text=True)
    assert mediation.db.follow_up_tasks.find_one({"_id": task_id})["record"]["satisfied"] == 5
    assert task_id not in client.get("/desk/tasks").get_data(as_text=True)
    # The case page lists its follow-up: the recorded visit and the one still due.
    case_page = client.get(f"/desk/cases/{reference}").get_data(as_text=True)
    assert 'id="follow-up-title"' in case_page and f"/desk/tasks/{task_id}" in case_page
    assert "Follow-up visit recorded" in case_page  # its timeline entry
    # The lead's report: satisfaction below the MoJ table (this month, by default).
    report = client_as(app, settings, S_LEAD).get("/reports").get_data(as_text=True)
    assert 'id="satisfaction-title"' in report and "Average 5.0 of 5, from 1 visits" in report
    assert client_as(app, settings, S_LEAD).get("/api/v1/reports").json["satisfaction"] == {
        "count": 1,
        "average": 5.0,
    }


def test_the_api_records_and_refuses_like_the_page(app, settings, mediation) -> None:
    reference = oral_agreement(mediation)
    url = f"/api/v1/desk/tasks/{reference}:visit:respondent-1/visit"
    client = client_as(app, settings, S_MEDIATOR)
    body = {"how": "phone", "performed": "partly", "satisfied": 3, "renewed_conflict": True}
    assert client.post(url, json={**body, "satisfied": 0}).status_code == 422
    assert client.post(url, json={**body, "unknown": 1}).status_code == 422
    assert client_as(app, settings, S_OTHER).post(url, json=body).status_code == 404
    assert client_as(app, settings, S_ZHOU).post(url, json=body).status_code == 403
    assert mediation.db.cases.find_one({"_id": reference})["risk_level"] == "none"
    done = client.post(url, json=body)
    assert done.status_code == 200 and done.json["record"]["renewed_conflict"] is True
    assert mediation.db.cases.find_one({"_id": reference})["risk_level"] == "yellow"
    assert client.post(url, json=body).status_code == 409
    close = client.post(f"/api/v1/desk/tasks/{reference}:visit:applicant-1/close", json={"note": "x"})
    assert close.status_code == 409  # a visit has its own form


def test_terms_with_due_dates_on_the_agreement_form(app, settings, mediation) -> None:
    reference = in_mediation(mediation)
    client = client_as(app, settings, S_MEDIATOR)
    page = f"/desk/cases/{reference}"
    assert 'name="term_dues"' in client.get(page).get_data(as_text=True)
    form = {k: v for k, v in DRAFT.items() if k != "term_dues"}
    bad = post(client, f"{page}/agreement", page, {**form, "term_dues": ["", "10/12/2026"]})
    assert bad.status_code == 422 and mediation.db.cases.find_one({"_id": reference}).get("agreement") is None
    saved = post(client, f"{page}/agreement", page, {**form, "term_dues": ["", "2026-12-10", ""]})
    assert saved.status_code == 302
    case = mediation.db.cases.find_one({"_id": reference})
    assert [t["due"] for t in case["agreement"]["terms"]] == [None, "2026-12-10"]
    assert 'value="2026-12-10"' in client.get(page).get_data(as_text=True)
    data = agreements.agreement_data(mediation.db, case)
    assert data.terms == ("每日20时后停止施工。", "李四向张三赔偿500元。") and data.term_dues == (
        None,
        "2026-12-10",
    )
    # An agreement drafted before terms had dates (plain strings) still reads and prints.
    mediation.db.cases.update_one({"_id": reference}, {"$set": {"agreement.terms": ["旧的条款"]}})
    old = agreements.agreement_data(mediation.db, mediation.db.cases.find_one({"_id": reference}))
    assert old.terms == ("旧的条款",) and old.term_dues == (None,)
    assert client.get(f"{page}/agreement.pdf?language=zh-CN").status_code == 200
    assert client.get(f"/api/v1/desk/cases/{reference}").status_code == 200
    desk.get_case(mediation.db, reference, desk.SYSTEM)
    assert mediation.db.cases.find_one({"_id": reference})["status"] == lc.IN_MEDIATION
