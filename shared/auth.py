"""Staff identity shared by the three services: argon2 password hashes and a signed staff cookie.

Staff accounts live in mediation's database (its desk is where staff log in). On login mediation
issues a signed, expiring staff token (cookie `concord_staff`, or `Authorization: Bearer` for API
clients); every service verifies it with the shared SECRET_KEY and Flask-Login's request loader,
so `current_user`, `login_required` and `requires_role` work the same in intake, mediation and
notify without any service reading another's database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Request, Response, abort, current_app, redirect, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.config import Settings

COOKIE_NAME = "concord_staff"
TOKEN_MAX_AGE = 12 * 3600  # one working day; staff log in again the next morning
# Mediation's staff, who work cases (the case lifecycle knows exactly these), and council's, who
# serve one community (`Staff.community`; building leaders also `Staff.buildings`).
CASE_ROLES = ("mediator", "studio_lead", "patrol_member", "district_admin")
COUNCIL_ONLY_ROLES = ("committee_member", "building_leader")
ROLES = CASE_ROLES + COUNCIL_ONLY_ROLES

_hasher = PasswordHasher()
F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Staff(UserMixin):
    """A logged-in member of staff, as carried by the staff token."""

    user_id: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    studio: str | None = None
    team: str | None = None
    language: str = "zh-CN"
    # Council: the community a committee member or building leader serves, and a building
    # leader's buildings (labels as in the household register). Absent in older tokens.
    community: str | None = None
    buildings: tuple[str, ...] = ()

    def get_id(self) -> str:
        return self.user_id

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def to_claims(self) -> dict[str, Any]:
        return {
            "sub": self.user_id,
            "name": self.name,
            "roles": sorted(self.roles),
            "studio": self.studio,
            "team": self.team,
            "lang": self.language,
            "community": self.community,
            "buildings": list(self.buildings),
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Staff:
        return cls(
            user_id=claims["sub"],
            name=claims["name"],
            roles=frozenset(claims.get("roles", [])),
            studio=claims.get("studio"),
            team=claims.get("team"),
            language=claims.get("lang", "zh-CN"),
            community=claims.get("community"),
            buildings=tuple(claims.get("buildings") or ()),
        )


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="concord-staff")


def issue_token(settings: Settings, staff: Staff) -> str:
    # The exact moment of issue (the signature's own timestamp is in whole seconds), so a token
    # issued just after a revocation in the same second stays valid and one just before does not.
    return _serializer(settings).dumps({**staff.to_claims(), "iat": time.time()})


def read_token(
    settings: Settings, token: str, not_before: Callable[[str], float | None] | None = None
) -> Staff | None:
    """The staff member a valid token names; None when it is forged, expired, or issued before its
    account's latest revocation (`not_before(username)`, epoch seconds; `shared.staff_access`)."""
    try:
        claims, signed_at = _serializer(settings).loads(token, max_age=TOKEN_MAX_AGE, return_timestamp=True)
        staff = Staff.from_claims(claims)
    except (BadSignature, KeyError, TypeError):
        return None
    void_before = not_before(staff.user_id) if not_before else None
    if void_before is not None:
        issued = float(claims.get("iat") or signed_at.timestamp())
        if issued < void_before:
            return None
    return staff


def set_staff_cookie(response: Response, settings: Settings, staff: Staff) -> Response:
    response.set_cookie(
        COOKIE_NAME,
        issue_token(settings, staff),
        max_age=TOKEN_MAX_AGE,
        httponly=True,
        secure=settings.is_production,
        samesite="Lax",
        domain=settings.staff_cookie_domain or None,
    )
    return response


def clear_staff_cookie(response: Response, settings: Settings | None = None) -> Response:
    response.delete_cookie(COOKIE_NAME, domain=(settings.staff_cookie_domain or None) if settings else None)
    return response


def init_auth(
    app: Flask,
    settings: Settings,
    login_view: str | None = None,
    not_before: Callable[[str], float | None] | None = None,
) -> LoginManager:
    """Make `current_user` a `Staff` from the request's staff token (or anonymous). `not_before`
    voids tokens issued before their account's latest revocation (`staff_access.Revocations`)."""
    manager = LoginManager(app)
    manager.anonymous_user = AnonymousUserMixin
    if login_view:
        manager.login_view = login_view

    @manager.request_loader
    def load_from_request(req: Request) -> Staff | None:
        token = req.cookies.get(COOKIE_NAME)
        header = req.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ").strip()
        return read_token(settings, token, not_before) if token else None

    @manager.user_loader
    def load_user(user_id: str) -> None:  # identity comes only from the token, never the session
        return None

    return manager


def requires_role(*roles: str) -> Callable[[F], F]:
    """Allow staff holding any of `roles`: anonymous → 401 (or the login page), others → 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                manager = current_app.login_manager  # type: ignore[attr-defined]
                if manager.login_view and not request.path.startswith("/api/"):
                    return redirect(url_for(manager.login_view, next=request.full_path))
                abort(401)
            if roles and not cast(Staff, current_user).has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator
