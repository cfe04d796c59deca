"""Whom council's community notices name: the community's households and its building groups.

Events about the whole community (a meeting called, moved or called off, minutes published, a plan
item finished) carry every registered flat with its phones and every building's WeChat Work group;
notify decides, by each household's own preferences, who is actually told (these notices are opt-in
for households, always sent to the building groups). Consultation events name their own electorate
instead (`consultations.household_refs`).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.consultations import flat_label


def community_audience(
    council: Council, community: str, session: ClientSession | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The community's households (flat id, building, label, phones) and building groups (building,
    robot URL), in the shape consultation events carry them."""
    rows = council.db.flats.find(
        {"community": community},
        {"building": 1, "unit": 1, "flat": 1, "phones": 1},
        session=session,
    ).sort([("building", ASCENDING), ("unit", ASCENDING), ("flat", ASCENDING)])
    households = [
        {
            "flat_id": str(f["_id"]),
            "building": str(f.get("building") or ""),
            "label": flat_label(f),
            "phones": [str(p) for p in f.get("phones") or []],
        }
        for f in rows
    ]
    groups = [
        {"building": str(g["building"]), "webhook_url": str(g["webhook_url"])}
        for g in council.db.building_groups.find({"community": community}, session=session)
        if g.get("webhook_url") and g.get("building") is not None
    ]
    return households, groups
