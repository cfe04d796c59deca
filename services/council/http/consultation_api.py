"""Consultations' JSON API under /api/v1/consultations: create, list, read, edit a draft, open, extend,
close, and enter a paper slip. The same use cases as the pages; errors in shared/http.py's one shape:
403 role, 404 unknown (or another community's), 409 not possible in its state, 422 invalid fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.council import answering, consultations
from services.council.errors import Refused
from services.council.http.context import current_council, current_staff
from services.council.http.schemas import (
    BallotReceiptSchema,
    CommunityQuery,
    ConsultationCreateSchema,
    ConsultationPatchSchema,
    ConsultationSchema,
    ExtendSchema,
    PaperEntrySchema,
)
from shared.auth import requires_role
from shared.messaging.envelope import utcnow

blp = Blueprint(
    "consultation_api", __name__, url_prefix="/api/v1/consultations", description="Questionnaires and votes."
)
ROLES = ("committee_member", "building_leader", "district_admin")
T = TypeVar("T")


def call(work: Callable[[], T]) -> T:
    """Run a use case; a refusal becomes the API's error (English, with per-field messages)."""
    try:
        return work()
    except Refused as err:
        abort(err.status, message=err.en, errors=err.field_messages("en") or None)
    raise AssertionError("unreachable")


def _texts(value: dict[str, Any] | None) -> dict[str, str]:
    return {"zh-CN": (value or {}).get("zh", ""), "en": (value or {}).get("en", "")}


@blp.route("")
class Consultations(MethodView):
    @requires_role(*ROLES)
    @blp.arguments(CommunityQuery, location="query")
    @blp.response(200, ConsultationSchema(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """A community's consultations, newest first."""
        return call(lambda: consultations.list_for(current_council(), current_staff(), query["community"]))

    @requires_role(*ROLES)
    @blp.arguments(ConsultationCreateSchema)
    @blp.response(201, ConsultationSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a draft questionnaire or vote."""
        data = {**body, "title": _texts(body["title"]), "description": _texts(body.get("description"))}
        return call(lambda: consultations.create(current_council(), current_staff(), data, utcnow()))


@blp.route("/<consultation_id>")
class OneConsultation(MethodView):
    @requires_role(*ROLES)
    @blp.response(200, ConsultationSchema)
    def get(self, consultation_id: str) -> Any:
        """One consultation."""
        return call(lambda: consultations.get_for(current_council(), current_staff(), consultation_id))

    @requires_role(*ROLES)
    @blp.arguments(ConsultationPatchSchema)
    @blp.response(200, ConsultationSchema)
    def patch(self, body: dict[str, Any], consultation_id: str) -> Any:
        """Edit a draft without answers (questions, title, window, vote item)."""
        revision = body.pop("revision", None)
        for name in ("title", "description"):
            if name in body:
                body[name] = _texts(body[name])
        return call(
            lambda: consultations.edit(current_council(), current_staff(), consultation_id, body, revision)
        )


@blp.route("/<consultation_id>/open")
class Open(MethodView):
    @requires_role(*ROLES)
    @blp.response(200, ConsultationSchema)
    def post(self, consultation_id: str) -> Any:
        """Open a draft (the electorate is the register now; households are told)."""
        return call(
            lambda: consultations.open_(current_council(), current_staff(), consultation_id, utcnow())
        )


@blp.route("/<consultation_id>/extend")
class Extend(MethodView):
    @requires_role(*ROLES)
    @blp.arguments(ExtendSchema)
    @blp.response(200, ConsultationSchema)
    def post(self, body: dict[str, Any], consultation_id: str) -> Any:
        """Move the end of an open consultation later."""
        return call(
            lambda: consultations.extend(
                current_council(), current_staff(), consultation_id, body["closes_at"], utcnow()
            )
        )


@blp.route("/<consultation_id>/close")
class Close(MethodView):
    @requires_role(*ROLES)
    @blp.response(200, ConsultationSchema)
    def post(self, consultation_id: str) -> Any:
        """Close now: the result is frozen and households are told."""
        return call(
            lambda: consultations.close(current_council(), current_staff(), consultation_id, utcnow())
        )


@blp.route("/<consultation_id>/paper")
class Paper(MethodView):
    @requires_role(*ROLES)
    @blp.arguments(PaperEntrySchema)
    @blp.response(201, BallotReceiptSchema)
    def post(self, body: dict[str, Any], consultation_id: str) -> Any:
        """Enter a flat's paper slip (building leaders: their buildings only)."""
        flat = (body["building"], body["unit"], body["flat"])
        return call(
            lambda: answering.enter_paper(
                current_council(),
                current_staff(),
                consultation_id,
                flat,
                body["slip_number"],
                body["answers"],
                utcnow(),
            )
        )
