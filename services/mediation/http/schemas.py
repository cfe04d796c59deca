"""Marshmallow schemas of mediation's JSON API: registry entries in and out, case actions, tasks.

Input schemas are strict (unknown fields are an error) and check every code against the shared
reference data, so no studio can cover an unknown community and no capacity can be negative.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.mediation.domain import visits as visit_rules
from services.mediation.domain.patrol import WEEKDAYS, parse_time
from services.mediation.domain.visits import DEFAULT_FOLLOW_UP_DAYS, MAX_FOLLOW_UP_DAYS, MIN_FOLLOW_UP_DAYS
from shared.schemas import StrictSchema, Text, phone, text
from shared.taxonomy import CATEGORY_CODES, RISK_LEVELS, communities, community_codes

CODE = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,39}$", error="Lower-case letters, digits, '-'; 2 to 40.")
USERNAME = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{1,39}$", error="Lower-case letters, digits, '.', '_', '-'.")


def street_codes() -> tuple[str, ...]:
    """The district's street codes (shared reference data)."""
    return tuple(dict.fromkeys(c.street for c in communities()))


def _known(allowed: Any, what: str) -> validate.Validator:
    """Each item must be a known code; the message names the unknown one."""

    def check(value: str) -> None:
        if value not in allowed():
            raise ValidationError(f"Unknown {what}: {value}.")

    return check


def _time(value: str) -> None:
    try:
        parse_time(value)
    except (ValueError, TypeError) as err:
        raise ValidationError("Not a time (HH:MM).") from err


class NamesSchema(StrictSchema):
    # Stored under "zh-CN" as the seed stores them (everything reading a name asks for "zh-CN").
    zh = Text(data_key="zh-CN", attribute="zh-CN", required=True, validate=validate.Length(min=1, max=100))
    en = Text(required=True, validate=validate.Length(min=1, max=100))


class LeaveSchema(StrictSchema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError("Leave must end on or after its start.", "end")


class StudioMemberSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    name = text(100)
    role = fields.String(load_default="mediator", validate=validate.OneOf(["lead", "mediator"]))
    leave = fields.List(fields.Nested(LeaveSchema), load_default=list)


class TeamMemberSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    name = text(100)


class ShiftSchema(StrictSchema):
    days = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS)), required=True, validate=validate.Length(min=1)
    )
    start = fields.String(required=True, validate=_time)
    end = fields.String(required=True, validate=_time)


def _communities() -> fields.List:
    return fields.List(fields.String(validate=_known(community_codes, "community")), load_default=list)


def _streets() -> fields.List:
    return fields.List(fields.String(validate=_known(street_codes, "street")), load_default=list)


class StudioInSchema(StrictSchema):
    """A studio as an admin creates it (PATCH takes any subset of the fields but `code`)."""

    code = fields.String(required=True, validate=CODE)
    name = fields.Nested(NamesSchema, required=True)
    email = fields.Email(load_default=None, allow_none=True)
    lead_email = fields.Email(load_default=None, allow_none=True)
    wechat_webhook = fields.URL(load_default=None, allow_none=True, schemes={"https"})
    communities = _communities()
    streets = _streets()
    categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORY_CODES, error="Unknown category: {input}.")),
        load_default=list,
    )
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000))
    working_days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=list)
    members = fields.List(fields.Nested(StudioMemberSchema), load_default=list)
    is_default = fields.Boolean(load_default=False)
    # "Is it settled?" (issue 14.4): days after an ending before the applicants are asked.
    settlement_check_days = fields.Integer(
        load_default=28, strict=True, validate=validate.Range(min=1, max=365)
    )
    # Days from a case's ending to the follow-up visits of its parties.
    follow_up_days = fields.Integer(
        load_default=DEFAULT_FOLLOW_UP_DAYS,
        strict=True,
        validate=validate.Range(min=MIN_FOLLOW_UP_DAYS, max=MAX_FOLLOW_UP_DAYS),
    )


class StudioPatchSchema(StudioInSchema):
    """Any subset of a studio's fields but its code (load it with `partial=True`)."""

    class Meta(StrictSchema.Meta):
        exclude = ("code",)


class TeamInSchema(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.Nested(NamesSchema, required=True)
    email = fields.Email(load_default=None, allow_none=True)
    phone = phone(required=False)
    wechat_webhook = fields.URL(load_default=None, allow_none=True, schemes={"https"})
    communities = _communities()
    streets = _streets()
    shifts = fields.List(fields.Nested(ShiftSchema), load_default=list)
    members = fields.List(fields.Nested(TeamMemberSchema), load_default=list)
    on_call = fields.Boolean(load_default=False)


class TeamPatchSchema(TeamInSchema):
    class Meta(StrictSchema.Meta):
        exclude = ("code",)


class HallSchema(StrictSchema):
    name = fields.Nested(NamesSchema, required=True)
    address = text(200)
    seats = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=5000))


class CommunityInSchema(StrictSchema):
    hall = fields.Nested(HallSchema, allow_none=True)
    reception_days = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=31)), validate=validate.Length(max=31)
    )


# Output ----------------------------------------------------------------------------------------
class StudioSchema(Schema):
    code = fields.String()
    name = fields.Dict(keys=fields.String(), values=fields.String())
    email = fields.String(allow_none=True)
    lead_email = fields.String(allow_none=True)
    wechat_webhook = fields.String(allow_none=True)
    communities = fields.List(fields.String())
    streets = fields.List(fields.String())
    categories = fields.List(fields.String())
    capacity = fields.Integer()
    open_cases = fields.Integer()
    working_days = fields.List(fields.String())
    members = fields.List(fields.Dict())
    is_default = fields.Boolean()
    settlement_check_days = fields.Integer(dump_default=28)
    follow_up_days = fields.Integer(dump_default=DEFAULT_FOLLOW_UP_DAYS)


