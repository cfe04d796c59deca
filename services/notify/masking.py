"""Addresses as lists show them: enough to tell them apart, not enough to contact anyone."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_address(channel: str, address: str | None) -> str:
    """`138****8000`, `z***@example.com`, or a robot/webhook URL without its path and key."""
    if not address:
        return ""
    if channel == "sms":
        digits = address.strip()
        return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    if channel in ("wechat_work", "webhook"):
        parts = urlsplit(address)
        return f"{parts.scheme}://{parts.hostname or '?'}/…" if parts.scheme else "***"
    return "***"
