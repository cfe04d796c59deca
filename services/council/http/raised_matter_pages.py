"""Matters residents raised at reception days for the owners' council (intake's walk-in register,
issue 14.6): listed for the community's committee and district admins. What and where, never who."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from services.council import access, walk_ins
from services.council.http.context import current_council, current_staff
from services.council.http.home_pages import community_names
from shared.auth import requires_role
from shared.taxonomy import CATEGORIES

bp = Blueprint("raised_matters", __name__, template_folder="../templates")


@bp.get("/communities/<community>/raised-matters")
@requires_role(*access.REGISTER_EDITORS)
def index(community: str) -> Any:
    """The community's collective matters raised at reception days, newest first."""
    if community not in community_names():
        abort(404)
    if not access.may_edit_register(current_staff(), community):
        abort(403)
    return render_template(
        "council/raised_matters.html",
        community=community,
        matters=walk_ins.raised_matters(current_council(), community),
        categories={c.code: c for c in CATEGORIES},
    )
