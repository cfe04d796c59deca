"""Mediation's JSON API under /api/v1: the registry (district admins), cases (leads), patrol tasks.

Every endpoint needs a staff token (cookie or `Authorization: Bearer`); errors have the one
Concord shape (`shared.http`).
"""

from __future__ import annotations

from typing import Any, cast

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.mediation import registry, service, tasks
from services.mediation.bootstrap import Mediation
from services.mediation.schemas import (
    AuditSchema,
    CaseOutSchema,
    CommunityInSchema,
    CommunitySchema,
    FailureSchema,
    HotSpotSchema,
    MoveSchema,
    RiskChangeSchema,
    StudioInSchema,
    StudioPatchSchema,
    StudioSchema,
    SweepSchema,
    TaskSchema,
    TeamInSchema,
    TeamPatchSchema,
    TeamSchema,
)
from shared.auth import Staff, requires_role
from shared.schemas import for_patch
from shared.taxonomy import communities

blp = Blueprint("registry", __name__, url_prefix="/api/v1", description="Studios, patrol teams, halls.")
cases_blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Routing, risk and rebalancing.")
patrol_blp = Blueprint("patrol", __name__, url_prefix="/api/v1", description="Patrol tasks and sweeps.")

STAFF = ("mediator", "studio_lead", "patrol_member", "district_admin")
LEADS = ("studio_lead", "district_admin")


def _mediation() -> Mediation:
    return current_app.extensions["mediation"]


def actor() -> service.Actor:
    """The logged-in member of staff as the use cases see them."""
    staff = cast(Staff, current_user)
    return service.Actor(staff.user_id, frozenset(staff.roles), staff.studio)


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
        return list(_mediation().db.studios.find({}).sort("code"))

    @requires_role("district_admin")
    @blp.arguments(StudioInSchema)
    @blp.response(201, StudioSchema)
    @blp.alt_response(409, description="A studio with this code exists already.")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a studio (district admins; audited)."""
        return _registry_call(lambda: registry.create(_mediation().db, "studio", data, actor().user_id))


@blp.route("/studios/<string:code>")
class StudioItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, StudioSchema)
    def get(self, code: str) -> dict[str, Any]:
        """One studio."""
        studio = _mediation().db.studios.find_one({"_id": code})
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
        return _registry_call(lambda: registry.update(_mediation().db, "studio", code, data, actor().user_id))


@blp.route("/patrol-teams")
class Teams(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, TeamSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Patrol teams with their areas, shifts and members."""
        return list(_mediation().db.patrol_teams.find({}).sort("code"))

    @requires_role("district_admin")
    @blp.arguments(TeamInSchema)
    @blp.response(201, TeamSchema)
    @blp.alt_response(409, description="A team with this code exists already.")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a patrol team (district admins; audited)."""
        return _registry_call(lambda: registry.create(_mediation().db, "team", data, actor().user_id))


@blp.route("/patrol-teams/<string:code>")
class TeamItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, TeamSchema)
    def get(self, code: str) -> dict[str, Any]:
        """One patrol team."""
        team = _mediation().db.patrol_teams.find_one({"_id": code})
        if team is None:
            abort(404, message=f"No patrol team {code}.")
        return team

    @requires_role("district_admin")
    @blp.arguments(for_patch(TeamPatchSchema))
    @blp.response(200, TeamSchema)
    def patch(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a patrol team's areas, shifts, members or on-call duty (audited)."""
        return _registry_call(lambda: registry.update(_mediation().db, "team", code, data, actor().user_id))


