"""Council's staff home page, the layout's globals, and the page for staff who are not logged in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, get_flashed_messages, render_template, request
from flask_login import current_user
from werkzeug.exceptions import Unauthorized

from services.council import access
from services.council.http.context import current_council, current_staff
from shared.auth import requires_role
from shared.config import Settings
from shared.http import error_payload
from shared.taxonomy import Community, communities

bp = Blueprint(
    "home",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static/council",
)


def community_names() -> dict[str, Community]:
    """Community code → the community, from the district's reference data."""
    return {community.code: community for community in communities()}


@bp.app_context_processor
def layout_globals() -> dict[str, Any]:
    settings: Settings = current_app.extensions["settings"]
    return {
        "staff": current_user if current_user.is_authenticated else None,
        "flashed": get_flashed_messages,
        "login_url": settings.mediation_public_url.rstrip("/") + "/login",
        "community_label": _community_label,
    }


def _community_label(code: str) -> str:
    from flask_babel import get_locale

    community = community_names().get(code)
    return community.name(str(get_locale() or "zh_CN")) if community else code


@bp.get("/")
@requires_role(*access.COUNCIL_ROLES)
def home() -> Any:
    """The staff start page: the communities this member of staff works for, with their registers."""
    mine = access.visible_communities(current_staff(), community_names())
    counts = {code: current_council().db.flats.count_documents({"community": code}) for code in mine}
    # Building leaders follow their buildings' mediation cases at intake (`services.intake.buildings`).
    cases_url = current_council().settings.intake_public_url.rstrip("/") + "/building"
    return render_template("council/home.html", communities=mine, counts=counts, cases_url=cases_url)


def init_app(app: Flask, settings: Settings) -> None:
    """Staff who are not logged in get a page that sends them to mediation's login (JSON for the API)."""

    def unauthorized(error: Unauthorized) -> Any:
        if request.path.startswith("/api/"):
            return error_payload(401, "Unauthorized", "Log in first (the staff token)."), 401
        return render_template("council/login_needed.html"), 401

    app.register_error_handler(401, unauthorized)
