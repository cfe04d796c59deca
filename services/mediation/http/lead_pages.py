"""The studio lead's pages: cases with their routing, risk and move forms, and hot-spot sweeps."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from marshmallow import ValidationError

from services.mediation import patrol, routing
from services.mediation.domain import lifecycle
from services.mediation.http.context import LEADS, current_actor, current_mediation, current_staff
from services.mediation.http.pages import (
    bp,
    form_errors,
    is_chinese,
    risk_label,
)
from services.mediation.http.schemas import MoveSchema, RiskChangeSchema
from shared.auth import requires_role
from shared.taxonomy import RISK_LEVELS, communities
from shared.web.i18n import refusal_text


# Studio lead -----------------------------------------------------------------------------------
@bp.get("/lead")
@requires_role(*LEADS)
def lead_home() -> str:
    db = current_mediation().db
    staff = current_staff()
    query: dict[str, Any] = {"status": {"$in": list(lifecycle.OPEN_STATES)}}
    if not staff.has_role("district_admin"):
        query["studio"] = staff.studio
    projection = {"category": 1, "community": 1, "risk_level": 1, "studio": 1, "routing": 1, "assigned_at": 1}
    cases = sorted(db.cases.find(query, projection).limit(500), key=lambda c: c["assigned_at"], reverse=True)
    return render_template(
        "mediation/lead_home.html",
        cases=cases[:100],
        hot_spots=patrol.hot_spots(db),
        teams=list(db.patrol_teams.find({}, {"name": 1})),
    )


def _lead_case(reference: str) -> dict[str, Any]:
    try:
        case = routing.get_case(current_mediation().db, reference)
    except routing.CaseNotFound:
        abort(404)
    if not routing._may_lead(current_actor(), case["studio"]):
        abort(403)
    return case


def _render_case(case: dict[str, Any], errors: dict[str, list[str]] | None = None, form: Any = None) -> str:
    db = current_mediation().db
    return render_template(
        "mediation/lead_case.html",
        case=case,
        tasks=list(db.patrol_tasks.find({"reference": case["_id"]}).sort("created_at")),
        level_options=[(level, risk_label(level)) for level in reversed(RISK_LEVELS)],
        studio_options=[
            (s["_id"], s["name"]["zh-CN"] if is_chinese() else s["name"]["en"])
            for s in db.studios.find({"_id": {"$ne": case["studio"]}}, {"name": 1}).sort("_id")
        ],
        errors=errors or {},
        form=form or {},
    )


@bp.get("/lead/cases/<reference>")
@requires_role(*LEADS)
def lead_case(reference: str) -> str:
    return _render_case(_lead_case(reference))


@bp.post("/lead/cases/<reference>/<any(risk, move):action>")
@requires_role(*LEADS)
def lead_case_action(reference: str, action: str) -> Any:
    case = _lead_case(reference)
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        if action == "risk":
            data = RiskChangeSchema().load(form)
            routing.change_risk(
                current_mediation(), reference, data["level"], data["reason"], current_actor()
            )
            flash(gettext("Risk level changed."))
        else:
            form["reason"] = form.pop("move_reason", "")
            data = MoveSchema().load(form)
            routing.move_case(current_mediation(), reference, data["studio"], data["reason"], current_actor())
            flash(gettext("Case moved."))
    except ValidationError as err:
        errors = form_errors(err)
        if action == "move" and "reason" in errors:  # the move form's own field
            errors["move_reason"] = errors.pop("reason")
        return _render_case(case, errors, request.form), 422
    except routing.Forbidden:
        abort(403)
    except routing.CaseError as err:
        return _render_case(case, {"_": [refusal_text(err)]}, request.form), 409
    if action == "move" and not current_actor().roles & {"district_admin"}:
        return redirect(url_for("pages.lead_home"))  # the case now belongs to another studio
    return redirect(url_for("pages.lead_case", reference=reference))


@bp.post("/lead/sweeps")
@requires_role(*LEADS)
def lead_sweep() -> Any:
    community = request.form.get("community", "")
    if community not in {c.code for c in communities()}:
        abort(400)
    every = request.form.get("every_days", "")
    every_days = int(every) if every.isdigit() and 1 <= int(every) <= 90 else None
    try:
        patrol.create_sweep(
            current_mediation(),
            community,
            None,
            request.form.get("note", "")[:500],
            current_actor(),
            every_days,
        )
    except patrol.TaskForbidden:
        abort(403)
    except patrol.TaskError as err:
        flash(refusal_text(err))
        return redirect(url_for("pages.lead_home"))
    flash(gettext("Sweep ordered."))
    return redirect(url_for("pages.lead_home"))
