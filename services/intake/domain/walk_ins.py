"""The reception-day walk-in register's rules (issue 14.6): outcomes, who may keep it, and what a
walk-in says to the rest of the system — pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

ANSWERED = "answered"  # answered on the spot
REFERRED = "referred"  # sent elsewhere (another office, a court, the police...)
CASE = "case"  # turned into a mediation case (source: reception day)
COLLECTIVE = "collective"  # a matter for the owners' council (parking, fees, the shared venue...)
OUTCOMES = (ANSWERED, REFERRED, CASE, COLLECTIVE)

# Who keeps the register on reception days: the community's staff (council's committee members),
# the mediators and leads receiving with them, and district admins.
CLERK_ROLES = ("committee_member", "mediator", "studio_lead", "district_admin")


def case_payload(walk_in: Mapping[str, Any]) -> dict[str, Any]:
    """The filing of a walk-in turned into a case: the visitor applies, the clerk files for them."""
    return {
        "category": walk_in["category"],
        "community": walk_in["community"],
        "building": walk_in["building"],
        "unit": walk_in.get("unit") or "",
        "description": walk_in["matter"],
        "applicants": [{"name": walk_in["name"], "phone": walk_in["phone"]}],
        "respondents": [{"name": walk_in["other_party"]}],
        # The clerk files for the visitor; they need no news of the case (the register keeps who
        # recorded it), so no filer contact is given.
        "filed_by": "clerk",
        "language": walk_in.get("language") or "zh-CN",
        "agrees_to_mediation": bool(walk_in.get("agrees_to_mediation", True)),
        "consent": True,  # the clerk read out the privacy notice (the form says so)
        "source": "reception_day",
    }


def recorded_data(walk_in: Mapping[str, Any]) -> dict[str, Any]:
    """`walk_in.recorded`: the anonymous fact the statistics count (no name, phone or text)."""
    return {
        "walk_in_id": walk_in["_id"],
        "community": walk_in["community"],
        "category": walk_in["category"],
        "outcome": walk_in["outcome"],
        "recorded_at": _iso(walk_in["at"]),
    }


def collective_data(walk_in: Mapping[str, Any]) -> dict[str, Any]:
    """`walk_in.collective_matter`: the matter for the council, without the visitor's name or phone."""
    return {
        "walk_in_id": walk_in["_id"],
        "community": walk_in["community"],
        "building": walk_in["building"],
        "category": walk_in["category"],
        "matter": walk_in["matter"],
        "raised_at": _iso(walk_in["at"]),
    }


def _iso(at: datetime) -> str:
    return at.isoformat()
