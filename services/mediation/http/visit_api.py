"""The follow-up tasks as JSON under /api/v1/desk/tasks: `GET` my open tasks (overdue first),
`POST /<task_id>/visit` a visit's record, `POST /<task_id>/close` any other task closed with a
note. The same use cases as the pages (`visits`) and the desk's error shape: 403 not yours, 404
another studio's or unknown, 409 recorded already or the wrong kind, 422 invalid fields."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.mediation import visits
from services.mediation.http.api_refusals import answer_refusals as _call
from services.mediation.http.context import current_actor, current_mediation
from services.mediation.http.schemas import TaskCloseSchema, VisitRecordSchema
from shared.auth import requires_role
from shared.messaging.envelope import utcnow

blp = Blueprint(
    "visit_api", __name__, url_prefix="/api/v1/desk/tasks", description="Follow-up after an ending."
)

DESK_ROLES = ("mediator", "studio_lead", "district_admin")
CASEWORK = ("mediator", "studio_lead")


class FollowUpTaskSchema(Schema):
    """A follow-up task: codes, dates and the record; a party is a key, never a name or phone."""

    id = fields.String(attribute="_id")
    kind = fields.String()
    reference = fields.String()
    studio = fields.String()
    assignee = fields.String(allow_none=True)
    assignee_role = fields.String()
    party = fields.String(allow_none=True)
    due = fields.DateTime()
    overdue = fields.Boolean()
    created_at = fields.DateTime()
    done_at = fields.DateTime(allow_none=True)
    done_by = fields.String(allow_none=True)
    record = fields.Dict(allow_none=True)
    detail = fields.Dict()


class FollowUpTaskListSchema(Schema):
    tasks = fields.List(fields.Nested(FollowUpTaskSchema))


@blp.route("")
class TaskList(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.response(200, FollowUpTaskListSchema)
    def get(self) -> Any:
        """My open follow-up tasks, overdue first (a lead also sees the studio's lead tasks; a
        district admin every task)."""
        return {"tasks": visits.open_tasks(current_mediation().db, current_actor(), utcnow())}


@blp.route("/<string:task_id>/visit")
class VisitRecord(MethodView):
    @requires_role(*CASEWORK)
    @blp.arguments(VisitRecordSchema)
    @blp.response(200, FollowUpTaskSchema)
    def post(self, data: dict[str, Any], task_id: str) -> Any:
        """Record the visit of one party (once): how, performed, satisfied 1-5, renewed conflict."""
        return _call(lambda: visits.record_visit(current_mediation(), task_id, current_actor(), data))


@blp.route("/<string:task_id>/close")
class TaskClose(MethodView):
    @requires_role(*CASEWORK)
    @blp.arguments(TaskCloseSchema)
    @blp.response(200, FollowUpTaskSchema)
    def post(self, data: dict[str, Any], task_id: str) -> Any:
        """Close a task that is no visit (a term check, "not settled") with a note, once."""
        return _call(
            lambda: visits.close_task(
                current_mediation(), task_id, current_actor(), data["note"], data["performed"]
            )
        )
