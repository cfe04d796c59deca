"""Administration in pages (issue 15.5) on a real database: studios, their members and leave,
patrol teams with members and shifts, and staff accounts — created, changed, refused with nothing
changed, audited; a studio lead kept to their own studio; forms carry CSRF."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.mediation.app import create_app
from services.mediation.bootstrap import Mediation, bootstrap, ensure_indexes
from services.mediation.registry import seed_registry, snapshots
from services.mediation.staff_accounts import NewUser, create_user, seed_demo_users
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings

ADMIN = Staff("admin", "Admin", frozenset({"district_admin"}))
LEAD = Staff("lead", "Lead", frozenset({"studio_lead"}), studio="zhihe")
MEDIATOR = Staff("mediator", "Mediator", frozenset({"mediator"}), studio="zhihe")


@pytest.fixture
def mediation(settings: Settings) -> Mediation:
    m = bootstrap(settings)
    ensure_indexes(m.db)
    seed_registry(m.db)
    seed_demo_users(m.db, settings)
    create_user(m.db, NewUser("heping-1", "heping-password", "mediator", "赵强", studio="heping-rc"))
    return m


@pytest.fixture
def app(settings: Settings, mediation: Mediation) -> Flask:
    return create_app(settings)


def client_as(app: Flask, settings: Settings, staff: Staff | None, language: str = "en") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def post(client: FlaskClient, path: str, form_page: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, form_page), **data})


NEW_STUDIO = {
    "code": "xinqiao",
    "name_zh": "新桥调解室",
    "name_en": "Xinqiao Studio",
    "email": "xinqiao@concord.local",
    "capacity": "12",
    "communities": ["lianhua"],
    "categories": ["neighbours", "property_management"],
    "working_days": ["mon", "tue"],
}


# Studios ----------------------------------------------------------------------------------------
def test_admin_adds_a_studio_and_the_addition_is_audited(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    response = post(client, "/admin/studios/new", "/admin/studios/new", NEW_STUDIO)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/studios/xinqiao")
    studio = mediation.db.studios.find_one({"_id": "xinqiao"})
    assert studio["name"] == {"zh-CN": "新桥调解室", "en": "Xinqiao Studio"}
    assert (studio["capacity"], studio["open_cases"]) == (12, 0)
    assert studio["communities"] == ["lianhua"] and studio["working_days"] == ["mon", "tue"]
    [audit] = list(mediation.db.audit.find({"entity": "studio", "key": "xinqiao"}))
    assert (audit["actor"], audit["action"]) == ("admin", "create")
    assert any(s.code == "xinqiao" for s in snapshots(mediation.db))  # routing sees it at once
    page = client.get("/admin/studios/xinqiao").get_data(as_text=True)
    assert "Xinqiao Studio" in page


@pytest.mark.parametrize(
    ("change", "field"),
    [({"capacity": "many"}, "capacity"), ({"name_en": ""}, "name_zh"), ({"code": "Bad Code"}, "code")],
)
def test_a_bad_studio_is_refused_at_its_field_and_nothing_is_stored(
    app, settings, mediation, change, field
) -> None:
    client = client_as(app, settings, ADMIN)
    response = post(client, "/admin/studios/new", "/admin/studios/new", {**NEW_STUDIO, **change})
    assert response.status_code == 422
    assert f'href="#{field}"' in response.get_data(as_text=True)
    assert mediation.db.studios.find_one({"_id": NEW_STUDIO["code"]}) is None
    assert mediation.db.audit.count_documents({}) == 0


def test_a_studio_code_in_use_is_refused(app, settings, mediation) -> None:
    before = mediation.db.studios.find_one({"_id": "zhihe"})
    client = client_as(app, settings, ADMIN)
    response = post(client, "/admin/studios/new", "/admin/studios/new", {**NEW_STUDIO, "code": "zhihe"})
    assert response.status_code == 409
    assert "in use already" in response.get_data(as_text=True)
    assert mediation.db.studios.find_one({"_id": "zhihe"}) == before


def test_refusals_are_in_the_readers_language(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN, language="zh-CN")
    response = post(client, "/admin/studios/new", "/admin/studios/new", {**NEW_STUDIO, "code": "zhihe"})
    assert response.status_code == 409
    assert "已被使用" in response.get_data(as_text=True)


def test_admin_edits_a_studio(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    form = {**NEW_STUDIO, "capacity": "7", "name_en": "Zhihe Mediation Studio"}
    form.pop("code")
    response = post(client, "/admin/studios/zhihe", "/admin/studios/zhihe", form)
    assert response.status_code == 302
    studio = mediation.db.studios.find_one({"_id": "zhihe"})
    assert studio["capacity"] == 7 and studio["name"]["en"] == "Zhihe Mediation Studio"
    [audit] = list(mediation.db.audit.find({"entity": "studio", "key": "zhihe"}))
    assert audit["changes"]["capacity"]["after"] == 7


def test_a_lead_changes_only_their_own_studios_working_days(app, settings, mediation) -> None:
    before = mediation.db.studios.find_one({"_id": "zhihe"})
    client = client_as(app, settings, LEAD)
    page = client.get("/admin/studios/zhihe").get_data(as_text=True)
    assert 'name="capacity"' not in page and 'name="working_days"' in page
    response = post(
        client, "/admin/studios/zhihe", "/admin/studios/zhihe", {"capacity": "999", "working_days": ["sat"]}
    )
    assert response.status_code == 302
    after = mediation.db.studios.find_one({"_id": "zhihe"})
    assert after["working_days"] == ["sat"] and after["capacity"] == before["capacity"]
    assert client.get("/admin/studios/heping-rc").status_code == 403
    assert client.get("/admin/studios/new").status_code == 403
    assert client_as(app, settings, MEDIATOR).get("/admin/studios/zhihe").status_code == 403


def test_a_lead_sets_when_their_studio_asks_is_it_settled(app, settings, mediation) -> None:
    client = client_as(app, settings, LEAD)
    page = client.get("/admin/studios/zhihe").get_data(as_text=True)
    assert 'name="settlement_check_days"' in page and 'value="28"' in page
    saved = post(
        client,
        "/admin/studios/zhihe",
        "/admin/studios/zhihe",
        {"working_days": ["mon"], "settlement_check_days": "21"},
    )
    assert saved.status_code == 302
    assert mediation.db.studios.find_one({"_id": "zhihe"})["settlement_check_days"] == 21
    for bad in ("0", "366", "three", ""):
        refused = post(
            client,
            "/admin/studios/zhihe",
            "/admin/studios/zhihe",
            {"working_days": ["mon"], "settlement_check_days": bad},
        )
        assert refused.status_code == 422 and 'id="settlement_check_days-error"' in refused.get_data(
            as_text=True
        )
    assert mediation.db.studios.find_one({"_id": "zhihe"})["settlement_check_days"] == 21
    # A new studio asks after 28 days unless the admin says otherwise.
    admin = client_as(app, settings, ADMIN)
    assert post(admin, "/admin/studios/new", "/admin/studios/new", NEW_STUDIO).status_code == 302
    assert mediation.db.studios.find_one({"_id": "xinqiao"})["settlement_check_days"] == 28


def test_a_post_without_its_csrf_token_changes_nothing(app, settings, mediation) -> None:
    before = mediation.db.studios.find_one({"_id": "zhihe"})
    client = client_as(app, settings, ADMIN)
    response = client.post("/admin/studios/zhihe", data={"capacity": "1"})
    assert response.status_code == 400
    assert mediation.db.studios.find_one({"_id": "zhihe"}) == before


# Members and leave ------------------------------------------------------------------------------
def member(mediation: Mediation, username: str) -> dict[str, Any] | None:
    studio = mediation.db.studios.find_one({"_id": "zhihe"})
    return next((m for m in studio["members"] if m["username"] == username), None)


def test_a_lead_keeps_members_and_their_leave(app, settings, mediation) -> None:
    create_user(mediation.db, NewUser("wu", "wu-password-12", "mediator", "吴敏", studio="zhihe"))
    client = client_as(app, settings, LEAD)
    page = "/admin/studios/zhihe"
    response = post(client, "/admin/studios/zhihe/members", page, {"username": "wu", "role": "mediator"})
    assert response.status_code == 302
    assert member(mediation, "wu") == {"username": "wu", "name": "吴敏", "role": "mediator", "leave": []}

    # Another studio's account cannot be added; a repeated addition is refused.
    refused = post(client, "/admin/studios/zhihe/members", page, {"username": "heping-1", "role": "mediator"})
    assert refused.status_code == 422 and member(mediation, "heping-1") is None
    again = post(client, "/admin/studios/zhihe/members", page, {"username": "wu", "role": "mediator"})
    assert again.status_code == 409

    leave = {"start": "2026-12-01", "end": "2026-12-10"}
    assert post(client, "/admin/studios/zhihe/members/wu/leave", page, leave).status_code == 302
    assert member(mediation, "wu")["leave"] == [leave]
    [snapshot] = [s for s in snapshots(mediation.db) if s.code == "zhihe"]
    wu = next(m for m in snapshot.members if m.username == "wu")
    assert not wu.available(date(2026, 12, 5)) and wu.available(date(2026, 12, 11))

    backwards = post(
        client, "/admin/studios/zhihe/members/wu/leave", page, {"start": "2026-12-20", "end": "2026-12-19"}
    )
    assert backwards.status_code == 422 and member(mediation, "wu")["leave"] == [leave]

    removed = post(client, "/admin/studios/zhihe/members/wu/leave/2026-12-01/remove", page, {})
    assert removed.status_code == 302 and member(mediation, "wu")["leave"] == []
    assert post(client, "/admin/studios/zhihe/members/wu/remove", page, {}).status_code == 302
    assert member(mediation, "wu") is None
    assert mediation.db.audit.count_documents({"entity": "studio", "key": "zhihe"}) == 4

    # Another studio's lead may not touch this studio's members.
    other = Staff("heping-lead", "Other", frozenset({"studio_lead"}), studio="heping-rc")
    outsider = client_as(app, settings, other)
    token = csrf(outsider, "/admin/studios/heping-rc")
    response = outsider.post("/admin/studios/zhihe/members", data={"csrf_token": token, "username": "wu"})
    assert response.status_code == 403


# Patrol teams -----------------------------------------------------------------------------------
def test_admin_adds_a_team_with_shifts_and_members(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    form = {
        "code": "xinqiao-patrol",
        "name_zh": "新桥巡查队",
        "name_en": "Xinqiao Patrol",
        "phone": "13800138000",
        "communities": ["lianhua"],
        "on_call": "yes",
    }
    assert post(client, "/admin/teams/new", "/admin/teams/new", form).status_code == 302
    team = mediation.db.patrol_teams.find_one({"_id": "xinqiao-patrol"})
    assert team["on_call"] is True and team["communities"] == ["lianhua"]

    page = "/admin/teams/xinqiao-patrol"
    shift = {"days": ["mon", "wed"], "start": "08:00", "end": "20:00"}
    assert post(client, "/admin/teams/xinqiao-patrol/shifts", page, shift).status_code == 302
    bad = post(client, "/admin/teams/xinqiao-patrol/shifts", page, {"days": [], "start": "25:00", "end": "x"})
    assert bad.status_code == 422
    assert mediation.db.patrol_teams.find_one({"_id": "xinqiao-patrol"})["shifts"] == [shift]

    create_user(mediation.db, NewUser("ma", "ma-password-12", "patrol_member", "马力", team="xinqiao-patrol"))
    assert post(client, "/admin/teams/xinqiao-patrol/members", page, {"username": "ma"}).status_code == 302
    assert mediation.db.patrol_teams.find_one({"_id": "xinqiao-patrol"})["members"] == [
        {"username": "ma", "name": "马力"}
    ]
    assert post(client, "/admin/teams/xinqiao-patrol/shifts/0/remove", page, {}).status_code == 302
    assert post(client, "/admin/teams/xinqiao-patrol/shifts/5/remove", page, {}).status_code == 404
    assert mediation.db.patrol_teams.find_one({"_id": "xinqiao-patrol"})["shifts"] == []
    assert client_as(app, settings, LEAD).get(page).status_code == 403


# Staff accounts ---------------------------------------------------------------------------------
def temporary_password(response: Any) -> str:
    return re.search(r'<code class="secret">([^<]+)</code>', response.get_data(as_text=True)).group(1)


def login(app: Flask, username: str, password: str) -> Any:
    client = app.test_client()
    token = csrf(client, "/login")
    return client, client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )


def test_an_account_created_in_a_page_logs_in_once_with_its_temporary_password(
    app, settings, mediation
) -> None:
    client = client_as(app, settings, ADMIN)
    form = {"username": "Liu", "name": "刘洋", "role": "mediator", "studio": "zhihe", "language": "en"}
    response = post(client, "/admin/staff/new", "/admin/staff/new", form)
    assert response.status_code == 200
    password = temporary_password(response)
    account = mediation.db.users.find_one({"_id": "liu"})
    assert (
        account["roles"] == ["mediator"] and account["studio"] == "zhihe" and account["must_change_password"]
    )
    [audit] = list(mediation.db.audit.find({"entity": "user", "key": "liu"}))
    assert audit["actor"] == "admin" and "password_hash" not in audit["changes"]
    assert password not in str(audit)

    owner, first = login(app, "liu", password)
    assert first.status_code == 302 and first.headers["Location"].endswith("/account/password")
    token = csrf(owner, "/account/password")
    short = owner.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": password,
            "new_password": "short",
            "new_password_again": "short",
        },
    )
    assert short.status_code == 422
    changed = owner.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": password,
            "new_password": "liu-own-password",
            "new_password_again": "liu-own-password",
        },
    )
    assert changed.status_code == 302
    assert login(app, "liu", password)[1].status_code == 401
    _, again = login(app, "liu", "liu-own-password")
    assert again.status_code == 302 and not again.headers["Location"].endswith("/account/password")


def test_a_lead_creates_only_their_studios_mediators_and_leads(app, settings, mediation) -> None:
    client = client_as(app, settings, LEAD)
    page = "/admin/staff/new"
    admin_role = post(client, page, page, {"username": "boss", "name": "Boss", "role": "district_admin"})
    assert admin_role.status_code == 422
    other_studio = post(
        client, page, page, {"username": "x1", "name": "X", "role": "mediator", "studio": "heping-rc"}
    )
    assert other_studio.status_code == 422
    assert mediation.db.users.count_documents({"_id": {"$in": ["boss", "x1"]}}) == 0
    ok = post(client, page, page, {"username": "wu", "name": "吴", "role": "mediator", "studio": "zhihe"})
    assert ok.status_code == 200 and mediation.db.users.find_one({"_id": "wu"})["studio"] == "zhihe"

    listed = client.get("/admin/staff").get_data(as_text=True)
    assert (
        "wu" in listed and "heping-1" not in listed and "admin" not in re.findall(r">(\w+)</a></th>", listed)
    )
    assert client.get("/admin/staff/heping-1").status_code == 403
    assert client.get("/admin/staff/admin").status_code == 403
    assert client_as(app, settings, MEDIATOR).get("/admin/staff").status_code == 403


def test_disable_enable_reset_and_role_change(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    page = "/admin/staff/mediator"
    assert post(client, "/admin/staff/mediator/active", page, {"active": "no"}).status_code == 302
    assert mediation.db.users.find_one({"_id": "mediator"})["active"] is False
    assert login(app, "mediator", "mediator-demo-1")[1].status_code == 401
    assert post(client, "/admin/staff/mediator/active", page, {"active": "yes"}).status_code == 302
    assert login(app, "mediator", "mediator-demo-1")[1].status_code == 302

    reset = post(client, "/admin/staff/mediator/password", page, {})
    password = temporary_password(reset)
    assert login(app, "mediator", "mediator-demo-1")[1].status_code == 401
    assert login(app, "mediator", password)[1].headers["Location"].endswith("/account/password")

    moved = post(client, "/admin/staff/mediator/role", page, {"role": "studio_lead", "studio": "heping-rc"})
    assert moved.status_code == 302
    account = mediation.db.users.find_one({"_id": "mediator"})
    assert (account["roles"], account["studio"]) == (["studio_lead"], "heping-rc")
    bad = post(client, "/admin/staff/mediator/role", page, {"role": "patrol_member"})
    assert bad.status_code == 422 and mediation.db.users.find_one({"_id": "mediator"})["roles"] == [
        "studio_lead"
    ]
    actions = [a["action"] for a in mediation.db.audit.find({"entity": "user", "key": "mediator"}).sort("at")]
    assert actions == ["disable", "enable", "reset_password", "change_role"]


def test_nobody_disables_themselves_or_the_last_admin(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    response = post(client, "/admin/staff/admin/active", "/admin/staff/admin", {"active": "no"})
    assert response.status_code == 409 and mediation.db.users.find_one({"_id": "admin"})["active"] is True
    create_user(mediation.db, NewUser("admin2", "admin2-password", "district_admin", "Second"))
    other = client_as(app, settings, Staff("admin2", "Second", frozenset({"district_admin"})))
    assert post(other, "/admin/staff/admin/active", "/admin/staff/admin", {"active": "no"}).status_code == 302


def test_a_council_hall_saved_in_a_page_keeps_both_names(app, settings, mediation) -> None:
    client = client_as(app, settings, ADMIN)
    form = {
        "reception_days": "6, 26",
        "hall_zh": "莲花议事厅",
        "hall_en": "Lianhua Hall",
        "hall_address": "莲花路1号",
    }
    response = post(client, "/admin/communities/lianhua", "/admin/communities/lianhua", form)
    assert response.status_code == 302
    hall = mediation.db.communities.find_one({"_id": "lianhua"})["hall"]
    assert hall["name"] == {"zh-CN": "莲花议事厅", "en": "Lianhua Hall"}  # was stored under "zh"
