"""The rate limiter against the real database: exact under concurrent first hits, per client and
per window."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.config import Settings
from shared.db import get_database
from shared.web.ratelimit import RateLimit, RateLimiter, ensure_rate_limit_indexes


def limiter(settings: Settings, rate: str) -> RateLimiter:
    db = get_database(settings, "test")
    ensure_rate_limit_indexes(db.rate_limits)
    return RateLimiter(db.rate_limits, RateLimit.parse(rate), secret="test-secret")


def test_concurrent_hits_of_one_client_allow_exactly_the_limit(settings: Settings) -> None:
    rate_limiter = limiter(settings, "5/600")
    at = 1_800_000_000.0  # one fixed window, whatever the clock says
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: rate_limiter.hit("file", "198.51.100.1", now=at), range(24)))
    assert answers.count(True) == 5
    # Another client and the next window start afresh.
    assert rate_limiter.hit("file", "198.51.100.2", now=at) is True
    assert rate_limiter.hit("file", "198.51.100.1", now=at + 600) is True
    assert rate_limiter.hit("other-action", "198.51.100.1", now=at) is True


def test_refused_hits_are_not_counted_and_addresses_are_not_stored(settings: Settings) -> None:
    rate_limiter = limiter(settings, "2/60")
    at = 1_800_000_030.0
    assert [rate_limiter.hit("file", "192.0.2.9", now=at) for _ in range(4)] == [True, True, False, False]
    [row] = list(rate_limiter.collection.find({}))
    assert row["count"] == 2
    assert "192.0.2.9" not in str(row)  # a keyed hash, never the address
