import time
from dataclasses import replace

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

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


def test_a_token_issued_before_its_accounts_revocation_is_void() -> None:
    before = issue_token(SETTINGS, LEAD)
    revoked_at = time.time()
    after = issue_token(SETTINGS, LEAD)
    revocations = {LEAD.user_id: revoked_at}
    assert read_token(SETTINGS, before, revocations.get) is None
    assert read_token(SETTINGS, after, revocations.get) == LEAD
    # Another account's revocation leaves this one's tokens alone.
    assert read_token(SETTINGS, before, {"someone-else": revoked_at}.get) == LEAD


def test_a_token_without_its_exact_issue_time_falls_back_to_the_signature_time() -> None:
    # Tokens issued before the exact `iat` claim existed carry only the signature's whole second.
    old = URLSafeTimedSerializer(SETTINGS.secret_key, salt="concord-staff").dumps(LEAD.to_claims())
    assert read_token(SETTINGS, old, {LEAD.user_id: time.time() + 2}.get) is None
    assert read_token(SETTINGS, old, {LEAD.user_id: time.time() - 5}.get) == LEAD


def test_the_request_loader_refuses_a_revoked_token() -> None:
    token = issue_token(SETTINGS, LEAD)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SETTINGS.secret_key
    init_auth(app, SETTINGS, not_before={LEAD.user_id: time.time()}.get)

    @app.get("/lead")
    @requires_role("studio_lead")
    def lead_only() -> str:
        return "ok"

    revoked = app.test_client()
    revoked.set_cookie(COOKIE_NAME, token)
    assert revoked.get("/lead").status_code == 401
    fresh = app.test_client()
    fresh.set_cookie(COOKIE_NAME, issue_token(SETTINGS, LEAD))
    assert fresh.get("/lead").status_code == 200
