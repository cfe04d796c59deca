"""Mediation's staff pages: login/logout, the patrol member's tasks (phone-first), the lead's case
routing view with risk and move forms and hot-spot sweeps, and the admin's registry pages.

Every form is a plain HTML form with a CSRF token (`shared.web`), so everything works without
JavaScript. Lists show no phone numbers and no unit numbers (exact addresses); a task's own team
sees the unit on the task page because it has to go there.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_login import current_user
from marshmallow import ValidationError

from services.mediation import registry, service, tasks, users
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle
from services.mediation.domain.patrol import WEEKDAYS
from services.mediation.schemas import CommunityInSchema, MoveSchema, RiskChangeSchema, StudioInSchema
from shared.auth import Staff, clear_staff_cookie, requires_role, set_staff_cookie
from shared.taxonomy import CATEGORIES, RISK_LEVELS, communities

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/mediation",
)

LEADS = ("studio_lead", "district_admin")


def _mediation() -> Mediation:
    return current_app.extensions["mediation"]


def _staff() -> Staff:
    return cast(Staff, current_user)


def _actor() -> service.Actor:
    staff = _staff()
    return service.Actor(staff.user_id, frozenset(staff.roles), staff.studio)


def _zh() -> bool:
    return str(get_locale() or "zh_CN").startswith("zh")


def _community_names() -> dict[str, str]:
    return {c.code: c.name("zh" if _zh() else "en") for c in communities()}


def _category_names() -> dict[str, str]:
    return {c.code: c.name("zh" if _zh() else "en") for c in CATEGORIES}


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    return {
        "staff": current_user if current_user.is_authenticated else None,
        "community_names": _community_names,
        "category_names": _category_names,
        "risk_label": risk_label,
        "kind_label": kind_label,
        "status_label": status_label,
        "routing_label": routing_label,
        "action_label": action_label,
        "flashed": get_flashed_messages,
    }


def risk_label(level: str) -> str:
    return {
        "red": gettext("Red"),
        "orange": gettext("Orange"),
        "yellow": gettext("Yellow"),
        "none": gettext("None"),
    }.get(level, level)


def kind_label(kind: str) -> str:
    return {
        "dispatch": gettext("Urgent dispatch"),
        "same_day": gettext("Visit today"),
        "sweep": gettext("Hot-spot sweep"),
    }.get(kind, kind)


def status_label(status: str) -> str:
    return {
        "open": gettext("Open"),
        "accepted": gettext("Accepted"),
        "reported": gettext("Reported"),
        "closed": gettext("Closed"),
    }.get(status, status)


def routing_label(text: str) -> str:
    """The stored routing reasons (English codes) in the page's language."""
    return {
        "area+category": gettext("covers the area and takes the category"),
        "no eligible studio: district default": gettext("no eligible studio: the district's default studio"),
        "only eligible studio": gettext("the only eligible studio"),
        "least loaded relative to capacity": gettext("the least loaded relative to its capacity"),
        "equal load: round-robin": gettext("equal load: taken in turn"),
        "district default studio": gettext("the district's default studio"),
        "moved by lead": gettext("moved by a lead"),
        "does not take the category": gettext("does not take this category"),
        "no capacity (capacity 0 or every member on leave)": gettext(
            "no capacity (capacity 0 or every member on leave)"
        ),
    }.get(text, text)


def action_label(action: str) -> str:
    return {
        "received": gettext("Received"),
        "assigned": gettext("Assigned"),
        "moved": gettext("Moved"),
        "risk_changed": gettext("Risk level changed"),
        "patrol_dispatch": gettext("Patrol dispatched"),
        "patrol_same_day": gettext("Patrol visit due today"),
        "patrol_unavailable": gettext("No patrol team available"),
        "lead_alerted": gettext("Studio lead alerted"),
        "patrol_accepted": gettext("Patrol task accepted"),
        "patrol_reported": gettext("Patrol visit reported"),
        "patrol_closed": gettext("Patrol task closed"),
    }.get(action, action)


def _home_for(staff: Staff) -> str:
    if staff.has_role("patrol_member"):
        return url_for("pages.patrol_tasks")
    if staff.has_role("district_admin"):
        return url_for("pages.admin_home")
    if staff.has_role("studio_lead"):
        return url_for("pages.lead_home")
    if staff.has_role("mediator"):
        return url_for("desk.queue_page")
    return url_for("pages.home")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//'): never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# Login ----------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The staff login form; sets the signed staff cookie on success."""
    errors: dict[str, list[str]] = {}
    username = ""
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username:
            errors["username"] = [gettext("Enter your username.")]
        if not password:
            errors["password"] = [gettext("Enter your password.")]
        if not errors:
            mediation = _mediation()
            try:
                staff = users.authenticate(
                    mediation.db,
                    username,
                    password,
                    request.remote_addr or "unknown",
                    mediation.settings.secret_key,
                )
            except users.LoginLocked:
                errors["username"] = [
                    gettext("Too many failed attempts. Please wait 15 minutes and try again.")
                ]
                status = 429
            else:
                if staff is not None:
                    target = _safe_next(request.args.get("next")) or _home_for(staff)
                    return set_staff_cookie(redirect(target), mediation.settings, staff)
                errors["password"] = [gettext("The username or password is wrong.")]
                status = 401
    return render_template("mediation/login.html", errors=errors, username=username), status


