"""The plan as JSON: the public plan of a community (no login), and the committee's changes.

    GET   /api/v1/plan/<community>                                        public
    POST  /api/v1/communities/<community>/plan/items                      committee: add an item
    PATCH /api/v1/communities/<community>/plan/items/<item_id>            committee: change it
    POST  /api/v1/communities/<community>/plan/items/<item_id>/timeline   committee: note + photos (multipart)

Refusals have the one Concord error shape (`shared.http`), `errors` mapping each field to reason codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.council import plan
from services.council.http.context import current_council, current_staff
from services.council.http.schemas import (
    PlanItemInSchema,
    PlanItemPatchSchema,
    PlanItemSchema,
    TimelineEntrySchema,
)
from shared.auth import requires_role
from shared.uploads import Upload

blp = Blueprint(
    "plan_api", __name__, url_prefix="/api/v1", description="The plan that decisions yield, and its progress."
)
T = TypeVar("T")


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except plan.NotAllowed as err:
        abort(403, message=str(err))
    except plan.NotFound as err:
        abort(404, message=str(err))
    except plan.Refused as err:
        abort(422, message="The item was refused; nothing was changed.", errors=err.errors)
    raise AssertionError("unreachable")


@blp.route("/plan/<community>")
class PublicPlan(MethodView):
    @blp.response(200, PlanItemSchema(many=True))
    def get(self, community: str) -> list[dict[str, Any]]:
        """The community's plan, depth first, progress rolled up, with timelines (no login)."""
        return _call(lambda: plan.plan_tree(current_council(), community))


@blp.route("/communities/<community>/plan/items")
class Items(MethodView):
    @requires_role("committee_member")
    @blp.arguments(PlanItemInSchema)
    @blp.response(201, PlanItemSchema)
    @blp.alt_response(422, description="A field is invalid or the plan would be unsound; nothing changed.")
    def post(self, values: dict[str, str], community: str) -> dict[str, Any]:
        """Add an item (a top-level one names its decision; a child inherits its parent's)."""
        return _call(lambda: plan.create_item(current_council(), community, values, current_staff()))


@blp.route("/communities/<community>/plan/items/<item_id>")
class Item(MethodView):
    @requires_role("committee_member")
    @blp.arguments(PlanItemPatchSchema)
    @blp.response(200, PlanItemSchema)
    @blp.alt_response(422, description="A field is invalid or the plan would be unsound; nothing changed.")
    def patch(self, values: dict[str, str], community: str, item_id: str) -> dict[str, Any]:
        """Change an item; one that becomes done sends `plan.item_finished`."""
        return _call(lambda: plan.update_item(current_council(), community, item_id, values, current_staff()))


@blp.route("/communities/<community>/plan/items/<item_id>/timeline")
class Timeline(MethodView):
    @requires_role("committee_member")
    @blp.response(201, TimelineEntrySchema)
    @blp.alt_response(422, description="No text, or a file that is not a photo; nothing stored.")
    def post(self, community: str, item_id: str) -> dict[str, Any]:
        """A note with up to six photos (multipart: `text`, `photos`); EXIF and GPS are removed."""
        uploads = [Upload(f.filename or "", f.read()) for f in request.files.getlist("photos")]
        text = request.form.get("text", "")
        return _call(
            lambda: plan.add_timeline(current_council(), community, item_id, text, uploads, current_staff())
        )
