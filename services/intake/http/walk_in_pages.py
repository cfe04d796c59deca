"""The reception-day walk-in register's page (issue 14.6): one short form that works on a phone
and without JavaScript, today's walk-ins of the community below it (names and phones masked).
Clerks sign in at mediation's login (the shared staff token)."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext
from flask_login import current_user
from marshmallow import ValidationError

from services.intake import walk_ins
from services.intake.bootstrap import Intake
from services.intake.domain import walk_ins as rules
from services.intake.http import forms
from services.intake.http.resident_pages import _language, translate_error
from services.intake.http.schemas import (
    WALK_IN_OTHER_PARTY,
    WALK_IN_REFERRED_TO,
    CaseCreateSchema,
    WalkInSchema,
)
from shared.auth import Staff
from shared.masking import mask_name, mask_phone
from shared.messaging.envelope import new_id
from shared.taxonomy import CATEGORIES, communities

bp = Blueprint("reception", __name__, url_prefix="/reception")

FIELDS = (
    "name",
    "phone",
    "community",
    "building",
    "unit",
    "matter",
    "category",
    "outcome",
    "referred_to",
    "other_party",
)


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _clerk() -> Staff | None:
    if current_user.is_authenticated and cast(Staff, current_user).has_role(*rules.CLERK_ROLES):
        return cast(Staff, current_user)
    return None


def _labels() -> dict[str, str]:
    return {
        "name": gettext("Visitor's name"),
        "phone": gettext("Visitor's phone"),
        "community": gettext("Community"),
        "building": gettext("Building"),
        "unit": gettext("Unit"),
        "matter": gettext("Matter"),
        "category": gettext("Type of dispute"),
        "outcome": gettext("Outcome"),
        "referred_to": gettext("Referred to"),
        "other_party": gettext("Other party (for a case)"),
    }


def outcome_labels() -> dict[str, str]:
    return {
        rules.ANSWERED: gettext("Answered on the spot"),
        rules.REFERRED: gettext("Referred elsewhere"),
        rules.CASE: gettext("Turned into a mediation case"),
        rules.COLLECTIVE: gettext("A collective matter for the owners' council"),
    }


def _error(message: str, field: str) -> str:
    if message == WALK_IN_REFERRED_TO:
        return gettext("Say where the visitor was referred.")
    if message == WALK_IN_OTHER_PARTY:
        return gettext("A case needs the other party: who is the dispute with?")
    if message == "Unknown community.":
        return gettext("Please choose one of the options.")
    return translate_error(message, field)


def _page(
    clerk: Staff,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status: int = 200,
    done: dict | None = None,
) -> Any:
    language = _language()
    community = values.get("community") or clerk.community or communities()[0].code
    rows = [
        {**w, "name": mask_name(w["name"]), "phone": mask_phone(w["phone"])}
        for w in walk_ins.todays(_intake(), community)
    ]
    body = render_template(
        "intake/reception.html",
        values={"community": community, "walk_in_id": new_id(), **values},
        errors=errors,
        labels=_labels(),
        outcomes=outcome_labels(),
        categories=[(c.code, c.name(language)) for c in CATEGORIES],
        communities=[(c.code, c.name(language)) for c in communities()],
        community_name=next((c.name(language) for c in communities() if c.code == community), community),
        today=rows,
        done=done,
    )
    return body, status, {"Cache-Control": "no-store"}


@bp.route("", methods=["GET", "POST"])
def register() -> Any:
    """The walk-in form and today's list; a post records one visitor (once, by the form's id)."""
    clerk = _clerk()
    if clerk is None:
        if not current_user.is_authenticated:
            settings = current_app.extensions["settings"]
            login = settings.mediation_public_url.rstrip("/") + "/login"
            return render_template("intake/reception_login.html", login=login), 401
        abort(403)
    if request.method == "GET":
        return _page(clerk, {"community": request.args.get("community") or clerk.community}, {})
    form = request.form
    raw = {name: (form.get(name) or "").strip() for name in FIELDS}
    raw["agrees_to_mediation"] = form.get("agrees_to_mediation", "yes") != "no"
    walk_in_id = form.get("walk_in_id", "")
    errors: dict[str, list[str]] = {}
    if not (8 <= len(walk_in_id) <= 40 and walk_in_id.isalnum()):
        abort(400)
    try:
        data = WalkInSchema().load(raw)
    except ValidationError as err:
        flat = forms.flatten_errors(err.messages if isinstance(err.messages, dict) else {})
        errors = {field: [_error(m, field) for m in messages] for field, messages in flat.items()}
        choice = "no" if form.get("agrees_to_mediation") == "no" else "yes"
        return _page(
            clerk, {**raw, "walk_in_id": walk_in_id, "agrees_to_mediation_choice": choice}, errors, 422
        )
    data["language"] = _language()
    # The filing a case-turned walk-in makes, checked by the same schema as every other filing.
    case = CaseCreateSchema().load(rules.case_payload(data)) if data["outcome"] == rules.CASE else None
    done = walk_ins.record(_intake(), walk_in_id, data, clerk, case)
    return _page(clerk, {"community": data["community"]}, {}, 200, done=done)
