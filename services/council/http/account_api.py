"""The public accounts as JSON.

Public (no login), under /api/v1/accounts/<community>:
    GET  ""                                   statements, entries, answered questions
    POST /entries/<entry_id>/questions        ask (flat + resident code)
The committee's, under /api/v1/communities/<community>/accounts:
    GET  /entries                             every entry (district admins may read too)
    POST /entries                             multipart with `voucher`
    POST /entries/<entry_id>/approve          a second member approves
    GET  /questions                           waiting questions
    POST /questions/<id>/answer               answer publicly
    POST /codes                               resident codes, shown once

Amounts are exact decimal strings in yuan ("1200.50"), never floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.council import accounts
from services.council.http.context import current_council, current_staff
from services.council.http.schemas import (
    AnswerInSchema,
    AnswerOutSchema,
    CodesInSchema,
    EntryInSchema,
    IssuedCodeSchema,
    PublicAccountsSchema,
    QuestionInSchema,
    QuestionOutSchema,
    StaffEntrySchema,
)
from shared.auth import requires_role
from shared.uploads import Upload
from shared.web.ratelimit import RateLimit, RateLimiter

blp = Blueprint(
    "account_api",
    __name__,
    url_prefix="/api/v1",
    description="Public accounts: entries, approval, statements, questions.",
)
T = TypeVar("T")
ASK_TRIES = RateLimit(10, 600)


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except accounts.NotAllowed as err:
        abort(403, message=str(err))
    except accounts.NotFound as err:
        abort(404, message=str(err))
    except accounts.TooManyTries:
        abort(429, message="Too many wrong codes for this flat: try again in an hour.")
    except accounts.Refused as err:
        abort(err.status, message="Refused; nothing was changed.", errors=err.errors)
    raise AssertionError("unreachable")


@blp.route("/accounts/<community>")
class PublicAccounts(MethodView):
    @blp.response(200, PublicAccountsSchema)
    def get(self, community: str) -> dict[str, Any]:
        """Monthly statements (oldest first) and published entries with their answered questions."""
        council = current_council()
        statements = _call(lambda: accounts.monthly_statements(council, community))
        answered = accounts.answered_questions(council, community)
        entries = [
            e | {"questions": answered.get(e["id"], [])} for e in accounts.published(council, community)
        ]
        return {"community": community, "statements": [s.as_dict() for s in statements], "entries": entries}


@blp.route("/accounts/<community>/entries/<entry_id>/questions")
class Questions(MethodView):
    @blp.arguments(QuestionInSchema)
    @blp.response(201, QuestionOutSchema)
    @blp.alt_response(409, description="Not published, or the 15 days are over.")
    @blp.alt_response(422, description="A wrong flat or code, or no question.")
    @blp.alt_response(429, description="Too many tries.")
    def post(self, body: dict[str, str], community: str, entry_id: str) -> dict[str, Any]:
        """Ask about a published entry within 15 days; the flat is checked with its resident code."""
        council = current_council()
        if not RateLimiter(council.db.rate_limits, ASK_TRIES, council.settings.secret_key).hit(
            "account-question"
        ):
            abort(429, message="Too many questions from this address: try again later.")
        flat = (body["building"], body["unit"], body["flat"])
        return _call(lambda: accounts.ask(council, community, entry_id, flat, body["code"], body["text"]))


@blp.route("/communities/<community>/accounts/entries")
class Entries(MethodView):
    @requires_role("committee_member", "district_admin")
    @blp.response(200, StaffEntrySchema(many=True))
    def get(self, community: str) -> list[dict[str, Any]]:
        """Every entry, those waiting for approval first."""
        return _call(lambda: accounts.entries(current_council(), community, current_staff()))

    @requires_role("committee_member")
    @blp.arguments(EntryInSchema, location="form")
    @blp.response(201, StaffEntrySchema)
    @blp.alt_response(422, description="A field or the voucher is invalid; nothing stored.")
    def post(self, values: dict[str, str], community: str) -> dict[str, Any]:
        """Enter an entry with its voucher scan (`voucher`: PDF, JPEG or PNG, checked by content)."""
        file = request.files.get("voucher")
        upload = Upload(file.filename or "", file.read()) if file is not None else None
        return _call(
            lambda: accounts.create_entry(current_council(), community, values, upload, current_staff())
        )


@blp.route("/communities/<community>/accounts/entries/<entry_id>/approve")
class Approve(MethodView):
    @requires_role("committee_member")
    @blp.response(200, StaffEntrySchema)
    @blp.alt_response(409, description="Its author, or already approved.")
    def post(self, community: str, entry_id: str) -> dict[str, Any]:
        """A second committee member approves the entry: it is published."""
        return _call(lambda: accounts.approve(current_council(), community, entry_id, current_staff()))


@blp.route("/communities/<community>/accounts/questions")
class OpenQuestions(MethodView):
    @requires_role("committee_member")
    @blp.response(200, QuestionOutSchema(many=True))
    def get(self, community: str) -> list[dict[str, Any]]:
        """Questions waiting for an answer (never which flat asked)."""
        return _call(lambda: accounts.open_questions(current_council(), community, current_staff()))


@blp.route("/communities/<community>/accounts/questions/<question_id>/answer")
class Answer(MethodView):
    @requires_role("committee_member")
    @blp.arguments(AnswerInSchema)
    @blp.response(200, AnswerOutSchema)
    def post(self, body: dict[str, Any], community: str, question_id: str) -> dict[str, Any]:
        """Answer publicly; `public_text` is the question as published (names and phones removed)."""
        return _call(
            lambda: accounts.answer(
                current_council(),
                community,
                question_id,
                body["answer"],
                body.get("public_text"),
                current_staff(),
            )
        )


@blp.route("/communities/<community>/accounts/codes")
class Codes(MethodView):
    @requires_role("committee_member")
    @blp.arguments(CodesInSchema)
    @blp.response(201, IssuedCodeSchema(many=True))
    def post(self, body: dict[str, Any], community: str) -> list[dict[str, str]]:
        """Resident codes for flats without one (or a new one for `flat_id`), shown only in this answer."""
        return _call(
            lambda: accounts.issue_codes(
                current_council(), community, current_staff(), reissue=body.get("flat_id")
            )
        )
