"""Who may administer what: district admins everything; a studio lead their own studio's members,
leave and working days, and its mediators' and leads' accounts — never a district admin's, never
another studio's, and never a role outside the studio."""

from __future__ import annotations

from collections.abc import Collection

# What a studio lead may grant within their studio; every other role is the district admin's to give.
STUDIO_ROLES = ("mediator", "studio_lead")
# A studio's settings a lead changes for their own studio (who works when, how soon after an
# ending its parties are visited and its applicants asked whether it stayed settled); the rest
# (coverage, categories, capacity, names, channels) are the district's routing decisions.
LEAD_STUDIO_FIELDS = ("working_days", "members", "follow_up_days", "settlement_check_days")


def may_manage_studio(roles: Collection[str], own_studio: str | None, studio: str) -> bool:
    """Whether someone may change a studio's members, leave and working days."""
    return "district_admin" in roles or ("studio_lead" in roles and own_studio == studio)


def may_manage_account(
    roles: Collection[str],
    own_studio: str | None,
    account_roles: Collection[str],
    account_studio: str | None,
) -> bool:
    """Whether someone may see and change an account as it is now (before any change)."""
    if "district_admin" in roles:
        return True
    if "studio_lead" not in roles or own_studio is None:
        return False
    return account_studio == own_studio and all(r in STUDIO_ROLES for r in account_roles)


def may_grant(roles: Collection[str], own_studio: str | None, role: str, studio: str | None) -> bool:
    """Whether someone may give an account this role in this studio (on creation or a change)."""
    if "district_admin" in roles:
        return True
    return "studio_lead" in roles and own_studio is not None and role in STUDIO_ROLES and studio == own_studio


def may_disable(actor: str, account: str, active_admins: int, account_is_admin: bool) -> str | None:
    """Why an account may not be disabled, or None: nobody disables themselves (they would lock
    themselves out mid-task) and the last active district admin stays, or nobody could repair it."""
    if actor == account:
        return "self"
    if account_is_admin and active_admins <= 1:
        return "last_admin"
    return None
