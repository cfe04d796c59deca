"""Reports in the Ministry of Justice's layout in mediation's JSON API: `GET /api/v1/reports`
(studio leads: their studio; district admins: the district, a street or a studio)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from flask_smorest.error_handler import ErrorSchema

from services.mediation import reports
from services.mediation.domain import report_tables as rt
from services.mediation.http.context import LEADS, current_actor, current_mediation
from services.mediation.http.schemas import MojReportQuerySchema, MojReportSchema
from shared.auth import requires_role
from shared.messaging.envelope import utcnow

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Reports in the MoJ table layout.")


def make_report(query: dict[str, Any]) -> reports.Report:
    """The report a query asks for, or the request aborted with 403 or 422 (nothing is changed)."""
    db = current_mediation().db
    try:
        scope = reports.scope_for(db, current_actor(), query.get("level"), query.get("area"))
        return reports.build(db, scope, query.get("period") or rt.current_period(utcnow()))
    except reports.ReportForbidden as err:
        abort(403, message=str(err))
    except reports.ReportError as err:
        abort(422, message=str(err), errors=err.errors or None)
    raise AssertionError("unreachable")  # abort raises


@blp.route("/reports")
class Reports(MethodView):
    @requires_role(*LEADS)
    @blp.arguments(MojReportQuerySchema, location="query")
    @blp.response(200, MojReportSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="A studio lead asking for another scope.")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """One period's report (`period`: 2026-11, 2026-Q4 or 2026; this month by default): rows per
        street (district), community (street, studio) and the total, by the table's columns; a
        studio's carries the per-mediator table."""
        return reports.as_dict(make_report(query), query["lang"])
