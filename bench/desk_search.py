"""Benchmark: the desk's search with 20,000 cases in one studio.

    .venv/bin/python -m bench.desk_search [--studio-cases 20000] [--other-cases 2000] [--requests 30]

Starts its own SecantusDB server (in memory), creates mediation's indexes and seeds, straight
through pymongo in the shape routing and the desk write (with the `search_keys` routing adds),
`--studio-cases` cases in studio `zhihe` received over two years (20 % open, 60 % ended, 20 %
archived; names drawn from 400 common ones, so a name matches ~50 cases; phones random) and
`--other-cases` in other studios. Then, one request at a time through the app (Flask test
client: routing, auth, schema, the query and the access-log insert; no HTTP server), as a
mediator of zhihe: `GET /api/v1/desk/search` by reference, full phone, last four digits, name,
community and building, category and state, a month of received dates, and by phone as a district
admin across every studio. Writes bench/results/desk_search.json and .md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stack import header_md, machine, md_table, now_iso, summary_ms, write_results
from devtools.secantus import free_port, mongo_url, start_secantus
from services.mediation import search
from services.mediation.app import create_app
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.registry import seed_registry
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings

STUDIO = "zhihe"
COMMUNITIES = ("lianhua", "heping", "xinyuan")
CATEGORIES = ("neighbours", "property_management", "housing", "damages", "contract")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
ENDED = tuple(s for s in lc.CLOSED_STATES if s != lc.ARCHIVED)


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def case_doc(i: int, studio: str, now: datetime, rng: random.Random, secret: str) -> dict[str, Any]:
    """A case as mediation keeps it (the fields the search reads, and the bulk of a real one)."""
    reference = f"LC-{2025 + i % 2}-{i:06d}"
    received = now - timedelta(days=rng.uniform(0, 730))
    roll = rng.random()
    status = rng.choice(lc.OPEN_STATES) if roll < 0.2 else rng.choice(ENDED) if roll < 0.8 else lc.ARCHIVED
    parties = [
        {"role": "applicant", "name": rng.choice(SURNAMES) + rng.choice(GIVEN), "phone": phone(rng)},
        {"role": "respondent", "name": rng.choice(SURNAMES) + rng.choice(GIVEN), "phone": phone(rng)},
    ]
    doc: dict[str, Any] = {
        "_id": reference,
        "reference": reference,
        "received_at": received.isoformat(),
        "category": rng.choice(CATEGORIES),
        "community": rng.choice(COMMUNITIES),
        "building": str(rng.randint(1, 60)),
        "unit": f"{rng.randint(1, 6)}-{rng.randint(101, 1803)}",
        "description": "Water leaking from the flat above for a week; the neighbour does not answer.",
        "parties": parties,
        "status": status,
        "risk_level": "none",
        "risk_rank": 0,
        "studio": studio,
        "owner": None,
        "mediators": [f"m{rng.randint(1, 12)}"],
        "due_at": None,
        "timeline": [{"at": received, "action": "received", "by": "system"}],
    }
    doc.update(search.keys_for(doc, secret))
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studio-cases", type=int, default=20_000)
    parser.add_argument("--other-cases", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_secantus(port, log_path=Path(tmp) / "secantus.log")
        try:
            result = run(args, port)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rows = [
        (name, r["matched"], r["latency_ms"]["p50"], r["latency_ms"]["p95"], r["latency_ms"]["max"])
        for name, r in result["scenarios"].items()
    ]
    markdown = (
        header_md("Desk search: 20,000 cases in one studio", result)
        + f"\nSeeded {result['seeded']} (in {result['seed_seconds']} s); {args.requests} requests per row, "
        "one at a time, through the app (Flask test client).\n"
        + f"\n{result['note']}\n\n"
        + md_table(("search", "cases found (≤100)", "p50 ms", "p95 ms", "max ms"), rows)
    )
    write_results("desk_search", result, markdown)


def run(args: argparse.Namespace, port: int) -> dict[str, Any]:
    settings = Settings.resolve({"mongo_url": mongo_url(port), "db_prefix": "bench"})
    mediation = bootstrap(settings)
    db = mediation.db
    ensure_indexes(db)
    seed_registry(db)
    rng = random.Random(15)
    now = datetime.now(UTC)
    started = time.perf_counter()
    secret = settings.secret_key
    others = ("heping-rc", "dongfeng-rc")
    docs = [case_doc(i, STUDIO, now, rng, secret) for i in range(args.studio_cases)]
    docs += [
        case_doc(args.studio_cases + i, others[i % 2], now, rng, secret) for i in range(args.other_cases)
    ]
    for start in range(0, len(docs), 1000):
        db.cases.insert_many(docs[start : start + 1000], ordered=False)
    seed_seconds = round(time.perf_counter() - started, 1)
    mine = [d for d in docs if d["studio"] == STUDIO]
    sample = rng.sample(mine, args.requests)
    month = (now - timedelta(days=200)).date()

    app = create_app(settings)
    client = app.test_client()
    mediator = Staff("bench-mediator", "Bench", frozenset({"mediator"}), studio=STUDIO)
    admin = Staff("bench-admin", "Bench", frozenset({"district_admin"}))
    tokens = {"mediator": issue_token(settings, mediator), "admin": issue_token(settings, admin)}
    scenarios: dict[str, tuple[str, Any]] = {
        "reference": ("mediator", lambda d: {"q": d["_id"]}),
        "full phone": ("mediator", lambda d: {"q": d["parties"][0]["phone"]}),
        "last four digits": ("mediator", lambda d: {"q": d["parties"][1]["phone"][-4:]}),
        "name": ("mediator", lambda d: {"q": d["parties"][0]["name"]}),
        "community + building": (
            "mediator",
            lambda d: {"community": d["community"], "building": d["building"]},
        ),
        "category + state ended": ("mediator", lambda d: {"category": d["category"], "state": "ended"}),
        "name + state open": ("mediator", lambda d: {"q": d["parties"][1]["name"], "state": "open"}),
        "one month received": (
            "mediator",
            lambda d: {
                "received_from": month.isoformat(),
                "received_to": (month + timedelta(days=30)).isoformat(),
            },
        ),
        "full phone, admin, all studios": ("admin", lambda d: {"q": d["parties"][0]["phone"]}),
    }
    results: dict[str, Any] = {}
    for name, (who, params) in scenarios.items():
        client.set_cookie(COOKIE_NAME, tokens[who])
        client.get("/api/v1/desk/search", query_string=params(sample[0]))  # warm-up
        seconds, found = [], []
        for doc in sample:
            began = time.perf_counter()
            answer = client.get("/api/v1/desk/search", query_string=params(doc))
            seconds.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            found.append(len(answer.get_json()["cases"]))
        results[name] = {
            "latency_ms": summary_ms(seconds),
            "matched": f"{min(found)} to {max(found)}",
        }
    seeded = {STUDIO: len(mine), "other studios": len(docs) - len(mine)}
    host = machine()
    disturbed = (host.get("load_average_at_start") or [0])[0] > host.get("cpus", 2)
    return {
        "benchmark": "desk_search",
        "at": now_iso(),
        "machine": host,
        "settings": {
            "studio_cases": args.studio_cases,
            "other_cases": args.other_cases,
            "requests_per_search": args.requests,
            "storage": "SecantusDB in memory",
            "client": "Flask test client, one request at a time",
        },
        "seeded": seeded,
        "seed_seconds": seed_seconds,
        "access_log_rows_written": db.access_log.count_documents({}),
        "scenarios": results,
        # Busy when the load average at the start exceeds the cores: figures are then upper bounds.
        "disturbed": disturbed,
        "note": (
            "The machine was busy when this started (load average above its cores): figures are "
            "upper bounds, not a quiet machine's."
            if disturbed
            else "The machine was quiet when this started (load average below its cores)."
        ),
    }


if __name__ == "__main__":
    main()
