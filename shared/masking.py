"""Personal data as lists and queues show it: enough to tell entries apart, not enough to contact or
find anyone (PIPL Art 28: phones, ID numbers and exact addresses are masked outside the case's own
mediators). Used by notify's delivery log, mediation's desk and council's
household register."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_phone(phone: str | None) -> str:
    """`138****8000`; a short number becomes `****`."""
    digits = (phone or "").strip()
    if not digits:
        return ""
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"


def mask_name(name: str | None) -> str:
    """A person's name keeps its first character: `王**` (surname shown, given name hidden)."""
    value = (name or "").strip()
    if not value:
        return ""
    return f"{value[0]}{'*' * min(max(len(value) - 1, 1), 3)}"


def mask_email(email: str | None) -> str:
    """`z***@example.com`."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_id_number(number: str | None) -> str:
    """A resident ID number keeps its first 3 and last 4 characters: `110***********123X`."""
    value = (number or "").strip()
    if not value:
        return ""
    return f"{value[:3]}{'*' * max(len(value) - 7, 4)}{value[-4:]}" if len(value) >= 8 else "****"


def mask_unit(unit: str | None) -> str:
    """The exact flat (`2-301`) is hidden; the building stays visible elsewhere."""
    return "***" if unit else ""


def mask_address(channel: str, address: str | None) -> str:
    """A delivery address by channel: `138****8000`, `z***@example.com`, or a robot/webhook URL
    without its path and key."""
    if not address:
        return ""
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        return mask_email(address)
    if channel in ("wechat_work", "webhook"):
        parts = urlsplit(address)
        return f"{parts.scheme}://{parts.hostname or '?'}/…" if parts.scheme else "***"
    return "***"
