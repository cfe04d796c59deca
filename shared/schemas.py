"""Base schema for request bodies: unknown fields are an error, text is trimmed and bounded."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

PHONE_PATTERN = r"^\+?[0-9][0-9 \-]{4,19}$"


class StrictSchema(Schema):
    """Rejects unknown fields, so a typo or an injected key never passes silently."""

    class Meta:
        unknown = RAISE


class Text(fields.String):
    """A trimmed string without control characters (newlines and tabs allowed)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text):
            raise ValidationError("Contains control characters.")
        return text


def text(max_length: int, *, required: bool = True, **kwargs: Any) -> Text:
    """A bounded text field; required ones must not be blank."""
    if required:
        return Text(required=True, validate=validate.Length(min=1, max=max_length), **kwargs)
    return Text(load_default="", validate=validate.Length(max=max_length), **kwargs)


def phone(*, required: bool = True) -> Text:
    rule = validate.Regexp(PHONE_PATTERN, error="Not a phone number.")
    if required:
        return Text(required=True, validate=rule)
    return Text(load_default=None, allow_none=True, validate=rule)


def for_patch(schema: type[Schema], **kwargs: Any) -> Schema:
    """An instance of `schema` for PATCH bodies: any subset of its top-level fields, while every
    nested object that is given (a member, a leave period) must be complete.

    `schema(partial=True)` would relax the nested objects' required fields too, letting an
    incomplete one be stored (and crash whatever reads it later).
    """
    return schema(partial=tuple(schema().fields), **kwargs)
