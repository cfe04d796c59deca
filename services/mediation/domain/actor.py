"""Who acts on a case: a member of staff (user id, roles, studio) or the system."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Actor:
    """Who acts: a member of staff (user id) or the system."""

    user_id: str
    roles: frozenset[str] = frozenset()
    studio: str | None = None
