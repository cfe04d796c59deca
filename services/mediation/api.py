"""Mediation's JSON API under /api/v1."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.mediation.bootstrap import Mediation

blp = Blueprint("registry", __name__, url_prefix="/api/v1", description="Studios and routing.")


class StudioSchema(Schema):
    code = fields.String()
    name = fields.Dict(keys=fields.String(), values=fields.String())
    communities = fields.List(fields.String())
    categories = fields.List(fields.String())
    capacity = fields.Integer()
    open_cases = fields.Integer()
    is_default = fields.Boolean()


@blp.route("/studios")
class Studios(MethodView):
    @blp.response(200, StudioSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Mediation studios with the areas and categories they cover and their current load."""
        mediation: Mediation = current_app.extensions["mediation"]
        return list(mediation.db.studios.find({}, {"email": 0}).sort("code"))