@blp.route("/communities")
class Communities(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, CommunitySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Communities with their council hall and owner reception days."""
        db = _mediation().db
        return [registry.community_view(db, c.code) for c in communities()]


@blp.route("/communities/<string:code>")
class CommunityItem(MethodView):
    @requires_role(*STAFF)
    @blp.response(200, CommunitySchema)
    def get(self, code: str) -> dict[str, Any]:
        """One community's hall and reception days."""
        view = registry.community_view(_mediation().db, code)
        if view is None:
            abort(404, message=f"No community {code}.")
        return view

    @requires_role("district_admin")
    @blp.arguments(for_patch(CommunityInSchema))
    @blp.response(200, CommunitySchema)
    def patch(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Change a community's council hall or reception days (audited)."""
        db = _mediation().db
        _registry_call(lambda: registry.update(db, "community", code, data, actor().user_id))
        return registry.community_view(db, code)


class AuditQuery(Schema):
    entity = fields.String(load_default=None, validate=validate.OneOf(list(registry.ENTITIES)))
    key = fields.String(load_default=None)


@blp.route("/audit")
class Audit(MethodView):
    @requires_role("district_admin")
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Registry changes, newest first: who changed what, before and after."""
        return registry.audit_log(_mediation().db, query["entity"], query["key"])


@blp.route("/routing-failures")
class Failures(MethodView):
    @requires_role("district_admin")
    @blp.response(200, FailureSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Submitted cases that could not be routed (dead-lettered), newest first."""
        return list(_mediation().db.routing_failures.find({}).sort("at", -1).limit(200))


# Cases ----------------------------------------------------------------------------------------------
def _case_call(call: Any) -> Any:
    try:
        return call()
    except service.CaseNotFound as err:
        abort(404, message=str(err))
    except service.Forbidden as err:
        abort(403, message=str(err))
    except service.CaseError as err:
        abort(409, message=str(err))


def _visible_case(reference: str) -> dict[str, Any]:
    case = _case_call(lambda: service.get_case(_mediation().db, reference))
    who = actor()
    if not service._may_lead(who, case["studio"]):
        abort(403, message="Only the studio's lead or a district admin can see the routing of a case.")
    return case


@cases_blp.route("/cases/<string:reference>")
class CaseItem(MethodView):
    @requires_role(*LEADS)
    @cases_blp.response(200, CaseOutSchema)
    def get(self, reference: str) -> dict[str, Any]:
        """A case as leads see it: studio, risk level, the routing decision and its reasons, timeline."""
        return _visible_case(reference)


@cases_blp.route("/cases/<string:reference>/risk")
class CaseRisk(MethodView):
    @requires_role(*LEADS)
    @cases_blp.arguments(RiskChangeSchema)
    @cases_blp.response(200, CaseOutSchema)
    def post(self, data: dict[str, Any], reference: str) -> dict[str, Any]:
        """Raise or lower the risk level, with a reason; raising to red or orange sends a patrol."""
        return _case_call(
            lambda: service.change_risk(_mediation(), reference, data["level"], data["reason"], actor())
        )


@cases_blp.route("/cases/<string:reference>/move")
class CaseMove(MethodView):
    @requires_role(*LEADS)
    @cases_blp.arguments(MoveSchema)
    @cases_blp.response(200, CaseOutSchema)
    def post(self, data: dict[str, Any], reference: str) -> dict[str, Any]:
        """Move the case to another studio, with a reason (rebalancing)."""
        return _case_call(
            lambda: service.move_case(_mediation(), reference, data["studio"], data["reason"], actor())
        )


# Patrol -----------------------------------------------------------------------------------------------
def _task_call(call: Any) -> Any:
    try:
        return call()
    except tasks.TaskNotFound as err:
        abort(404, message=str(err))
    except tasks.TaskForbidden as err:
        abort(403, message=str(err))
    except tasks.TaskError as err:
        abort(409, message=str(err))


@patrol_blp.route("/patrol/tasks")
class TeamTasks(MethodView):
    @requires_role("patrol_member")
    @patrol_blp.response(200, TaskSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The open tasks of the caller's team, the most urgent first."""
        return tasks.team_tasks(_mediation().db, cast(Staff, current_user).team or "")


@patrol_blp.route("/patrol/tasks/<string:task_id>/<any(accept, close):action>")
class TaskAction(MethodView):
    @requires_role("patrol_member")
    @patrol_blp.response(200, TaskSchema)
    def post(self, task_id: str, action: str) -> dict[str, Any]:
        """Accept an open task, or close a reported one (members of the task's team)."""
        step = tasks.accept if action == "accept" else tasks.close
        team = cast(Staff, current_user).team
        return _task_call(lambda: step(_mediation(), task_id, actor(), team))


@patrol_blp.route("/patrol/sweeps")
class Sweeps(MethodView):
    @requires_role(*LEADS)
    @patrol_blp.arguments(SweepSchema)
    @patrol_blp.response(201, TaskSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Order a sweep of a community (a hot spot) by its patrol team."""
        return _task_call(
            lambda: tasks.create_sweep(
                _mediation(), data["community"], data["team"], data["note"], actor(), data["every_days"]
            )
        )


@patrol_blp.route("/patrol/hot-spots")
class HotSpots(MethodView):
    @requires_role(*LEADS)
    @patrol_blp.response(200, HotSpotSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Communities with many open cases, busiest first."""
        return [{"community": c, "open_cases": n} for c, n in tasks.hot_spots(_mediation().db)]
