"""Intake's JSON API under /api/v1 (flask-smorest resources, documented in OpenAPI)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services.intake import filing, tracking
from services.intake.bootstrap import Intake
from services.intake.http.schemas import (
    SOURCE_STAFF_ONLY,
    CaseCreatedSchema,
    CaseCreateSchema,
    CaseStatusSchema,
    CommunitySchema,
    LabelSchema,
    TrackingQuerySchema,
)
from shared.taxonomy import CATEGORIES, communities

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="File a dispute and follow it.")


def _intake() -> Intake:
    return current_app.extensions["intake"]


@blp.route("/cases")
class Cases(MethodView):
    # Instances, not classes: webargs would build a schema (deep copies of every field, nested
    # ones too) on every request; a marshmallow schema's load keeps no state on it.
    @blp.arguments(CaseCreateSchema())
    @blp.response(201, CaseCreatedSchema())
    @blp.alt_response(422, description="Invalid fields; `errors` maps each field to its messages.")
    @blp.alt_response(429, description="Too many cases filed from this client in the current window.")
    def post(self, data: dict[str, Any]) -> dict[str, str]:
        """File a dispute.

        Answers the case reference and a secret tracking token: keep both to follow the case.
        A `source` other than `application` (a referral, a discovery, a reception day) needs a
        staff token.
        """
        intake = _intake()
        if data["source"] != "application" and not current_user.is_authenticated:
            abort(422, message="Invalid fields.", errors={"json": {"source": [SOURCE_STAFF_ONLY]}})
        if not intake.limiter.hit("api-create"):
            abort(429, message="Too many cases filed from this client; try again later.")
        return filing.submit_case(intake, data, channel="api")


@blp.route("/cases/<string:reference>")
class CaseStatus(MethodView):
    @blp.arguments(TrackingQuerySchema, location="query")
    @blp.response(200, CaseStatusSchema)
    @blp.alt_response(404, description="No case with this reference and token.")
    def get(self, query: dict[str, str], reference: str) -> dict[str, Any]:
        """The public status and timeline of a case (reference + tracking token)."""
        status = tracking.public_status(_intake(), reference, query["token"])
        if status is None:
            abort(404, message="No case matches this reference and token.")
        return status


@blp.route("/categories")
class Categories(MethodView):
    @blp.response(200, LabelSchema(many=True))
    def get(self) -> list[dict[str, str]]:
        """Dispute categories (national statistics usage)."""
        return [{"code": c.code, "name_zh": c.zh, "name_en": c.en} for c in CATEGORIES]


@blp.route("/communities")
class Communities(MethodView):
    @blp.response(200, CommunitySchema(many=True))
    def get(self) -> list[dict[str, str]]:
        """Communities of the district that cases can be filed for."""
        return [{"code": c.code, "name_zh": c.zh, "name_en": c.en, "street": c.street} for c in communities()]
