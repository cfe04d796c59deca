"""The mediator desk's JSON API under /api/v1/desk: the queue, taking cases, lifecycle actions,
notes, hand-over, sessions (scheduled, moved, cancelled, recorded) and the agreement. The same
service layer as the pages (`desk`, `hall`, `agreements`), the same error shape (`shared.http`):
403 role, 404 unknown or another studio's case, 409 not possible in the case's state (or it moved
on), 422 invalid fields.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from flask_smorest.error_handler import ErrorSchema
from flask_smorest.fields import Upload as FileField
from marshmallow import Schema, fields, validate

from services.mediation import agreements, desk, sessions
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import visits as visit_rules
from services.mediation.domain.actor import Actor
from services.mediation.http.api_refusals import answer_refusals as _call
from shared.auth import Staff, requires_role
from shared.schemas import StrictSchema, Text, text
from shared.taxonomy import RISK_LEVELS
from shared.uploads import Upload

blp = Blueprint("desk_api", __name__, url_prefix="/api/v1/desk", description="The mediator desk.")

DESK_ROLES = ("mediator", "studio_lead", "district_admin")
CASEWORK = ("mediator", "studio_lead")


def _mediation() -> Mediation:
    return current_app.extensions["mediation"]


def _actor() -> Actor:
    staff = cast(Staff, current_user)
    return Actor(staff.user_id, frozenset(staff.roles), staff.studio)


# Schemas ------------------------------------------------------------------------------------------
class CaseListSchema(Schema):
    """A case in a list: no personal data at all."""

    reference = fields.String(attribute="_id")
    status = fields.String()
    category = fields.String()
    community = fields.String()
    building = fields.String()
    risk_level = fields.String()
    owner = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    deadline_status = fields.String(allow_none=True)


class QueueSchema(Schema):
    mine = fields.List(fields.Nested(CaseListSchema))
    pool = fields.List(fields.Nested(CaseListSchema))
    screening = fields.List(fields.Nested(CaseListSchema))
    others = fields.List(fields.Nested(CaseListSchema))
    # Each list's total (its rows are its first page): mine, pool, screening, others.
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class QueueQuery(Schema):
    risk = fields.String(load_default=None, validate=validate.OneOf(RISK_LEVELS))
    category = fields.String(load_default=None)
    community = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(list(lc.OPEN_STATES)))
    studio = fields.String(load_default=None)
    # Rows per list; the next page of one list: `list` and the reference of its last row (`after`).
    limit = fields.Integer(load_default=desk.QUEUE_PAGE, validate=validate.Range(1, desk.QUEUE_PAGE_MAX))
    list = fields.String(load_default=None, validate=validate.OneOf(["mine", *desk.QUEUE_LISTS]))
    after = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class PartyOutSchema(Schema):
    role = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)


class NoteSchema(Schema):
    id = fields.String()
    at = fields.DateTime()
    by = fields.String()
    text = fields.String()
    shared = fields.Boolean()


class CaseDeskSchema(CaseListSchema):
    """A case as the desk shows it: personal data in full for its own mediators and their lead
    (the view is logged), masked for others."""

    studio = fields.String()
    unit = fields.String()
    description = fields.String()
    claims = fields.String()
    amount = fields.Float(allow_none=True)
    people_affected = fields.Integer(allow_none=True)
    parties = fields.List(fields.Nested(PartyOutSchema))
    attachments = fields.List(fields.Dict())
    possible_duplicates = fields.List(fields.String())
    mediators = fields.List(fields.String())
    routing = fields.Dict()
    notes = fields.List(fields.Nested(NoteSchema))
    timeline = fields.List(fields.Dict())
    personal_data = fields.String()
    allowed_actions = fields.List(fields.String())


class ActionSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(list(lc.ACTIONS)))
    payload = fields.Dict(load_default=dict)
    expected_state = fields.String(load_default=None)


class NoteInSchema(StrictSchema):
    text = text(2000)
    shared = fields.Boolean(load_default=False)


class HandoverSchema(StrictSchema):
    note = text(2000)
    expected_state = fields.String(load_default=None)


class SessionInSchema(StrictSchema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    public = fields.Boolean(load_default=False)


class SessionMoveSchema(StrictSchema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    # The session's `sequence` as the caller last saw it: a stale or repeated move is refused (409).
    expected_sequence = fields.Integer(load_default=None, validate=validate.Range(min=0))


class SessionCancelSchema(StrictSchema):
    reason = text(500, metadata={"description": "Told to the invitees (email, tracking page)."})
    expected_sequence = fields.Integer(load_default=None, validate=validate.Range(min=0))


class SessionRecordInSchema(StrictSchema):
    attended = fields.List(Text(validate=validate.Length(min=1, max=200)), load_default=list)
    statements = text(20000)
    result = fields.String(required=True, validate=validate.OneOf(sessions.RESULTS))
    rights_notice_given = fields.Boolean(required=True)
    ended_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "When it really ended, if earlier: the rest of the hall's time is freed."},
    )
    expected_state = fields.String(load_default=None)


class CancellationOutSchema(Schema):
    reason = fields.String()
    at = fields.DateTime()
    by = fields.String()


class SessionRecordOutSchema(Schema):
    attended = fields.List(fields.String())
    statements = fields.String()
    result = fields.String()
    rights_notice_given = fields.Boolean()
    ended_at = fields.DateTime(allow_none=True)
    recorded_at = fields.DateTime()
    recorded_by = fields.String()


class SessionOutSchema(Schema):
    id = fields.String(attribute="_id")
    reference = fields.String()
    room = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    public = fields.Boolean()
    status = fields.String(metadata={"description": "scheduled, held or cancelled"})
    sequence = fields.Integer(metadata={"description": "Raised by each move and by cancelling."})
    cancellation = fields.Nested(CancellationOutSchema, allow_none=True)
    record = fields.Nested(SessionRecordOutSchema, allow_none=True)


class AgreementInSchema(StrictSchema):
    facts = text(4000)
    issues = text(4000)
    responsibility = text(4000)
    terms = fields.List(Text(validate=validate.Length(min=1, max=1000)), required=True)
    # Each term's optional due date (YYYY-MM-DD, or null), by position: the mediator is reminded
    # to check that term's performance on that day.
    term_dues = fields.List(fields.String(allow_none=True), load_default=list)
    performance_method = text(1000)
    performance_place = text(500)
    performance_deadline = text(500)


class AgreementOutSchema(Schema):
    number = fields.String()
    terms = fields.Function(lambda a: [visit_rules.term_text(t) for t in a.get("terms") or []])
    term_dues = fields.Function(
        lambda a: [d.isoformat() if (d := visit_rules.term_due(t)) else None for t in a.get("terms") or []]
    )
    signed_at = fields.DateTime(allow_none=True)


def _desk_view(case: dict[str, Any]) -> dict[str, Any]:
    view = desk.case_view(_mediation().db, case, _actor())
    view["allowed_actions"] = lc.allowed_actions(
        case.get("status", lc.RECEIVED), _actor().roles, desk.actions_done(case)
    )
    return view


# Resources ----------------------------------------------------------------------------------------
@blp.route("/queue")
class QueueResource(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(QueueQuery, location="query")
    @blp.response(200, QueueSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """My cases, the studio's unclaimed pool (risk, then due date) and cases to screen: each
        list's first `limit` rows and its total; `list` + `after` pages on through one list."""
        studio, limit = query.pop("studio"), query.pop("limit")
        name, after = query.pop("list"), query.pop("after")
        return desk.queue(
            _mediation().db,
            _actor(),
            desk.QueueFilters(**query),
            studio,
            limit=limit,
            after=(name, after) if name and after else None,
        )


