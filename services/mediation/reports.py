"""Reports in the Ministry of Justice's monthly table layout, from mediation's own case records: the
query layer (cases and patrol visits of a scope read as rows without any personal data), who may see
which scope, and the downloads (CSV in UTF-8 with a BOM, XLSX with numbers as numbers, a header row
and frozen panes). The counting itself is `domain/report_tables.py`.

Scopes: the district (rows: its streets), a street (rows: its communities) or a studio (rows: the
communities its cases come from, plus the lead's per-mediator table). A studio lead sees their own
studio only; district admins see every scope.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from pymongo.database import Database

from services.mediation import visits
from services.mediation.desk import deadline_from_doc, is_admin
from services.mediation.domain import deadlines as dl
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import report_tables as rt
from services.mediation.domain import settlement as settlement_rules
from services.mediation.domain.actor import Actor
from shared.messaging.envelope import utcnow
from shared.taxonomy import communities, streets

LEVELS = ("district", "street", "studio")
# Only what the counting needs: no party's name, phone or address, no free text.
CASE_FIELDS = {
    "studio": 1,
    "community": 1,
    "category": 1,
    "source": 1,
    "received_at": 1,
    "people_affected": 1,
    "parties.role": 1,
    "amount": 1,
    "status": 1,
    "mediators": 1,
    "prevention": 1,
    "deadline": 1,
    "timeline.at": 1,
    "timeline.from": 1,
    "timeline.to": 1,
    # Follow-up visits that found the agreement performed count as "agreements performed" too.
    "timeline.action": 1,
    "timeline.performance": 1,
}
PATROL_FIELDS = {"studio": 1, "community": 1, "kind": 1, "reported_at": 1, "report.found_early": 1}


class ReportError(Exception):
    """A report that cannot be made as asked (bad period or scope); `errors` names the fields."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ReportForbidden(ReportError):
    """The scope is not the asker's to see."""


@dataclass(frozen=True)
class Scope:
    level: str  # district | street | studio
    area: str  # the district's code, a street code or a studio code


@dataclass
class MediatorRow:
    user_id: str
    name: str
    figures: rt.MediatorFigures


@dataclass
class Report:
    period: rt.Period
    scope: Scope
    title_zh: str
    title_en: str
    rows: list[rt.Unit]
    total: rt.Unit
    mediators: list[MediatorRow] = field(default_factory=list)
    # "Is it settled?" answers given in the period (issue 14.4): an extra figure, not a MoJ column.
    settlement: dict[str, int] = field(default_factory=dict)
    # Follow-up visits recorded in the period: average satisfaction (1-5) and how many gave it.
    # Shown below the MoJ table (it is no column of the ministry's layout).
    satisfaction: dict[str, Any] = field(default_factory=lambda: {"count": 0, "average": None})

    def title(self, language: str) -> str:
        return self.title_zh if language.lower().startswith("zh") else self.title_en


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _last_entry(
    timeline: list[dict[str, Any]], states: tuple[str, ...]
) -> tuple[datetime | None, str | None]:
    """The latest change of state into one of `states` (as announced by case.status_changed)."""
    best: tuple[datetime | None, str | None] = (None, None)
    for entry in timeline:
        to = entry.get("to")
        if to in states and entry.get("from") != to:
            at = _aware(entry.get("at"))
            if at is not None and (best[0] is None or at >= best[0]):
                best = (at, to)
    return best


def _performed_at(timeline: list[dict[str, Any]]) -> datetime | None:
    """The latest follow-up that found the agreement performed: the lifecycle's `record_performed`
    or a follow-up visit (`visits.record_visit`) whose party said it was performed."""
    found = [_last_entry(timeline, (lc.PERFORMED,))[0]]
    found += [
        _aware(entry.get("at"))
        for entry in timeline
        if entry.get("action") == "visit_recorded" and entry.get("performance") == "performed"
    ]
    moments = [at for at in found if at is not None]
    return max(moments) if moments else None


