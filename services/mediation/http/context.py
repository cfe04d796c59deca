"""Who is asking and with what: the request's staff member, the use cases' actor, mediation's context."""

from __future__ import annotations

from typing import cast

from flask import current_app
from flask_login import current_user

from services.mediation.bootstrap import Mediation
from services.mediation.domain.actor import Actor
from shared.auth import Staff

STAFF = ("mediator", "studio_lead", "patrol_member", "district_admin")
LEADS = ("studio_lead", "district_admin")


def current_mediation() -> Mediation:
    """Mediation's composition root, built once by the app factory."""
    return current_app.extensions["mediation"]


def current_staff() -> Staff:
    """The logged-in member of staff (the endpoint's role check has let them in)."""
    return cast(Staff, current_user)


def current_actor() -> Actor:
    """The logged-in member of staff as the use cases see them."""
    staff = current_staff()
    return Actor(staff.user_id, frozenset(staff.roles), staff.studio)
