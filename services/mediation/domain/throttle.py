"""Login throttling: too many failed passwords for one username from one address lock it a while."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def recent(failures: Sequence[datetime], now: datetime, window: timedelta = WINDOW) -> list[datetime]:
    """The failures still inside the window (older ones are forgotten)."""
    return [at for at in failures if now - at < window]


def locked_until(
    failures: Sequence[datetime], now: datetime, limit: int = MAX_FAILURES, window: timedelta = WINDOW
) -> datetime | None:
    """When the lock ends, if `limit` failures fall inside the window; None when not locked."""
    inside = sorted(recent(failures, now, window))
    if len(inside) < limit:
        return None
    # Unlocked once the oldest failure that keeps the count at `limit` leaves the window.
    return inside[-limit] + window
