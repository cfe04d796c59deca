"""Benchmark: the mediator desk with a full district, and routing decisions per second.

    .venv/bin/python -m bench.desk_latency [--district 20000] [--studio-open 1000] [--requests 300]

Starts mediation (gunicorn + worker, instrumented by bench/instrument.py) on the real stack and
seeds its database straight through pymongo, in the shape `service.on_case_submitted` and the
desk's `accept`/`take` write: `--district` open cases across the district's studios, of which
`--studio-open` are open in studio `zhihe` (85 % accepted and unowned — the pool — 10 % waiting
for screening, 5 % taken by colleagues). Then, one request at a time, as a mediator of zhihe:
the queue page (`GET /desk`), the queue API (`GET /api/v1/desk/queue`) and take-next
(`POST /api/v1/desk/take-next`); after each take the case is put back in the pool (untimed), so
every take sees the same pool. Finally routing: the pure `route` function alone, and the
consumer end to end (case.submitted published on the broker → case stored and routed by the
mediation worker). Writes bench/results/desk_latency.json and .md.
"""

from __future__ import annotations

import argparse
import http.client
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

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
from services.mediation import desk, registry
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import queue as dq
from services.mediation.domain.actor import Actor
from services.mediation.domain.routing import cursor_key, route
from shared.auth import COOKIE_NAME
from shared.messaging.envelope import make_envelope, utcnow
from shared.messaging.publisher import Publisher
from shared.taxonomy import community_codes

STUDIO = "zhihe"
MEDIATOR = "bench-mediator"
TARGET_P50_MS = 50.0
RISKS = ("none",) * 74 + ("yellow",) * 20 + ("orange",) * 5 + ("red",)
RISK_RANK = {"red": 3, "orange": 2, "yellow": 1, "none": 0}
CATEGORIES = ("neighbours", "property_management", "housing", "damages", "contract")


def case_doc(i: int, studio: str, community: str, status: str, now: datetime, rng: random.Random) -> dict:
    """An open case as mediation stores it (routed, then accepted/taken by the desk)."""
    reference = f"LC-2025-{i:06d}"
    received = now - timedelta(days=rng.uniform(0, 40))
    risk = rng.choice(RISKS)
    doc: dict[str, Any] = {
        "_id": reference,
        "reference": reference,
        "received_at": received.isoformat(),
        "category": rng.choice(CATEGORIES),
        "community": community,
        "building": str(rng.randint(1, 300)),
        "unit": f"{rng.randint(1, 6)}-{rng.randint(101, 1803)}",
        "description": "Water leaking from the flat above for a week; the neighbour does not answer.",
        "claims": "",
        "amount": None,
        "people_affected": None,
        "threat_of_violence": False,
        "danger_to_safety": False,
        "filed_by": "resident",
        "language": "zh-CN",
        "parties": [
            {"role": "applicant", "name": "张三", "phone": "13800138000", "email": f"r{i}@example.com"},
            {"role": "respondent", "name": "李四"},
        ],
        "agrees_to_mediation": True,
        "channel": "api",
        "possible_duplicates": [],
        "attachments": [],
        "filer": None,
        "status": status,
        "risk_level": risk,
        "risk_rank": RISK_RANK[risk],
        "owner": None,
        "mediators": [],
        "due_at": None,
        "studio": studio,
        "routing": {"rule": "area+category", "decided_by": "only eligible studio", "decided_at": received},
        "assigned_at": received,
        "timeline": [
            {"at": received, "action": "received", "by": "system"},
            {"at": received, "action": "assigned", "by": "routing", "studio": studio},
        ],
    }
    if status not in (lc.RECEIVED, lc.SCREENING):
        accepted = received + timedelta(hours=rng.uniform(1, 48))
        due = accepted + timedelta(days=30)
        doc.update(
            deadline={"accepted_at": accepted, "base_due_at": due, "pauses": [], "stopped_at": None},
            due_at=due,
            deadline_status="due_soon" if due - now < timedelta(days=3) else "on_track",
            paused_from=None,
        )
        doc["timeline"].append(
            {"at": accepted, "action": "accept", "by": "lead", "from": status, "to": lc.ACCEPTED}
        )
    if status not in (lc.RECEIVED, lc.SCREENING, lc.ACCEPTED):
        colleague = f"colleague{i % 7}"
        doc.update(owner=colleague, owner_name=colleague, mediators=[colleague], taken_at=now, touched_at=now)
    doc["queue"] = dq.list_of(doc)  # the desk list it is on, as routing and the desk store it
    return doc


