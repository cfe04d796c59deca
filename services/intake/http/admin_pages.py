"""The district administrator's page for Open311 API keys: list, issue, revoke.

Staff identity comes from the shared staff token (`shared.auth`); only `district_admin` may use
it. A new key is shown once, on the page that issued it.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from services.intake import apikeys
from services.intake.bootstrap import Intake
from shared.auth import Staff, requires_role

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _page(new_key: str | None = None, errors: dict[str, list[str]] | None = None, status: int = 200) -> Any:
    body = render_template(
        "intake/api_keys.html",
        keys=apikeys.list_keys(_intake().db),
        new_key=new_key,
        errors=errors or {},
        labels={"organisation": gettext("Organisation")},
        values=request.form,
    )
    return body, status, {"Cache-Control": "no-store"}


@bp.get("/api-keys")
@requires_role("district_admin")
def api_keys() -> Any:
    """Every key (never the keys themselves) with its organisation and state."""
    return _page()


@bp.post("/api-keys")
@requires_role("district_admin")
def issue_api_key() -> Any:
    """Issue a key for an organisation; the key is shown once."""
    organisation = (request.form.get("organisation") or "").strip()
    if not organisation or len(organisation) > 200:
        return _page(
            errors={"organisation": [gettext("Please enter the organisation (at most 200 characters).")]},
            status=422,
        )
    staff = cast(Staff, current_user)
    key, _record = apikeys.issue_key(_intake().db, organisation, issued_by=staff.user_id)
    return _page(new_key=key)


@bp.post("/api-keys/<string:key_id>/revoke")
@requires_role("district_admin")
def revoke_api_key(key_id: str) -> Any:
    apikeys.revoke_key(_intake().db, key_id)
    return redirect(url_for("admin.api_keys"), code=303)