@bp.post("/logout")
def logout() -> Response:
    return clear_staff_cookie(redirect(url_for("pages.login")), current_app.extensions["settings"])


@bp.get("/")
def home() -> Any:
    """Each role's start page; anonymous visitors go to the login form."""
    if not current_user.is_authenticated:
        return redirect(url_for("pages.login"))
    target = _home_for(_staff())
    if target != url_for("pages.home"):
        return redirect(target)
    return render_template("mediation/home.html")


# Patrol member ---------------------------------------------------------------------------------
@bp.get("/patrol")
@requires_role("patrol_member")
def patrol_tasks() -> str:
    team_code = _staff().team or ""
    db = _mediation().db
    team = db.patrol_teams.find_one({"_id": team_code})
    return render_template("mediation/patrol_tasks.html", tasks=tasks.team_tasks(db, team_code), team=team)


def _task_for_page(task_id: str) -> dict[str, Any]:
    db = _mediation().db
    try:
        task = tasks.get_task(db, task_id)
    except tasks.TaskNotFound:
        abort(404)
    if not tasks.may_view(_actor(), task, _staff().team):
        abort(403)
    return task


@bp.get("/patrol/tasks/<task_id>")
@requires_role("patrol_member", *LEADS)
def patrol_task(task_id: str) -> str:
    task = _task_for_page(task_id)
    return _render_task(task)


def _render_task(task: dict[str, Any], errors: dict[str, list[str]] | None = None, form: Any = None) -> str:
    db = _mediation().db
    photos = list(db.task_photos.find({"task_id": task["_id"]}, {"data": 0}).sort("index"))
    return render_template(
        "mediation/patrol_task.html",
        task=task,
        photos=photos,
        can_act=tasks.may_act(_actor(), task, _staff().team),
        errors=errors or {},
        form=form or {},
    )


@bp.post("/patrol/tasks/<task_id>/<any(accept, close):action>")
@requires_role("patrol_member")
def patrol_task_step(task_id: str, action: str) -> Any:
    step = tasks.accept if action == "accept" else tasks.close
    try:
        step(_mediation(), task_id, _actor(), _staff().team)
    except tasks.TaskNotFound:
        abort(404)
    except tasks.TaskForbidden:
        abort(403)
    except tasks.TaskError:
        flash(gettext("This task has moved on in the meantime; here is where it stands."))
        return redirect(url_for("pages.patrol_task", task_id=task_id))
    if action == "close":
        flash(gettext("Task closed."))
        return redirect(url_for("pages.patrol_tasks"))
    flash(gettext("Task accepted. Report the visit below when you are done."))
    return redirect(url_for("pages.patrol_task", task_id=task_id))


@bp.post("/patrol/tasks/<task_id>/report")
@requires_role("patrol_member")
def patrol_task_report(task_id: str) -> Any:
    task = _task_for_page(task_id)
    findings = request.form.get("findings", "").strip()
    people_met = request.form.get("people_met", "").strip()
    calmed_raw = request.form.get("calmed", "")
    errors: dict[str, list[str]] = {}
    if not findings:
        errors["findings"] = [gettext("Describe what you found.")]
    elif len(findings) > 4000:
        errors["findings"] = [gettext("At most 4000 characters.")]
    if len(people_met) > 1000:
        errors["people_met"] = [gettext("At most 1000 characters.")]
    if calmed_raw not in ("yes", "no"):
        errors["calmed"] = [gettext("Say whether the dispute calmed down.")]
    photos = [
        tasks.Photo(f.filename or "photo", f.mimetype or "", f.read())
        for f in request.files.getlist("photos")
        if f and f.filename
    ]
    problems = tasks.check_photos(photos)
    if problems:
        errors["photos"] = [gettext("Up to 3 photos (JPEG, PNG, WebP or HEIC), 5 MB each.")]
    if errors:
        return _render_task(task, errors, request.form), 422
    try:
        tasks.report(
            _mediation(), task_id, _actor(), _staff().team, findings, people_met, calmed_raw == "yes", photos
        )
    except tasks.TaskForbidden:
        abort(403)
    except tasks.TaskError:
        flash(gettext("This task has moved on in the meantime; here is where it stands."))
        return redirect(url_for("pages.patrol_task", task_id=task_id))
    flash(gettext("Report saved and sent to the studio."))
    return redirect(url_for("pages.patrol_task", task_id=task_id))


