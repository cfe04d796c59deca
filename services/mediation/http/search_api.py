"""The desk's search and ended-case lists as JSON under /api/v1/desk: `GET /search` (reference, a
party's name or phone, place, category, state, received dates) and `GET /ended` (ended cases
waiting for confirmation, follow-up or archiving, with their next step). Lists as the queue's:
no personal data. A search that matched on a phone or a name is written to the access log.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from services.mediation import desk, follow_up, search
from services.mediation.domain import follow_up as follow_up_rules
from services.mediation.domain import search as search_rules
from services.mediation.http.context import current_actor, current_mediation
from services.mediation.http.desk_api import CaseListSchema
from shared.auth import requires_role
from shared.schemas import StrictSchema, Text
from shared.taxonomy import CATEGORY_CODES, community_codes

blp = Blueprint(
    "search_api", __name__, url_prefix="/api/v1/desk", description="Finding cases: search, ended cases."
)

DESK_ROLES = ("mediator", "studio_lead", "district_admin")


class SearchQuery(StrictSchema):
    q = Text(
        load_default="",
        validate=validate.Length(max=search_rules.MAX_QUERY),
        metadata={
            "description": "A reference (or its start), a party's full name, a phone number or its "
            "last four digits."
        },
    )
    community = fields.String(load_default=None, validate=validate.OneOf(community_codes()))
    building = Text(load_default=None, validate=validate.Length(max=40))
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORY_CODES))
    state = fields.String(load_default=None, validate=validate.OneOf(list(search_rules.STATE_GROUPS)))
    received_from = fields.Date(load_default=None)
    received_to = fields.Date(load_default=None, metadata={"description": "Inclusive."})
    studio = fields.String(load_default=None, metadata={"description": "District admins: one studio."})

    @pre_load
    def drop_empty(self, data: Any, **_: Any) -> dict[str, Any]:
        """A form's untouched select or date field sends an empty value: the same as none."""
        return {key: value for key, value in dict(data).items() if str(value).strip()}

    @validates_schema
    def dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("received_from"), data.get("received_to")
        if start and end and start > end:
            raise ValidationError("The first day comes after the last.", "received_to")


class SearchResultSchema(Schema):
    cases = fields.List(fields.Nested(CaseListSchema))
    matched_on = fields.String(
        allow_none=True, metadata={"description": "reference, phone, phone_last4 or name"}
    )
    truncated = fields.Boolean(metadata={"description": f"More than {search.MAX_RESULTS} cases matched."})


class EndedQuery(StrictSchema):
    scope = fields.String(load_default=follow_up.MINE, validate=validate.OneOf(follow_up.SCOPES))
    studio = fields.String(load_default=None, metadata={"description": "District admins: one studio."})


class EndedCaseSchema(CaseListSchema):
    waiting_for = fields.String()
    next_steps = fields.List(fields.String())
    ended_at = fields.DateTime(allow_none=True)


class EndedListsSchema(Schema):
    confirmation = fields.List(fields.Nested(EndedCaseSchema))
    follow_up = fields.List(fields.Nested(EndedCaseSchema))
    archiving = fields.List(fields.Nested(EndedCaseSchema))


@blp.route("/search")
class Search(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(SearchQuery, location="query")
    @blp.response(200, SearchResultSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Cases of my studio (district admins: all) matching every criterion given, newest first.
        Phones and names match whole (a phone also by its last four digits); a match on either is
        kept in the access log."""
        mediation = current_mediation()
        try:
            return search.search(
                mediation.db, current_actor(), search.Criteria(**query), mediation.settings.secret_key
            )
        except desk.DeskError as err:
            abort(err.status, message=str(err))


@blp.route("/ended")
class Ended(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(EndedQuery, location="query")
    @blp.response(200, EndedListsSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """My (or my studio's) ended cases waiting for judicial confirmation, the follow-up of the
        agreement's performance, or archiving, each with its next lifecycle actions."""
        lists = follow_up.ended(current_mediation().db, current_actor(), query["scope"], query["studio"])
        return {waiting: lists.groups[waiting] for waiting in follow_up_rules.WAITING}
