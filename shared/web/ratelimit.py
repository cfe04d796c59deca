"""Rate limiting per client, counted in the service's own MongoDB (shared by all gunicorn workers).

A fixed window per client: `limit` hits per `window` seconds. The client key is a keyed hash of
its address (an IP address is personal data: it is never stored in the clear). Behind a reverse
proxy, wrap the app in werkzeug's ProxyFix so `request.remote_addr` is the client's.

    limiter = RateLimiter(db.rate_limits, RateLimit.parse("30/600"), secret=settings.secret_key)
    if not limiter.hit("file-case"):
        abort(429)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import request
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True)
class RateLimit:
    """`limit` hits per `window` seconds."""

    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`"30/600"` → 30 hits per 600 seconds."""
        limit, _, window = text.partition("/")
        parsed = cls(int(limit), int(window or 60))
        if parsed.limit < 1 or parsed.window < 1:
            raise ValueError(f"bad rate limit {text!r}: both numbers must be positive")
        return parsed


def ensure_rate_limit_indexes(collection: Collection) -> None:
    """Windows expire by themselves (TTL index) once they are over."""
    collection.create_index("expires_at", expireAfterSeconds=0)


class RateLimiter:
    """Counts hits per client and action in `collection`."""

    def __init__(self, collection: Collection, rate: RateLimit, secret: str) -> None:
        self.collection = collection
        self.rate = rate
        self.secret = secret.encode()

    def client_key(self, address: str | None = None) -> str:
        """A keyed hash of the client's address (the request's when not given)."""
        raw = (address if address is not None else request.remote_addr) or "unknown"
        return hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()[:32]

    def hit(self, action: str, address: str | None = None, now: float | None = None) -> bool:
        """Count one hit; False when the client is over its limit in the current window."""
        now = time.time() if now is None else now
        window = int(now // self.rate.window)
        expires = datetime.fromtimestamp((window + 1) * self.rate.window, UTC) + timedelta(seconds=5)
        key = {"_id": f"{action}:{self.client_key(address)}:{window}"}
        under_limit = {**key, "count": {"$lt": self.rate.limit}}
        # A point update, not find_one_and_update: SecantusDB's findAndModify scans the whole
        # collection (15 ms with 2,000 clients' windows against 0.7 ms).
        try:
            self.collection.update_one(
                under_limit, {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}}, upsert=True
            )
            return True
        except DuplicateKeyError:
            # The window's document exists but did not match: the client is over its limit, or
            # two first hits raced to create it. Only the second may count this hit.
            return self.collection.update_one(under_limit, {"$inc": {"count": 1}}).modified_count == 1
