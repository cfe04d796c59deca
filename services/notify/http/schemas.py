"""Request and response schemas of notify's JSON API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.notify.delivery import STATUSES
from services.notify.domain.rules import CHANNELS
from services.notify.rendering import LANGUAGES
from shared.schemas import StrictSchema, Text


class DeliveryQuerySchema(StrictSchema):
    reference = Text(load_default=None, validate=validate.Length(max=20))
    recipient = Text(load_default=None, validate=validate.Length(max=200))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AttemptSchema(Schema):
    attempt = fields.Integer()
    at = fields.DateTime()
    outcome = fields.String()
    duration_ms = fields.Integer()
    response = fields.String()
    error = fields.String()


class DeliverySummarySchema(Schema):
    id = fields.String(attribute="_id")
    reference = fields.String(allow_none=True)
    studio = fields.String(allow_none=True)
    event_type = fields.String()
    channel = fields.String()
    template = fields.String()
    audience = fields.String(attribute="recipient.audience")
    recipient = fields.String(attribute="masked_address", metadata={"description": "masked"})
    language = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    resend_of = fields.String(allow_none=True)


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DeliveryDetailSchema(DeliverySummarySchema):
    subject = fields.String(attribute="content.subject")
    body = fields.String(attribute="content.body")
    provider_response = fields.String(allow_none=True)
    dead_lettered = fields.Boolean(load_default=False)
    attempt_log = fields.List(fields.Nested(AttemptSchema))


class PreviewQuerySchema(StrictSchema):
    template = fields.String(required=True)
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    channel = fields.String(load_default="email", validate=validate.OneOf(["email", "sms", "wechat_work"]))


class PreviewSchema(Schema):
    template = fields.String()
    language = fields.String()
    channel = fields.String()
    event_type = fields.String()
    subject = fields.String()
    body = fields.String()
    html = fields.String(allow_none=True)
    markdown = fields.String(allow_none=True)
