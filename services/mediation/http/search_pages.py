"""Finding cases on the desk, as pages: the search (`/desk/search`, a GET form that works without
JavaScript) and the ended cases waiting for confirmation, follow-up or archiving
(`/desk/ended`, mine or my studio's). Lists show what the queue shows: no personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext
from marshmallow import EXCLUDE, ValidationError

from services.mediation import desk, follow_up, search
from services.mediation.domain import follow_up as follow_up_rules
from services.mediation.domain import search as search_rules
from services.mediation.http.context import current_actor, current_mediation
from services.mediation.http.pages import category_names, community_names, form_errors
from services.mediation.http.search_api import SearchQuery
from shared.auth import requires_role

bp = Blueprint("search", __name__, template_folder=str(Path(__file__).resolve().parents[1] / "templates"))

DESK_ROLES = ("mediator", "studio_lead", "district_admin")


def state_group_labels() -> dict[str, str]:
    return {
        search_rules.OPEN: gettext("Open"),
        search_rules.ENDED: gettext("Ended"),
        search_rules.ARCHIVED: gettext("Archived"),
    }


def matched_on_labels() -> dict[str, str]:
    return {
        search_rules.BY_REFERENCE: gettext("reference"),
        search_rules.BY_PHONE: gettext("phone number"),
        search_rules.BY_PHONE_LAST4: gettext("last four digits of a phone"),
        search_rules.BY_NAME: gettext("a party's name"),
    }


def waiting_labels() -> dict[str, str]:
    return {
        follow_up_rules.CONFIRMATION: gettext("Waiting for judicial confirmation"),
        follow_up_rules.FOLLOW_UP: gettext("Waiting for the follow-up of the agreement"),
        follow_up_rules.ARCHIVING: gettext("Waiting to be archived"),
    }


def _studios() -> list[tuple[str, str]]:
    rows = current_mediation().db.studios.find({}, {"name": 1, "name_en": 1}).sort("_id", 1)
    return [(row["_id"], row.get("name") or row["_id"]) for row in rows]


@bp.get("/desk/search")
@requires_role(*DESK_ROLES)
def search_page() -> Any:
    """The search form and, once anything is asked, the cases found (newest first)."""
    actor = current_actor()
    errors: dict[str, list[str]] = {}
    result: search.Result | None = None
    try:
        query = SearchQuery(unknown=EXCLUDE).load(request.args)
    except ValidationError as err:
        errors, query = form_errors(err), {}
    criteria = search.Criteria(**query) if query else search.Criteria()
    if not errors and not criteria.is_empty():
        mediation = current_mediation()
        result = search.search(mediation.db, actor, criteria, mediation.settings.secret_key)
    html = render_template(
        "mediation/desk_search.html",
        criteria=criteria,
        args=request.args,
        errors=errors,
        result=result,
        state_options=state_group_labels(),
        matched_on_labels=matched_on_labels(),
        category_options=list(category_names().items()),
        community_options=list(community_names().items()),
        studio_options=_studios() if desk.is_admin(actor) else [],
        max_results=search.MAX_RESULTS,
    )
    return (html, 422) if errors else html


@bp.get("/desk/ended")
@requires_role(*DESK_ROLES)
def ended_page() -> Any:
    """Ended cases waiting for something, mine or my studio's, each with its next step."""
    actor = current_actor()
    scope = request.args.get("scope") if request.args.get("scope") in follow_up.SCOPES else follow_up.MINE
    studio = (request.args.get("studio") or None) if desk.is_admin(actor) else None
    lists = follow_up.ended(current_mediation().db, actor, scope, studio)
    return render_template(
        "mediation/desk_ended.html",
        lists=lists,
        scope=scope,
        studio=studio,
        waiting_labels=waiting_labels(),
        studio_options=_studios() if desk.is_admin(actor) else [],
        max_rows=follow_up.MAX_ROWS,
    )
