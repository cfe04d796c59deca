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


class DecisionSchema(StrictSchema):
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
