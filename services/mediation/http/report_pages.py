"""The report pages (studio leads: their studio; district admins: the district, a street or a
studio): one period's table in the Ministry of Justice's layout, and its CSV and XLSX downloads."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_babel import gettext

from services.mediation import reports
from services.mediation.domain import report_tables as rt
from services.mediation.http.context import LEADS, current_actor, current_mediation, current_staff
from services.mediation.http.pages import bp, is_chinese
from shared.auth import requires_role
from shared.messaging.envelope import utcnow
from shared.taxonomy import streets

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _language() -> str:
    return "zh-CN" if is_chinese() else "en"


def _scope_choices() -> list[tuple[str, str]]:
    """The scopes a district admin may pick ("district", "street:<code>", "studio:<code>")."""
    zh = is_chinese()
    choices = [("district", gettext("The whole district"))]
    choices += [(f"street:{s.code}", s.zh if zh else s.en) for s in streets()]
    for studio in current_mediation().db.studios.find({}, {"name": 1}).sort("_id"):
        name = (studio.get("name") or {}).get("zh-CN" if zh else "en") or studio["_id"]
        choices.append((f"studio:{studio['_id']}", name))
    return choices


def _asked() -> tuple[str, str | None, str | None]:
    """(period, level, area) from the query string; `scope` is "district" or "<level>:<area>"."""
    period = (request.args.get("period") or "").strip() or rt.current_period(utcnow())
    scope = (request.args.get("scope") or "").strip()
    if not scope:
        return period, None, None
    level, _, area = scope.partition(":")
    return period, level, area or None


def _messages(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The use case's errors as the form's fields and the page's language."""
    out: dict[str, list[str]] = {}
    if "period" in errors:
        out["period"] = [gettext("Not a period: use 2026-11, 2026-Q4 or 2026.")]
    if "level" in errors or "area" in errors:
        out["scope"] = [gettext("Choose an area from the list.")]
    return out


def _report() -> tuple[reports.Report | None, dict[str, list[str]], str, str]:
    """The report asked for, or the errors to show (403 when the scope is not the asker's)."""
    period, level, area = _asked()
    db = current_mediation().db
    try:
        scope = reports.scope_for(db, current_actor(), level, area)
        report = reports.build(db, scope, period)
    except reports.ReportForbidden:
        abort(403)
    except reports.ReportError as err:
        return None, _messages(err.errors), period, request.args.get("scope", "")
    chosen = "district" if scope.level == "district" else f"{scope.level}:{scope.area}"
    return report, {}, period, chosen


@bp.get("/reports")
@requires_role(*LEADS)
def report_page() -> tuple[str, int]:
    report, errors, period, chosen = _report()
    language = _language()
    sections: list[tuple[str, list[rt.Column]]] = []
    for key, (zh, en) in rt.SECTIONS.items():
        sections.append((zh if language == "zh-CN" else en, [c for c in rt.COLUMNS if c.section == key]))
    page = render_template(
        "mediation/reports.html",
        report=report,
        errors=errors,
        period=period,
        chosen=chosen,
        scopes=_scope_choices() if current_staff().has_role("district_admin") else [],
        sections=sections,
        language=language,
        area_header=reports.area_header(report, language) if report else "",
    )
    return page, (422 if errors else 200)


@bp.get("/reports/download.<any(csv, xlsx):ext>")
@requires_role(*LEADS)
def report_download(ext: str) -> Response:
    report, errors, _, _ = _report()
    if report is None:
        abort(422, description="; ".join(m for ms in errors.values() for m in ms))
    language = _language()
    if ext == "csv":
        body, mimetype = reports.to_csv(report, language), "text/csv; charset=utf-8"
    else:
        body, mimetype = reports.to_xlsx(report, language), XLSX
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{reports.filename(report, ext)}"'
    response.headers["Cache-Control"] = "no-store"
    return response
