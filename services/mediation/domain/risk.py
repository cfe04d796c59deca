"""The risk level a case starts with, from the answers given at intake."""

from __future__ import annotations

# Many people affected makes a dispute a possible group incident.
MANY_PEOPLE = 10


def initial_risk(threat_of_violence: bool, danger_to_safety: bool, people_affected: int | None) -> str:
    """red: possible violence (PML Art 25); orange: danger to safety; yellow: many people; else none."""
    if threat_of_violence:
        return "red"
    if danger_to_safety:
        return "orange"
    if people_affected is not None and people_affected >= MANY_PEOPLE:
        return "yellow"
    return "none"
