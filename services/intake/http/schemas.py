"""Request and response schemas of the intake API."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from services.intake.domain import walk_ins as walk_in_rules
from shared.messaging.events import CASE_SOURCES
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


class FilerSchema(StrictSchema):
    """Whoever files on behalf of the residents (a building leader, a clerk): kept informed."""

    name = text(100)
    phone = phone()
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


FILER_REQUIRED = "A building leader filing on behalf of a resident must give their own name and phone."
FILER_REFUSED = "Give a filer only when filing on behalf of someone (building_leader or clerk)."
SOURCE_STAFF_ONLY = "Only staff may file a case with a source other than an application."


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
    # Who filed for the residents: required for a building leader (they must be reachable),
    # optional for a clerk, refused for a resident filing for themselves.
    filer = fields.Nested(FilerSchema, load_default=None, allow_none=True)
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
    # Where the case came from (the board's statistics count by source): a resident's filing is an
    # application; the other sources (referrals, discoveries, reception days) are staff's to give.
    # "follow_up" is mediation's own (a linked case after an answer "not settled"), never filed here.
    source = fields.String(
        load_default="application", validate=validate.OneOf([s for s in CASE_SOURCES if s != "follow_up"])
    )

    # Run even when other fields fail, so this problem is reported together with every other one.
    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def filer_matches_filed_by(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict) or (original.get("filer") is not None and "filer" not in data):
            return  # the filer object itself is wrong: its own field errors say why
        filed_by = data.get("filed_by")  # missing when filed_by itself is invalid
        if filed_by == "building_leader" and data.get("filer") is None:
            raise ValidationError(FILER_REQUIRED, "filer")
        if filed_by == "resident" and data.get("filer") is not None:
            raise ValidationError(FILER_REFUSED, "filer")

    @validates("community")
    def known_community(self, value: str, **kwargs: Any) -> None:
        if value not in community_codes():
            raise ValidationError("Unknown community.")


class CaseCreatedSchema(StrictSchema):
    reference = fields.String(required=True)
    tracking_token = fields.String(required=True)
    status = fields.String(required=True)


class TrackingQuerySchema(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=100))


class TimelineEntrySchema(StrictSchema):
    status = fields.String()
    at = fields.DateTime()
    note = fields.String()
    outcome = fields.String()
    starts_at = fields.DateTime()
    place = fields.String()
    place_en = fields.String()  # the hall's English name, when mediation's event carried it
    studio_name_en = fields.String()  # on an `assigned` entry (its note is the Chinese name)
    # Sessions: which one an entry is about; a moved one's old time; and, on an entry a later one
    # replaced, that entry's status (session_rescheduled or session_cancelled).
    session_id = fields.String()
    previous_starts_at = fields.DateTime()
    superseded_by = fields.String()
    merged_into = fields.String()


class CaseStatusSchema(StrictSchema):
    reference = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    category = fields.String()
    community = fields.String()
    received_at = fields.DateTime()
    # Set when the case was closed as a duplicate: the reference of the case its dispute went to.
    merged_into = fields.String(allow_none=True)
    # True when another open case of the same community, building and category was filed in the
    # 30 days before this one: the resident is told a related case exists (never which one).
    # Asked here, not when the case is filed, so that filing stays two database round trips.
    related_case_exists = fields.Boolean()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))


class LabelSchema(StrictSchema):
    code = fields.String()
    name_zh = fields.String(data_key="name_zh-CN")
    name_en = fields.String()


class CommunitySchema(LabelSchema):
    street = fields.String()


WALK_IN_REFERRED_TO = "Say where the visitor was referred."
WALK_IN_OTHER_PARTY = "A case needs the other party: who is the dispute with?"


class WalkInSchema(StrictSchema):
    """A reception-day visitor as the clerk records them (issue 14.6)."""

    name = text(100)
    phone = phone()
    community = fields.String(required=True)
    building = text(50)
    unit = text(50, required=False)
    matter = text(2000)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    outcome = fields.String(required=True, validate=validate.OneOf(walk_in_rules.OUTCOMES))
    referred_to = text(200, required=False)
    # For a case: who the dispute is with (a case needs a respondent), and the visitor's wish.
    other_party = text(100, required=False)
    agrees_to_mediation = fields.Boolean(load_default=True)

    @validates("community")
    def known_community(self, value: str, **kwargs: Any) -> None:
        if value not in community_codes():
            raise ValidationError("Unknown community.")

    @validates_schema(skip_on_field_errors=False)
    def outcome_needs(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("outcome") == walk_in_rules.REFERRED and not data.get("referred_to"):
            raise ValidationError(WALK_IN_REFERRED_TO, "referred_to")
        if data.get("outcome") == walk_in_rules.CASE and not data.get("other_party"):
            raise ValidationError(WALK_IN_OTHER_PARTY, "other_party")
