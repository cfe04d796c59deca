"""Benchmark: POST /api/v1/cases under concurrent load against the real stack.

Starts a throw-away SecantusDB server, serves intake with gunicorn (deploy/gunicorn.conf.py),
uses the RabbitMQ on 127.0.0.1:5672 (own namespace), then sends REQUESTS case filings from
CONCURRENCY client threads over keep-alive HTTP connections and writes the figures to
bench/results/intake_create.json. Every request is bounded (count and time) and loopback-only.

    .venv/bin/python -m bench.intake_create [--requests 600] [--concurrency 8] [--workers 2]

The write path per case: a reference counter update, the duplicate lookup, one transaction
(case + outbox row), a confirmed publish and the outbox row marked sent. The database's share is
reported separately by timing the same inserts straight through pymongo (no HTTP, no broker).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pymongo import MongoClient

from devtools.secantus import free_port, mongo_url, start_secantus
from shared.config import Settings
from tests.support.stack import delete_broker_namespace, service_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake_create.json"
CASE = {
    "category": "neighbours",
    "community": "lianhua",
    "building": "3",
    "unit": "2-301",
    "description": "Loud renovation work every night after 22:00.",
    "applicants": [{"name": "张三", "phone": "13800138000"}],
    "respondents": [{"name": "李四"}],
    "consent": True,
}


def wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("intake did not start")


def client_thread(port: int, count: int, latencies: list[float], statuses: list[int], stop_at: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps(CASE)
    for i in range(count):
        if time.monotonic() > stop_at:
            break
        case = dict(CASE, building=str(i % 50))  # spread duplicates like real buildings
        body = json.dumps(case)
        started = time.perf_counter()
        conn.request("POST", "/api/v1/cases", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status)


def database_share(url: str, count: int = 300) -> float:
    """Inserts per second of the same case documents straight into SecantusDB, in transactions."""
    client = MongoClient(url)
    db = client[f"bench_{uuid.uuid4().hex[:6]}"]
    db.cases.insert_one({"_id": "warm"})
    started = time.perf_counter()
    for i in range(count):
        with client.start_session() as session, session.start_transaction():
            db.cases.insert_one({"_id": i, **CASE}, session=session)
            db.outbox.insert_one({"_id": i, "status": "pending"}, session=session)
    elapsed = time.perf_counter() - started
    client.drop_database(db.name)
    client.close()
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    mongo_port, http_port = free_port(), free_port()
    secantus = start_secantus(mongo_port, ":memory:", tmp / "secantus.log")
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"mongo_url": mongo_url(mongo_port), "db_prefix": tag, "broker_namespace": tag}
    )
    env = service_env(
        settings,
        GUNICORN_BIND=f"127.0.0.1:{http_port}",
        GUNICORN_WORKERS=str(args.workers),
        INTAKE_RATE_LIMIT="1000000/60",
        LOG_LEVEL="WARNING",
    )
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 (owned by the server process)
    command = ["gunicorn", "-c", "deploy/gunicorn.conf.py", "services.intake.app:create_app()"]
    server = subprocess.Popen(  # noqa: S603 (fixed command, no outside input)
        [sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(http_port)
        latencies: list[float] = []
        statuses: list[int] = []
        per_thread = args.requests // args.concurrency
        stop_at = time.monotonic() + args.max_seconds
        threads = [
            threading.Thread(target=client_thread, args=(http_port, per_thread, latencies, statuses, stop_at))
            for _ in range(args.concurrency)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        client = MongoClient(settings.mongo_url)
        db = client[settings.database_name("intake")]
        stored = db.cases.count_documents({})
        pending = db.outbox.count_documents({"status": "pending"})
        client.close()
        db_rate = database_share(settings.mongo_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
        delete_broker_namespace(settings)
        secantus.terminate()
        secantus.wait(timeout=15)

    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    result = {
        "benchmark": "intake POST /api/v1/cases",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "gunicorn_workers": args.workers,
        "concurrency": args.concurrency,
        "requests": len(latencies),
        "created_201": statuses.count(201),
        "other_statuses": sorted({s for s in statuses if s != 201}),
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "mean": round(statistics.mean(latencies) * 1000, 1),
            "p50": pct(0.5),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "max": pct(1.0),
        },
        "cases_stored": stored,
        "outbox_left_pending": pending,
        "database_only_transactions_per_s": round(db_rate, 1),
        "note": "2 shared cores: the load generator, gunicorn, SecantusDB and RabbitMQ compete for them.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["created_201"] == result["requests"] == stored else 1


if __name__ == "__main__":
    raise SystemExit(main())
