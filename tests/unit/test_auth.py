from dataclasses import replace

import pytest
from flask import Flask

from shared.auth import (
    COOKIE_NAME,
    Staff,
    hash_password,
    init_auth,
    issue_token,
    read_token,
    requires_role,
    verify_password,
)
from shared.config import Settings

SETTINGS = Settings(secret_key="test-secret")
LEAD = Staff("u1", "Wang", frozenset({"studio_lead"}), studio="zhihe")


def test_password_hash_is_argon2_and_verifies() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "correct horse")


def test_token_round_trip_and_tampering() -> None:
    token = issue_token(SETTINGS, LEAD)
    assert read_token(SETTINGS, token) == LEAD
    assert read_token(SETTINGS, token[:-2] + "xx") is None
    assert read_token(replace(SETTINGS, secret_key="other"), token) is None


@pytest.fixture
def client():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SETTINGS.secret_key
    init_auth(app, SETTINGS)

    @app.get("/api/v1/leads-only")
    @requires_role("studio_lead", "district_admin")
    def leads_only():
        return {"ok": True}

    return app.test_client()


@pytest.mark.parametrize(
    ("staff", "status"),
    [
        (None, 401),
        (Staff("u2", "Li", frozenset({"mediator"})), 403),
        (LEAD, 200),
        (Staff("u3", "Zhao", frozenset({"district_admin"})), 200),
    ],
)
def test_requires_role(client, staff, status) -> None:
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(SETTINGS, staff))
    assert client.get("/api/v1/leads-only").status_code == status


def test_bearer_token_is_accepted(client) -> None:
    response = client.get(
        "/api/v1/leads-only", headers={"Authorization": f"Bearer {issue_token(SETTINGS, LEAD)}"}
    )
    assert response.status_code == 200


def test_staff_cookie_domain_is_configurable() -> None:
    from flask import Response

    from shared.auth import set_staff_cookie

    shared_domain = replace(SETTINGS, staff_cookie_domain=".mediation.example.org")
    header = set_staff_cookie(Response(), shared_domain, LEAD).headers["Set-Cookie"]
    assert "Domain=.mediation.example.org" in header or "Domain=mediation.example.org" in header
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Domain" not in set_staff_cookie(Response(), SETTINGS, LEAD).headers["Set-Cookie"]