def _overdue(case: dict[str, Any], now: datetime) -> bool:
    deadline = deadline_from_doc(case.get("deadline"))
    if deadline is None:
        return False
    if deadline.stopped_at is not None:
        return _aware(deadline.stopped_at) >= dl.due_at(deadline)  # type: ignore[operator]
    return now >= dl.due_at(deadline, now)


def case_row(case: dict[str, Any], street_of: dict[str, str], now: datetime) -> rt.CaseRow:
    """A stored case as the report's row (codes, counts and times only)."""
    timeline = case.get("timeline") or []
    ended_at, ending = _last_entry(timeline, lc.ENDING_STATES)
    prevention = case.get("prevention") or {}
    return rt.CaseRow(
        studio=case.get("studio") or "",
        community=case["community"],
        street=street_of.get(case["community"], ""),
        category=case["category"],
        source=case.get("source") or "application",
        received_at=_aware(case["received_at"]),  # type: ignore[arg-type]
        persons=max(int(case.get("people_affected") or 0), len(case.get("parties") or [])),
        amount=case.get("amount"),
        accepted_at=_last_entry(timeline, (lc.ACCEPTED,))[0],
        ended_at=ended_at,
        outcome=lc.OUTCOME_OF.get(ending) if ending else None,
        criminal_prevented_persons=int(prevention.get("criminal_prevented_persons") or 0),
        petition_prevented_persons=int(prevention.get("petition_prevented_persons") or 0),
        performed_at=_performed_at(timeline),
        confirmation_applied_at=_last_entry(timeline, (lc.CONFIRMATION_APPLIED,))[0],
        confirmed_at=_last_entry(timeline, (lc.CONFIRMATION_CONFIRMED,))[0],
        mediators=tuple(case.get("mediators") or ()),
        overdue=_overdue(case, now),
    )


def patrol_row(task: dict[str, Any], street_of: dict[str, str]) -> rt.PatrolRow:
    """A reported patrol task as the report's row."""
    return rt.PatrolRow(
        studio=task.get("studio"),
        community=task["community"],
        street=street_of.get(task["community"], ""),
        kind=task["kind"],
        reported_at=_aware(task["reported_at"]),  # type: ignore[arg-type]
        found_early=bool((task.get("report") or {}).get("found_early")),
    )


def scope_for(db: Database, actor: Actor, level: str | None, area: str | None) -> Scope:
    """The scope asked for, if the asker may see it: a lead's is always their own studio."""
    if not is_admin(actor):
        if lc.STUDIO_LEAD not in actor.roles or not actor.studio:
            raise ReportForbidden("Reports are for studio leads and district admins.")
        if (level and level != "studio") or (area and area != actor.studio):
            raise ReportForbidden("A studio lead sees their own studio's report.")
        return Scope("studio", actor.studio)
    level = level or "district"
    if level not in LEVELS:
        raise ReportError("Unknown level.", {"level": [f"One of: {', '.join(LEVELS)}."]})
    if level == "district":
        return Scope("district", "district")
    if level == "street":
        if area not in {s.code for s in streets()}:
            raise ReportError("Unknown street.", {"area": ["Not a street of the district."]})
        return Scope("street", str(area))
    if not area or db.studios.find_one({"_id": area}, {"_id": 1}) is None:
        raise ReportError("Unknown studio.", {"area": ["Not a studio."]})
    return Scope("studio", area)


def _area(code: str, zh: str, en: str, field_: str) -> rt.Area:
    return rt.Area(
        code,
        zh,
        en,
        lambda c: getattr(c, field_) == code,
        lambda p: getattr(p, field_) == code,
    )


