"""Who is asking, and council's context: the request's member of staff and the composition root."""

from __future__ import annotations

from typing import cast

from flask import current_app
from flask_login import current_user

from services.council.bootstrap import Council
from shared.auth import Staff


def current_council() -> Council:
    """Council's composition root, built once by the app factory."""
    return current_app.extensions["council"]


def current_staff() -> Staff:
    """The logged-in member of staff (the endpoint's role check has let them in)."""
    return cast(Staff, current_user)
