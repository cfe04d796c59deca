"""Benchmark: the reports (issue 15, item 4) over a year of a busy district.

    .venv/bin/python -m bench.reports [--cases 20000] [--requests 10]

Starts mediation (gunicorn) on the real stack and seeds its database straight through pymongo with
`--cases` cases received over 2026 in the shape the desk writes (bench/desk_latency.py's `case_doc`,
then the lifecycle's timeline entries: accepted, ended with an outcome, some performed or judicially
confirmed; prevention counts on some), spread over the district's studios, plus 500 reported sweeps.
Then, one request at a time: the district's year (`GET /api/v1/reports?period=2026`), its last month, a
street's year, a studio's year as its lead (with the per-mediator table), and the district's year as
XLSX. Also the split: reading the rows from the database vs counting them (the pure functions).
Writes bench/results/reports.json and .md (reports_<n>cases.* for another --cases).
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
from services.mediation.registry import seed_registry
from shared.auth import COOKIE_NAME
from shared.taxonomy import CATEGORY_CODES, communities

STUDIO = "zhihe"
CASES = 20000  # a busy district's year
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
    """The district's year in-process: every month counted (nothing kept) vs the months kept, and
    one month counted from its own cases (what the current month costs each time)."""
    db = stack.db("mediation")
    district = reports.Scope("district", "district")
    now = datetime.now(UTC)
    cold, kept, month = [], [], []
    for _ in range(3):
        db[reports.CACHE].delete_many({})
        t0 = time.perf_counter()
        reports.build(db, district, "2026", now)
        t1 = time.perf_counter()
        reports.build(db, district, "2026", now)
        t2 = time.perf_counter()
        reports.count_month(db, district, "2026-06", now)
        t3 = time.perf_counter()
        cold.append(t1 - t0)
        kept.append(t2 - t1)
        month.append(t3 - t2)
    return {
        "nothing_kept_ms": summary_ms(cold),
        "months_kept_ms": summary_ms(kept),
        "one_month_ms": summary_ms(month),
    }


def cold_requests(stack: Stack, asks: dict[str, tuple[str, dict[str, str]]]) -> dict[str, float]:
    """Each report's first request with nothing kept (every month that is over counted and kept)."""
    db = stack.db("mediation")
    out = {}
    for name, (path, headers) in asks.items():
        db[reports.CACHE].delete_many({})
        out[name] = round(timed_requests(stack, "GET", path, headers, 1)[0] * 1000, 1)
    db[reports.CACHE].delete_many({})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=CASES, help="cases received in 2026")
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
        result["first_request_nothing_kept_ms"] = cold_requests(stack, asks)
        for path, headers in asks.values():  # warm-up: the months that are over counted and kept
            timed_requests(stack, "GET", path, headers, 1)
        figures = {}
        with Watch(stack) as watch:
            for name, (path, headers) in asks.items():
                figures[name] = timed_requests(stack, "GET", path, headers, args.requests)
        result["latency_ms"] = {k: summary_ms(v) for k, v in figures.items()}
        result["cpu"] = watch.report
        result["disturbed"] = watch.disturbed
        result["split_district_year"] = split(stack)
    first = result["first_request_nothing_kept_ms"]
    rows = [(k, first[k], v["p50"], v["p95"], v["max"]) for k, v in result["latency_ms"].items()]
    s = result["split_district_year"]
    markdown = (
        header_md("Reports (MoJ table) over a year", result)
        + f"\n{args.cases} cases received in 2026 ({result['seeded']['ended']} ended), 500 sweeps; "
        f"{result['seeded']['studio_cases']} in studio {STUDIO}. One request at a time, "
        f"{args.requests} per report. Disturbed: **{result['disturbed']}** "
        f"(other processes {result['cpu']['other_processes_cpu_cores']} cores).\n\n"
        + md_table(["report", "first, nothing kept ms", "p50 ms", "p95 ms", "max ms"], rows)
        + f"\n\nThe months that are over are kept (`report_months`) once counted; the current month "
        "(and a future one) is counted each time from its own cases. District's year in-process: "
        f"nothing kept {s['nothing_kept_ms']['p50']} ms, months kept {s['months_kept_ms']['p50']} ms; "
        f"one month counted {s['one_month_ms']['p50']} ms (p50 of 3).\n"
    )
    # The README's figure is the default size; another size keeps its own results files.
    write_results("reports" if args.cases == CASES else f"reports_{args.cases}cases", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
