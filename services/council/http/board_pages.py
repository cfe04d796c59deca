"""The public board's pages (no login, zh-CN and en, phone-first) and their CSV downloads:
/board/<community>, /board/street/<street>, /board/district, each with `?period=YYYY-Qn`."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from markupsafe import Markup

from services.council import board
from services.council.domain.charts import bar_chart
from services.council.http.board_text import label
from services.council.http.context import current_council

bp = Blueprint("board", __name__, url_prefix="/board")
PERIOD = re.compile(r"^\d{4}-Q[1-4]$")
# Public, aggregated, rebuilt a few seconds after the facts change: a short shared cache is fine.
CACHE = {"Cache-Control": "public, max-age=60"}


def period_arg() -> str | None:
    """The `period` query argument, checked (None for the newest quarter)."""
    period = request.args.get("period") or None
    if period is not None and not PERIOD.match(period):
        abort(404)
    return period


def board_view(level: str, code: str) -> dict[str, Any]:
    """The board's view of an area for the request's period; 404 for an unknown area or period."""
    try:
        return board.view(current_council(), level, code, period_arg())
    except board.NotFound:
        abort(404)


def _charts(v: dict[str, Any]) -> dict[str, Markup]:
    """SVG charts of the area's own figures (a community's row, a street's or the district's total)."""
    out: dict[str, Markup] = {}
    for t in v["tables"]:
        if t["key"] not in ("received_by_source", "ended_by_outcome") or t["not_shown"] or t["withheld"]:
            continue
        line = t["rows"][0] if v["level"] == "community" and t["rows"] else t["total"]
        if not line:
            continue
        bars = [(label(c), value) for c, value in zip(t["columns"], line["cells"], strict=True)]
        out[t["key"]] = Markup(bar_chart(label(t["key"]), bars, f"chart-{t['key']}"))  # noqa: S704 (escaped)
    return out


def money(amount: str) -> str:
    """An exact decimal string as yuan with thousands separators ("¥12,345.60"); never via a float."""
    value = Decimal(amount)
    return f"-¥{-value:,.2f}" if value < 0 else f"¥{value:,.2f}"


def _page(level: str, code: str) -> Any:
    v = board_view(level, code)
    csv_url = request.path.rstrip("/") + "/figures.csv" + (f"?period={v['quarter']}" if v["quarter"] else "")
    statement = (v["accounts"] or {}).get("statement")
    body = render_template(
        "council/board.html",
        v=v,
        label=label,
        charts=_charts(v),
        csv_url=csv_url,
        streets=board.streets(),
        money=money,
        minutes_shown=board.MINUTES_SHOWN,
        has_csv=bool(v["quarter"] or (v["plan"] or {}).get("items") or statement),
    )
    return body, 200, CACHE


def _csv(level: str, code: str) -> Response:
    v = board_view(level, code)
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 with BOM: spreadsheet programs then read the Chinese correctly
    csv.writer(out).writerows(board.csv_rows(v, label))
    name = f"board-{code}-{v['quarter'] or 'none'}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **CACHE},
    )


@bp.get("/district")
def district_page() -> Any:
    """The district's board."""
    return _page(board.DISTRICT, board.DISTRICT)


@bp.get("/district/figures.csv")
def district_csv() -> Response:
    """The district's figures as CSV (UTF-8 with BOM)."""
    return _csv(board.DISTRICT, board.DISTRICT)


@bp.get("/street/<street>")
def street_page(street: str) -> Any:
    """A street's board: its communities' rows, and the street's totals where they reveal nothing."""
    return _page("street", street)


@bp.get("/street/<street>/figures.csv")
def street_csv(street: str) -> Response:
    """A street's figures as CSV (UTF-8 with BOM)."""
    return _csv("street", street)


@bp.get("/<community>")
def community_page(community: str) -> Any:
    """A community's board."""
    return _page("community", community)


@bp.get("/<community>/figures.csv")
def community_csv(community: str) -> Response:
    """A community's figures as CSV (UTF-8 with BOM)."""
    return _csv("community", community)
