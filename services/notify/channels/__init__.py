"""Delivery channels: each a small adapter with `send(Outgoing) -> provider response`.

Every adapter classifies what went wrong the same way: `PermanentDeliveryError` when retrying
cannot help (an invalid address, a refused request), `TransientDeliveryError` when it may
(the provider is down, slow, overloaded or said "try later"). Each call has a timeout, so a
hanging provider holds up a delivery for at most that long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: str


@dataclass(frozen=True)
class Outgoing:
    """One message for one address, rendered at planning time and stored with the delivery."""

    delivery_id: str
    address: str
    subject: str
    body: str  # the plain text (email text part, SMS text, WeChat Work text)
    html: str | None = None
    markdown: str | None = None
    attachments: tuple[Attachment, ...] = ()
    payload: Mapping[str, Any] | None = None  # webhooks: the JSON body
    extra: Mapping[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    def send(self, outgoing: Outgoing) -> str:
        """Deliver `outgoing`; return the provider's answer for the delivery log."""
        ...


class PermanentDeliveryError(Exception):
    """The provider refused for good (e.g. invalid address): retrying cannot help."""


class TransientDeliveryError(Exception):
    """The provider is down, slow or said "try later"."""
