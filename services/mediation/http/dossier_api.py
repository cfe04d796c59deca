"""The archive dossier in the JSON API: `GET /api/v1/desk/cases/<reference>/dossier` answers the
dossier's PDF (the same use case as the case page's link, `dossier.download`)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.error_handler import ErrorSchema
from marshmallow import Schema, fields, validate

from services.mediation import dossier
from services.mediation.http.desk_api import DESK_ROLES, _actor, _call, _mediation
from shared.auth import requires_role

blp = Blueprint(
    "dossier_api", __name__, url_prefix="/api/v1/desk", description="The archive dossier of a case."
)


class DossierQuery(Schema):
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(["zh-CN", "en"]))


@blp.route("/cases/<string:reference>/dossier")
class Dossier(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(DossierQuery, location="query")
    @blp.response(
        200, {"type": "string", "format": "binary"}, content_type="application/pdf", description="The PDF."
    )
    @blp.alt_response(403, schema=ErrorSchema, description="Not a mediator of this case nor the studio lead.")
    @blp.alt_response(404, schema=ErrorSchema, description="No such case in your studio, or no dossier yet.")
    @blp.alt_response(422, schema=ErrorSchema, description="An unknown language.")
    def get(self, query: dict[str, Any], reference: str) -> Any:
        """The archive dossier (卷宗) of an archived case, as one PDF.

        The stored Chinese dossier by default; `language=en` renders it in English from the case.
        Built by the mediation worker shortly after the case is archived (404 until then). For the
        case's own mediators and their studio lead; every download is kept in the access log.
        """
        content = _call(lambda: dossier.download(_mediation(), reference, _actor(), query["language"]))
        response = Response(content, mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="dossier-{reference}-{query["language"]}.pdf"'
        )
        response.headers["Cache-Control"] = "private, no-store"
        return response