class TeamSchema(Schema):
    code = fields.String()
    name = fields.Dict(keys=fields.String(), values=fields.String())
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    wechat_webhook = fields.String(allow_none=True)
    communities = fields.List(fields.String())
    streets = fields.List(fields.String())
    shifts = fields.List(fields.Dict())
    members = fields.List(fields.Dict())
    on_call = fields.Boolean()


class CommunitySchema(Schema):
    code = fields.String()
    name = fields.Dict(keys=fields.String(), values=fields.String())
    street = fields.String()
    hall = fields.Dict(allow_none=True)
    reception_days = fields.List(fields.Integer())


class AuditSchema(Schema):
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    entity = fields.String()
    key = fields.String()
    changes = fields.Dict()


# Case actions ------------------------------------------------------------------------------------
class RiskChangeSchema(StrictSchema):
    level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    reason = text(500)


class MoveSchema(StrictSchema):
    studio = fields.String(required=True, validate=CODE)
    reason = text(500)


class SweepSchema(StrictSchema):
    community = fields.String(required=True, validate=_known(community_codes, "community"))
    team = fields.String(load_default=None, allow_none=True, validate=CODE)
    note = text(500, required=False)
    # Repeat the sweep this many days after each one is closed (a periodic sweep).
    every_days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=90))


class ReportSchema(StrictSchema):
    findings = text(4000)
    people_met = text(1000, required=False)
    calmed = fields.Boolean(required=True)


class CaseOutSchema(Schema):
    reference = fields.String()
    status = fields.String()
    category = fields.String()
    community = fields.String()
    building = fields.String()
    studio = fields.String()
    risk_level = fields.String()
    routing = fields.Dict()
    timeline = fields.List(fields.Dict())
    received_at = fields.String()


class TaskSchema(Schema):
    id = fields.String(attribute="_id")
    kind = fields.String()
    status = fields.String()
    reference = fields.String(allow_none=True)
    team = fields.String()
    community = fields.String()
    building = fields.String(allow_none=True)
    risk_level = fields.String()
    reason = fields.String()
    due_by = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    accepted_by = fields.String(allow_none=True)
    report = fields.Dict(allow_none=True)
    every_days = fields.Integer(allow_none=True)


class HotSpotSchema(Schema):
    community = fields.String()
    open_cases = fields.Integer()


class FailureSchema(Schema):
    message_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    reason = fields.String()
    at = fields.DateTime()
    community = fields.String(allow_none=True)
    category = fields.String(allow_none=True)


# Reports (http/report_api.py) -------------------------------------------------------------------------
class MojReportQuerySchema(StrictSchema):
    """A report's scope and period; a studio lead's scope is always their own studio."""

    period = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$", error="2026-11, 2026-Q4 or 2026."),
    )
    level = fields.String(load_default=None, validate=validate.OneOf(["district", "street", "studio"]))
    area = fields.String(load_default=None, validate=validate.Length(max=40))
    lang = fields.String(load_default="zh-CN", validate=validate.OneOf(["zh-CN", "en"]))


class MojReportColumnSchema(Schema):
    key = fields.String()
    header = fields.String()
    section = fields.String()
    kind = fields.String()


class MojReportRowSchema(Schema):
    code = fields.String()
    label = fields.String()
    values = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))


class MojReportMediatorSchema(Schema):
    user_id = fields.String()
    name = fields.String()
    cases = fields.Integer()
    endings = fields.Integer()
    settled = fields.Integer()
    median_days = fields.Float(allow_none=True)
    overdue = fields.Integer()


class SatisfactionSchema(Schema):
    count = fields.Integer()
    average = fields.Float(allow_none=True)


class MojReportSchema(Schema):
    period = fields.String()
    level = fields.String()
    area = fields.String()
    title = fields.String()
    columns = fields.List(fields.Nested(MojReportColumnSchema))
    rows = fields.List(fields.Nested(MojReportRowSchema))
    total = fields.Nested(MojReportRowSchema)
    mediators = fields.List(fields.Nested(MojReportMediatorSchema))
    # Not a column of the MoJ table: follow-up visits' satisfaction (1-5) in the period.
    satisfaction = fields.Nested(SatisfactionSchema)


# Follow-up visits ---------------------------------------------------------------------------------
class VisitRecordSchema(StrictSchema):
    """A follow-up visit of one party: how it was made, whether the agreement was performed (asked
    after an agreement: `visits.record_visit` requires it then), satisfaction 1-5, whether the
    conflict came back or a hidden danger was found, and a note."""

    how = fields.String(required=True, validate=validate.OneOf(visit_rules.HOW))
    performed = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(visit_rules.PERFORMANCE)
    )
    satisfied = fields.Integer(
        required=True,
        validate=validate.Range(min=visit_rules.SATISFACTION_MIN, max=visit_rules.SATISFACTION_MAX),
    )
    renewed_conflict = fields.Boolean(required=True)
    note = fields.String(load_default="", validate=validate.Length(max=visit_rules.NOTE_MAX))


class TaskCloseSchema(StrictSchema):
    """Closing a task that is no visit: what was done (a term check may say whether it was performed)."""

    note = fields.String(required=True, validate=validate.Length(min=1, max=visit_rules.NOTE_MAX))
    performed = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(visit_rules.PERFORMANCE)
    )
