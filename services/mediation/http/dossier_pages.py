"""The archive dossier's download from the case page (`/desk/cases/<reference>/dossier.pdf`), a
route of the desk's blueprint: the same use case as the API (`dossier.download`)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request

from services.mediation import desk, dossier
from services.mediation.http.desk_pages import DESK_ROLES, _actor, _mediation, bp
from shared.auth import requires_role


@bp.get("/desk/cases/<reference>/dossier.pdf")
@requires_role(*DESK_ROLES)
def dossier_pdf(reference: str) -> Any:
    """The dossier's PDF: the stored Chinese one, or `?language=en` rendered in English."""
    language = "en" if request.args.get("language") == "en" else "zh-CN"
    try:
        content = dossier.download(_mediation(), reference, _actor(), language)
    except desk.Forbidden:
        abort(403)
    except desk.NotFound:
        abort(404)
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="dossier-{reference}-{language}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
