"""Benchmark: the reports (issue 15, item 4) over a year of a busy district.

    .venv/bin/python -m bench.reports [--cases 20000] [--requests 10]

Starts mediation (gunicorn) on the real stack and seeds its database straight through pymongo with
`--cases` cases received over 2026 in the shape the desk writes (bench/desk_latency.py's `case_doc`,
then the lifecycle's timeline entries: accepted, ended with an outcome, some performed or judicially
confirmed; prevention counts on some), spread over the district's studios, plus 500 reported sweeps.
Then, one request at a time: the district's year (`GET /api/v1/reports?period=2026`), its last month, a
street's year, a studio's year as its lead (with the per-mediator table), and the district's year as
XLSX. Also the split: reading the rows from the database vs counting them (the pure functions).
Writes bench/results/reports.json and .md.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.desk_latency import case_doc, timed_requests
from bench.stack import (
    Stack,
    Watch,
    header_md,
    machine,
    md_table,
    now_iso,
    summary_ms,
    terminate_on_signal,
    write_results,
)
from services.mediation import reports
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import report_tables as rt
from services.mediation.registry import seed_registry
from shared.auth import COOKIE_NAME
from shared.taxonomy import CATEGORY_CODES, communities

STUDIO = "zhihe"
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
ENDINGS = (lc.AGREEMENT_WRITTEN,) * 4 + (lc.AGREEMENT_ORAL,) * 2 + (lc.FAILED, lc.WITHDRAWN, lc.REFERRED)
SOURCES = ("application",) * 6 + ("patrol_discovery", "reception_day", "referred_court", "referred_police")


def seed(stack: Stack, n: int) -> dict[str, int]:
    db = stack.db("mediation")
    seed_registry(db)
    studios = [s["_id"] for s in db.studios.find({}, {"_id": 1})]
    places = [c.code for c in communities()]
    rng = random.Random(15)
    batch: list[dict[str, Any]] = []
    ended = 0
    for i in range(n):
        received = YEAR + timedelta(hours=rng.uniform(0, 360 * 24))
        doc = case_doc(i, rng.choice(studios), rng.choice(places), lc.ACCEPTED, received, rng)
        doc.update(
            received_at=received.isoformat(),
            category=rng.choice(CATEGORY_CODES),
            source=rng.choice(SOURCES),
            amount=rng.choice([None, 500.0, 12000.0]),
            mediators=[f"m{i % 40}"],
        )
        doc["timeline"][-1]["at"] = received + timedelta(hours=rng.uniform(1, 48))
        if rng.random() < 0.75:
            at = received + timedelta(days=rng.uniform(1, 45))
            state = rng.choice(ENDINGS)
            doc["timeline"].append(
                {"at": at, "action": "end", "by": "m", "from": lc.IN_MEDIATION, "to": state}
            )
            doc["status"] = state
            doc["prevention"] = {"criminal_prevented_persons": rng.choice([0] * 9 + [3])}
            ended += 1
            if state == lc.AGREEMENT_WRITTEN and rng.random() < 0.2:
                doc["timeline"].append(
                    {"at": at + timedelta(days=5), "from": state, "to": lc.CONFIRMATION_APPLIED, "by": "m"}
                )
            if state in (lc.AGREEMENT_WRITTEN, lc.AGREEMENT_ORAL) and rng.random() < 0.5:
                doc["timeline"].append(
                    {"at": at + timedelta(days=20), "from": state, "to": lc.PERFORMED, "by": "m"}
                )
        batch.append(doc)
        if len(batch) == 1000:
            db.cases.insert_many(batch)
            batch = []
    if batch:
        db.cases.insert_many(batch)
    sweeps = [
        {
            "_id": f"sweep-{i}",
            "kind": "sweep",
            "status": "closed",
            "community": rng.choice(places),
            "studio": rng.choice(studios),
            "team": "qinghe-patrol",
            "reported_at": YEAR + timedelta(hours=rng.uniform(0, 360 * 24)),
            "report": {"found_early": rng.random() < 0.3},
        }
        for i in range(500)
    ]
    db.patrol_tasks.insert_many(sweeps)
    return {
        "cases": n,
        "ended": ended,
        "sweeps": len(sweeps),
        "studio_cases": db.cases.count_documents({"studio": STUDIO}),
    }


def split(stack: Stack) -> dict[str, Any]:
    """The district's year: reading the rows vs the pure counting."""
    db = stack.db("mediation")
    street_of = {c.code: c.street for c in communities()}
    now = datetime.now(UTC)
    read, count = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        cases = [reports.case_row(c, street_of, now) for c in db.cases.find({}, reports.CASE_FIELDS)]
        patrols = [reports.patrol_row(t, street_of) for t in db.patrol_tasks.find({}, reports.PATROL_FIELDS)]
        t1 = time.perf_counter()
        period = rt.parse_period("2026")
        areas = [
            rt.Area(s, s, s, lambda c, s=s: c.street == s, lambda p, s=s: p.street == s)
            for s in sorted(set(street_of.values()))
        ]
        rt.table(cases, patrols, period, areas, rt.Area("d", "d", "d", lambda c: True, lambda p: True))
        t2 = time.perf_counter()
        read.append(t1 - t0)
        count.append(t2 - t1)
    return {"read_rows_ms": summary_ms(read), "count_ms": summary_ms(count)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="cases received in 2026")
    parser.add_argument("--requests", type=int, default=10, help="timed requests per report")
    parser.add_argument("--storage", choices=("disk", "memory"), default="disk")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "reports",
        "at": now_iso(),
        "machine": machine(),
        "settings": {"cases": args.cases, "requests": args.requests, "storage": args.storage},
    }
    with (
        terminate_on_signal(),
        Stack(web=("mediation",), workers=(), gunicorn_workers=1, storage=args.storage) as stack,
    ):
        started = time.perf_counter()
        result["seeded"] = seed(stack, args.cases)
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
        admin = {"Authorization": f"Bearer {stack.staff_token('bench-admin', ['district_admin'])}"}
        lead = {"Authorization": f"Bearer {stack.staff_token('bench-lead', ['studio_lead'], STUDIO)}"}
        cookie = {"Cookie": f"{COOKIE_NAME}={stack.staff_token('bench-admin', ['district_admin'])}"}
        asks = {
            "district, year (JSON)": ("/api/v1/reports?period=2026", admin),
            "district, its last month (JSON)": ("/api/v1/reports?period=2026-12", admin),
            "street, year (JSON)": ("/api/v1/reports?period=2026&level=street&area=qinghe", admin),
            f"studio {STUDIO}, year, as its lead (JSON)": ("/api/v1/reports?period=2026", lead),
            "district, year (XLSX)": ("/reports/download.xlsx?period=2026&scope=district", cookie),
        }
        timed_requests(stack, "GET", asks["district, year (JSON)"][0], admin, 1)  # warm-up
        figures = {}
        with Watch(stack) as watch:
            for name, (path, headers) in asks.items():
                figures[name] = timed_requests(stack, "GET", path, headers, args.requests)
        result["latency_ms"] = {k: summary_ms(v) for k, v in figures.items()}
        result["cpu"] = watch.report
        result["disturbed"] = watch.disturbed
        result["split_district_year"] = split(stack)
    rows = [(k, v["p50"], v["p95"], v["max"]) for k, v in result["latency_ms"].items()]
    s = result["split_district_year"]
    markdown = (
        header_md("Reports (MoJ table) over a year", result)
        + f"\n{args.cases} cases received in 2026 ({result['seeded']['ended']} ended), 500 sweeps; "
        f"{result['seeded']['studio_cases']} in studio {STUDIO}. One request at a time, "
        f"{args.requests} per report. Disturbed: **{result['disturbed']}** "
        f"(other processes {result['cpu']['other_processes_cpu_cores']} cores).\n\n"
        + md_table(["report", "p50 ms", "p95 ms", "max ms"], rows)
        + f"\n\nDistrict's year in-process: reading the rows {s['read_rows_ms']['p50']} ms, "
        f"counting them {s['count_ms']['p50']} ms (p50 of 3).\n"
    )
    write_results("reports", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
