"""The public board as JSON (no login): GET /api/v1/board/<community>, /api/v1/board/street/<street>,
/api/v1/board/district, each with `?period=YYYY-Qn` (the newest quarter by default). The same
suppressed figures as the pages: counts 1 to 4 as "<5", complementary hidden counts as "x"."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.council import board
from services.council.bootstrap import Council
from services.council.http.schemas import BoardQuerySchema, BoardSchema

blp = Blueprint(
    "board_api",
    __name__,
    url_prefix="/api/v1/board",
    description="The public board: mediation statistics by quarter (suppressed), consultation results and,"
    " for a community, its published minutes, the plan's progress and the latest public accounts statement.",
)


def _view(level: str, code: str, query: dict[str, Any]) -> dict[str, Any]:
    council: Council = current_app.extensions["council"]
    try:
        return board.view(council, level, code, query.get("period"))
    except board.NotFound as err:
        abort(404, message=str(err))
    raise AssertionError("unreachable")


@blp.route("/district")
class District(MethodView):
    @blp.arguments(BoardQuerySchema, location="query")
    @blp.response(200, BoardSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The district's figures (the margins of the district tables, and every community's row)."""
        return _view(board.DISTRICT, board.DISTRICT, query)


@blp.route("/street/<street>")
class Street(MethodView):
    @blp.arguments(BoardQuerySchema, location="query")
    @blp.response(200, BoardSchema)
    def get(self, query: dict[str, Any], street: str) -> dict[str, Any]:
        """A street's figures: its communities' rows; street totals only where they reveal nothing."""
        return _view("street", street, query)


@blp.route("/<community>")
class CommunityBoard(MethodView):
    @blp.arguments(BoardQuerySchema, location="query")
    @blp.response(200, BoardSchema)
    def get(self, query: dict[str, Any], community: str) -> dict[str, Any]:
        """A community's figures."""
        return _view("community", community, query)
