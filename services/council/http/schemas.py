"""Marshmallow schemas of council's JSON resources and forms: the household register, and consultations
(questionnaires and votes) with their paper entries."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.council.domain import questions as qs
from shared.schemas import StrictSchema, Text, text


class FlatSchema(Schema):
    """One flat. In lists names and phones are masked (`王**`, `138****8000`)."""

    id = fields.String()
    community = fields.String()
    building = fields.String()
    unit = fields.String()
    flat = fields.String()
    area = fields.String(metadata={"description": "Exclusive area in m², an exact decimal (2 places)."})
    owner_names = fields.List(fields.String())
    phones = fields.List(fields.String())
    owner_key = fields.String(metadata={"description": "The same key on every flat of one owner."})
    occupancy = fields.String(metadata={"enum": ["owner_occupied", "let", "vacant"]})
    developer_held = fields.Boolean()


class FlatQuerySchema(StrictSchema):
    building = Text(load_default=None)


class FlatPatchSchema(StrictSchema):
    """Any of the editable fields, as text (areas as decimals, several names or phones separated
    by commas); checked by the same rules as an imported row."""

    area = Text()
    owner_names = Text()
    phones = Text()
    owner_key = Text()
    occupancy = Text()
    developer_held = Text(metadata={"description": "yes/no (是/否)"})


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "The spreadsheet's row number (the header is row 1)."})
    field = fields.String(allow_none=True)
    code = fields.String()
    params = fields.Dict(keys=fields.String(), values=fields.String())
    reason = fields.String()


class UploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class PreviewOutSchema(Schema):
    clean = fields.Boolean()
    rows = fields.Integer(metadata={"description": "Rows that passed every check."})
    errors = fields.List(fields.Nested(RowErrorSchema))


class ImportedSchema(Schema):
    imported = fields.Integer()


class AccessSchema(Schema):
    by = fields.String()
    at = fields.DateTime()
    fields_ = fields.List(fields.String(), data_key="fields")


class LocalisedSchema(StrictSchema):
    """A text in zh-CN and en (either may be empty; a title needs one of them)."""

    zh = text(4000, required=False, data_key="zh-CN")
    en = text(4000, required=False)


class OptionSchema(StrictSchema):
    key = fields.String(required=True)
    label = text(200)


class QuestionSchema(StrictSchema):
    """A question definition as domain/questions.py defines it (its checks run in the use case)."""

    key = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(qs.KINDS))
    prompt = text(500)
    mandatory = fields.Boolean(load_default=False)
    help = text(500, required=False)
    options = fields.List(fields.Nested(OptionSchema), load_default=list)
    rows = fields.List(fields.Nested(OptionSchema), load_default=list)
    min_selections = fields.Integer(load_default=None, allow_none=True)
    max_selections = fields.Integer(load_default=None, allow_none=True)
    top_k = fields.Integer(load_default=None, allow_none=True)
    max_length = fields.Integer(load_default=None, allow_none=True)


class ConsultationCreateSchema(StrictSchema):
    community = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["questionnaire", "vote"]))
    title = fields.Nested(LocalisedSchema, required=True)
    description = fields.Nested(LocalisedSchema, load_default=dict)
    questions = fields.List(fields.Nested(QuestionSchema), load_default=list)
    vote_item = fields.Integer(load_default=None, allow_none=True)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)


class ConsultationPatchSchema(StrictSchema):
    """Any subset of a draft's editable fields; `revision` (optional) refuses a stale edit."""

    title = fields.Nested(LocalisedSchema)
    description = fields.Nested(LocalisedSchema)
    questions = fields.List(fields.Nested(QuestionSchema))
    vote_item = fields.Integer(allow_none=True)
    opens_at = fields.AwareDateTime()
    closes_at = fields.AwareDateTime()
    revision = fields.Integer()


class ExtendSchema(StrictSchema):
    closes_at = fields.AwareDateTime(required=True)


class PaperEntrySchema(StrictSchema):
    """A paper slip: the flat as written on it, its slip number, and the answers by question key."""

    building = text(20)
    unit = text(20)
    flat = text(20)
    slip_number = text(20)
    answers = fields.Dict(keys=fields.String(), required=True)


class CommunityQuery(Schema):
    community = fields.String(required=True)


