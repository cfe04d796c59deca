"""JSON API of results and participation under /api/v1/consultations: the frozen result (council
staff of the community), live participation by building, and a building's reminder. Errors in the
one shape of shared/http.py: 403 role or building, 404 unknown, 409 not possible now."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from services.council import access, participation, results
from services.council.http.context import current_council, current_staff
from services.council.http.results_pages import language
from shared.auth import requires_role

blp = Blueprint(
    "results_api", __name__, url_prefix="/api/v1/consultations", description="Results and participation."
)


class BuildingCountSchema(Schema):
    building = fields.String()
    eligible = fields.Integer()
    answered = fields.Integer()
    missing = fields.Integer()


class ParticipationSchema(Schema):
    consultation_id = fields.String()
    buildings = fields.List(fields.Nested(BuildingCountSchema))
    reminded = fields.Dict(keys=fields.String(), values=fields.String())


class UnansweredSchema(Schema):
    building = fields.String()
    flats = fields.List(fields.String(), metadata={"description": "Labels building-unit-flat."})


class ReminderSchema(Schema):
    building = fields.String()
    day = fields.String()
    households = fields.Integer()


class ResultSchema(Schema):
    consultation_id = fields.String()
    kind = fields.String()
    title = fields.String()
    closed_at = fields.String(allow_none=True)
    eligible = fields.Integer()
    answered = fields.Integer()
    by_building = fields.Dict()
    questions = fields.List(fields.Dict())
    vote = fields.Dict(allow_none=True)


def _call(work: Any) -> Any:
    try:
        return work()
    except results.NotFound:
        abort(404, message="No such consultation.")
    except (results.Forbidden, participation.Forbidden) as err:
        abort(403, message=str(err))
    except results.NotClosed as err:
        abort(409, message=str(err))
    except participation.AlreadyReminded as err:
        abort(409, message=str(err))
    except (participation.NotOpen, participation.NothingToRemind) as err:
        abort(409, message=str(err))


@blp.route("/<string:consultation_id>/result")
class Result(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.response(200, ResultSchema)
    def get(self, consultation_id: str) -> Any:
        """The frozen result of a closed consultation (released free text only)."""

        def work() -> Any:
            consultation = results.get_consultation(current_council(), consultation_id)
            if not access.may_see_community(current_staff(), consultation["community"]):
                raise results.Forbidden("Not your community.")
            lang = language()
            return results.public_summary(results.result_view(current_council(), consultation, lang), lang)

        return _call(work)


@blp.route("/<string:consultation_id>/participation")
class Participation(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.response(200, ParticipationSchema)
    def get(self, consultation_id: str) -> Any:
        """Answered / eligible flats per building the caller may see (a leader: their own)."""

        def work() -> Any:
            rows = participation.counts(current_council(), consultation_id, current_staff())
            return {
                "consultation_id": consultation_id,
                "buildings": [
                    {
                        "building": r.building,
                        "eligible": r.eligible,
                        "answered": r.answered,
                        "missing": r.missing,
                    }
                    for r in rows
                ],
                "reminded": participation.reminders_sent(current_council(), consultation_id, current_staff()),
            }

        return _call(work)


@blp.route("/<string:consultation_id>/participation/<string:building>")
class Unanswered(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.response(200, UnansweredSchema)
    def get(self, consultation_id: str, building: str) -> Any:
        """The building's flats that have not answered yet (labels only)."""
        flats = _call(
            lambda: participation.unanswered(current_council(), consultation_id, current_staff(), building)
        )
        return {"building": building, "flats": flats}


@blp.route("/<string:consultation_id>/participation/<string:building>/reminders")
class Reminders(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.response(201, ReminderSchema)
    def post(self, consultation_id: str, building: str) -> Any:
        """Remind the building's unanswered households (once per building and day; 409 after)."""
        return _call(
            lambda: participation.send_reminder(current_council(), consultation_id, current_staff(), building)
        )