def seed(stack: Stack, district: int, studio_open: int) -> dict[str, int]:
    db = stack.db("mediation")
    studios = {s["code"]: s for s in db.studios.find()}
    others = [code for code in studios if code != STUDIO]
    now = datetime.now(UTC)
    rng = random.Random(7)
    busy = [lc.ASSIGNED, lc.RIGHTS_NOTIFIED, lc.INVESTIGATING, lc.IN_MEDIATION, lc.WAITING_FOR_PARTY]
    counts: dict[str, int] = {}
    seeded: dict[str, list[dict[str, Any]]] = {}
    batch = []
    for i in range(district):
        if i < studio_open:
            studio = STUDIO
            share = i / studio_open
            status = lc.ACCEPTED if share < 0.85 else lc.RECEIVED if share < 0.95 else lc.ASSIGNED
        else:
            studio = others[i % len(others)]
            status = rng.choice([lc.RECEIVED, lc.SCREENING, lc.ACCEPTED, *busy])
        communities = studios[studio].get("communities") or sorted(community_codes())
        batch.append(case_doc(i, studio, rng.choice(communities), status, now, rng))
        seeded.setdefault(studio, []).append({k: batch[-1].get(k) for k in ("status", "owner", "risk_rank")})
        counts[studio] = counts.get(studio, 0) + 1
        if len(batch) == 1000:
            db.cases.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.cases.insert_many(batch, ordered=False)
    for code, n in counts.items():
        db.studios.update_one({"_id": studios[code]["_id"]}, {"$set": {"open_cases": n}})
        # The desk's counts per list and risk level, as routing and the desk keep them (tallied
        # from the seeded cases here: `desk.recount_queue` would read them all back).
        db.studios.update_one(
            {"_id": studios[code]["_id"]},
            {"$set": {"queue_counts": dq.tally(seeded[code]), "queue_counted_at": now}},
        )
    return counts


def timed_requests(
    stack: Stack, method: str, path: str, headers: dict[str, str], n: int, after=None
) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", stack.ports["mediation"], timeout=30)
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        timings.append(time.perf_counter() - started)
        if response.status not in (200, 201, 204):
            raise RuntimeError(f"{method} {path}: {response.status} {body[:300]!r}")
        if after is not None:
            after(body)
    conn.close()
    return timings


def pure_routing(stack: Stack, n: int) -> dict[str, Any]:
    db = stack.db("mediation")
    studios = registry.snapshots(db)
    communities = sorted(community_codes())
    today = datetime.now(UTC).date()
    cases = [(communities[i % len(communities)], CATEGORIES[i % len(CATEGORIES)]) for i in range(n)]
    started = time.perf_counter()
    for community, category in cases:
        street = registry.street_of(community)
        probe = route(community, category, studios, street=street, today=today)
        if probe.candidates:
            route(community, category, studios, street=street, today=today, last_in_turn=None)
            cursor_key(probe.candidates)
    elapsed = time.perf_counter() - started
    return {"decisions": n, "per_s": round(n / elapsed), "us_per_decision": round(elapsed / n * 1e6, 1)}