@bp.get("/patrol/tasks/<task_id>/photos/<int:index>")
@requires_role("patrol_member", *LEADS)
def patrol_task_photo(task_id: str, index: int) -> Response:
    _task_for_page(task_id)
    found = tasks.photo(_mediation().db, task_id, index)
    if found is None:
        abort(404)
    response = Response(bytes(found["data"]), mimetype=found["content_type"])
    response.headers["Cache-Control"] = "private, no-store"  # photos may show people
    return response


# Studio lead -----------------------------------------------------------------------------------
@bp.get("/lead")
@requires_role(*LEADS)
def lead_home() -> str:
    db = _mediation().db
    staff = _staff()
    query: dict[str, Any] = {"status": {"$in": list(lifecycle.OPEN_STATES)}}
    if not staff.has_role("district_admin"):
        query["studio"] = staff.studio
    projection = {"category": 1, "community": 1, "risk_level": 1, "studio": 1, "routing": 1, "assigned_at": 1}
    cases = sorted(db.cases.find(query, projection).limit(500), key=lambda c: c["assigned_at"], reverse=True)
    return render_template(
        "mediation/lead_home.html",
        cases=cases[:100],
        hot_spots=tasks.hot_spots(db),
        teams=list(db.patrol_teams.find({}, {"name": 1})),
    )


def _lead_case(reference: str) -> dict[str, Any]:
    try:
        case = service.get_case(_mediation().db, reference)
    except service.CaseNotFound:
        abort(404)
    if not service._may_lead(_actor(), case["studio"]):
        abort(403)
    return case


def _render_case(case: dict[str, Any], errors: dict[str, list[str]] | None = None, form: Any = None) -> str:
    db = _mediation().db
    return render_template(
        "mediation/lead_case.html",
        case=case,
        tasks=list(db.patrol_tasks.find({"reference": case["_id"]}).sort("created_at")),
        level_options=[(level, risk_label(level)) for level in reversed(RISK_LEVELS)],
        studio_options=[
            (s["_id"], s["name"]["zh-CN"] if _zh() else s["name"]["en"])
            for s in db.studios.find({"_id": {"$ne": case["studio"]}}, {"name": 1}).sort("_id")
        ],
        errors=errors or {},
        form=form or {},
    )


@bp.get("/lead/cases/<reference>")
@requires_role(*LEADS)
def lead_case(reference: str) -> str:
    return _render_case(_lead_case(reference))


def _form_errors(err: ValidationError) -> dict[str, list[str]]:
    messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
    return {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()}


@bp.post("/lead/cases/<reference>/<any(risk, move):action>")
@requires_role(*LEADS)
def lead_case_action(reference: str, action: str) -> Any:
    case = _lead_case(reference)
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        if action == "risk":
            data = RiskChangeSchema().load(form)
            service.change_risk(_mediation(), reference, data["level"], data["reason"], _actor())
            flash(gettext("Risk level changed."))
        else:
            form["reason"] = form.pop("move_reason", "")
            data = MoveSchema().load(form)
            service.move_case(_mediation(), reference, data["studio"], data["reason"], _actor())
            flash(gettext("Case moved."))
    except ValidationError as err:
        errors = _form_errors(err)
        if action == "move" and "reason" in errors:  # the move form's own field
            errors["move_reason"] = errors.pop("reason")
        return _render_case(case, errors, request.form), 422
    except service.Forbidden:
        abort(403)
    except service.CaseError as err:
        return _render_case(case, {"_": [str(err)]}, request.form), 409
    if action == "move" and not _actor().roles & {"district_admin"}:
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
        tasks.create_sweep(
            _mediation(), community, None, request.form.get("note", "")[:500], _actor(), every_days
        )
    except tasks.TaskForbidden:
        abort(403)
    except tasks.TaskError as err:
        flash(str(err))
        return redirect(url_for("pages.lead_home"))
    flash(gettext("Sweep ordered."))
    return redirect(url_for("pages.lead_home"))


# District admin ---------------------------------------------------------------------------------
@bp.get("/admin")
@requires_role("district_admin")
def admin_home() -> str:
    db = _mediation().db
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
    db = _mediation().db
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
            errors = _form_errors(err)
            status = 422
            studio = {**studio, **raw}
        else:
            registry.update(db, "studio", code, data, _staff().user_id)
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
    db = _mediation().db
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
            errors = _form_errors(err)
            status = 422
        else:
            registry.update(db, "community", code, data, _staff().user_id)
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
    rows = list(_mediation().db.routing_failures.find({}).sort("at", -1).limit(200))
    return render_template("mediation/admin_failures.html", failures=rows)