class ConsultationSchema(Schema):
    """A consultation as the API shows it (no electorate, no personal data)."""

    id = fields.String(attribute="_id")
    community = fields.String()
    kind = fields.String()
    title = fields.Dict()
    description = fields.Dict()
    questions = fields.List(fields.Dict())
    vote_item = fields.Integer(allow_none=True)
    opens_at = fields.DateTime()
    closes_at = fields.DateTime()
    status = fields.String()
    locked = fields.Boolean()
    revision = fields.Integer()
    buildings = fields.List(fields.String())
    eligible = fields.Integer()
    created_by = fields.String()
    opened_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    closed_by = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)


class BallotReceiptSchema(Schema):
    """What a stored answer reports back: never who answered, only the flat's record."""

    id = fields.String(attribute="_id")
    flat_id = fields.String()
    channel = fields.String()
    version = fields.Integer()
    slip_number = fields.String()
    answers = fields.Dict()


# The public board ---------------------------------------------------------------------------------
SHOWN = 'a count, or "<5" (1 to 4), or "x" (hidden so that no small count can be worked out)'


class BoardQuerySchema(StrictSchema):
    period = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{4}-Q[1-4]$", error="A quarter like 2026-Q4."),
        metadata={"description": "The quarter (YYYY-Qn); the newest by default."},
    )


class BoardLineSchema(Schema):
    area = fields.String(metadata={"description": "A community code (or the pooled row of small ones)."})
    cells = fields.List(fields.Raw(), metadata={"description": f"One per column: {SHOWN}."})
    total = fields.Raw(metadata={"description": SHOWN})


class BoardTableSchema(Schema):
    key = fields.String()
    columns = fields.List(fields.String())
    rows = fields.List(fields.Nested(BoardLineSchema))
    total = fields.Nested(BoardLineSchema, allow_none=True, metadata={"description": "Street or district."})
    show_row_totals = fields.Boolean()
    withheld = fields.Boolean(metadata={"description": "Too small to publish at all."})
    not_shown = fields.Boolean(metadata={"description": "A community's breakdown needs 10 cases."})


class BoardConsultationSchema(Schema):
    id = fields.String()
    community = fields.String()
    kind = fields.String(allow_none=True)
    title = fields.Dict(keys=fields.String(), values=fields.String())
    closed_month = fields.String(allow_none=True)
    answered = fields.Integer(allow_none=True)
    eligible = fields.Integer(allow_none=True)
    vote_outcome = fields.String(allow_none=True)


class BoardMinutesSchema(Schema):
    """Published minutes of one meeting (drafts and adopted but unpublished minutes never appear)."""

    meeting_id = fields.String()
    title = fields.String()
    day = fields.String(allow_none=True, metadata={"description": "The meeting's day (Beijing), YYYY-MM-DD."})
    url = fields.String(metadata={"description": "The public minutes page."})


class BoardPlanItemSchema(Schema):
    """A top-level plan item, its status and progress rolled up from its parts."""

    id = fields.String()
    title = fields.String()
    title_en = fields.String()
    status = fields.String()
    progress = fields.String(metadata={"description": "Percent done, a decimal string."})
    budget = fields.String(allow_none=True, metadata={"description": "Yuan, exact, two decimals."})


class BoardPlanSchema(Schema):
    items = fields.List(fields.Nested(BoardPlanItemSchema))
    url = fields.String(metadata={"description": "The public plan page."})


class BoardStatementSchema(Schema):
    """One month's public accounts statement (yuan, exact decimals as strings)."""

    month = fields.String(metadata={"description": "YYYY-MM"})
    opening = fields.String()
    income = fields.String()
    spending = fields.String()
    closing = fields.String()
    entries = fields.Integer(metadata={"description": "Approved entries in the month."})


class BoardAccountsSchema(Schema):
    statement = fields.Nested(
        BoardStatementSchema, allow_none=True, metadata={"description": "The latest month with entries."}
    )
    month_running = fields.Boolean(metadata={"description": "The statement's month is not over yet."})
    url = fields.String(metadata={"description": "The public accounts page."})


class BoardCommunityLinkSchema(Schema):
    code = fields.String()
    board_url = fields.String()
    plan_url = fields.String()
    accounts_url = fields.String()


