"""Mediation's staff pages: the blueprint they share (`pages`), login/logout, each role's home page,
and the labels every page uses. The patrol member's, the lead's and the admin's pages are in
`patrol_pages`, `lead_pages` and `admin_pages`, registered on this blueprint.

Every form is a plain HTML form with a CSRF token (`shared.web`), so everything works without
JavaScript. Lists show no phone numbers and no unit numbers (exact addresses); a task's own team
sees the unit on the task page because it has to go there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_login import current_user
from marshmallow import ValidationError

from services.mediation import staff_accounts
from services.mediation.http.context import current_mediation, current_staff
from shared.auth import Staff, clear_staff_cookie, set_staff_cookie
from shared.taxonomy import CATEGORIES, communities

SERVICE_DIR = Path(__file__).resolve().parents[1]

bp = Blueprint(
    "pages",
    __name__,
    template_folder=str(SERVICE_DIR / "templates"),
    static_folder=str(SERVICE_DIR / "static"),
    static_url_path="/static/mediation",
)


def is_chinese() -> bool:
    return str(get_locale() or "zh_CN").startswith("zh")


def community_names() -> dict[str, str]:
    lang = "zh" if is_chinese() else "en"  # once, not per name: each asks the request's locale
    return {c.code: c.name(lang) for c in communities()}


def category_names() -> dict[str, str]:
    lang = "zh" if is_chinese() else "en"
    return {c.code: c.name(lang) for c in CATEGORIES}


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    return {
        "staff": current_user if current_user.is_authenticated else None,
        "community_names": community_names,
        "category_names": category_names,
        "risk_label": risk_label,
        "risk_labels": risk_labels,
        "kind_label": kind_label,
        "status_label": status_label,
        "routing_label": routing_label,
        "action_label": action_label,
        "weekday_label": weekday_label,
        "role_label": role_label,
        "audit_action_label": audit_action_label,
        "flashed": get_flashed_messages,
    }


def get_locale_name() -> str:
    """The page's language as the catalogs name it: zh-CN or en."""
    return "zh-CN" if is_chinese() else "en"


def role_label(role: str) -> str:
    return {
        "mediator": gettext("Mediator"),
        "studio_lead": gettext("Studio lead"),
        "patrol_member": gettext("Patrol member"),
        "district_admin": gettext("District admin"),
        "committee_member": gettext("Committee member"),
        "building_leader": gettext("Building leader"),
    }.get(role, role)


def audit_action_label(action: str) -> str:
    return {
        "create": gettext("created"),
        "update": gettext("changed"),
        "reset_password": gettext("password reset"),
        "change_password": gettext("password changed by its owner"),
        "enable": gettext("enabled"),
        "disable": gettext("disabled"),
        "change_role": gettext("role changed"),
    }.get(action, action)


def weekday_label(day: str) -> str:
    return {
        "mon": gettext("Monday"),
        "tue": gettext("Tuesday"),
        "wed": gettext("Wednesday"),
        "thu": gettext("Thursday"),
        "fri": gettext("Friday"),
        "sat": gettext("Saturday"),
        "sun": gettext("Sunday"),
    }.get(day, day)


def risk_labels() -> dict[str, str]:
    """Every risk level's label in the reader's language (a list's rows look them up here)."""
    return {
        "red": gettext("Red"),
        "orange": gettext("Orange"),
        "yellow": gettext("Yellow"),
        "none": gettext("None"),
    }


def risk_label(level: str) -> str:
    return risk_labels().get(level, level)


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
    if staff.has_role("committee_member", "building_leader"):
        # Their work is in council; the staff token is valid there too.
        return current_mediation().settings.council_public_url.rstrip("/") + "/"
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
            mediation = current_mediation()
            try:
                staff = staff_accounts.authenticate(
                    mediation.db,
                    username,
                    password,
                    request.remote_addr or "unknown",
                    mediation.settings.secret_key,
                )
            except staff_accounts.LoginLocked:
                errors["username"] = [
                    gettext("Too many failed attempts. Please wait 15 minutes and try again.")
                ]
                status = 429
            else:
                if staff is not None:
                    target = _safe_next(request.args.get("next")) or _home_for(staff)
                    if staff_accounts.needs_new_password(mediation.db, staff.user_id):
                        target = url_for("pages.own_password")  # set by an administrator: replace it
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
    target = _home_for(current_staff())
    if target != url_for("pages.home"):
        return redirect(target)
    return render_template("mediation/home.html")


def _strings(value: Any) -> list[str]:
    """A field's messages, flattened: a nested field (e.g. name -> en) reports its inner messages."""
    if isinstance(value, dict):
        return [m for inner in value.values() for m in _strings(inner)]
    if isinstance(value, list):
        return [m for inner in value for m in _strings(inner)]
    return [str(value)]


def form_errors(err: ValidationError) -> dict[str, list[str]]:
    messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
    return {k: _strings(v) for k, v in messages.items()}
