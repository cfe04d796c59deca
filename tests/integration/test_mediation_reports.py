"""Mediation's reports on a real database: one set of cases driven through mediation's own desk
(routing, the lifecycle, agreements, follow-up, sweeps) gives the report, and the events mediation
wrote for them, fed to council's read model, give the public board's figures — the two agree for
every month, quarter and the year, for the district, its streets and its communities. Then the
page, the JSON API and the downloads: who sees which scope, bad input refused, the CSV (UTF-8 with
a BOM) and the XLSX (numbers as numbers, a header row, frozen panes) read back."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from services.council import statistics
from services.council.bootstrap import bootstrap as council_bootstrap
from services.council.bootstrap import ensure_indexes as council_indexes
from services.council.domain import mediation_stats as ms
from services.mediation import desk, patrol, reports, routing, visits
from services.mediation.app import create_app
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import report_tables as rt
from services.mediation.domain.actor import Actor
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import make_envelope, parse_envelope
from shared.taxonomy import CATEGORY_CODES, communities, streets
from tests.integration.test_mediation_desk import MEDIATOR, ZHOU
from tests.integration.test_mediation_desk import mediation as mediation

ADMIN = Actor("admin", frozenset({"district_admin"}), None)
START = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
COMMUNITIES = ("lianhua", "heping", "xinyuan", "chaoyang", "taoyuan", "binhe", "jinxiu")
PERIODS = [f"2026-{m:02d}" for m in range(7, 13)] + ["2026-Q3", "2026-Q4", "2026"]


def _lead(studio: str) -> Actor:
    return Actor(f"lead-{studio}", frozenset({"studio_lead"}), studio)


def _submitted(n: int, rng: random.Random, received: datetime, only: dict[str, str] | None = None) -> Any:
    parties = [{"role": "applicant", "name": "欧阳秘密", "phone": "13912345678"}]
    parties += [{"role": "respondent", "name": f"对方{i}"} for i in range(rng.randint(1, 3))]
    return make_envelope(
        "case.submitted",
        {
            "reference": f"LC-2026-{n:06d}",
            "received_at": received.isoformat(),
            "category": rng.choice(["neighbours", "property_management", *CATEGORY_CODES]),
            "community": rng.choice(COMMUNITIES),
            "building": "3",
            "description": "the neighbour is loud",
            "parties": parties,
            "people_affected": rng.choice([None, None, 4, 12]),
            "amount": rng.choice([None, 800.0, 25000.5]),
            "source": rng.choice(["application", "application", "patrol_discovery", "referred_court"]),
            **(only or {}),
        },
        source="intake",
    )


def drive(m: Mediation, seed: int = 5, cases: int = 45, only: dict[str, str] | None = None) -> list[Any]:
    """Cases through mediation's desk at seeded times (`only`: fields every case has, e.g. its
    community); returns the case.submitted events fed in."""
    rng = random.Random(seed)
    visiting = random.Random(seed + 1)  # apart, so that the cases' own paths stay as they were
    fed = []
    act = desk.apply_action
    for n in range(1, cases + 1):
        t = START + timedelta(days=rng.randint(0, 170), hours=rng.randint(0, 10))
        event = _submitted(n, rng, t, only)
        fed.append(event)
        routing.on_case_submitted(m, event, now=t)
        ref = event.data["reference"]
        studio = m.db.cases.find_one({"_id": ref})["studio"]
        lead = _lead(studio)
        worker = rng.choice([MEDIATOR, ZHOU]) if studio == "zhihe" else lead
        if rng.random() < 0.1:
            continue  # still received
        act(m, ref, lead, lc.START_SCREENING, now=t)
        t += timedelta(days=rng.randint(0, 2))
        if rng.random() < 0.1:
            act(m, ref, lead, lc.NOT_ACCEPT, {"reason": "out_of_scope", "referral": "派出所"}, now=t)
            continue
        act(m, ref, lead, lc.ACCEPT, now=t)
        if rng.random() < 0.1:
            continue  # accepted, in the pool
        t += timedelta(days=rng.randint(0, 3))
        desk.take(m, ref, worker, now=t)
        if rng.random() < 0.15 and studio == "zhihe":
            # A party asks for another mediator: the case is accepted again, later, and taken by
            # the studio's other mediator (the one replaced may not take it back: PML Art 23).
            t += timedelta(days=rng.randint(5, 40))
            act(m, ref, worker, lc.REQUEST_OTHER_MEDIATOR, {"requested_by": "张三"}, now=t)
            worker = ZHOU if worker == MEDIATOR else MEDIATOR
            desk.take(m, ref, worker, now=t)
        act(m, ref, worker, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]}, now=t)
        act(m, ref, worker, lc.START_MEDIATION, now=t)
        if rng.random() < 0.15:
            continue  # in mediation
        t += timedelta(days=rng.randint(1, 50))
        prevention = (
            {
                "criminal_prevented_persons": rng.randint(2, 6),
                "petition_prevented_persons": rng.choice([0, 9]),
            }
            if rng.random() < 0.25
            else {}
        )
        ending = rng.choice(
            [lc.AGREE_WRITTEN, lc.AGREE_WRITTEN, lc.AGREE_ORAL, lc.FAIL, lc.WITHDRAW, lc.REFER]
        )
        payload = {
            lc.AGREE_WRITTEN: {"agreement_number": f"A-{n}"},
            lc.AGREE_ORAL: {"content": "赔偿"},
            lc.FAIL: {"note": "可起诉"},
            lc.WITHDRAW: {"withdrawn_by": "张三"},
            lc.REFER: {"target": "court", "target_name": "区法院"},
        }[ending]
        act(m, ref, worker, ending, {**payload, **prevention}, now=t)
        if ending == lc.AGREE_WRITTEN and rng.random() < 0.4:
            t += timedelta(days=rng.randint(1, 20))
            act(m, ref, worker, lc.APPLY_CONFIRMATION, {"court": "区法院"}, now=t)
            t += timedelta(days=rng.randint(1, 20))
            act(m, ref, worker, lc.CONFIRM, now=t)
        if ending in (lc.AGREE_WRITTEN, lc.AGREE_ORAL) and rng.random() < 0.6:
            t += timedelta(days=rng.randint(5, 30))
            act(m, ref, worker, lc.RECORD_PERFORMED, now=t)
        if ending in (lc.AGREE_WRITTEN, lc.AGREE_ORAL) and visiting.random() < 0.5:
            # A follow-up visit that found it performed counts too, in its own month
            # (`case.agreement_performed` for the board): sometimes after the lifecycle's record.
            t += timedelta(days=visiting.randint(10, 40))
            found = {"how": "phone", "performed": "performed", "satisfied": 4, "renewed_conflict": False}
            visits.record_visit(m, f"{ref}:visit:applicant-1", worker, found, now=t)
    return fed


def sweeps(m: Mediation, settings: Settings) -> None:
    """Patrol sweeps ordered and reported (reported now: the patrol records its own time)."""
    lead = _lead("zhihe")
    member = Actor("patrol", frozenset({"patrol_member"}), None)
    for i, community in enumerate(("lianhua", "heping", "chaoyang", "lianhua")):
        task = patrol.create_sweep(m, community, "qinghe-patrol", "hot spot", lead)
        patrol.accept(m, task["_id"], member, "qinghe-patrol")
        patrol.report(
            m, task["_id"], member, "qinghe-patrol", "two neighbours", "", True, found_early=i % 2 == 0
        )


@pytest.fixture
def driven(mediation: Mediation, settings: Settings) -> tuple[Mediation, list[Any]]:
    """The mediation with its driven cases and sweeps, and the case.submitted events fed in."""
    fed = drive(mediation)
    sweeps(mediation, settings)
    return mediation, fed


def council_figures(settings: Settings, fed: list[Any], m: Mediation) -> dict[Any, ms.Figures]:
    """The public board's monthly figures, from council's consumer fed every event mediation wrote
    (and the case.submitted events intake wrote), each delivered twice."""
    council = council_bootstrap(settings)
    council_indexes(council.db)
    stream = fed + [parse_envelope(row["envelope"]) for row in m.db.outbox.find({})]
    for envelope in stream + stream[::7]:
        statistics.on_event(council, envelope)
    return ms.figures(statistics.load_state(council), "month")


def board(monthly: dict[Any, ms.Figures], level: str, area: str, period: rt.Period) -> ms.Figures:
    return ms.combine(
        f for (lv, a, month), f in monthly.items() if lv == level and a == area and month in period.months
    )


def same(mine: rt.Figures, theirs: ms.Figures, where: str) -> None:
    v = mine.value
    pairs = {
        "received": theirs.received,
        "persons": theirs.persons,
        "accepted": theirs.accepted,
        "ended": theirs.ended,
        "settled": theirs.settled,
        "failed": theirs.failed,
        "performed": theirs.performed,
        "patrol_visits": theirs.patrol_visits,
        "found_early": theirs.found_early,
        "criminal_prevented_cases": theirs.criminal_prevented_cases,
        "criminal_prevented_persons": theirs.criminal_prevented_persons,
        "petitions_prevented_cases": theirs.petitions_prevented_cases,
        "petitions_prevented_persons": theirs.petitions_prevented_persons,
        **{f"received.{c}": n for c, n in theirs.received_by_category},
        **{f"settled.{c}": n for c, n in theirs.settled_by_category},
        **{f"source.{s}": n for s, n in theirs.received_by_source},
    }
    assert {k: v(k) for k in pairs} == pairs, where
    assert mine.success_rate == theirs.success_rate, where
    assert mine.median_days == theirs.median_days_to_close, where
    assert mine.close_days == theirs.close_days, where


def test_report_agrees_with_the_councils_read_model(driven: Any, settings: Settings) -> None:
    driven, fed = driven
    assert driven.db.cases.count_documents({}) == len(fed) == 45
    monthly = council_figures(settings, fed, driven)
    now_period = rt.current_period(datetime.now(UTC))
    checked = 0
    for code in [*PERIODS, now_period]:
        period = rt.parse_period(code)
        district = reports.build(driven.db, reports.Scope("district", "district"), code)
        same(district.total.figures, board(monthly, "district", "district", period), f"district {code}")
        for unit in district.rows:
            same(unit.figures, board(monthly, "street", unit.code, period), f"street {unit.code} {code}")
        for street in streets():
            by_street = reports.build(driven.db, reports.Scope("street", street.code), code)
            for unit in by_street.rows:
                same(unit.figures, board(monthly, "community", unit.code, period), f"{unit.code} {code}")
                checked += 1
    # The comparison saw real figures, not only zeros.
    year = reports.build(driven.db, reports.Scope("district", "district"), "2026").total.figures
    assert year.value("received") == 45 and year.value("settled") > 3 and year.value("failed") > 0
    assert year.value("accepted") > 20 and year.value("performed") > 0 and year.value("patrol_visits") == 4
    assert year.value("criminal_prevented_cases") > 0 and year.value("found_early") == 2
    assert checked == len(communities()) * (len(PERIODS) + 1)
    # Some agreements were found performed only by a follow-up visit, and the board counted them.
    only_visits = driven.db.cases.count_documents(
        {
            "timeline": {"$elemMatch": {"action": "visit_recorded", "performance": "performed"}},
            "status": {"$ne": "performed"},
        }
    )
    assert only_visits > 0


# --- the page, the API and the downloads ------------------------------------------------------------
LEAD_STAFF = Staff("lead", "王立", frozenset({"studio_lead"}), studio="zhihe")
ADMIN_STAFF = Staff("admin", "管理员", frozenset({"district_admin"}))
MEDIATOR_STAFF = Staff("mediator", "陈敏", frozenset({"mediator"}), studio="zhihe")


@pytest.fixture
def small(mediation: Mediation, settings: Settings) -> Mediation:
    drive(mediation, seed=9, cases=12, only={"community": "lianhua", "category": "neighbours"})
    return mediation


def client_as(settings: Settings, staff: Staff) -> FlaskClient:
    c = create_app(settings).test_client()
    c.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return c


def test_a_lead_sees_their_studio_with_its_mediators_and_nothing_else(small: Mediation, settings) -> None:
    lead = client_as(settings, LEAD_STAFF)
    page = lead.get("/reports?period=2026&lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Zhihe Mediation Studio, 2026" in html and "Per mediator" in html
    assert "陈敏" in html and "周平" in html  # the zhihe cases' mediators, by name
    assert "欧阳秘密" not in html and "13912345678" not in html  # no party's data
    got = lead.get("/api/v1/reports?period=2026").json
    assert (got["level"], got["area"]) == ("studio", "zhihe")
    expected = reports.build(small.db, reports.Scope("studio", "zhihe"), "2026")
    assert got["total"]["values"]["received"] == expected.total.figures.value("received") > 0
    table = {m["user_id"]: m for m in got["mediators"]}
    for row in rt.mediator_table(
        [reports.case_row(c, {}, datetime.now(UTC)) for c in small.db.cases.find({"studio": "zhihe"})],
        rt.parse_period("2026"),
    ):
        assert (table[row.mediator]["cases"], table[row.mediator]["endings"]) == (row.cases, row.endings)
    assert {"mediator", "zhou"} <= set(table)
    # Another studio, a street or the district: not a lead's to see.
    for query in ("scope=studio:heping-rc", "scope=district", "scope=street:qinghe"):
        assert lead.get(f"/reports?period=2026&{query}").status_code == 403
        assert lead.get(f"/reports/download.csv?period=2026&{query}").status_code == 403
    for query in ("level=district", "level=studio&area=heping-rc"):
        assert lead.get(f"/api/v1/reports?{query}").status_code == 403
    mediator = client_as(settings, MEDIATOR_STAFF)
    assert mediator.get("/api/v1/reports").status_code == 403
    assert mediator.get("/reports").status_code == 403
    zh = lead.get("/reports?period=2026-Q4&lang=zh-CN").get_data(as_text=True)
    assert "统计报表" in zh and "调解成功率" in zh and "下载 CSV" in zh


def test_bad_input_gets_a_clear_error(small: Mediation, settings) -> None:
    admin = client_as(settings, ADMIN_STAFF)
    page = admin.get("/reports?period=2026-13&lang=en")
    assert page.status_code == 422 and "Not a period" in page.get_data(as_text=True)
    bad = admin.get("/api/v1/reports?period=2026-13")
    assert bad.status_code == 422 and "period" in bad.json["errors"]
    for year_out_of_range in ("0000", "0000-01", "9999-Q1"):  # found by the fuzz test: it was a 500
        bad = admin.get(f"/api/v1/reports?period={year_out_of_range}")
        assert bad.status_code == 422 and "period" in bad.json["errors"], year_out_of_range
    bad = admin.get("/api/v1/reports?level=street&area=nowhere")
    assert bad.status_code == 422 and "area" in bad.json["errors"]
    bad = admin.get("/api/v1/reports?level=studio&area=no-such-studio")
    assert bad.status_code == 422 and "area" in bad.json["errors"]
    assert admin.get("/reports?scope=street:nowhere&lang=en").status_code == 422
    assert admin.get("/reports/download.xlsx?period=2026-Q9").status_code == 422


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def test_csv_and_xlsx_hold_the_table_as_the_api_gives_it(small: Mediation, settings) -> None:
    admin = client_as(settings, ADMIN_STAFF)
    api = admin.get("/api/v1/reports?period=2026-Q3&lang=en").json
    assert api["total"]["values"]["received"] > 0
    headers = [c["header"] for c in api["columns"]]
    keys = [c["key"] for c in api["columns"]]
    expected = [[r["label"], *(r["values"][k] for k in keys)] for r in [*api["rows"], api["total"]]]
    assert [r[0] for r in expected] == ["Qinghe Street", "Dongfeng Street", "Nanhu Street", "District total"]

    got = admin.get("/reports/download.csv?period=2026-Q3&scope=district&lang=en")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert "mediation-report-district-district-2026-Q3.csv" in got.headers["Content-Disposition"]
    assert got.data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    rows = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert rows[0] == ["Street", *headers]
    assert rows[1:] == [[_cell(v) for v in row] for row in expected]
    zh = admin.get("/reports/download.csv?period=2026-Q3&scope=district&lang=zh-CN").data.decode("utf-8-sig")
    assert zh.splitlines()[0].startswith("街道,受理纠纷（件）") and "全区合计" in zh  # noqa: RUF001

    got = admin.get("/reports/download.xlsx?period=2026-Q3&scope=district&lang=en")
    assert got.status_code == 200 and got.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(got.data)).active
    assert sheet.freeze_panes == "B2"
    assert [c.value for c in sheet[1]] == ["Street", *headers] and all(c.font.bold for c in sheet[1])
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert values == expected
    numbers = [c for row in sheet.iter_rows(min_row=2, min_col=2) for c in row if c.value is not None]
    assert numbers and all(c.data_type == "n" and not isinstance(c.value, str) for c in numbers)

    # A studio's workbook carries the per-mediator table on a second sheet.
    book = load_workbook(
        io.BytesIO(admin.get("/reports/download.xlsx?period=2026&scope=studio:zhihe&lang=zh-CN").data)
    )
    mediators = book.worksheets[1]
    assert [c.value for c in mediators[1]][:3] == ["调解员", "承办案件", "结案"]
    names = {row[0].value for row in mediators.iter_rows(min_row=2)}
    assert {"陈敏", "周平"} <= names and mediators.freeze_panes == "B2"


# --- months kept once over ------------------------------------------------------------------------
LATER = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)  # every month the driven cases touch is over


def _kept(m: Mediation, scope: reports.Scope, month: str) -> dict[str, Any] | None:
    return m.db.report_months.find_one({"_id": f"{scope.level}|{scope.area}|{month}"})


def test_a_month_over_is_kept_reused_and_counted_again_when_one_of_its_cases_changes(
    small: Mediation,
) -> None:
    zhihe = reports.Scope("studio", "zhihe")
    # An open case of the studio, received in a month that is over, to be moved to another studio.
    moved = small.db.cases.find_one({"studio": "zhihe", "status": {"$in": list(lc.OPEN_STATES)}})
    month = rt.month_of(reports._aware(moved["received_at"]))
    # A month none of the moved case's receipt and timeline entries fall in.
    its_months = {rt.month_of(reports._aware(e["at"])) for e in moved["timeline"]} | {month}
    other = next(f"2026-{n:02d}" for n in range(7, 13) if f"2026-{n:02d}" not in its_months)
    first = reports.build(small.db, zhihe, month, now=LATER)
    received = first.total.figures.value("received")
    assert received >= 1
    kept = _kept(small, zhihe, month)
    assert kept is not None and kept["total"]["counts"]["received"] == received
    # Reused: a second report reads the kept figures (altered here to tell them from a recount).
    for code in (month, other):
        reports.build(small.db, zhihe, code, now=LATER)
        small.db.report_months.update_one(
            {"_id": f"studio|zhihe|{code}"}, {"$set": {"total.counts.received": 999}}
        )
    assert reports.build(small.db, zhihe, month, now=LATER).total.figures.value("received") == 999
    # The case moves to another studio an hour later: its month is counted again, for both studios;
    # the month it has nothing in stays as kept.
    target = next(s["_id"] for s in small.db.studios.find({}, {"_id": 1}) if s["_id"] != "zhihe")
    routing.move_case(small, moved["_id"], target, "closer", _lead("zhihe"), now=LATER + timedelta(hours=1))
    after = LATER + timedelta(hours=2)
    again = reports.build(small.db, zhihe, month, now=after)
    assert again.total.figures.value("received") == received - 1
    assert _kept(small, zhihe, month)["total"]["counts"]["received"] == received - 1
    theirs = reports.build(small.db, reports.Scope("studio", target), month, now=after)
    assert theirs.total.figures.value("received") >= 1
    assert reports.build(small.db, zhihe, other, now=after).total.figures.value("received") == 999
    # The next check reads only the cases touched after this one: the watermark moved up to it.
    mark = small.db.report_touches.find_one({"_id": reports.WATERMARK})
    assert reports._aware(mark["through"]) == after - reports.CACHE_MARGIN
    touch = small.db.report_touches.find_one({"_id": month})
    assert reports._aware(touch["at"]) == LATER + timedelta(hours=1)
    # A year is the sum of its months: the kept ones as kept.
    year = reports.build(small.db, zhihe, "2026", now=after).total.figures.value("received")
    fresh = sum(
        _count(small, zhihe, f"2026-{n:02d}", after) for n in range(1, 13) if f"2026-{n:02d}" != other
    )
    assert year == fresh + 999


def _count(m: Mediation, scope: reports.Scope, month: str, now: datetime) -> int:
    return reports.count_month(m.db, scope, month, now)["total"]["counts"]["received"]


def test_the_current_month_is_counted_live_and_not_kept(small: Mediation) -> None:
    district = reports.Scope("district", "district")
    cases = list(small.db.cases.find({}, {"received_at": 1}))
    month = rt.month_of(reports._aware(cases[0]["received_at"]))
    inside = reports.month_bounds(month)[0] + timedelta(days=3)
    in_month = sum(1 for c in cases if rt.month_of(reports._aware(c["received_at"])) == month)
    report = reports.build(small.db, district, month, now=inside)
    assert report.total.figures.value("received") == in_month
    assert _kept(small, district, month) is None
    reports.build(small.db, district, month, now=LATER)
    assert _kept(small, district, month)["total"]["counts"]["received"] == in_month