class BoardSchema(Schema):
    level = fields.String(metadata={"enum": ["community", "street", "district"]})
    code = fields.String()
    street = fields.String(allow_none=True)
    quarter = fields.String(allow_none=True)
    quarters = fields.List(fields.String())
    tables = fields.List(fields.Nested(BoardTableSchema))
    rates = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    consultations = fields.List(fields.Nested(BoardConsultationSchema))
    minutes = fields.List(
        fields.Nested(BoardMinutesSchema), allow_none=True, metadata={"description": "A community's only."}
    )
    plan = fields.Nested(BoardPlanSchema, allow_none=True, metadata={"description": "A community's only."})
    accounts = fields.Nested(
        BoardAccountsSchema, allow_none=True, metadata={"description": "A community's only."}
    )
    communities = fields.List(
        fields.Nested(BoardCommunityLinkSchema),
        metadata={"description": "A street's or the district's communities, linking to their boards."},
    )


# The plan (plan_api) ---------------------------------------------------------------------------------
class PlanDecisionSchema(Schema):
    """The decision a plan item carries out: a passed vote or an adopted recommendation."""

    kind = fields.String(metadata={"enum": ["vote", "recommendation"]})
    id = fields.String()
    title = fields.String()


class TimelineEntrySchema(Schema):
    id = fields.String()
    at = fields.DateTime()
    text = fields.String()
    photos = fields.List(
        fields.String(), metadata={"description": "Photo ids: GET /plan/<community>/photos/<id>."}
    )


class PlanItemSchema(Schema):
    """A plan item; a parent's status and progress are rolled up from its children."""

    id = fields.String()
    community = fields.String()
    title = fields.String()
    title_en = fields.String()
    decision = fields.Nested(PlanDecisionSchema, allow_none=True)
    parent_id = fields.String(allow_none=True)
    weight = fields.String(allow_none=True, metadata={"description": "An exact decimal, or null."})
    depth = fields.Integer()
    leaf = fields.Boolean()
    status = fields.String(metadata={"enum": ["planned", "in_progress", "on_hold", "done", "cancelled"]})
    progress = fields.String(metadata={"description": "Percent, rounded half up to one decimal."})
    budget = fields.String(allow_none=True, metadata={"description": "Yuan, exact, two decimals."})
    contractor = fields.String()
    start = fields.String(allow_none=True)
    end = fields.String(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))


class PlanItemInSchema(StrictSchema):
    """A new item's fields as text (decimals exact; dates YYYY-MM-DD). A top-level item names its
    decision: `decision_kind` vote (a passed vote's consultation id) or recommendation."""

    title = Text()
    title_en = Text()
    decision_kind = Text()
    decision_id = Text()
    parent_id = Text()
    weight = Text()
    status = Text()
    progress = Text()
    budget = Text()
    contractor = Text()
    start = Text()
    end = Text()


class PlanItemPatchSchema(StrictSchema):
    title = Text()
    title_en = Text()
    parent_id = Text()
    weight = Text()
    status = Text()
    progress = Text()
    budget = Text()
    contractor = Text()
    start = Text()
    end = Text()


class TimelineInSchema(Schema):
    text = fields.String(required=True)


class PhotosSchema(Schema):
    photos = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), load_default=list)


# The public accounts (account_api) ----------------------------------------------------------------------
class StatementSchema(Schema):
    month = fields.String()
    opening = fields.String()
    income = fields.String()
    spending = fields.String()
    closing = fields.String()
    income_by_category = fields.List(fields.List(fields.String()))
    spending_by_category = fields.List(fields.List(fields.String()))
    entries = fields.Integer()


class AnsweredSchema(Schema):
    question = fields.String()
    answer = fields.String()
    answered_at = fields.DateTime()


class PublicEntrySchema(Schema):
    id = fields.String()
    community = fields.String()
    day = fields.String()
    kind = fields.String(metadata={"enum": ["income", "spending"]})
    category = fields.String()
    amount = fields.String(metadata={"description": "Yuan, exact, two decimals (never a float)."})
    counterparty = fields.String()
    note = fields.String()
    voucher = fields.String(allow_none=True, metadata={"description": "The voucher scan's media type."})
    published_at = fields.DateTime(allow_none=True)
    questions_until = fields.DateTime(
        allow_none=True, metadata={"description": "Exclusive end of the window."}
    )
    questions_last_day = fields.String(allow_none=True, metadata={"description": "Last day, Beijing time."})
    questions = fields.List(fields.Nested(AnsweredSchema))


