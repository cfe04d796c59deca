"""The desk's refusals as the JSON API answers them: the status, the message in the client's
language and the fields it names (`shared.web.i18n.api_refusal`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask_smorest import abort

from services.mediation import desk
from shared.web.i18n import api_refusal

T = TypeVar("T")


def answer_refusals(work: Callable[[], T]) -> T:
    """Run a use case; a `desk.DeskError` becomes the API's error answer (nothing was changed)."""
    try:
        return work()
    except desk.DeskError as err:
        message, said = api_refusal(err)
        errors = {k: v if isinstance(v, list) else [v] for k, v in said.items()}
        abort(err.status, message=message, errors=errors or None)
        raise  # abort raises; this line only tells type checkers so
