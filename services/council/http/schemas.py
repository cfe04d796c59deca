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
