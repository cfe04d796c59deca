"""Outgoing webhooks for other systems, signed with HMAC-SHA256.

Each request carries:
- `X-Concord-Timestamp`: Unix seconds when this attempt was sent;
- `X-Concord-Signature`: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
- `X-Concord-Delivery`: the delivery id (the same on every retry), for the receiver to drop repeats.
A receiver recomputes the signature over the raw body and refuses a timestamp older than a few
minutes (`verify_signature` below does both), so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from services.notify.channels import Outgoing
from services.notify.channels.http import post

SIGNATURE_HEADER = "X-Concord-Signature"
TIMESTAMP_HEADER = "X-Concord-Timestamp"
DELIVERY_HEADER = "X-Concord-Delivery"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_signature(
    secret: str,
    signature: str,
    timestamp: str,
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver checks: a fresh timestamp and a signature made with the shared secret."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature or "")


class WebhookChannel:
    def __init__(self, secret: str, timeout: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("WEBHOOK_SECRET must be set to send webhooks")
        self.secret = secret
        self.timeout = timeout
        self.clock = clock

    def send(self, outgoing: Outgoing) -> str:
        """POST the payload, signed at this attempt's time; returns the receiver's answer."""
        body = json.dumps(outgoing.payload or {}, ensure_ascii=False, sort_keys=True).encode("utf-8")
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            DELIVERY_HEADER: outgoing.delivery_id,
        }
        status, text = post(outgoing.address, body, headers, self.timeout)
        return f"HTTP {status}: {text}"
