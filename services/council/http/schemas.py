"""Marshmallow schemas of council's JSON resources (the household register)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

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


class BoardSchema(Schema):
    level = fields.String(metadata={"enum": ["community", "street", "district"]})
    code = fields.String()
    street = fields.String(allow_none=True)
    quarter = fields.String(allow_none=True)
    quarters = fields.List(fields.String())
    tables = fields.List(fields.Nested(BoardTableSchema))
    rates = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    consultations = fields.List(fields.Nested(BoardConsultationSchema))
