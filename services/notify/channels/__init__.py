"""Delivery channels: each a small adapter with `send(Outgoing) -> provider response`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    address: str
    subject: str
    body: str


class PermanentDeliveryError(Exception):
    """The provider refused for good (e.g. invalid address): retrying cannot help."""


class TransientDeliveryError(Exception):
    """The provider is down, slow or said "try later"."""
