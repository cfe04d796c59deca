"""Who may administer what (`domain.administration`): pure rules, no I/O."""

from __future__ import annotations

import pytest

from services.mediation.domain.administration import (
    may_disable,
    may_grant,
    may_manage_account,
    may_manage_studio,
)

ADMIN = {"district_admin"}
LEAD = {"studio_lead"}


def test_studios_are_managed_by_admins_and_their_own_lead() -> None:
    assert may_manage_studio(ADMIN, None, "zhihe")
    assert may_manage_studio(LEAD, "zhihe", "zhihe")
    assert not may_manage_studio(LEAD, "heping-rc", "zhihe")
    assert not may_manage_studio({"mediator"}, "zhihe", "zhihe")


@pytest.mark.parametrize(
    ("roles", "studio", "account_roles", "account_studio", "allowed"),
    [
        (ADMIN, None, ["district_admin"], None, True),
        (LEAD, "zhihe", ["mediator"], "zhihe", True),
        (LEAD, "zhihe", ["studio_lead"], "zhihe", True),
        (LEAD, "zhihe", ["mediator"], "heping-rc", False),
        (LEAD, "zhihe", ["district_admin"], "zhihe", False),
        (LEAD, None, ["mediator"], None, False),
        ({"mediator"}, "zhihe", ["mediator"], "zhihe", False),
    ],
)
def test_accounts_a_lead_may_manage(roles, studio, account_roles, account_studio, allowed) -> None:
    assert may_manage_account(roles, studio, account_roles, account_studio) is allowed


@pytest.mark.parametrize(
    ("role", "studio", "allowed"),
    [
        ("mediator", "zhihe", True),
        ("studio_lead", "zhihe", True),
        ("mediator", "heping-rc", False),
        ("district_admin", None, False),
        ("patrol_member", None, False),
        ("building_leader", None, False),
    ],
)
def test_roles_a_lead_may_grant(role, studio, allowed) -> None:
    assert may_grant(LEAD, "zhihe", role, studio) is allowed
    assert may_grant(ADMIN, None, role, studio)


def test_nobody_disables_themselves_nor_the_last_active_admin() -> None:
    assert may_disable("admin", "admin", 3, True) == "self"
    assert may_disable("admin", "other", 1, True) == "last_admin"
    assert may_disable("admin", "other", 2, True) is None
    assert may_disable("admin", "mediator", 1, False) is None
