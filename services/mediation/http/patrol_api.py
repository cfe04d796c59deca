"""Patrol tasks in mediation's JSON API under /api/v1: a team's tasks, their steps, hot-spot sweeps."""

from __future__ import annotations

from typing import Any, cast

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services.mediation import patrol
from services.mediation.http.context import LEADS, current_actor, current_mediation
from services.mediation.http.schemas import (
    HotSpotSchema,
    SweepSchema,
    TaskSchema,
)
from shared.auth import Staff, requires_role
from shared.web.i18n import api_refusal

blp = Blueprint("patrol", __name__, url_prefix="/api/v1", description="Patrol tasks and sweeps.")


# Patrol -----------------------------------------------------------------------------------------------
def _task_call(call: Any) -> Any:
    try:
        return call()
    except patrol.TaskNotFound as err:
        abort(404, message=api_refusal(err)[0])
    except patrol.TaskForbidden as err:
        abort(403, message=api_refusal(err)[0])
    except patrol.TaskError as err:
        abort(409, message=api_refusal(err)[0])


@blp.route("/patrol/tasks")
class TeamTasks(MethodView):
    @requires_role("patrol_member")
    @blp.response(200, TaskSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The open tasks of the caller's team, the most urgent first."""
        return patrol.team_tasks(current_mediation().db, cast(Staff, current_user).team or "")


@blp.route("/patrol/tasks/<string:task_id>/<any(accept, close):action>")
class TaskAction(MethodView):
    @requires_role("patrol_member")
    @blp.response(200, TaskSchema)
    def post(self, task_id: str, action: str) -> dict[str, Any]:
        """Accept an open task, or close a reported one (members of the task's team)."""
        step = patrol.accept if action == "accept" else patrol.close
        team = cast(Staff, current_user).team
        return _task_call(lambda: step(current_mediation(), task_id, current_actor(), team))


@blp.route("/patrol/sweeps")
class Sweeps(MethodView):
    @requires_role(*LEADS)
    @blp.arguments(SweepSchema)
    @blp.response(201, TaskSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Order a sweep of a community (a hot spot) by its patrol team."""
        return _task_call(
            lambda: patrol.create_sweep(
                current_mediation(),
                data["community"],
                data["team"],
                data["note"],
                current_actor(),
                data["every_days"],
            )
        )


@blp.route("/patrol/hot-spots")
class HotSpots(MethodView):
    @requires_role(*LEADS)
    @blp.response(200, HotSpotSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Communities with many open cases, busiest first."""
        return [{"community": c, "open_cases": n} for c, n in patrol.hot_spots(current_mediation().db)]
