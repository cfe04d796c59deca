"""The public board's content: the stored (already suppressed) quarter tables cut for one community,
one street or the district, the rates computed from published numbers only, and the closed
consultations' results. No request objects here; pages, JSON and CSV are built from `view`.

Nothing is computed from raw facts per request: the tables were suppressed when the facts changed
(services/council/statistics.py). A page only picks rows out of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.council import accounts, minutes, plan, settlement_answers, walk_ins
from services.council.bootstrap import Council
from services.council.domain import board_tables as bt
from shared.messaging.envelope import utcnow
from shared.taxonomy import communities

DISTRICT = "district"
BEIJING = ZoneInfo("Asia/Shanghai")
# The board lists this many minutes; the rest are behind "more" on the page (all are in the JSON).
MINUTES_SHOWN = 5
MINUTES_MAX = 50
# Tables whose row total is no figure of its own (cases + persons) or equals the one cell.
NO_TOTAL = frozenset({"criminal_prevented", "petitions_prevented", "persons", "accepted", "performed"})


class NotFound(Exception):
    """No such community, street or quarter."""


def streets() -> dict[str, list[str]]:
    """Street code -> its communities' codes, in the reference data's order."""
    out: dict[str, list[str]] = {}
    for c in communities():
        out.setdefault(c.street, []).append(c.code)
    return out


def quarters(council: Council) -> list[str]:
    """The quarters the board has (mediation's figures, reception-day walk-ins or "is it settled?"
    answers), newest first."""
    built = {d["_id"] for d in council.db.board_quarters.find({}, {"_id": 1})}
    built |= set(council.db.settlement_facts.distinct("quarter"))
    return sorted(built | set(council.db.walk_in_facts.distinct("quarter")), reverse=True)


def _area_rows(level: str, code: str) -> list[str] | None:
    if level == "community":
        return [code] if code in {c.code for c in communities()} else None
    if level == "street":
        return streets().get(code)
    return None  # the district: every row


def _cut(level: str, members: list[str] | None, table: dict[str, Any]) -> dict[str, Any]:
    pub = table["published"]
    rows = []
    for i, area in enumerate(table["rows"]):
        if members is None or area in members:
            rows.append({"area": area, "cells": pub["cells"][i], "total": pub["row_totals"][i]})
    total: dict[str, Any] | None = None
    if level == "street":
        summed = bt.street_total([[*r["cells"], r["total"]] for r in rows])
        total = {"cells": summed[:-1], "total": summed[-1]} if summed else None
    elif level == DISTRICT:
        total = {"cells": pub["col_totals"], "total": pub["grand_total"]}
    return {"rows": rows, "total": total}


def _figure_row(level: str, cut: dict[str, Any]) -> dict[str, Any] | None:
    """The area's own figures in a cut: the community's row, or the street's/district's total."""
    if level == "community":
        return cut["rows"][0] if cut["rows"] else None
    return cut["total"]


def view(council: Council, level: str, code: str, quarter: str | None = None) -> dict[str, Any]:
    """Everything the board shows for an area ("community" | "street" | "district") in a quarter
    (the newest by default). Raises NotFound for an unknown area or quarter."""
    members = _area_rows(level, code)
    if level != DISTRICT and members is None:
        raise NotFound(f"no {level} {code!r}")
    available = quarters(council)
    quarter = quarter or (available[0] if available else None)
    doc = council.db.board_quarters.find_one({"_id": quarter}) if quarter else None
    if quarter is not None and quarter not in available and available:
        raise NotFound(f"no figures for {quarter!r}")
    tables: list[dict[str, Any]] = []
    rates: dict[str, str | None] = {"success_rate": None, "closed_within_month": None, "median_days": None}
    if doc is not None:
        for family in bt.FAMILIES:
            table = doc["tables"][family.key]
            cut = _cut(level, members, table)
            allowed = bool(cut["rows"]) or level == DISTRICT
            tables.append(
                {
                    "key": family.key,
                    "columns": table["columns"],
                    "rows": cut["rows"],
                    "total": cut["total"],
                    "show_row_totals": family.key not in NO_TOTAL,
                    "withheld": bool(table["published"]["withheld"]),
                    # A community's category breakdown needs 10 cases in the quarter.
                    "not_shown": not allowed,
                }
            )
        by_key = {t["key"]: t for t in tables}
        outcome = _figure_row(level, by_key["ended_by_outcome"])
        timing = _figure_row(level, by_key["ended_by_time"])
        if outcome:
            rate = bt.ratio(outcome["cells"][0], outcome["cells"][:2])
            rates["success_rate"] = None if rate is None else f"{float(rate) * 100:.0f}%"
        if timing:
            share = bt.ratio(timing["cells"][0], timing["cells"])
            rates["closed_within_month"] = None if share is None else f"{float(share) * 100:.0f}%"
        median_key = code if level == "community" else f"street:{code}" if level == "street" else DISTRICT
        rates["median_days"] = doc["medians"].get(median_key)
    street = next((c.street for c in communities() if c.code == code), None) if level == "community" else None
    return {
        "level": level,
        "code": code,
        "street": street,
        "quarter": quarter,
        "quarters": available,
        "tables": tables,
        "rates": rates,
        "consultations": consultation_results(council, members if level != DISTRICT else None),
        # Reception-day walk-ins by outcome (intake's register), one suppressed table for the area.
        "walk_ins": walk_ins.board_table(council, members or [c.code for c in communities()], quarter),
        # "Is it settled?" answers by answer (issue 14.4), suppressed like every board table.
        "settlement": settlement_answers.board_table(
            council, members or [c.code for c in communities()], quarter
        ),
        # A community's own records; a street's or the district's board links to each community's.
        "minutes": published_minutes(council, code) if level == "community" else None,
        "plan": plan_progress(council, code) if level == "community" else None,
        "accounts": latest_statement(council, code) if level == "community" else None,
        "communities": [] if level == "community" else community_links(members),
    }


def _text(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: str(v) for k, v in value.items() if isinstance(v, str)}
    return {"zh-CN": str(value), "en": str(value)} if value else {}


def consultation_results(council: Council, members: list[str] | None) -> list[dict[str, Any]]:
    """Closed consultations with a frozen result (read defensively: another part of council writes
    them; see /work/briefs/council-contract.md). Only aggregate figures, never a ballot."""
    query: dict[str, Any] = {"status": {"$in": ["closed", "published"]}, "result": {"$type": "object"}}
    if members is not None:
        query["community"] = {"$in": members}
    out = []
    for c in council.db.consultations.find(query).sort("closed_at", -1).limit(20):
        result = c.get("result") or {}
        vote = result.get("vote") if isinstance(result.get("vote"), dict) else None
        outcome = vote.get("outcome") if vote else None
        closed = c.get("closed_at")
        out.append(
            {
                "id": str(c["_id"]),
                "community": c.get("community"),
                "kind": c.get("kind"),
                "title": _text(c.get("title")),
                "closed_month": closed.strftime("%Y-%m") if hasattr(closed, "strftime") else None,
                "answered": result.get("answered") if isinstance(result.get("answered"), int) else None,
                "eligible": result.get("eligible") if isinstance(result.get("eligible"), int) else None,
                "vote_outcome": outcome if outcome in ("passed", "failed", "no_quorum") else None,
            }
        )
    return out


def _day(at: Any) -> str | None:
    """A stored UTC time as its Beijing calendar day (a meeting's date, not a statistic)."""
    if not isinstance(at, datetime):
        return None
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).date().isoformat()


