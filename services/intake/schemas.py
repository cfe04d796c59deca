"""Request and response schemas of the intake API."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from shared.schemas import StrictSchema, phone, text
from shared.taxonomy import CATEGORY_CODES, community_codes

LANGUAGES = ("zh-CN", "en")
FILERS = ("resident", "building_leader", "clerk")


class ApplicantSchema(StrictSchema):
    name = text(100)
    phone = phone()
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


class RespondentSchema(StrictSchema):
    name = text(100)
    phone = phone(required=False)


class CaseCreateSchema(StrictSchema):
    category = fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    # The codes are documented as an enum (GET /api/v1/communities lists them with names).
    community = fields.String(required=True, metadata={"enum": sorted(community_codes())})
    building = text(50)
    unit = text(50, required=False)
    description = text(5000)
    claims = text(2000, required=False)
    amount = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1e10))
    people_affected = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=100000)
    )
    threat_of_violence = fields.Boolean(load_default=False)
    danger_to_safety = fields.Boolean(load_default=False)
    filed_by = fields.String(load_default="resident", validate=validate.OneOf(FILERS))
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    applicants = fields.List(
        fields.Nested(ApplicantSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    respondents = fields.List(
        fields.Nested(RespondentSchema), required=True, validate=validate.Length(min=1, max=50)
    )
    # A field rule (not a schema rule) so it is reported together with every other problem.
    consent = fields.Boolean(
        required=True, validate=validate.Equal(True, error="Consent to the privacy notice is required.")
    )
    # People's Mediation Law Art 17: mediation does not go ahead when a party clearly refuses.
    agrees_to_mediation = fields.Boolean(load_default=True)

    @validates("community")
    def known_community(self, value: str, **kwargs: Any) -> None:
        if value not in community_codes():
            raise ValidationError("Unknown community.")


class CaseCreatedSchema(StrictSchema):
    reference = fields.String(required=True)
    tracking_token = fields.String(required=True)
    status = fields.String(required=True)
    # True when an open case of the same community, building and category was filed in the last
    # 30 days: the resident is told a related case exists (never which one).
    related_case_exists = fields.Boolean()


class TrackingQuerySchema(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=100))


class TimelineEntrySchema(StrictSchema):
    status = fields.String()
    at = fields.DateTime()
    note = fields.String()
    outcome = fields.String()
    starts_at = fields.DateTime()
    place = fields.String()


class CaseStatusSchema(StrictSchema):
    reference = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    category = fields.String()
    community = fields.String()
    received_at = fields.DateTime()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))


class LabelSchema(StrictSchema):
    code = fields.String()
    name_zh = fields.String(data_key="name_zh-CN")
    name_en = fields.String()


class CommunitySchema(LabelSchema):
    street = fields.String()
