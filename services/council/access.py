"""Who may do what in council: roles, communities and a building leader's buildings.

Pure functions of the staff identity (the token's claims): the entrypoints call them before any
use case runs, and the use cases call them again where a row decides (a building leader's flat).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.auth import Staff

COUNCIL_ROLES = ("committee_member", "building_leader", "district_admin")
# Who keeps the register: the committee of the community, and district admins for any community.
REGISTER_EDITORS = ("committee_member", "district_admin")


def visible_communities(staff: Staff, known: Iterable[str]) -> list[str]:
    """The communities whose council pages `staff` may open: all for district admins, else their own."""
    known = list(known)
    if staff.has_role("district_admin"):
        return known
    return [staff.community] if staff.community and staff.community in known else []


def may_see_community(staff: Staff, community: str) -> bool:
    """Anyone with a council role in that community (district admins everywhere)."""
    if staff.has_role("district_admin"):
        return True
    return staff.has_role(*COUNCIL_ROLES) and staff.community == community


def may_edit_register(staff: Staff, community: str) -> bool:
    """Import and edit the register: the community's committee members and district admins."""
    if staff.has_role("district_admin"):
        return True
    return staff.has_role("committee_member") and staff.community == community


def visible_buildings(staff: Staff, community: str) -> frozenset[str] | None:
    """The buildings `staff` may list in `community`: None means every building; empty means none."""
    if may_edit_register(staff, community):
        return None
    if staff.has_role("building_leader") and staff.community == community:
        return frozenset(staff.buildings)
    return frozenset()


def may_view_unmasked(staff: Staff, community: str) -> bool:
    """Names and phones in full: only those who keep the register (building leaders see them masked)."""
    return may_edit_register(staff, community)


def may_keep_meetings(staff: Staff, community: str) -> bool:
    """Schedule meetings, invite, check people in, count votes, draft minutes: the community's
    committee members (the clerk is one of them) and district admins."""
    return may_edit_register(staff, community)
