"""The envelope every message carries, and its validation against the event's schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.logs import get_correlation_id


class InvalidMessage(Exception):
    """A message that can never be processed (bad JSON, bad envelope, data failing its schema).

    Consumers dead-letter it straight away with this reason instead of retrying it.
    """


@dataclass(frozen=True)
class Envelope:
    message_id: str
    type: str
    occurred_at: str
    source: str
    correlation_id: str
    schema_version: int
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a new dict whose `data` shares nothing mutable with this one."""
        return {
            "message_id": self.message_id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "source": self.source,
            "correlation_id": self.correlation_id,
            "schema_version": self.schema_version,
            "data": _copy_tree(self.data),
        }


def _copy_tree(value: Any) -> Any:
    """A copy of a JSON-like tree (dicts, lists, tuples): containers are new, leaves shared.

    What `dataclasses.asdict` returned, without its deep copy of every leaf (immutable here:
    strings, numbers, dates), which cost more than the rest of an event's making."""
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    if type(value) is tuple:
        return tuple(_copy_tree(item) for item in value)
    return value


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # newer producers may add envelope fields; old consumers ignore them

    message_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    occurred_at = fields.String(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1, max=50))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    data = fields.Dict(required=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def make_envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    correlation_id: str | None = None,
    schema_version: int = 1,
) -> Envelope:
    """A new envelope for `data`, validated now so a bad event never reaches the outbox."""
    from shared.messaging.events import validate_data  # events imports this module

    clean = validate_data(event_type, schema_version, data)
    return Envelope(
        message_id=new_id(),
        type=event_type,
        occurred_at=utcnow().isoformat(),
        source=source,
        correlation_id=correlation_id or get_correlation_id() or new_id(),
        schema_version=schema_version,
        data=clean,
    )


def parse_envelope(body: Any) -> Envelope:
    """Validate a received body as an envelope and its data against the event's schema."""
    from shared.messaging.events import validate_data

    if not isinstance(body, dict):
        raise InvalidMessage(f"body is {type(body).__name__}, not a JSON object")
    try:
        loaded = EnvelopeSchema().load(body)
    except ValidationError as err:
        raise InvalidMessage(f"bad envelope: {err.messages}") from err
    try:
        datetime.fromisoformat(loaded["occurred_at"])
    except ValueError as err:
        raise InvalidMessage("bad envelope: occurred_at is not ISO-8601") from err
    loaded["data"] = validate_data(loaded["type"], loaded["schema_version"], loaded["data"])
    return Envelope(**loaded)
