"""Which studio gets a case: eligible by area and category, then the least loaded.

`route` is a pure function of the case and a snapshot of the studios, so every rule is tested
with tables and the decision can be stored with its reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

RULE_MATCH = "area+category"
RULE_DEFAULT = "no eligible studio: district default"


@dataclass(frozen=True)
class StudioSnapshot:
    code: str
    communities: frozenset[str]
    categories: frozenset[str]
    capacity: int
    open_cases: int = 0
    is_default: bool = False

    @property
    def load(self) -> float:
        """Open cases relative to capacity; a studio at zero capacity counts as full."""
        return self.open_cases / self.capacity if self.capacity > 0 else float("inf")


@dataclass(frozen=True)
class RoutingDecision:
    studio: str
    rule: str
    needs_manual_routing: bool
    candidates: tuple[str, ...] = ()
    loads: dict[str, float] = field(default_factory=dict)


class NoStudioAvailable(Exception):
    """No eligible studio and no default studio: the registry is broken."""


def eligible(studio: StudioSnapshot, community: str, category: str) -> bool:
    return community in studio.communities and category in studio.categories


def route(community: str, category: str, studios: Sequence[StudioSnapshot]) -> RoutingDecision:
    """Pick the studio for a case in `community` about `category`.

    Among eligible studios the one with the lowest load wins; equal loads go to the lowest
    code, so the result is deterministic. With none eligible the district default takes the case
    and flags it for manual routing.
    """
    candidates = sorted((s for s in studios if eligible(s, community, category)), key=lambda s: s.code)
    loads = {s.code: s.load for s in candidates}
    if candidates:
        chosen = min(candidates, key=lambda s: (s.load, s.code))
        return RoutingDecision(chosen.code, RULE_MATCH, False, tuple(loads), loads)
    default = next((s for s in studios if s.is_default), None)
    if default is None:
        raise NoStudioAvailable(f"no studio for {community}/{category} and no default studio")
    return RoutingDecision(default.code, RULE_DEFAULT, True, (), {})
