"""Benchmark: cases created per second on intake's JSON API, against the bare write pipeline.

    .venv/bin/python -m bench.intake_throughput [--seconds 20] [--workers 2] [--profile]

Starts the real stack (bench/stack.py: SecantusDB on a temporary folder, intake under gunicorn
with GUNICORN_WORKERS workers, intake's worker, the local RabbitMQ in a namespace of its own),
then drives `POST /api/v1/cases` with `wrk` (Debian package `wrk`; bench/intake_throughput.lua
varies community, building, category and contacts per request, as residents do, so intake's
duplicate lookup matches a realistic handful) at 1, 8 and 32 connections. In the same run it
measures the bare pipeline on the same database and broker: a pymongo insert of the case document
plus a confirmed kombu publish of its event, in a loop. The result is the ratio of the two.

A second, instrumented pass (bench/instrument.py inside the gunicorn workers) splits a request's
server time into the database's (pymongo command durations), the broker's (confirmed publish)
and ours (Flask, validation, gunicorn, logging). `--profile` also samples an intake worker and
SecantusDB with py-spy during the 8-connection pass.

Writes bench/results/intake_throughput.json and .md. INTAKE_RATE_LIMIT is raised for the run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from kombu import Producer

from bench.stack import (
    RESULTS,
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
from shared.messaging.envelope import utcnow
from shared.messaging.publisher import make_connection
from shared.messaging.topology import Topology

LUA = Path(__file__).with_suffix(".lua")
CONCURRENCY = (1, 8, 32)
TARGET_RATIO = 0.5
RATE_LIMIT = {"INTAKE_RATE_LIMIT": "100000000/60"}
CPU_GROUPS = ("gunicorn", "secantus", "rabbitmq", "bench", "total")


def wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run; the Lua `done` hook prints a JSON line with the figures."""
    threads = min(connections, 2)
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(LUA),
        f"{url}/api/v1/cases",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    data["rate_per_s"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    return data


def bare_pipeline(stack: Stack, seconds: float) -> dict[str, Any]:
    """pymongo insert + confirmed kombu publish, one after the other, in a loop (one client)."""
    db = stack.db("bare")
    topology = Topology(stack.settings)
    connection = make_connection(stack.settings)
    connection.ensure_connection(max_retries=3)
    channel = connection.default_channel
    for queue in topology.system_queues():  # what intake's publisher declares
        queue(channel).declare()
    producer = Producer(channel)
    insert_s, publish_s = [], []
    count = 0
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    while time.monotonic() < deadline:
        now = utcnow()
        reference = f"LC-2099-{count:06d}"
        case = {
            "_id": reference,
            "reference": reference,
            "status": "received",
            "received_at": now,
            "open": True,
            "category": "neighbours",
            "community": "lianhua",
            "building": str(count % 500),
            "unit": "2-301",
            "description": "Loud renovation work every night after 22:00.",
            "parties": [{"role": "applicant", "name": "张三", "phone": "13800138000"}],
        }
        # The envelope as intake publishes it, built by hand: the bare pipeline validates nothing.
        event = {
            "message_id": uuid.uuid4().hex,
            "type": "case.submitted",
            "occurred_at": now.isoformat(),
            "source": "bench",
            "correlation_id": uuid.uuid4().hex,
            "schema_version": 1,
            "data": {**case, "received_at": now.isoformat()},
        }
        t0 = time.perf_counter()
        db.cases.insert_one(case)
        t1 = time.perf_counter()
        producer.publish(
            event,
            exchange=topology.exchange,
            routing_key="case.submitted",
            serializer="json",
            delivery_mode=2,
            message_id=event["message_id"],
            declare=[topology.exchange],
        )
        t2 = time.perf_counter()
        insert_s.append(t1 - t0)
        publish_s.append(t2 - t1)
        count += 1
    elapsed = time.perf_counter() - started
    connection.release()
    return {
        "operations": count,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(count / elapsed, 1),
        "insert_ms": summary_ms(insert_s),
        "confirmed_publish_ms": summary_ms(publish_s),
    }


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    tool = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(tool).exists():
        return None
    return subprocess.Popen(  # noqa: S603
        [tool, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50", "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_frames(collapsed: Path, limit: int = 12) -> list[tuple[str, float]]:
    """Self time per function (share of samples) from py-spy's collapsed stacks."""
    if not collapsed.exists():
        return []
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frame = stack.split(";")[-1]
        frame = re.sub(r" \(/.*?site-packages/", " (", frame)
        frame = re.sub(r" \(/work/main/", " (", frame)
        own[frame] += int(count)
        total += int(count)
    return [(frame, round(n / total, 3)) for frame, n in own.most_common(limit)]


def cpu_per_operation(report: dict[str, Any], operations: int) -> dict[str, float]:
    """CPU milliseconds per case by process group: throughput on two shared cores is bound by the
    CPU a case costs across every process, not by one request's latency. RabbitMQ's is the shared
    broker's (other users' traffic included); `bench` is this script and wrk (the bare pipeline's
    client is this script)."""
    per = report["per_process_cpu_seconds"]
    groups = {
        "gunicorn": sum(v for k, v in per.items() if "gunicorn" in k),
        "secantus": per.get("secantus", 0.0),
        "rabbitmq": sum(v for k, v in per.items() if k.startswith("rabbitmq")),
        "bench": report["bench_and_load_tool_cpu_cores"] * report["seconds"],
    }
    groups["total"] = sum(groups.values())
    return {k: round(v / max(operations, 1) * 1000, 2) for k, v in groups.items()}


def stored_cases(stack: Stack) -> tuple[int, int]:
    db = stack.db("intake")
    return db.cases.count_documents({}), db.outbox.count_documents({"status": "pending"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    parser.add_argument("--workers", type=int, default=2, help="GUNICORN_WORKERS")
    parser.add_argument("--storage", choices=("disk", "memory"), default="disk")
    parser.add_argument("--profile", action="store_true", help="py-spy an intake worker and SecantusDB")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2

    result: dict[str, Any] = {
        "benchmark": "intake_throughput",
        "at": now_iso(),
        "machine": machine(),
        "settings": {
            "gunicorn_workers": args.workers,
            "seconds_per_level": args.seconds,
            "storage": args.storage,
            "load_tool": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],  # noqa: S607
            **RATE_LIMIT,
        },
        "levels": {},
    }
    profiles: dict[str, Any] = {}
    with (
        terminate_on_signal(),
        Stack(
            web=("intake",),
            workers=("intake",),
            gunicorn_workers=args.workers,
            storage=args.storage,
            env=RATE_LIMIT,
        ) as stack,
    ):
        url = stack.url("intake")
        wrk(url, 8, 3)  # warm-up: imports, connections, first index pages
        for connections in CONCURRENCY:
            spies = {}
            if args.profile and connections == 8:
                pids = stack.pids()
                for label in ("intake-gunicorn worker 1", "secantus"):
                    spies[label] = (RESULTS / f"pyspy-{label.replace(' ', '-')}.txt", None)
                    spies[label] = (spies[label][0], py_spy(pids[label], args.seconds - 2, spies[label][0]))
            before, _ = stored_cases(stack)
            with Watch(stack) as watch:
                figures = wrk(url, connections, args.seconds)
            after, pending = stored_cases(stack)
            for label, (path, process) in spies.items():
                if process is not None:
                    process.wait(timeout=60)
                    profiles[label] = top_frames(path)
                    path.unlink(missing_ok=True)
            figures["cases_stored"] = after - before
            figures["outbox_pending_after"] = pending
            figures["cpu"] = watch.report
            figures["cpu_ms_per_case"] = cpu_per_operation(watch.report, figures["cases_stored"])
            figures["disturbed"] = watch.disturbed
            result["levels"][str(connections)] = figures
            print(f"c={connections}: {figures['rate_per_s']}/s, p50 {figures['latency_ms']['p50']} ms")
        with Watch(stack) as watch:
            bare = bare_pipeline(stack, min(args.seconds, 15))
        bare["cpu"] = watch.report
        bare["cpu_ms_per_case"] = cpu_per_operation(watch.report, bare["operations"])
        bare["disturbed"] = watch.disturbed
        result["bare_pipeline"] = bare
        print(f"bare: {bare['rate_per_s']}/s")

    # The split: a short pass with the instrumented gunicorn (fresh stack, same settings).
    with (
        terminate_on_signal(),
        Stack(
            web=("intake",),
            workers=("intake",),
            gunicorn_workers=args.workers,
            storage=args.storage,
            env=RATE_LIMIT,
            instrument=True,
        ) as stack,
    ):
        wrk(stack.url("intake"), 8, 3)
        split = {}
        for connections in (1, 8):
            shutil.rmtree(stack.tmp / "profile" / "intake", ignore_errors=True)
            (stack.tmp / "profile" / "intake").mkdir()
            figures = wrk(stack.url("intake"), connections, 10)
            split[str(connections)] = {"rate_per_s": figures["rate_per_s"]}
        profile = stack.profile("intake")
        split["8"].update(profile.get("/api/v1/cases", {}))
        result["split"] = split
    if profiles:
        result["py_spy_self_time"] = profiles

    best = max(result["levels"].values(), key=lambda f: f["rate_per_s"])
    ratio = best["rate_per_s"] / bare["rate_per_s"]
    result["ratio_best_api_to_bare"] = round(ratio, 3)
    result["target"] = {"ratio_at_least": TARGET_RATIO, "met": ratio >= TARGET_RATIO}
    result["disturbed"] = any(f["disturbed"] for f in result["levels"].values()) or bare["disturbed"]
    write_results("intake_throughput", result, markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    bare = r["bare_pipeline"]
    rows = []
    for c, f in r["levels"].items():
        lat = f["latency_ms"]
        rows.append(
            (
                c,
                f["rate_per_s"],
                f"{f['rate_per_s'] / bare['rate_per_s']:.2f}",
                lat["p50"],
                lat["p99"],
                f["non_2xx"] + f["errors"],
                f["cpu"]["other_processes_cpu_cores"],
                "yes" if f["disturbed"] else "no",
            )
        )
    s = r["settings"]
    split = r["split"]["8"]
    text = header_md("Intake throughput: POST /api/v1/cases", r)
    text += (
        f"\nSettings: {s['gunicorn_workers']} gunicorn workers, SecantusDB on {s['storage']}, "
        f"{s['load_tool']}, {s['seconds_per_level']:.0f} s per level, rate limit raised.\n\n"
    )
    text += md_table(
        ("connections", "cases/s", "÷ bare", "p50 ms", "p99 ms", "errors", "other CPU (cores)", "disturbed"),
        rows,
    )
    text += (
        "\n\nBare pipeline (one client: pymongo insert + confirmed kombu publish): "
        f"**{bare['rate_per_s']}/s** "
        f"(insert p50 {bare['insert_ms']['p50']} ms, confirmed publish p50 "
        f"{bare['confirmed_publish_ms']['p50']} ms).\n\n"
        f"**Target: the API reaches at least half of the bare pipeline — best ratio "
        f"{r['ratio_best_api_to_bare']:.2f}: {'met' if r['target']['met'] else 'missed'}.**\n\n"
    )
    if all("cpu_ms_per_case" in f for f in (*r["levels"].values(), bare)):
        text += "CPU per case by process (ms; RabbitMQ is the shared broker; bench: this script, wrk):\n\n"
        cpu_rows = [
            (f"API, {c} connections", *(f["cpu_ms_per_case"][k] for k in CPU_GROUPS))
            for c, f in r["levels"].items()
        ]
        cpu_rows.append(("bare pipeline", *(bare["cpu_ms_per_case"][k] for k in CPU_GROUPS)))
        text += md_table(("run", *CPU_GROUPS), cpu_rows) + "\n\n"
    if split.get("server_ms_per_request"):
        text += "Where a request's server time goes (instrumented pass, 8 connections):\n\n"
        text += md_table(
            (
                "server ms/request",
                "database ms (calls)",
                "broker publish ms",
                "ours ms",
                "database : broker : ours",
            ),
            [
                (
                    split["server_ms_per_request"],
                    f"{split['database_ms']} ({split['database_calls']})",
                    split["broker_publish_ms"],
                    split["ours_ms"],
                    f"{split['database_share']:.0%} : {split['broker_share']:.0%} : "
                    f"{split['ours_share']:.0%}",
                )
            ],
        )
        text += "\n"
    if r.get("disturbed"):
        text += "\n**A level was disturbed** (RabbitMQ restart or >0.25 core used by other processes).\n"
    return text


if __name__ == "__main__":
    raise SystemExit(main())
