"""The registry in mediation's JSON API under /api/v1: studios, patrol teams, communities, audit.

Every endpoint needs a staff token (cookie or `Authorization: Bearer`); errors have the one
Concord shape (`shared.http`).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.mediation import registry
from services.mediation.http.context import STAFF, current_actor, current_mediation
from services.mediation.http.schemas import (
    AuditSchema,
    CommunityInSchema,
    CommunitySchema,
    FailureSchema,
    StudioInSchema,
    StudioPatchSchema,
    StudioSchema,
    TeamInSchema,
    TeamPatchSchema,
    TeamSchema,
)
from shared.auth import requires_role
from shared.schemas import for_patch
from shared.taxonomy import communities

blp = Blueprint("registry", __name__, url_prefix="/api/v1", description="Studios, patrol teams, halls.")


def _registry_call(call: Any) -> Any:
    try:
        return call()
    except registry.NotFound as err:
        abort(404, message=str(err))
    except registry.RegistryError as err:
        abort(409, message=str(err))


# Registry -----------------------------------------------------------------------------------------
@blp.route("/studios")
class Studios(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, StudioSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Mediation studios with the areas and categories they cover, members and current load."""
        return list(current_mediation().db.studios.find({}).sort("code"))

    @requires_role("district_admin")
    @blp.arguments(StudioInSchema)
    @blp.response(201, StudioSchema)
    @blp.alt_response(409, description="A studio with this code exists already.")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a studio (district admins; audited)."""
        return _registry_call(
            lambda: registry.create(current_mediation().db, "studio", data, current_actor().user_id)
        )


@blp.route("/studios/<string:code>")
class StudioItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, StudioSchema)
    def get(self, code: str) -> dict[str, Any]:
        """One studio."""
        studio = current_mediation().db.studios.find_one({"_id": code})
        if studio is None:
            abort(404, message=f"No studio {code}.")
        return studio

    @requires_role("district_admin")
    @blp.arguments(for_patch(StudioPatchSchema))
    @blp.response(200, StudioSchema)
    def patch(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a studio: coverage, categories, capacity, working days, members and their leave.

        The next routing decisions use the new values. Audited.
        """
        return _registry_call(
            lambda: registry.update(current_mediation().db, "studio", code, data, current_actor().user_id)
        )


@blp.route("/patrol-teams")
class Teams(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, TeamSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Patrol teams with their areas, shifts and members."""
        return list(current_mediation().db.patrol_teams.find({}).sort("code"))

    @requires_role("district_admin")
    @blp.arguments(TeamInSchema)
    @blp.response(201, TeamSchema)
    @blp.alt_response(409, description="A team with this code exists already.")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a patrol team (district admins; audited)."""
        return _registry_call(
            lambda: registry.create(current_mediation().db, "team", data, current_actor().user_id)
        )


@blp.route("/patrol-teams/<string:code>")
class TeamItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, TeamSchema)
    def get(self, code: str) -> dict[str, Any]:
        """One patrol team."""
        team = current_mediation().db.patrol_teams.find_one({"_id": code})
        if team is None:
            abort(404, message=f"No patrol team {code}.")
        return team

    @requires_role("district_admin")
    @blp.arguments(for_patch(TeamPatchSchema))
    @blp.response(200, TeamSchema)
    def patch(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a patrol team's areas, shifts, members or on-call duty (audited)."""
        return _registry_call(
            lambda: registry.update(current_mediation().db, "team", code, data, current_actor().user_id)
        )


@blp.route("/communities")
class Communities(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, CommunitySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Communities with their council hall and owner reception days."""
        db = current_mediation().db
        return [registry.community_view(db, c.code) for c in communities()]


@blp.route("/communities/<string:code>")
class CommunityItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, CommunitySchema)
    def get(self, code: str) -> dict[str, Any]:
        """One community's hall and reception days."""
        view = registry.community_view(current_mediation().db, code)
        if view is None:
            abort(404, message=f"No community {code}.")
        return view

    @requires_role("district_admin")
    @blp.arguments(for_patch(CommunityInSchema))
    @blp.response(200, CommunitySchema)
    def patch(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a community's council hall or reception days (audited)."""
        db = current_mediation().db
        _registry_call(lambda: registry.update(db, "community", code, data, current_actor().user_id))
        return registry.community_view(db, code)


class AuditQuery(Schema):
    entity = fields.String(load_default=None, validate=validate.OneOf(list(registry.AUDITED)))
    key = fields.String(load_default=None)


@blp.route("/audit")
class Audit(MethodView):
    @requires_role("district_admin")
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Registry changes, newest first: who changed what, before and after."""
        return registry.audit_log(current_mediation().db, query["entity"], query["key"])


@blp.route("/routing-failures")
class Failures(MethodView):
    @requires_role("district_admin")
    @blp.response(200, FailureSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Submitted cases that could not be routed (dead-lettered), newest first."""
        return list(current_mediation().db.routing_failures.find({}).sort("at", -1).limit(200))
