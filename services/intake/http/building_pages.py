"""The building leaders' pages: their buildings' cases and their own filings, each case as its
tracking page shows it (status and public timeline). Staff identity is mediation's staff token."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user

from services.intake import buildings
from services.intake.bootstrap import Intake
from services.intake.http.resident_pages import OUTCOME_LABELS, STATE_LABELS, _language
from shared.auth import Staff
from shared.taxonomy import CATEGORIES, communities

bp = Blueprint("building", __name__, url_prefix="/building")


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _leader() -> Staff | None:
    """The signed-in building leader, or None (the page then asks them to log in)."""
    if current_user.is_authenticated and cast(Staff, current_user).has_role("building_leader"):
        return cast(Staff, current_user)
    return None


def _login_page() -> Any:
    settings = current_app.extensions["settings"]
    login = settings.mediation_public_url.rstrip("/") + "/login"
    status = 403 if current_user.is_authenticated else 401
    return render_template("intake/building_login.html", login=login), status, {"Cache-Control": "no-store"}


@bp.get("")
def building_cases() -> Any:
    """A building leader's list: their buildings' cases and their own filings, newest first."""
    leader = _leader()
    if leader is None:
        return _login_page()
    language = _language()
    body = render_template(
        "intake/building_cases.html",
        leader=leader,
        cases=buildings.cases_for(_intake(), leader),
        states=STATE_LABELS,
        outcomes=OUTCOME_LABELS,
        categories={c.code: c.name(language) for c in CATEGORIES},
        community_names={c.code: c.name(language) for c in communities()},
    )
    return body, 200, {"Cache-Control": "no-store"}


@bp.get("/cases/<string:reference>")
def building_case(reference: str) -> Any:
    """One case of the leader's buildings, as its tracking page shows it (404 for any other)."""
    leader = _leader()
    if leader is None:
        return _login_page()
    status = buildings.case_for(_intake(), leader, reference)
    if status is None:
        abort(404)
    language = _language()
    category = next((c.name(language) for c in CATEGORIES if c.code == status["category"]), "")
    community = next((c.name(language) for c in communities() if c.code == status["community"]), "")
    body = render_template(
        "intake/track.html",
        case=status,
        category=category,
        community=community,
        states=STATE_LABELS,
        outcomes=OUTCOME_LABELS,
        building_view=True,
    )
    return body, 200, {"Cache-Control": "no-store"}
