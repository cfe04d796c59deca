"""Each building's WeChat Work group robot: where council's notices to a building's group go.

One document per community and building in `building_groups` (_id "<community>:<building>"), kept by
the community's committee on a small page. The robot URL carries the group's key (whoever has it can
post to the group), so pages show it masked, and events carry it only to notify.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pymongo.client_session import ClientSession

from services.council import access
from services.council.bootstrap import Council
from shared.auth import Staff
from shared.messaging.envelope import utcnow


class Forbidden(PermissionError):
    """Only the community's committee members (and district admins) keep the building groups."""


class BadWebhook(ValueError):
    """Not a robot webhook URL; `building` says which row."""

    def __init__(self, building: str, message: str) -> None:
        super().__init__(message)
        self.building = building


def group_id(community: str, building: str) -> str:
    """The document id of a building's group."""
    return f"{community}:{building}"


def check_url(building: str, url: str) -> str:
    """A robot URL as stored: http(s) with a host and no spaces (https in practice: the robot's own
    address is https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...)."""
    value = url.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c.isspace() for c in value):
        raise BadWebhook(building, "The robot address must be a web address starting with https://.")
    if len(value) > 500:
        raise BadWebhook(building, "The robot address is too long.")
    return value


def mask_url(url: str) -> str:
    """Host and path with the key hidden but for its last four characters."""
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 8 else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}?…{tail}"


def buildings(council: Council, community: str) -> list[str]:
    """The community's buildings in the register (natural order: 2 before 10)."""
    names = council.db.flats.distinct("building", {"community": community})
    return sorted(names, key=lambda b: (len(b), b))


def list_groups(council: Council, community: str, staff: Staff) -> list[dict[str, Any]]:
    """Every building of the community with its robot URL masked (None when it has none)."""
    if not access.may_edit_register(staff, community):
        raise Forbidden(community)
    known = {g["building"]: g for g in council.db.building_groups.find({"community": community})}
    return [
        {"building": b, "webhook": mask_url(known[b]["webhook_url"]) if b in known else None}
        for b in buildings(council, community)
    ]


def save_groups(council: Council, community: str, staff: Staff, urls: Mapping[str, str]) -> int:
    """Set (or, with an empty value, remove) the robot URL of buildings. All rows are checked first:
    one bad URL stores nothing. Returns the number of buildings changed."""
    if not access.may_edit_register(staff, community):
        raise Forbidden(community)
    known = set(buildings(council, community))
    cleaned: dict[str, str | None] = {}
    for building, url in urls.items():
        if building not in known:
            raise BadWebhook(building, f"Building {building} is not in the register.")
        cleaned[building] = check_url(building, url) if url and url.strip() else None
    now = utcnow()
    for building, url in cleaned.items():
        if url is None:
            council.db.building_groups.delete_one({"_id": group_id(community, building)})
            continue
        council.db.building_groups.replace_one(
            {"_id": group_id(community, building)},
            {
                "_id": group_id(community, building),
                "community": community,
                "building": building,
                "webhook_url": url,
                "updated_by": staff.user_id,
                "updated_at": now,
            },
            upsert=True,
        )
    return len(cleaned)


def group_refs(
    council: Council, community: str, only: Iterable[str] | None = None, session: ClientSession | None = None
) -> list[dict[str, str]]:
    """The building groups to tell, as events carry them ({building, webhook_url}); `only` limits the
    buildings (a reminder tells only the reminded buildings' groups)."""
    query: dict[str, Any] = {"community": community}
    if only is not None:
        query["building"] = {"$in": sorted(set(only))}
    rows = council.db.building_groups.find(query, session=session)
    return sorted(
        ({"building": g["building"], "webhook_url": g["webhook_url"]} for g in rows),
        key=lambda g: g["building"],
    )
