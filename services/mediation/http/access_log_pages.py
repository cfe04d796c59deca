"""The access log viewer (`/access-log`): who viewed which case's personal data, who downloaded
which attachment, who searched by a phone or a name; filterable by person, case, kind and date,
and exported as CSV (`/access-log.csv`). Studio leads see their studio's rows, district admins
every studio's; mediators and patrol members are refused (403)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext

from services.mediation import access_log, desk
from services.mediation.domain import search as search_rules
from services.mediation.http.context import LEADS, current_actor, current_mediation
from services.mediation.http.search_pages import _studios, matched_on_labels
from shared.auth import requires_role

bp = Blueprint("access_log", __name__)


def kind_labels() -> dict[str, str]:
    return {
        access_log.VIEWED: gettext("Viewed personal data"),
        access_log.DOWNLOADED: gettext("Downloaded an attachment"),
        access_log.SEARCHED: gettext("Searched by a phone or name"),
    }


def _date(name: str, errors: dict[str, list[str]]) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = [gettext("Enter a date as YYYY-MM-DD.")]
        return None


def _filters() -> tuple[access_log.Filters, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    args = request.args
    since, until = _date("since", errors), _date("until", errors)
    if since and until and since > until:
        errors["until"] = [gettext("The first day comes after the last.")]
    what = args.get("what") if args.get("what") in access_log.KINDS else None
    filters = access_log.Filters(
        by=(args.get("by") or "").strip()[:100] or None,
        reference=(args.get("reference") or "").strip()[:40] or None,
        what=what,
        since=since,
        until=until,
        studio=(args.get("studio") or None) if desk.is_admin(current_actor()) else None,
    )
    return filters, errors


@bp.get("/access-log")
@requires_role(*LEADS)
def access_log_page() -> Any:
    """The newest rows that pass the filters (a lead: their studio's)."""
    filters, errors = _filters()
    actor = current_actor()
    try:
        rows = [] if errors else access_log.rows(current_mediation().db, actor, filters)
    except access_log.Refused:
        abort(403)
    html = render_template(
        "mediation/access_log.html",
        rows=rows,
        args=request.args,
        errors=errors,
        kind_labels=kind_labels(),
        matched_on_labels=matched_on_labels(),
        studio_options=_studios() if desk.is_admin(actor) else [],
        page_rows=access_log.PAGE_ROWS,
        personal_kinds=search_rules.PERSONAL_KINDS,
    )
    return (html, 422) if errors else html


@bp.get("/access-log.csv")
@requires_role(*LEADS)
def access_log_csv() -> Response:
    """The filtered rows as CSV (UTF-8 with BOM, for spreadsheet programs)."""
    filters, errors = _filters()
    if errors:
        abort(422)
    try:
        rows = access_log.rows(current_mediation().db, current_actor(), filters, access_log.EXPORT_ROWS)
    except access_log.Refused:
        abort(403)
    body = "\ufeff" + access_log.to_csv(rows)
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="access-log.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