@blp.route("/take-next")
class TakeNext(MethodView):
    @requires_role(*CASEWORK)
    @blp.response(200, CaseListSchema)
    @blp.alt_response(204, description="The pool is empty.")
    def post(self) -> Any:
        """Take the most urgent unclaimed case of my studio (atomic: never two owners)."""
        done = _call(lambda: desk.take_next(_mediation(), _actor()))
        if done is None:
            return "", 204
        return done.case


@blp.route("/cases/<string:reference>")
class DeskCase(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.response(200, CaseDeskSchema)
    def get(self, reference: str) -> Any:
        """One case of my studio (404 for another studio's case)."""
        return _desk_view(_call(lambda: desk.get_case(_mediation().db, reference, _actor())))


@blp.route("/cases/<string:reference>/take")
class TakeCase(MethodView):
    @requires_role(*CASEWORK)
    @blp.response(200, CaseDeskSchema)
    def post(self, reference: str) -> Any:
        """Take this unclaimed case (409 when someone took it first)."""
        return _desk_view(_call(lambda: desk.take(_mediation(), reference, _actor())).case)


@blp.route("/cases/<string:reference>/actions")
class CaseAction(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(ActionSchema)
    @blp.response(200, CaseDeskSchema)
    def post(self, data: dict[str, Any], reference: str) -> Any:
        """Apply a lifecycle action with its payload (`expected_state` guards a double submit)."""
        done = _call(
            lambda: desk.apply_action(
                _mediation(),
                reference,
                _actor(),
                data["action"],
                data["payload"],
                expected_state=data["expected_state"],
            )
        )
        return _desk_view(done.case)


@blp.route("/cases/<string:reference>/notes")
class Notes(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(NoteInSchema)
    @blp.response(201, NoteSchema)
    def post(self, data: dict[str, Any], reference: str) -> Any:
        """An internal note, or a shared one that reaches the parties' tracking page."""
        return _call(lambda: desk.add_note(_mediation(), reference, _actor(), data["text"], data["shared"]))


@blp.route("/cases/<string:reference>/handover")
class Handover(MethodView):
    @requires_role(*CASEWORK)
    @blp.arguments(HandoverSchema)
    @blp.response(200, CaseListSchema)
    def post(self, data: dict[str, Any], reference: str) -> Any:
        """Hand the case back to the studio's pool with a note for the next mediator."""
        done = _call(
            lambda: desk.hand_over(
                _mediation(), reference, _actor(), data["note"], expected_state=data["expected_state"]
            )
        )
        return done.case


@blp.route("/cases/<string:reference>/sessions")
class Sessions(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.response(200, SessionOutSchema(many=True))
    def get(self, reference: str) -> Any:
        """The case's sessions."""
        _call(lambda: desk.get_case(_mediation().db, reference, _actor()))
        return sessions.case_sessions(_mediation(), reference)

    @requires_role(*DESK_ROLES)
    @blp.arguments(SessionInSchema)
    @blp.response(201, SessionOutSchema)
    def post(self, data: dict[str, Any], reference: str) -> Any:
        """Book the community's council hall (never in the past, never double-booked: 409)."""
        return _call(
            lambda: sessions.schedule(
                _mediation(), reference, _actor(), data["starts_at"], data["ends_at"], public=data["public"]
            )
        )


@blp.route("/cases/<string:reference>/sessions/<string:session_id>/move")
class SessionMove(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(SessionMoveSchema)
    @blp.response(200, SessionOutSchema)
    def post(self, data: dict[str, Any], reference: str, session_id: str) -> Any:
        """Move a scheduled session to a new time in the same hall: the old slots are freed and the
        new ones claimed at once; the past (422), a booked hall or a held or cancelled session (409)
        are refused with the old booking intact. The invitees get the updated invitation."""
        return _call(
            lambda: sessions.move(
                _mediation(),
                reference,
                session_id,
                _actor(),
                data["starts_at"],
                data["ends_at"],
                expected_sequence=data["expected_sequence"],
            )
        )


@blp.route("/cases/<string:reference>/sessions/<string:session_id>/cancel")
class SessionCancel(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(SessionCancelSchema)
    @blp.response(200, SessionOutSchema)
    def post(self, data: dict[str, Any], reference: str, session_id: str) -> Any:
        """Cancel a scheduled session with a reason: the hall is free again and the invitees get the
        cancellation (.ics METHOD:CANCEL). A held or already cancelled session answers 409."""
        return _call(
            lambda: sessions.cancel(
                _mediation(),
                reference,
                session_id,
                _actor(),
                data["reason"],
                expected_sequence=data["expected_sequence"],
            )
        )


@blp.route("/cases/<string:reference>/sessions/<string:session_id>/record")
class SessionRecord(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(SessionRecordInSchema)
    @blp.response(200, SessionOutSchema)
    def post(self, data: dict[str, Any], reference: str, session_id: str) -> Any:
        """The session record (who attended, statements, result), while the case is in mediation;
        a cancelled or already recorded session answers 409."""
        m = _mediation()
        _call(
            lambda: sessions.record(
                m,
                reference,
                session_id,
                _actor(),
                attended=data["attended"],
                statements=data["statements"],
                result=data["result"],
                rights_notice_given=data["rights_notice_given"],
                ended_at=data["ended_at"],
                expected_state=data["expected_state"],
            )
        )
        return sessions.get_session(m, reference, session_id)


@blp.route("/cases/<string:reference>/agreement")
class Agreement(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(AgreementInSchema)
    @blp.response(200, AgreementOutSchema)
    def put(self, data: dict[str, Any], reference: str) -> Any:
        """Draft (or change) the written agreement while the case is in mediation."""
        form = {**data, "terms": list(data["terms"])}
        return _call(lambda: agreements.save_draft(_mediation(), reference, _actor(), form))


@blp.route("/cases/<string:reference>/agreement/sign")
class AgreementSign(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.response(200, CaseListSchema)
    def post(self, reference: str) -> Any:
        """The parties signed: the case ends as a written agreement (`case.closed`)."""
        return _call(lambda: agreements.sign(_mediation(), reference, _actor())).case


# Merging duplicates; the signed agreement's scan ----------------------------------------------------
# (Appended at the end: other routes are being added above by another branch.)
REFERENCE = validate.Regexp(r"^[A-Z]{2}-\d{4}-\d{6}$", error="Not a case reference (LC-2026-000123).")


class MergeInSchema(StrictSchema):
    duplicate = fields.String(required=True, validate=REFERENCE)


class MergedCaseSchema(CaseDeskSchema):
    """The primary case after a merge: the duplicates merged into it (and, for a duplicate, the
    case it was merged into)."""

    merged = fields.List(fields.String())
    merged_into = fields.String(allow_none=True)


class ScanInSchema(Schema):
    scan = FileField(
        required=True,
        metadata={
            "description": "The signed agreement: a PDF or a photo (JPEG, PNG, WebP, HEIC), up to 10 MB."
        },
    )


class ScanOutSchema(Schema):
    id = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    at = fields.DateTime()
    by = fields.String()


def _bearer_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the staff cookie on a multipart endpoint. `/api/` is outside the CSRF check because a
    JSON body cannot be sent across sites without a CORS preflight, but a multipart body can, by a
    plain HTML form; a browser never adds an `Authorization` header by itself, so requiring the
    bearer token keeps forged uploads out. Browsers upload through the case page (CSRF-checked)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            abort(
                401,
                message="Uploads through the API need the staff token as `Authorization: Bearer <token>`; "
                "the login cookie is not accepted here (in a browser, use the case page's form).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return view(*args, **kwargs)

    return wrapped


@blp.route("/cases/<string:reference>/merge")
class MergeDuplicate(MethodView):
    @requires_role(*DESK_ROLES)
    @blp.arguments(MergeInSchema)
    @blp.response(200, MergedCaseSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Not a mediator of this case nor the studio lead.")
    @blp.alt_response(404, schema=ErrorSchema, description="Either case is unknown or of another studio.")
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="Not possible: the duplicate is taken up, closed or merged already; this case is "
        "closed or was itself merged; or cases were merged into the duplicate (no chains).",
    )
    def post(self, data: dict[str, Any], reference: str) -> Any:
        """Close `duplicate` as merged into this case (the lifecycle's `merge`).

        The duplicate is closed (`merged`, its deadline clock stopped) and linked both ways; its
        parties and attachments stay on its own record. `case.status_changed` and `case.merged`
        tell intake's tracking page and the duplicate's parties which case carries their dispute
        on. The same use case as the case page's merge button; a repeated call answers 409 and
        changes nothing. Merging into itself answers 422.
        """
        mediation = _mediation()
        _call(lambda: desk.merge(mediation, reference, data["duplicate"], _actor()))
        return _desk_view(_call(lambda: desk.get_case(mediation.db, reference, _actor())))


@blp.route("/cases/<string:reference>/agreement/scan")
class AgreementScan(MethodView):
    @requires_role(*DESK_ROLES)
    @_bearer_only
    @blp.arguments(ScanInSchema, location="files")
    @blp.response(201, ScanOutSchema)
    @blp.alt_response(
        401, schema=ErrorSchema, description="No staff token, or the login cookie instead of a Bearer token."
    )
    @blp.alt_response(403, schema=ErrorSchema, description="Not a mediator of this case nor the studio lead.")
    @blp.alt_response(404, schema=ErrorSchema, description="No such case in your studio.")
    @blp.alt_response(409, schema=ErrorSchema, description="The agreement is not marked signed yet.")
    @blp.alt_response(413, schema=ErrorSchema, description="The request is larger than the server takes.")
    def post(self, files: dict[str, Any], reference: str) -> Any:
        """Upload the signed agreement's scan (`multipart/form-data`, field `scan`).

        Checked by its content, as on the case page (the same use case): a PDF or a photo whose
        name's extension matches, at most 10 MB, else 422. A new upload replaces the stored scan.
        Send the staff token as `Authorization: Bearer`: the login cookie is refused here (401).
        """
        file = files["scan"]
        upload = Upload(file.filename or "", file.read())
        return _call(lambda: agreements.upload_scan(_mediation(), reference, _actor(), upload))
