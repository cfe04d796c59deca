"""The registry's pages: studios (with their members and leave), patrol teams (members, shifts),
council halls and reception days, and cases whose routing failed.

District admins change everything; a studio's lead changes their own studio's working days,
members and leave (`domain.administration`). Every change goes through `registry`, validated by the
API's schemas and audited as the API's changes are.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from marshmallow import ValidationError

from services.mediation import registry
from services.mediation.domain import administration
from services.mediation.domain.patrol import WEEKDAYS
from services.mediation.domain.visits import DEFAULT_FOLLOW_UP_DAYS
from services.mediation.http.context import current_mediation, current_staff
from services.mediation.http.pages import bp, form_errors
from services.mediation.http.schemas import (
    CommunityInSchema,
    LeaveSchema,
    ShiftSchema,
    StudioInSchema,
    StudioMemberSchema,
    StudioPatchSchema,
    TeamInSchema,
    TeamMemberSchema,
    TeamPatchSchema,
)
from shared.auth import requires_role
from shared.taxonomy import communities

Page = Any  # a rendered page, a (page, status) pair or a redirect


def _field_errors(err: ValidationError) -> dict[str, list[str]]:
    """The form's errors by field id: a name's errors belong to its first input (name_zh)."""
    errors = form_errors(err)
    if "name" in errors:
        errors["name_zh"] = errors.pop("name")
    return errors


def _refusal(err: registry.RegistryError) -> str:
    return gettext(err.message, **err.params)


def _optional(name: str) -> str | None:
    return request.form.get(name, "").strip() or None


def _integer(name: str) -> Any:
    raw = request.form.get(name, "").strip()
    try:
        return int(raw)
    except ValueError:
        return raw  # the schema refuses it with its own message


# District admin's overview ----------------------------------------------------------------------
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


# Studios ----------------------------------------------------------------------------------------
def _studio_form() -> dict[str, Any]:
    form = {
        "code": request.form.get("code", "").strip(),
        "name": {
            "zh-CN": request.form.get("name_zh", "").strip(),
            "en": request.form.get("name_en", "").strip(),
        },
        "email": _optional("email"),
        "lead_email": _optional("lead_email"),
        "capacity": _integer("capacity"),
        "communities": request.form.getlist("communities"),
        "categories": request.form.getlist("categories"),
        "working_days": request.form.getlist("working_days"),
    }
    # Left out when not sent (a form without it keeps the studio's days; a new studio gets the default).
    if request.form.get("follow_up_days", "").strip():
        form["follow_up_days"] = _integer("follow_up_days")
    # "Is it settled?" (issue 14.4): days after an ending before the applicants are asked. A form
    # without the field (an older page, an API-like post) leaves it as it is (28 for a new studio).
    if "settlement_check_days" in request.form:
        form["settlement_check_days"] = _integer("settlement_check_days")
    return form


def _studio_page(studio: dict[str, Any], errors: dict, status: int = 200, is_new: bool = False) -> Page:
    db = current_mediation().db
    staff = current_staff()
    code = studio.get("code") or ""
    accounts = []
    if not is_new:
        members = {m["username"] for m in studio.get("members") or []}
        accounts = [
            u
            for u in db.users.find({"studio": code, "active": True}, {"name": 1}).sort("_id")
            if u["_id"] not in members
        ]
    return (
        render_template(
            "mediation/admin_studio.html",
            studio=studio,
            errors=errors,
            is_new=is_new,
            full=staff.has_role("district_admin"),
            weekdays=WEEKDAYS,
            account_options=[(u["_id"], f"{u.get('name', u['_id'])} ({u['_id']})") for u in accounts],
            audit=[] if is_new else registry.audit_log(db, "studio", code, limit=20),
        ),
        status,
    )


@bp.route("/admin/studios/new", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_studio_new() -> Page:
    """Add a studio: its names, channels, coverage, categories, capacity and working days."""
    if request.method == "GET":
        return _studio_page(
            {"capacity": 20, "working_days": list(WEEKDAYS[:5]), "follow_up_days": DEFAULT_FOLLOW_UP_DAYS},
            {},
            is_new=True,
        )
    raw = _studio_form()
    try:
        data = StudioInSchema().load(raw)
        studio = registry.create(current_mediation().db, "studio", data, current_staff().user_id)
    except ValidationError as err:
        return _studio_page(raw, _field_errors(err), 422, is_new=True)
    except registry.RegistryError as err:
        return _studio_page(raw, {"code": [_refusal(err)]}, 409, is_new=True)
    flash(gettext("Studio added. The next routing decisions use it."))
    return redirect(url_for("pages.admin_studio", code=studio["code"]))


def _managed_studio(code: str) -> dict[str, Any]:
    """The studio, if the signed-in staff may manage it (404 unknown, 403 another lead's)."""
    studio = current_mediation().db.studios.find_one({"_id": code})
    if studio is None:
        abort(404)
    staff = current_staff()
    if not administration.may_manage_studio(staff.roles, staff.studio, code):
        abort(403)
    return studio


@bp.route("/admin/studios/<code>", methods=["GET", "POST"])
@requires_role("district_admin", "studio_lead")
def admin_studio(code: str) -> Page:
    """A studio's settings; its lead may change the working days only (and members, below)."""
    studio = _managed_studio(code)
    if request.method == "GET":
        return _studio_page(studio, {})
    raw = _studio_form()
    raw.pop("code")
    if not current_staff().has_role("district_admin"):
        raw = {k: v for k, v in raw.items() if k in administration.LEAD_STUDIO_FIELDS}
    try:
        data = StudioPatchSchema(partial=True).load(raw)
        registry.update(current_mediation().db, "studio", code, data, current_staff().user_id)
    except ValidationError as err:
        return _studio_page({**studio, **raw}, _field_errors(err), 422)
    except registry.RegistryError as err:
        return _studio_page({**studio, **raw}, {"_": [_refusal(err)]}, 409)
    flash(gettext("Studio saved. The next routing decisions use it."))
    return redirect(url_for("pages.admin_studio", code=code))


def _member_change(code: str, change: Any) -> Page:
    """Run a members/leave change; a refusal shows on the studio page with nothing changed."""
    studio = _managed_studio(code)
    try:
        change()
    except ValidationError as err:
        return _studio_page(studio, _field_errors(err), 422)
    except registry.RegistryError as err:
        return _studio_page(
            studio, {"_": [_refusal(err)]}, 404 if isinstance(err, registry.NotFound) else 409
        )
    flash(gettext("Members saved."))
    return redirect(url_for("pages.admin_studio", code=code) + "#members")


@bp.post("/admin/studios/<code>/members")
@requires_role("district_admin", "studio_lead")
def admin_studio_member_add(code: str) -> Page:
    """Add a member (one of the studio's accounts) as mediator or lead."""
    db = current_mediation().db
    username = request.form.get("username", "").strip()

    def change() -> None:
        account = db.users.find_one({"_id": username, "studio": code, "active": True}, {"name": 1})
        if account is None:
            raise ValidationError({"username": [gettext("Choose one of the studio's accounts.")]})
        member = StudioMemberSchema().load(
            {"username": username, "name": account.get("name", username), "role": request.form.get("role")}
        )
        registry.add_member(db, code, member, current_staff().user_id)

    return _member_change(code, change)


@bp.post("/admin/studios/<code>/members/<username>/remove")
@requires_role("district_admin", "studio_lead")
def admin_studio_member_remove(code: str, username: str) -> Page:
    db = current_mediation().db
    return _member_change(code, lambda: registry.remove_member(db, code, username, current_staff().user_id))


@bp.post("/admin/studios/<code>/members/<username>/leave")
@requires_role("district_admin", "studio_lead")
def admin_studio_leave_add(code: str, username: str) -> Page:
    """Record a member's leave; routing counts the studio's capacity by who is at work."""
    db = current_mediation().db

    def change() -> None:
        period = LeaveSchema().load({"start": request.form.get("start"), "end": request.form.get("end")})
        registry.add_leave(db, code, username, period["start"], period["end"], current_staff().user_id)

    return _member_change(code, change)


@bp.post("/admin/studios/<code>/members/<username>/leave/<start>/remove")
@requires_role("district_admin", "studio_lead")
def admin_studio_leave_remove(code: str, username: str, start: str) -> Page:
    db = current_mediation().db
    return _member_change(
        code, lambda: registry.remove_leave(db, code, username, start, current_staff().user_id)
    )


# Patrol teams -----------------------------------------------------------------------------------
def _team_form() -> dict[str, Any]:
    return {
        "code": request.form.get("code", "").strip(),
        "name": {
            "zh-CN": request.form.get("name_zh", "").strip(),
            "en": request.form.get("name_en", "").strip(),
        },
        "email": _optional("email"),
        "phone": _optional("phone"),
        "communities": request.form.getlist("communities"),
        "on_call": request.form.get("on_call") == "yes",
    }


def _team_page(team: dict[str, Any], errors: dict, status: int = 200, is_new: bool = False) -> Page:
    db = current_mediation().db
    code = team.get("code") or ""
    accounts = []
    if not is_new:
        members = {m["username"] for m in team.get("members") or []}
        accounts = [
            u
            for u in db.users.find({"team": code, "active": True}, {"name": 1}).sort("_id")
            if u["_id"] not in members
        ]
    return (
        render_template(
            "mediation/admin_team.html",
            team=team,
            errors=errors,
            is_new=is_new,
            weekdays=WEEKDAYS,
            account_options=[(u["_id"], f"{u.get('name', u['_id'])} ({u['_id']})") for u in accounts],
            audit=[] if is_new else registry.audit_log(db, "team", code, limit=20),
        ),
        status,
    )


@bp.route("/admin/teams/new", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_team_new() -> Page:
    """Add a patrol team: names, channels, communities and whether it is on call."""
    if request.method == "GET":
        return _team_page({}, {}, is_new=True)
    raw = _team_form()
    try:
        data = TeamInSchema().load(raw)
        team = registry.create(current_mediation().db, "team", data, current_staff().user_id)
    except ValidationError as err:
        return _team_page(raw, _field_errors(err), 422, is_new=True)
    except registry.RegistryError as err:
        return _team_page(raw, {"code": [_refusal(err)]}, 409, is_new=True)
    flash(gettext("Patrol team added."))
    return redirect(url_for("pages.admin_team", code=team["code"]))


def _team(code: str) -> dict[str, Any]:
    team = current_mediation().db.patrol_teams.find_one({"_id": code})
    if team is None:
        abort(404)
    return team


@bp.route("/admin/teams/<code>", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_team(code: str) -> Page:
    team = _team(code)
    if request.method == "GET":
        return _team_page(team, {})
    raw = _team_form()
    raw.pop("code")
    try:
        data = TeamPatchSchema(partial=True).load(raw)
        registry.update(current_mediation().db, "team", code, data, current_staff().user_id)
    except ValidationError as err:
        return _team_page({**team, **raw}, _field_errors(err), 422)
    flash(gettext("Patrol team saved."))
    return redirect(url_for("pages.admin_team", code=code))


def _team_list_change(code: str, field: str, compute: Any) -> Page:
    """Replace a team's members or shifts with `compute(current)`, safe against a concurrent edit."""
    team = _team(code)
    current = list(team.get(field) or [])
    try:
        new = compute(current)
        registry.update(
            current_mediation().db,
            "team",
            code,
            {field: new},
            current_staff().user_id,
            expect={field: current},
        )
    except ValidationError as err:
        return _team_page(team, _field_errors(err), 422)
    except registry.RegistryError as err:
        return _team_page(team, {"_": [_refusal(err)]}, 409)
    flash(gettext("Patrol team saved."))
    return redirect(url_for("pages.admin_team", code=code) + f"#{field}")


@bp.post("/admin/teams/<code>/members")
@requires_role("district_admin")
def admin_team_member_add(code: str) -> Page:
    db = current_mediation().db
    username = request.form.get("username", "").strip()

    def compute(members: list[dict]) -> list[dict]:
        account = db.users.find_one({"_id": username, "team": code, "active": True}, {"name": 1})
        if account is None or any(m["username"] == username for m in members):
            raise ValidationError({"username": [gettext("Choose one of the team's accounts.")]})
        return [*members, TeamMemberSchema().load({"username": username, "name": account.get("name", "")})]

    return _team_list_change(code, "members", compute)


@bp.post("/admin/teams/<code>/members/<username>/remove")
@requires_role("district_admin")
def admin_team_member_remove(code: str, username: str) -> Page:
    def compute(members: list[dict]) -> list[dict]:
        kept = [m for m in members if m["username"] != username]
        if len(kept) == len(members):
            abort(404)
        return kept

    return _team_list_change(code, "members", compute)


@bp.post("/admin/teams/<code>/shifts")
@requires_role("district_admin")
def admin_team_shift_add(code: str) -> Page:
    """Add a shift: its weekdays and hours (the patrol routing's on-duty rule reads them)."""

    def compute(shifts: list[dict]) -> list[dict]:
        shift = ShiftSchema().load(
            {
                "days": request.form.getlist("days"),
                "start": request.form.get("start", ""),
                "end": request.form.get("end", ""),
            }
        )
        return [*shifts, shift]

    return _team_list_change(code, "shifts", compute)


@bp.post("/admin/teams/<code>/shifts/<int:index>/remove")
@requires_role("district_admin")
def admin_team_shift_remove(code: str, index: int) -> Page:
    def compute(shifts: list[dict]) -> list[dict]:
        if not 0 <= index < len(shifts):
            abort(404)
        return shifts[:index] + shifts[index + 1 :]

    return _team_list_change(code, "shifts", compute)


# Communities: council halls and reception days ---------------------------------------------------
@bp.route("/admin/communities/<code>", methods=["GET", "POST"])
@requires_role("district_admin")
def admin_community(code: str) -> Page:
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