def _areas(db: Database, scope: Scope, seen: set[str]) -> tuple[list[rt.Area], rt.Area, tuple[str, str]]:
    """The scope's rows (a studio's: the communities in `seen`), its total row and its title."""
    if scope.level == "district":
        areas = [_area(s.code, s.zh, s.en, "street") for s in streets()]
        total = rt.Area("district", "全区合计", "District total", lambda c: True, lambda p: True)
        return areas, total, ("全区", "The district")
    if scope.level == "street":
        street = next(s for s in streets() if s.code == scope.area)
        areas = [_area(c.code, c.zh, c.en, "community") for c in communities() if c.street == scope.area]
        total = rt.Area(street.code, f"{street.zh}合计", f"{street.en} total", lambda c: True, lambda p: True)
        return areas, total, (street.zh, street.en)
    studio = db.studios.find_one({"_id": scope.area}, {"name": 1}) or {}
    names = studio.get("name") or {}
    zh, en = names.get("zh-CN") or scope.area, names.get("en") or scope.area
    areas = [_area(c.code, c.zh, c.en, "community") for c in communities() if c.code in seen]
    total = rt.Area(scope.area, f"{zh}合计", f"{en} total", lambda c: True, lambda p: True)
    return areas, total, (zh, en)


def _scope_queries(scope: Scope) -> tuple[dict[str, Any], dict[str, Any]]:
    """The case and patrol filters of a scope."""
    case_query: dict[str, Any] = {}
    patrol_query: dict[str, Any] = {}
    if scope.level == "street":
        in_street = [c.code for c in communities() if c.street == scope.area]
        case_query["community"] = patrol_query["community"] = {"$in": in_street}
    elif scope.level == "studio":
        case_query["studio"] = patrol_query["studio"] = scope.area
    return case_query, patrol_query


