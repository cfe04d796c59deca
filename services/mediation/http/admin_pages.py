"""The district admin's pages: the registry's studios and communities, and cases whose routing failed."""

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

from services.mediation import registry
from services.mediation.domain.patrol import WEEKDAYS
from services.mediation.http.context import current_mediation, current_staff
from services.mediation.http.pages import (
    bp,
    form_errors,
)
from services.mediation.http.schemas import CommunityInSchema, StudioInSchema
from shared.auth import requires_role
from shared.taxonomy import communities


# District admin ---------------------------------------------------------------------------------
@bp.get("/admin")
@requires_role("district_admin")
def admin_home() -> str:
    db = current_mediation().db
    return render_template(
        "mediation/admin_home.html",
        studios=list(db.studios.find({}).sort("code")),
        teams=list(db.patrol_teams.find({}).sort("code")),
        community_rows=[registry.community_view(db, c.code) for c in communities()],
        failures=db.routing_failures.count_documents({}),
    )


@bp.route("/admin/studios/<code>", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_studio(code: str) -> Any:
    db = current_mediation().db
    studio = db.studios.find_one({"_id": code})
    if studio is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        raw = {
            "capacity": request.form.get("capacity", ""),
            "communities": request.form.getlist("communities"),
            "categories": request.form.getlist("categories"),
            "working_days": request.form.getlist("working_days"),
        }
        try:
            capacity = int(raw["capacity"])
        except ValueError:
            capacity = raw["capacity"]
        try:
            data = StudioInSchema(partial=True, only=tuple(raw)).load({**raw, "capacity": capacity})
        except ValidationError as err:
            errors = form_errors(err)
            status = 422
            studio = {**studio, **raw}
        else:
            registry.update(db, "studio", code, data, current_staff().user_id)
            flash(gettext("Studio saved. The next routing decisions use it."))
            return redirect(url_for("pages.admin_studio", code=code))
    return (
        render_template(
            "mediation/admin_studio.html",
            studio=studio,
            errors=errors,
            weekdays=WEEKDAYS,
            audit=registry.audit_log(db, "studio", code, limit=20),
        ),
        status,
    )


@bp.route("/admin/communities/<code>", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_community(code: str) -> Any:
    db = current_mediation().db
    view = registry.community_view(db, code)
    if view is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        days_text = request.form.get("reception_days", "")
        try:
            days = [int(part) for part in days_text.replace("，", ",").split(",") if part.strip()]  # noqa: RUF001
        except ValueError:
            days = days_text  # type: ignore[assignment]
        hall = {
            "name": {"zh-CN": request.form.get("hall_zh", ""), "en": request.form.get("hall_en", "")},
            "address": request.form.get("hall_address", ""),
            "seats": int(s) if (s := request.form.get("hall_seats", "")).isdigit() else None,
        }
        try:
            data = CommunityInSchema().load({"reception_days": days, "hall": hall})
        except ValidationError as err:
            errors = form_errors(err)
            status = 422
        else:
            registry.update(db, "community", code, data, current_staff().user_id)
            flash(gettext("Community saved."))
            return redirect(url_for("pages.admin_community", code=code))
    return (
        render_template(
            "mediation/admin_community.html",
            community=view,
            errors=errors,
            audit=registry.audit_log(db, "community", code, limit=20),
        ),
        status,
    )


@bp.get("/admin/failures")
@requires_role("district_admin")
def admin_failures() -> str:
    rows = list(current_mediation().db.routing_failures.find({}).sort("at", -1).limit(200))
    return render_template("mediation/admin_failures.html", failures=rows)