def published_minutes(council: Council, community: str) -> list[dict[str, Any]]:
    """The community's published minutes, newest meeting first: title, day and the public page's path
    (adopted but unpublished minutes, and drafts, never)."""
    return [
        {
            "meeting_id": m["id"],
            "title": m["title"],
            "day": _day(m["starts_at"]),
            "url": f"/m/{m['id']}/minutes",
        }
        for m in minutes.published_list(council, community, MINUTES_MAX)
    ]


def plan_progress(council: Council, community: str) -> dict[str, Any]:
    """The plan's top-level items with their rolled-up status and progress and their budget (no
    contractor: it may be a private person), and the public plan's path."""
    docs = plan.items(council, community)
    roll = plan.rolled(docs)
    top = []
    for doc in docs:
        if doc.get("parent_id") is None:
            item = plan.view(doc, roll[doc["_id"]])
            top.append({k: item[k] for k in ("id", "title", "title_en", "status", "progress", "budget")})
    return {"items": top, "url": f"/plan/{community}"}


def latest_statement(council: Council, community: str, now: datetime | None = None) -> dict[str, Any]:
    """The latest month with approved entries, as its statement (opening, income, spending, closing,
    exact decimals as strings), whether that month is still running, and the public accounts' path.
    Unapproved entries never count (accounts.monthly_statements reads approved ones only)."""
    at = now or utcnow()
    statements = [s for s in accounts.monthly_statements(council, community, at) if s.entries]
    latest = statements[-1] if statements else None
    today = accounts.beijing_today(at)
    return {
        "statement": None
        if latest is None
        else {
            k: latest.as_dict()[k] for k in ("month", "opening", "income", "spending", "closing", "entries")
        },
        "month_running": latest is not None and (latest.year, latest.month) == (today.year, today.month),
        "url": f"/accounts/{community}",
    }


def community_links(members: list[str] | None) -> list[dict[str, str]]:
    """Each community of a street (or of the district) with the paths of its board, plan and accounts."""
    codes = members if members is not None else [c.code for c in communities()]
    return [
        {"code": c, "board_url": f"/board/{c}", "plan_url": f"/plan/{c}", "accounts_url": f"/accounts/{c}"}
        for c in codes
    ]


def csv_rows(v: dict[str, Any], label: Any) -> list[list[str]]:
    """The board's tables as CSV rows: period, table, area, column, value (values as shown: "<5", "x").
    The period is the statistics' quarter; the accounts statement's month; empty for the plan's
    progress, which is as of today. Minutes are links, not figures: they are not in the CSV."""
    out = [["period", "table", "area", "column", "value"]]
    for t in v["tables"]:
        if t["not_shown"]:
            continue
        lines = [(label(r["area"]), r) for r in t["rows"]]
        if t["total"]:
            lines.append((label("total"), t["total"]))
        for name, line in lines:
            for column, value in zip(t["columns"], line["cells"], strict=True):
                out.append([v["quarter"] or "", label(t["key"]), name, label(column), str(value)])
            if t["show_row_totals"] and len(t["columns"]) > 1:
                out.append([v["quarter"] or "", label(t["key"]), name, label("total"), str(line["total"])])
    if v.get("plan"):
        for item in v["plan"]["items"]:
            # The title as the committee wrote it (Chinese); the value is the percentage done.
            out.append(["", label("plan_progress"), label(v["code"]), item["title"], item["progress"]])
    statement = (v.get("accounts") or {}).get("statement")
    if statement:
        for column in ("opening", "income", "spending", "closing"):
            out.append(
                [statement["month"], label("accounts"), label(v["code"]), label(column), statement[column]]
            )
    return out
