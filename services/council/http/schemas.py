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
