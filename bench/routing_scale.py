"""Benchmark: routing's database round trips, one by one, with many open cases in the district.

    .venv/bin/python -m bench.routing_scale [--district 20000] [--cases 200]

Starts its own SecantusDB server, seeds mediation's registry and `--district` open cases as
`bench.desk_latency` does, then calls `routing.on_case_submitted` directly (no broker consumer:
only the handling itself) for `--cases` new cases of the benchmark's communities and buildings. A
pymongo command listener times every command the handling sends; the summary gives, per message,
the calls and database milliseconds, and per statement (command and collection) the calls and
milliseconds, so a slow statement is named. The outbox's publish goes to the real broker.
Prints JSON; writes no results file (a quick check, not one of the README's benchmarks).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient, monitoring

from bench.desk_latency import CATEGORIES, seed
from devtools.secantus import free_port, mongo_url, start_secantus
from services.mediation import routing
from services.mediation.bootstrap import bootstrap, ensure_indexes
from services.mediation.registry import seed_registry
from shared.config import Settings
from shared.messaging.envelope import make_envelope

COMMUNITIES = ("lianhua", "heping", "xinyuan", "chaoyang", "taoyuan")  # as bench.desk_latency's routing


class Recorder(monitoring.CommandListener):
    """Durations of the commands the recording thread sends, by command and collection."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.names: dict[int, str] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.micros: dict[str, int] = defaultdict(int)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if threading.get_ident() == self.thread:
            target = event.command.get(event.command_name)
            where = target if isinstance(target, str) else ""
            self.names[event.request_id] = f"{event.command_name} {where}".strip()

    def _add(self, event: Any) -> None:
        name = self.names.pop(event.request_id, None)
        if name is not None:
            self.calls[name] += 1
            self.micros[name] += event.duration_micros

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event)


class _Seeding:
    """The part of `bench.stack.Stack` that `bench.desk_latency.seed` uses: its own client, without
    the services' socket timeout (a batch of 1,000 cases takes longer on a busy machine)."""

    def __init__(self, url: str, name: str) -> None:
        self.client: MongoClient = MongoClient(url)
        self.name = name

    def db(self, service: str) -> Any:
        return self.client[self.name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--district", type=int, default=20000, help="open cases in the district")
    parser.add_argument("--studio-open", type=int, default=1000, help="open cases in studio zhihe")
    parser.add_argument("--cases", type=int, default=200, help="cases routed (and timed)")
    args = parser.parse_args()
    recorder = Recorder()
    monitoring.register(recorder)
    tmp = Path(tempfile.mkdtemp(prefix="concord-routing-scale-"))
    (tmp / "mongo").mkdir()
    port = free_port()
    server = start_secantus(port, tmp / "mongo", tmp / "secantus.log")
    try:
        tag = f"rs{uuid.uuid4().hex[:8]}"
        settings = Settings.from_env(
            {"mongo_url": mongo_url(port), "db_prefix": tag, "broker_namespace": tag}
        )
        mediation = bootstrap(settings)
        ensure_indexes(mediation.db)
        seed_registry(mediation.db)
        started = time.perf_counter()
        seeding = _Seeding(mongo_url(port), mediation.db.name)
        seed(seeding, args.district, args.studio_open)
        seeding.client.close()
        seeded_s = time.perf_counter() - started
        envelopes = [
            make_envelope(
                "case.submitted",
                {
                    "reference": f"LC-2098-{i:06d}",
                    "received_at": datetime.now(UTC).isoformat(),
                    "category": CATEGORIES[i % 4],
                    "community": COMMUNITIES[i % len(COMMUNITIES)],
                    "building": str(i % 300),
                    "description": "Noise at night.",
                    "language": "en",
                    "parties": [{"role": "applicant", "name": "张三", "phone": "13800138000"}],
                },
                source="bench",
            )
            for i in range(args.cases)
        ]
        routing.on_case_submitted(mediation, envelopes[0])  # warm-up: the registry copy, connections
        recorder.thread = threading.get_ident()
        started = time.perf_counter()
        for envelope in envelopes[1:]:
            routing.on_case_submitted(mediation, envelope)
        elapsed = time.perf_counter() - started
        recorder.thread = None
        n = len(envelopes) - 1
        db_ms = sum(recorder.micros.values()) / 1000
        result = {
            "district_open_cases": args.district,
            "seed_seconds": round(seeded_s, 1),
            "cases_timed": n,
            "per_message": {
                "ms": round(elapsed * 1000 / n, 1),
                "db_calls": round(sum(recorder.calls.values()) / n, 2),
                "db_ms": round(db_ms / n, 1),
            },
            "statements": {
                name: {
                    "calls_per_message": round(recorder.calls[name] / n, 2),
                    "ms_per_message": round(us / n / 1000, 2),
                }
                for name, us in sorted(recorder.micros.items(), key=lambda kv: -kv[1])
            },
        }
        json.dump(result, sys.stdout, indent=2)
        print()
    finally:
        # The server's storage is a temporary folder: stopped, not emptied (dropping 20,000 cases
        # takes SecantusDB longer than pymongo's socket timeout).
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
