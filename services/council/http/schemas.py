"""Marshmallow schemas of council's JSON resources (the household register)."""

from __future__ import annotations

from marshmallow import Schema, fields

from shared.schemas import StrictSchema, Text


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


# The plan (plan_api) ---------------------------------------------------------------------------------
class DecisionSchema(Schema):
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
    decision = fields.Nested(DecisionSchema, allow_none=True)
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
