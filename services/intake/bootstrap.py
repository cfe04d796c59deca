"""Composition root of intake: builds the adapters once and hands them to entrypoints."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import OperationFailure

from shared.config import Settings
from shared.service import ServiceContext, ensure_messaging_indexes
from shared.web.ratelimit import RateLimit, RateLimiter, ensure_rate_limit_indexes

SERVICE = "intake"


@dataclass
class Intake(ServiceContext):
    """Everything intake's use cases need; the database client is opened lazily per process."""

    name = SERVICE
    # A filing is one insert carrying its case.submitted event; a download's access row carries
    # its attachment.downloaded event.
    carriers = ("cases", "attachment_access")

    @property
    def limiter(self) -> RateLimiter:
        rate = RateLimit.parse(self.settings.intake_rate_limit)
        return RateLimiter(self.db.rate_limits, rate, self.settings.secret_key)

    @property
    def env_api_keys(self) -> tuple[str, ...]:
        """Open311 keys from OPEN311_API_KEYS (comma-separated): local runs and tests."""
        raw = self.settings.open311_api_keys
        return tuple(key.strip() for key in raw.split(",") if key.strip())


def ensure_indexes(db: Database) -> None:
    """Create intake's indexes (idempotent; run at start-up)."""
    ensure_messaging_indexes(db, Intake.carriers)
    ensure_rate_limit_indexes(db.rate_limits)
    # A case's `_id` is its reference (unique by itself), and nothing filters or sorts on
    # `updated_at`: indexes on them only made every write of a case dearer (a filing's insert and
    # its sent mark each cost ~20 % more on SecantusDB with them). Dropped where an older version
    # created them.
    for redundant in ("reference_1", "updated_at_-1"):
        if redundant in db.cases.index_information():
            with contextlib.suppress(OperationFailure):  # another process dropped it first
                db.cases.drop_index(redundant)
    db.cases.create_index("open311_token", sparse=True)
    db.api_keys.create_index("key_hash", unique=True)
    # Codes to find a lost tracking link: gone by themselves once expired.
    db.recovery_codes.create_index("expires_at", expireAfterSeconds=0)
    db.attachment_access.create_index([("reference", ASCENDING), ("at", DESCENDING)])
    db.walk_ins.create_index([("community", ASCENDING), ("at", DESCENDING)])
    # "Is it settled?": a survey link is found by its token's hash; one linked case per request.
    db.settlement_surveys.create_index("token_hash", unique=True)
    db.cases.create_index("linked_request", unique=True, sparse=True)
    # A building leader's page: the cases of their buildings, and those they filed themselves.
    db.cases.create_index([("community", ASCENDING), ("building", ASCENDING), ("received_at", DESCENDING)])
    db.cases.create_index([("filer_account", ASCENDING), ("received_at", DESCENDING)], sparse=True)
    # The duplicate lookup's filter: equality fields first, the date range last, so the index
    # answers it alone (SecantusDB scans ~10 ms per 3,000 cases when `open` is not in the index).
    db.cases.create_index(
        [
            ("community", ASCENDING),
            ("building", ASCENDING),
            ("category", ASCENDING),
            ("open", ASCENDING),
            ("received_at", DESCENDING),
        ]
    )


def bootstrap(settings: Settings | None = None) -> Intake:
    """The composition root: intake's adapters built from `settings` (the environment's if None)."""
    return Intake(settings or Settings.from_env())
