"""Cases in mediation's JSON API under /api/v1 for leads: routing, risk, move to another studio."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.mediation import routing
from services.mediation.http.context import LEADS, current_actor, current_mediation
from services.mediation.http.schemas import (
    CaseOutSchema,
    MoveSchema,
    RiskChangeSchema,
)
from shared.auth import requires_role
from shared.web.i18n import api_refusal

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Routing, risk and rebalancing.")


# Cases ----------------------------------------------------------------------------------------------
def _case_call(call: Any) -> Any:
    try:
        return call()
    except routing.CaseNotFound as err:
        abort(404, message=api_refusal(err)[0])
    except routing.Forbidden as err:
        abort(403, message=api_refusal(err)[0])
    except routing.CaseError as err:
        abort(409, message=api_refusal(err)[0])


def _visible_case(reference: str) -> dict[str, Any]:
    case = _case_call(lambda: routing.get_case(current_mediation().db, reference))
    who = current_actor()
    if not routing._may_lead(who, case["studio"]):
        abort(403, message="Only the studio's lead or a district admin can see the routing of a case.")
    return case


@blp.route("/cases/<string:reference>")
class CaseItem(MethodView):
    @requires_role(*LEADS)
    @blp.response(200, CaseOutSchema)
    def get(self, reference: str) -> dict[str, Any]:
        """A case as leads see it: studio, risk level, the routing decision and its reasons, timeline."""
        return _visible_case(reference)


@blp.route("/cases/<string:reference>/risk")
class CaseRisk(MethodView):
    @requires_role(*LEADS)
    @blp.arguments(RiskChangeSchema)
    @blp.response(200, CaseOutSchema)
    def post(self, data: dict[str, Any], reference: str) -> dict[str, Any]:
        """Raise or lower the risk level, with a reason; raising to red or orange sends a patrol."""
        return _case_call(
            lambda: routing.change_risk(
                current_mediation(), reference, data["level"], data["reason"], current_actor()
            )
        )


@blp.route("/cases/<string:reference>/move")
class CaseMove(MethodView):
    @requires_role(*LEADS)
    @blp.arguments(MoveSchema)
    @blp.response(200, CaseOutSchema)
    def post(self, data: dict[str, Any], reference: str) -> dict[str, Any]:
        """Move the case to another studio, with a reason (rebalancing)."""
        return _case_call(
            lambda: routing.move_case(
                current_mediation(), reference, data["studio"], data["reason"], current_actor()
            )
        )