# --- months kept once they are over ---------------------------------------------------------------
# A report is the sum of its months (every figure is counted in the month of its own event, and the
# median keeps its list of days), so a month that is over is counted once per scope and kept in
# `report_months`; the current (or a future) month is counted live from that month's cases only.
#
# The invalidation rule: every write to a case that can change what a report counts (an action, a
# correction, a move to another studio, an ending's prevention counts) adds a timeline entry dated
# when it is written. A kept month is reused only if no case with anything in that month (its receipt
# or a timeline entry) has gained a timeline entry since the month was counted; otherwise the month
# is counted again. The months' latest changes are kept in `report_touches`, brought up to date at
# each report from the cases touched since the previous one (a watermark), so a check reads recent
# activity only, however old the month. Patrol visits are dated when reported, so a past month's
# visits do not change.
CACHE = "report_months"
# Per month, the latest change of a case with anything in it; and how far the cases were read for it.
TOUCHES = "report_touches"
WATERMARK = "watermark"
# Writes in flight while a month is counted: their entries are dated a little before they commit.
CACHE_MARGIN = timedelta(minutes=5)
# A case is routed (its "received" timeline entry) at most this long after its intake receipt.
ROUTING_LAG = timedelta(days=7)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A month's first moment and the first moment of the next (Beijing)."""
    year, m = (int(x) for x in month.split("-"))
    start = datetime(year, m, 1, tzinfo=rt.BEIJING)
    end = datetime(year + m // 12, m % 12 + 1, 1, tzinfo=rt.BEIJING)
    return start, end


def _figures_doc(figures: rt.Figures) -> dict[str, Any]:
    return {"counts": dict(figures.counts), "close_days": list(figures.close_days)}


def _sum(docs: list[dict[str, Any]]) -> rt.Figures:
    """Figures of consecutive months added up (every count sums; the median's days are joined)."""
    counts: dict[str, int | float] = {}
    days: list[int] = []
    for doc in docs:
        for key, value in doc["counts"].items():
            counts[key] = counts.get(key, 0) + value
        days.extend(doc["close_days"])
    return rt.Figures(counts, tuple(sorted(days)))


def count_month(db: Database, scope: Scope, month: str, now: datetime) -> dict[str, Any]:
    """One month of a scope counted from that month's cases and visits only: by area code, and the
    total; for a studio, the communities that had something that month."""
    start, end = month_bounds(month)
    street_of = {c.code: c.street for c in communities()}
    case_query, patrol_query = _scope_queries(scope)
    # Every event a report counts is a timeline entry in the month; a receipt is followed by its
    # "received" entry within the routing lag.
    case_query["timeline.at"] = {"$gte": start, "$lt": end + ROUTING_LAG}
    patrol_query["reported_at"] = {"$gte": start, "$lt": end}
    cases = [case_row(c, street_of, now) for c in db.cases.find(case_query, CASE_FIELDS)]
    patrols = [patrol_row(t, street_of) for t in db.patrol_tasks.find(patrol_query, PATROL_FIELDS)]
    period = rt.parse_period(month)
    # A studio's rows: the communities with something counted in the month.
    seen = {c.community for c in cases if _counted(c, period)} | {p.community for p in patrols}
    areas, total, _ = _areas(db, scope, seen)
    rows, whole = rt.table(cases, patrols, period, areas, total)
    return {
        "units": {u.code: _figures_doc(u.figures) for u in rows},
        "total": _figures_doc(whole.figures),
        "seen": sorted(seen),
    }


def _counted(row: rt.CaseRow, period: rt.Period) -> bool:
    """Whether a case has any event the table counts in the period."""
    return any(
        period.contains(at)
        for at in (
            row.received_at,
            row.accepted_at,
            row.ended_at,
            row.performed_at,
            row.confirmation_applied_at,
            row.confirmed_at,
        )
    )


def _touches(db: Database, now: datetime) -> tuple[datetime | None, dict[str, datetime]]:
    """Brings `report_touches` up to `now`: for each month, the latest timeline entry of a case with
    anything in that month (its receipt or an entry). Reads only the cases touched since the last
    call (the watermark, kept `CACHE_MARGIN` behind for writes in flight). Returns since when the
    touches are known (None: from now on only) and the touches by month."""
    mark = db[TOUCHES].find_one({"_id": WATERMARK})
    if mark is None:
        db[TOUCHES].update_one(
            {"_id": WATERMARK},
            {"$setOnInsert": {"since": now - CACHE_MARGIN, "through": now - CACHE_MARGIN}},
            upsert=True,
        )
        return None, {}
    touched: dict[str, datetime] = {}
    scanned = db.cases.find(
        {"timeline.at": {"$gte": mark["through"], "$lte": now}}, {"received_at": 1, "timeline.at": 1}
    )
    for case in scanned:
        ats = [a for a in (_aware(e.get("at")) for e in case.get("timeline") or []) if a is not None]
        recent = [a for a in ats if a <= now]
        if not recent:
            continue
        latest = max(recent)
        received = _aware(case.get("received_at"))
        for month in {rt.month_of(a) for a in ats} | ({rt.month_of(received)} if received else set()):
            if month not in touched or touched[month] < latest:
                touched[month] = latest
    for month, at in touched.items():
        db[TOUCHES].update_one({"_id": month}, {"$max": {"at": at}}, upsert=True)
    db[TOUCHES].update_one({"_id": WATERMARK}, {"$max": {"through": now - CACHE_MARGIN}})
    known = {d["_id"]: _aware(d["at"]) for d in db[TOUCHES].find({"_id": {"$ne": WATERMARK}})}
    return _aware(mark["since"]), known  # type: ignore[return-value]


def _still_valid(db: Database, kept: list[dict[str, Any]], now: datetime) -> set[str]:
    """The kept months no case has changed in since they were counted (the rule above)."""
    since, touched = _touches(db, now)
    if since is None:
        return set()
    valid = set()
    for doc in kept:
        counted_at = _aware(doc["counted_at"])
        last = touched.get(doc["month"])
        if counted_at >= since and (last is None or last < counted_at):  # type: ignore[operator]
            valid.add(doc["month"])
    return valid


def _months(db: Database, scope: Scope, period: rt.Period, now: datetime) -> list[dict[str, Any]]:
    """The period's months: kept ones reused while valid, the others counted (and kept once over)."""
    over = {m for m in period.months if month_bounds(m)[1] <= now}
    kept = list(db[CACHE].find({"level": scope.level, "area": scope.area, "month": {"$in": sorted(over)}}))
    valid = _still_valid(db, kept, now)
    by_month = {d["month"]: d for d in kept if d["month"] in valid}
    for month in sorted(period.months):
        if month in by_month:
            continue
        counted_at = now - CACHE_MARGIN
        doc = count_month(db, scope, month, now)
        if month in over:
            key = f"{scope.level}|{scope.area}|{month}"
            doc.update(level=scope.level, area=scope.area, month=month, counted_at=counted_at)
            db[CACHE].replace_one({"_id": key}, {"_id": key, **doc}, upsert=True)
        by_month[month] = doc
    return [by_month[m] for m in sorted(period.months)]


def build(db: Database, scope: Scope, period_code: str, now: datetime | None = None) -> Report:
    """The report of a scope for a period ("2026-11", "2026-Q4", "2026"): the sum of its months."""
    try:
        period = rt.parse_period(period_code)
    except rt.ReportInputError as err:
        raise ReportError(str(err), {"period": [str(err)]}) from err
    now = now or utcnow()
    months = _months(db, scope, period, now)
    seen = {code for m in months for code in m.get("seen", ())}
    areas, total, title = _areas(db, scope, seen)
    rows = [
        rt.Unit(a.code, a.zh, a.en, _sum([m["units"][a.code] for m in months if a.code in m["units"]]))
        for a in areas
    ]
    whole = rt.Unit(total.code, total.zh, total.en, _sum([m["total"] for m in months]))
    report = Report(period, scope, title[0], title[1], rows, whole)
    if scope.level == "studio":
        report.mediators = _mediators(db, scope, period, now)
    report.settlement = settlement_counts(db, scope, period)
    report.satisfaction = _satisfaction(db, scope, period)
    return report


def settlement_counts(db: Database, scope: Scope, period: rt.Period) -> dict[str, int]:
    """Applicants' latest "is it settled?" answers whose first answer fell in the period, by answer
    (settled, not_settled, not_sure), in the scope's cases."""
    case_query, _ = _scope_queries(scope)
    counts = dict.fromkeys(settlement_rules.ANSWERS, 0)
    for case in db.cases.find(
        {**case_query, "settlement.answers": {"$exists": True}}, {"settlement.answers": 1}
    ):
        for answer in ((case.get("settlement") or {}).get("answers") or {}).values():
            first = _aware(answer.get("first_answered_at") or answer.get("answered_at"))
            if period.contains(first) and answer.get("answer") in counts:
                counts[answer["answer"]] += 1
    return counts


def _satisfaction(db: Database, scope: Scope, period: rt.Period) -> dict[str, Any]:
    """Satisfaction from the follow-up visits recorded in the period, for the scope's cases."""
    start = month_bounds(min(period.months))[0]
    end = month_bounds(max(period.months))[1]
    if scope.level == "studio":
        return visits.satisfaction(db, start, end, [scope.area])
    if scope.level == "street":
        case_query, _ = _scope_queries(scope)
        cases = [c["_id"] for c in db.cases.find(case_query, {"_id": 1})]
        return visits.satisfaction(db, start, end, None, cases)
    return visits.satisfaction(db, start, end, None)


def _mediators(db: Database, scope: Scope, period: rt.Period, now: datetime) -> list[MediatorRow]:
    """The lead's per-mediator table, counted live: whether a case is overdue changes with the clock."""
    street_of = {c.code: c.street for c in communities()}
    # The cases open at some time in the period: still open, or with something at or after its start.
    query: dict[str, Any] = {
        "studio": scope.area,
        "$or": [{"timeline.at": {"$gte": period.start}}, {"status": {"$in": list(lc.OPEN_STATES)}}],
    }
    cases = [case_row(c, street_of, now) for c in db.cases.find(query, CASE_FIELDS)]
    table = rt.mediator_table(cases, period)
    users = {u["_id"]: u.get("name") or u["_id"] for u in db.users.find({}, {"name": 1})}
    return [MediatorRow(m.mediator, users.get(m.mediator, m.mediator), m) for m in table]


# --- downloads ------------------------------------------------------------------------------------
def area_header(report: Report, language: str) -> str:
    zh = language.lower().startswith("zh")
    if report.scope.level == "district":
        return "街道" if zh else "Street"
    return "社区" if zh else "Community"


def sheet(report: Report, language: str) -> list[list[Any]]:
    """The report's table as rows (a header row first), the same for CSV and XLSX."""
    return rt.sheet_rows(report.rows, report.total, language, area_header(report, language))


def mediator_sheet(report: Report, language: str) -> list[list[Any]]:
    """The per-mediator table as rows (a header row first)."""
    zh = language.lower().startswith("zh")
    header = (
        ["调解员", "承办案件", "结案", "调解成功", "结案天数中位数", "超期"]
        if zh
        else ["Mediator", "Cases", "Endings", "Settled", "Median days to close", "Overdue"]
    )
    rows: list[list[Any]] = [header]
    for m in report.mediators:
        f = m.figures
        days = None if f.median_days is None else float(f.median_days)
        rows.append([m.name, f.cases, f.endings, f.settled, days, f.overdue])
    return rows


def filename(report: Report, extension: str) -> str:
    return f"mediation-report-{report.scope.level}-{report.scope.area}-{report.period.code}.{extension}"


def to_csv(report: Report, language: str) -> bytes:
    """The table as CSV, UTF-8 with a BOM (so spreadsheet programs read the Chinese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([["" if v is None else v for v in row] for row in sheet(report, language)])
    if report.mediators:
        writer.writerow([])
        writer.writerows([["" if v is None else v for v in row] for row in mediator_sheet(report, language)])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report, language: str) -> bytes:
    """The table as an XLSX workbook: numbers as numbers, a bold header row, the header row and the
    area column frozen; the per-mediator table on a second sheet for a studio."""
    book = Workbook()
    ws = book.active
    ws.title = report.period.code
    for row in sheet(report, language):
        ws.append(row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B2"
    ws.column_dimensions["A"].width = 22
    if report.mediators:
        ms = book.create_sheet("调解员" if language.lower().startswith("zh") else "Mediators")
        for row in mediator_sheet(report, language):
            ms.append(row)
        for cell in ms[1]:
            cell.font = Font(bold=True)
        ms.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_dict(report: Report, language: str) -> dict[str, Any]:
    """The report as the JSON API gives it: columns with their headers, rows of values by column key."""

    def row(unit: rt.Unit) -> dict[str, Any]:
        return {
            "code": unit.code,
            "label": unit.label(language),
            "values": {k: unit.figures.value(k) for k in rt.COLUMN_KEYS},
        }

    return {
        "period": report.period.code,
        "level": report.scope.level,
        "area": report.scope.area,
        "title": report.title(language),
        "columns": [
            {"key": c.key, "header": c.header(language), "section": c.section, "kind": c.kind}
            for c in rt.COLUMNS
        ],
        "rows": [row(u) for u in report.rows],
        "total": row(report.total),
        "mediators": [
            {
                "user_id": m.user_id,
                "name": m.name,
                "cases": m.figures.cases,
                "endings": m.figures.endings,
                "settled": m.figures.settled,
                "median_days": None if m.figures.median_days is None else float(m.figures.median_days),
                "overdue": m.figures.overdue,
            }
            for m in report.mediators
        ],
        # Not a column of the MoJ table: the follow-up visits' satisfaction, below it.
        "satisfaction": report.satisfaction,
    }
