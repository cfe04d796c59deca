"""A staff account disabled, given another role or a new password loses its tokens at once, in
every service: mediation records the revocation with the change and publishes
`staff.access_revoked`; intake's, notify's and council's workers keep it for their request loaders
(`shared.staff_access`). Before this, such a token kept working until it expired (12 h)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council.app import create_app as create_council_app
from services.intake.app import create_app as create_intake_app
from services.mediation.app import create_app as create_mediation_app
from services.mediation.bootstrap import Mediation, bootstrap, ensure_indexes
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import NewUser, create_user, get_account, seed_demo_users, staff_of
from services.notify.app import create_app as create_notify_app
from shared import staff_access
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import utcnow
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

ADMIN = Staff("admin", "Admin", frozenset({"district_admin"}))
# A page each service shows a district admin, and refuses without a valid token.
ADMIN_PAGES = {
    "mediation": "/admin",
    "intake": "/admin/api-keys",
    "notify": "/admin/deliveries",
    "council": "/",
}


@pytest.fixture
def mediation(stack_settings: Settings) -> Mediation:
    m = bootstrap(stack_settings)
    ensure_indexes(m.db)
    seed_registry(m.db)
    seed_demo_users(m.db, stack_settings)
    create_user(m.db, NewUser("deputy", "deputy-password-1", "district_admin", "副管理员"))
    return m


@pytest.fixture
def apps(stack_settings: Settings, mediation: Mediation) -> dict[str, Flask]:
    return {
        "mediation": create_mediation_app(stack_settings),
        "intake": create_intake_app(stack_settings),
        "notify": create_notify_app(stack_settings),
        "council": create_council_app(stack_settings),
    }


def client_with(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.set_cookie(COOKIE_NAME, token)
    return client


def answers(apps: dict[str, Flask], token: str) -> dict[str, int]:
    return {name: client_with(apps[name], token).get(path).status_code for name, path in ADMIN_PAGES.items()}


def as_admin_post(app: Flask, settings: Settings, path: str, data: dict[str, Any]) -> Any:
    client = client_with(app, issue_token(settings, ADMIN))
    page = client.get("/admin/staff/deputy").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(path, data={"csrf_token": token, **data})


def refused_everywhere(apps: dict[str, Flask], token: str) -> bool:
    # Mediation sends a page request without a valid token to its login page; the others say 401.
    return answers(apps, token) == {"mediation": 302, "intake": 401, "notify": 401, "council": 401}


@pytest.fixture
def running(workers: Workers) -> Workers:
    for service in ("intake", "notify", "council"):
        workers.start(service)
    return workers


def test_a_disabled_accounts_token_stops_working_in_every_service(
    apps, stack_settings, mediation, running
) -> None:
    token = issue_token(stack_settings, staff_of(get_account(mediation.db, "deputy")))
    assert answers(apps, token) == dict.fromkeys(ADMIN_PAGES, 200)

    response = as_admin_post(
        apps["mediation"], stack_settings, "/admin/staff/deputy/active", {"active": "no"}
    )
    assert response.status_code == 302
    # Mediation's own copy is read again within seconds; the others hear it from their workers.
    wait_for(
        lambda: refused_everywhere(apps, token), timeout=30, interval=0.5, what="the token refused everywhere"
    )
    # The administrator who disabled the account keeps working.
    assert client_with(apps["mediation"], issue_token(stack_settings, ADMIN)).get("/admin").status_code == 200


def test_a_changed_role_voids_old_tokens_and_the_next_login_carries_the_new_role(
    apps, stack_settings, mediation, running
) -> None:
    old = issue_token(stack_settings, staff_of(get_account(mediation.db, "deputy")))
    response = as_admin_post(
        apps["mediation"], stack_settings, "/admin/staff/deputy/role", {"role": "mediator", "studio": "zhihe"}
    )
    assert response.status_code == 302
    assert get_account(mediation.db, "deputy")["roles"] == ["mediator"]
    wait_for(lambda: refused_everywhere(apps, old), timeout=30, interval=0.5, what="the old token refused")
    # A token issued after the change (the next login) works, with the new role only.
    new = issue_token(stack_settings, staff_of(get_account(mediation.db, "deputy")))
    assert client_with(apps["mediation"], new).get("/desk").status_code == 200
    assert client_with(apps["mediation"], new).get("/admin").status_code == 403


def test_a_reset_password_logs_its_holder_out(apps, stack_settings, mediation, running) -> None:
    token = issue_token(stack_settings, staff_of(get_account(mediation.db, "deputy")))
    response = as_admin_post(apps["mediation"], stack_settings, "/admin/staff/deputy/password", {})
    assert response.status_code == 200
    wait_for(lambda: refused_everywhere(apps, token), timeout=30, interval=0.5, what="the token refused")


def test_enabling_an_account_revokes_nothing(apps, stack_settings, mediation) -> None:
    as_admin_post(apps["mediation"], stack_settings, "/admin/staff/deputy/active", {"active": "no"})
    first = mediation.db[staff_access.COLLECTION].find_one({"_id": "deputy"})
    as_admin_post(apps["mediation"], stack_settings, "/admin/staff/deputy/active", {"active": "yes"})
    assert mediation.db[staff_access.COLLECTION].find_one({"_id": "deputy"}) == first
    assert mediation.db[staff_access.COLLECTION].count_documents({}) == 1


def test_a_redelivered_or_late_revocation_keeps_the_latest_moment(stack_settings) -> None:
    db = get_database(stack_settings, "intake")
    now = utcnow()
    for at in (now, now - timedelta(hours=1), now):  # a redelivery, and an older event arriving late
        event = staff_access.revoked_event("deputy", at, source="mediation")
        staff_access.on_access_revoked(db, event)
    rows = list(db[staff_access.COLLECTION].find())
    assert rows == [{"_id": "deputy", "not_before": now.timestamp()}]