def consumer_routing(stack: Stack, n: int) -> dict[str, Any]:
    """Publish n case.submitted events; time until the mediation worker has routed them all."""
    db = stack.db("mediation")
    publisher = Publisher(stack.settings)
    communities = ("lianhua", "heping", "xinyuan", "chaoyang", "taoyuan")
    refs = []
    envelopes = []
    for i in range(n):
        ref = f"LC-2098-{i:06d}"
        refs.append(ref)
        envelopes.append(
            make_envelope(
                "case.submitted",
                {
                    "reference": ref,
                    "received_at": datetime.now(UTC).isoformat(),
                    "category": CATEGORIES[i % 4],
                    "community": communities[i % len(communities)],
                    "building": str(i % 300),
                    "description": "Noise at night.",
                    "language": "en",
                    "parties": [{"role": "applicant", "name": "张三", "phone": "13800138000"}],
                },
                source="intake",
            )
        )
    started = time.perf_counter()
    for envelope in envelopes:
        publisher.publish(envelope)
    published = time.perf_counter() - started
    deadline = time.monotonic() + 120
    while db.cases.count_documents({"_id": {"$in": refs}}) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    publisher.close()
    done = db.cases.count_documents({"_id": {"$in": refs}})
    return {
        "events": n,
        "routed": done,
        "seconds": round(elapsed, 2),
        "publishing_seconds": round(published, 2),
        "per_s": round(done / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--district", type=int, default=20000, help="open cases in the district")
    parser.add_argument("--studio-open", type=int, default=1000, help="open cases in studio zhihe")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--workers", type=int, default=2, help="GUNICORN_WORKERS")
    parser.add_argument("--storage", choices=("disk", "memory"), default="disk")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "desk_latency",
        "at": now_iso(),
        "machine": machine(),
        "settings": {
            "district_open_cases": args.district,
            "studio_open_cases": args.studio_open,
            "studio": STUDIO,
            "requests_per_endpoint": args.requests,
            "gunicorn_workers": args.workers,
            "storage": args.storage,
            "client": "one connection, one request at a time",
            "instrumented": True,
        },
    }
    with (
        terminate_on_signal(),
        Stack(
            web=("mediation",),
            workers=("mediation",),
            gunicorn_workers=args.workers,
            storage=args.storage,
            instrument=True,
        ) as stack,
    ):
        started = time.perf_counter()
        result["seeded"] = seed(stack, args.district, args.studio_open)
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
        token = stack.staff_token(MEDIATOR, ["mediator"], STUDIO)
        page = {"Cookie": f"{COOKIE_NAME}={token}"}
        api = {"Authorization": f"Bearer {token}"}
        db = stack.db("mediation")
        pool = db.cases.count_documents({"studio": STUDIO, "status": lc.ACCEPTED, "owner": None})
        result["pool_size"] = pool
        for headers, path in ((page, "/desk"), (api, "/api/v1/desk/queue")):  # warm-up
            timed_requests(stack, "GET", path, headers, 5)

        def put_back(body: bytes) -> None:
            import json

            reference = json.loads(body)["reference"]
            taken = db.cases.find_one({"_id": reference}, {"risk_rank": 1})
            # The take moved the case from the pool's count to the taken one: moved back here.
            rank_ = taken.get("risk_rank") or 0
            db.studios.update_one(
                {"_id": STUDIO},
                {"$inc": {dq.count_key(dq.POOL, rank_): 1, dq.count_key(dq.TAKEN, rank_): -1}},
            )
            db.cases.update_one(
                {"_id": reference},
                {
                    "$set": {
                        "queue": dq.POOL,
                        "status": lc.ACCEPTED,
                        "owner": None,
                        "owner_name": None,
                        "mediators": [],
                        "taken_at": None,
                        "touched_at": None,
                    }
                },
            )

        figures = {}
        with Watch(stack) as watch:
            figures["GET /desk (page)"] = timed_requests(stack, "GET", "/desk", page, args.requests)
            figures["GET /api/v1/desk/queue"] = timed_requests(
                stack, "GET", "/api/v1/desk/queue", api, args.requests
            )
            figures["POST /api/v1/desk/take-next"] = timed_requests(
                stack, "POST", "/api/v1/desk/take-next", api, args.requests, after=put_back
            )
        result["latency_ms"] = {k: summary_ms(v) for k, v in figures.items()}
        result["cpu"] = watch.report
        result["disturbed"] = watch.disturbed
        # The database's share of a take-next: finding the candidate alone, as take-next does it
        # (per risk level and due-date window) and, for comparison, one sort over the whole pool.
        probe = []
        for _ in range(50):
            t0 = time.perf_counter()
            desk.most_urgent_unclaimed(db, STUDIO, set(), utcnow())
            probe.append(time.perf_counter() - t0)
        result["take_next_candidate_search_ms"] = summary_ms(probe)
        query = {"studio": STUDIO, "status": lc.ACCEPTED, "owner": None}
        sort = [("risk_rank", -1), ("due_at", 1), ("received_at", 1)]
        probe = []
        for _ in range(50):
            t0 = time.perf_counter()
            db.cases.find_one(query, {"_id": 1}, sort=sort)
            probe.append(time.perf_counter() - t0)
        result["take_next_candidate_query_ms"] = summary_ms(probe)
        # The queue's reading alone (its queries, no web layer): first pages by level and window
        # with the studio's counts; then with a filter (the studio's matching open cases read);
        # then the old way, every open case of the studio, for comparison.
        reader = Actor(MEDIATOR, frozenset({lc.MEDIATOR}), STUDIO)
        for name, run in (
            ("queue_read_ms", lambda: desk.queue(db, reader)),
            ("queue_read_filtered_ms", lambda: desk.queue(db, reader, desk.QueueFilters(category="housing"))),
            ("queue_read_risk_filter_ms", lambda: desk.queue(db, reader, desk.QueueFilters(risk="red"))),
        ):
            probe = []
            for _ in range(50):
                t0 = time.perf_counter()
                run()
                probe.append(time.perf_counter() - t0)
            result[name] = summary_ms(probe)
        probe = []
        queue_query = {"studio": STUDIO, "status": {"$in": list(lc.OPEN_STATES)}}
        for _ in range(50):
            t0 = time.perf_counter()
            list(
                db.cases.find(queue_query, {"status": 1, "owner": 1, "risk_rank": 1, "due_at": 1}).limit(2000)
            )
            probe.append(time.perf_counter() - t0)
        result["queue_query_ms"] = summary_ms(probe)

        # The counts against a recount after the run's takes and put-backs.
        def nonzero(counts: dict) -> dict:
            return {k: {r: n for r, n in v.items() if n} for k, v in counts.items()}

        stored = db.studios.find_one({"_id": STUDIO})["queue_counts"]
        result["counts_match_recount"] = nonzero(stored) == nonzero(desk.recount_queue(db, STUDIO))
        result["routing_pure"] = pure_routing(stack, 20000)
        with Watch(stack) as watch:
            result["routing_consumer"] = consumer_routing(stack, 300)
        result["routing_consumer"]["disturbed"] = watch.disturbed
        result["splits"] = stack.profile("mediation")
        result["splits"]["consumer mediation.intake"] = stack.profile_worker("mediation").get(
            "mediation.intake"
        )
    p50s = {k: v["p50"] for k, v in result["latency_ms"].items()}
    result["target"] = {"p50_under_ms": TARGET_P50_MS, "met": all(v < TARGET_P50_MS for v in p50s.values())}
    write_results("desk_latency", result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    s = r["settings"]
    text = header_md("The desk: queue and take-next latency; routing decisions per second", r)
    text += (
        f"\nSettings: {s['district_open_cases']} open cases in the district, "
        f"{s['studio_open_cases']} open in "
        f"studio {s['studio']} (pool of {r['pool_size']} accepted and unowned, kept constant), "
        f"{s['requests_per_endpoint']} requests per endpoint, {s['client']}, "
        f"{s['gunicorn_workers']} gunicorn "
        f"workers, SecantusDB on {s['storage']}, instrumented.\n\n"
    )
    split_key = {
        "GET /desk (page)": "/desk",
        "GET /api/v1/desk/queue": "/api/v1/desk/queue",
        "POST /api/v1/desk/take-next": "/api/v1/desk/take-next",
    }
    rows = []
    for name, f in r["latency_ms"].items():
        sp = r["splits"].get(split_key[name]) or {}
        rows.append(
            (
                name,
                f["p50"],
                f["p95"],
                f["p99"],
                "yes" if f["p50"] < r["target"]["p50_under_ms"] else "**no**",
                f"{sp.get('database_ms')} ({sp.get('database_calls')})",
                sp.get("ours_ms"),
            )
        )
    text += md_table(
        (
            "request",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "p50 < 50 ms",
            "server: database ms (calls)",
            "server: ours ms",
        ),
        rows,
    )
    text += (
        f"\n\n**Target: p50 under {r['target']['p50_under_ms']:.0f} ms — "
        f"{'met' if r['target']['met'] else 'missed'}.** Finding take-next's candidate alone "
        "(per risk level and due-date window, as take-next does): p50 "
        f"{r['take_next_candidate_search_ms']['p50']} ms; one find + sort + limit 1 over the whole "
        f"pool instead: p50 {r['take_next_candidate_query_ms']['p50']} ms.\n\n"
        "The queue's reading alone (`desk.queue`, in-process, no web layer): first pages by risk "
        f"level and due-date window with the counts kept per studio p50 {r['queue_read_ms']['p50']} ms; "
        f"with a category filter (the studio's matching open cases read) p50 "
        f"{r['queue_read_filtered_ms']['p50']} ms; with a risk filter p50 "
        f"{r['queue_read_risk_filter_ms']['p50']} ms; the old single query over every open case of the "
        f"studio p50 {r['queue_query_ms']['p50']} ms. Counts kept equal a recount after the run: "
        f"{'yes' if r['counts_match_recount'] else '**no**'}.\n\n"
    )
    rp, rc = r["routing_pure"], r["routing_consumer"]
    consumer = r["splits"].get("consumer mediation.intake") or {}
    text += md_table(
        ("routing", "decisions/s", "notes"),
        [
            ("pure `route` (probe + decision)", rp["per_s"], f"{rp['us_per_decision']} µs per case"),
            (
                "consumer end to end (case.submitted → routed case stored, outbox published)",
                rc["per_s"],
                f"{rc['routed']}/{rc['events']} in {rc['seconds']} s; per message "
                f"{consumer.get('server_ms_per_request')} ms = database {consumer.get('database_ms')} "
                f"({consumer.get('database_calls')} calls) + broker {consumer.get('broker_publish_ms')} "
                f"+ ours {consumer.get('ours_ms')}",
            ),
        ],
    )
    text += (
        f"\n\nOther processes' CPU during the desk requests: {r['cpu']['other_processes_cpu_cores']} cores"
    )
    text += " — **disturbed**.\n" if r["disturbed"] else ".\n"
    return text


if __name__ == "__main__":
    raise SystemExit(main())
