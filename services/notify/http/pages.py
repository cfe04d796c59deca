"""Notify's pages: the blueprint they share (`notify_web`), the delivery log for staff (search, one
delivery, resend) and template previews. Residents' preferences are in `preference_pages`.

Every page works without JavaScript: searches are GET forms, changes are POST forms with CSRF
tokens answered by a redirect.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user

from services.notify import delivery as delivery_cases
from services.notify import delivery_log
from services.notify.bootstrap import Notify
from services.notify.delivery import STATUSES
from services.notify.rendering import LANGUAGES
from shared.auth import Staff, requires_role

SERVICE_DIR = Path(__file__).resolve().parents[1]

bp = Blueprint(
    "notify_web",
    __name__,
    template_folder=str(SERVICE_DIR / "web_templates"),
    static_folder=str(SERVICE_DIR / "static"),
    static_url_path="/static/notify",
)

NO_STORE = {"Cache-Control": "no-store"}
# The HTML of an email shown on its own: its inline styles allowed, nothing else, sandboxed.
EMAIL_PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


TEMPLATE_LABELS = {
    "case_assigned_applicant": lazy_gettext("Case assigned (to the applicant)"),
    "case_assigned_mediator": lazy_gettext("Case assigned (to the mediator)"),
    "case_assigned_studio": lazy_gettext("New case (to the studio)"),
    "case_closed": lazy_gettext("Case closed"),
    "case_escalated": lazy_gettext("Case escalated"),
    "case_merged": lazy_gettext("Case merged into another (to the parties)"),
    "confirmation_due": lazy_gettext("Judicial confirmation reminder (to the parties and the mediator)"),
    "case_received_filer": lazy_gettext("Request received (to the filer)"),
    "case_status_changed": lazy_gettext("Status update"),
    "patrol_dispatched": lazy_gettext("Patrol task"),
    "red_alert": lazy_gettext("Red alert (duty group)"),
    "session_invitation": lazy_gettext("Session invitation"),
    "session_rescheduled": lazy_gettext("Session moved (updated invitation)"),
    "session_cancelled": lazy_gettext("Session cancelled"),
    "studio_digest": lazy_gettext("Daily digest (to the studio lead)"),
    "webhook": lazy_gettext("Webhook"),
}


@bp.app_template_global()
def template_label(name: str) -> str:
    """A message template's name as staff read it."""
    return str(TEMPLATE_LABELS.get(name, name))


@bp.app_template_filter()
def local_time(value: datetime, seconds: bool = False) -> str:
    """A stored UTC time as the district's clock shows it."""
    zone = ZoneInfo(current_notify().settings.notify_timezone)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def current_notify() -> Notify:
    return current_app.extensions["notify"]


def _staff() -> Staff:
    return cast(Staff, current_user)


@bp.get("/")
def home() -> Any:
    return redirect(url_for("notify_web.deliveries"))


@bp.get("/admin/deliveries")
@requires_role(*delivery_log.ADMIN_ROLES)
def deliveries() -> Any:
    """Search the delivery log by case, recipient, status and channel."""
    filters = {
        k: (request.args.get(k) or "").strip() for k in ("reference", "recipient", "status", "channel")
    }
    errors: dict[str, list[str]] = {}
    if filters["status"] and filters["status"] not in STATUSES:
        errors["status"] = [gettext("Choose a status from the list.")]
    if len(filters["reference"]) > 20:
        errors["reference"] = [gettext("A case reference looks like LC-2026-000123.")]
    try:
        page = max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    result = {"items": [], "total": 0, "page": 1, "per_page": 50}
    if not errors:
        result = delivery_log.search(current_notify(), _staff(), {**filters, "page": page, "per_page": 50})
    body = render_template(
        "notify/deliveries.html", filters=filters, result=result, statuses=STATUSES, errors=errors
    )
    return body, (422 if errors else 200), NO_STORE


@bp.get("/admin/deliveries/<string:delivery_id>")
@requires_role(*delivery_log.ADMIN_ROLES)
def delivery(delivery_id: str) -> Any:
    """One delivery: content, every attempt with the provider's answer, and a resend button."""
    found = delivery_log.find(current_notify(), _staff(), delivery_id)
    if found is None:
        abort(404)
    return render_template("notify/delivery.html", d=found, resent=request.args.get("resent")), 200, NO_STORE


@bp.post("/admin/deliveries/<string:delivery_id>/resend")
@requires_role(*delivery_log.ADMIN_ROLES)
def resend(delivery_id: str) -> Any:
    if delivery_log.find(current_notify(), _staff(), delivery_id) is None:
        abort(404)
    copy = delivery_cases.resend(current_notify(), delivery_id, requested_by=_staff().user_id)
    return redirect(url_for("notify_web.delivery", delivery_id=copy["_id"], resent=delivery_id), code=303)


@bp.get("/admin/templates")
@requires_role(*delivery_log.ADMIN_ROLES)
def templates() -> Any:
    """Preview any message in either language, as each channel sends it."""
    names = delivery_log.templates()
    template = request.args.get("template") or names[0]
    language = request.args.get("language") or "zh-CN"
    channel = request.args.get("channel") or "email"
    if template not in names or language not in LANGUAGES or channel not in ("email", "sms", "wechat_work"):
        abort(400)
    rendered = delivery_log.preview(current_notify(), template, language, channel)
    body = render_template(
        "notify/templates.html",
        names=names,
        template=template,
        language=language,
        channel=channel,
        rendered=rendered,
        languages=[("zh-CN", "中文"), ("en", "English")],
    )
    return body, 200, NO_STORE


@bp.get("/admin/templates/email.html")
@requires_role(*delivery_log.ADMIN_ROLES)
def email_html() -> Any:
    """The HTML part of an email preview, on its own page."""
    rendered = delivery_log.preview(
        current_notify(), request.args.get("template", ""), request.args.get("language", "zh-CN"), "email"
    )
    if rendered is None or request.args.get("language", "zh-CN") not in LANGUAGES:
        abort(404)
    response = make_response(rendered["html"])
    response.headers["Content-Security-Policy"] = EMAIL_PREVIEW_CSP
    response.headers.update(NO_STORE)
    return response