class StaffEntrySchema(PublicEntrySchema):
    entered_by = fields.String()
    entered_at = fields.DateTime()
    approved_by = fields.String(allow_none=True)
    approved = fields.Boolean()


class PublicAccountsSchema(Schema):
    community = fields.String()
    statements = fields.List(fields.Nested(StatementSchema))
    entries = fields.List(fields.Nested(PublicEntrySchema))


class EntryInSchema(Schema):
    """A new entry (multipart form): amounts in yuan as text, e.g. "1200.50"; the voucher file."""

    day = Text(required=True)
    kind = Text(required=True)
    category = Text(required=True)
    amount = Text(required=True)
    counterparty = Text(required=True)
    counterparty_private = Text(load_default="no")
    note = Text(load_default="")


class VoucherSchema(Schema):
    voucher = fields.Raw(metadata={"type": "string", "format": "binary"})


class QuestionInSchema(StrictSchema):
    building = Text(required=True)
    unit = Text(required=True)
    flat = Text(required=True)
    code = Text(required=True)
    text = Text(required=True)


class QuestionOutSchema(Schema):
    id = fields.String()
    entry_id = fields.String()
    asked_at = fields.DateTime()
    text = fields.String()


class AnswerInSchema(StrictSchema):
    answer = Text(required=True)
    public_text = Text(load_default=None)


class AnswerOutSchema(Schema):
    id = fields.String()
    question = fields.String()
    answer = fields.String()
    answered_at = fields.DateTime()


class CodesInSchema(StrictSchema):
    flat_id = Text(load_default=None)


class IssuedCodeSchema(Schema):
    flat_id = fields.String()
    flat = fields.String()
    code = fields.String()


# Meetings -------------------------------------------------------------------------------------------
class MeetingCreateSchema(StrictSchema):
    title = Text(required=True)
    starts_at = fields.AwareDateTime(required=True, metadata={"description": "With its UTC offset."})
    ends_at = fields.AwareDateTime(required=True)
    quorum = Text(load_default="1/2", metadata={"description": '"1/2" more than half; ">=2/3" at least.'})
    amendment_days = fields.Integer(load_default=3)


class MeetingMoveSchema(StrictSchema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)


class MeetingCancelSchema(StrictSchema):
    reason = Text(required=True)


class AgendaItemInSchema(StrictSchema):
    title = Text(required=True)
    consultation_id = Text(load_default="")


class InviteeInSchema(StrictSchema):
    kind = Text(required=True, metadata={"enum": ["representative", "council_member"]})
    name = Text(required=True)
    phone = Text(load_default="")
    email = Text(load_default="")
    language = Text(load_default="zh-CN")


class AttendanceSchema(StrictSchema):
    present = fields.Boolean(load_default=True)


class VoteInSchema(StrictSchema):
    for_ = fields.Integer(required=True, data_key="for")
    against = fields.Integer(required=True)
    abstain = fields.Integer(required=True)


class MinutesTextSchema(StrictSchema):
    text = Text(required=True)


class AdoptSchema(StrictSchema):
    text = Text(load_default=None)


class AmendmentDecisionSchema(StrictSchema):
    """The minutes' author accepts or rejects a proposed amendment."""

    decision = Text(required=True, metadata={"enum": ["accepted", "rejected"]})


class CheckInSchema(StrictSchema):
    code = Text(required=True)


class QuorumSchema(Schema):
    present = fields.Integer()
    invited = fields.Integer()
    needed = fields.Integer()
    reached = fields.Boolean()
    threshold = fields.String()


class MeetingSchema(Schema):
    """A meeting; invitees' names, phones and emails masked."""

    id = fields.String()
    community = fields.String()
    title = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    status = fields.String(metadata={"enum": ["requested", "confirmed", "refused", "cancelled"]})
    hall = fields.Dict()
    sequence = fields.Integer()
    invited = fields.Boolean()
    quorum = fields.Nested(QuorumSchema)
    minutes_status = fields.String()
    agenda = fields.List(fields.Dict())
    invitees = fields.List(fields.Dict())
