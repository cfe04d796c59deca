"""Benchmark: how fast notify plans (renders) deliveries, without I/O.

Planning renders every message of an event for every recipient and channel (Jinja templates,
the HTML layout, an .ics for sessions). This measures that CPU share alone — the database and
broker share of the write path is measured by bench/intake_throughput.py — and writes the figures to
bench/results/notify_planning.json.

    .venv/bin/python -m bench.notify_planning [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.stack import machine
from services.notify.delivery import _contacts_from
from services.notify.domain.audiences import Directory
from services.notify.domain.rules import CHANNELS, RULES
from services.notify.planning import PlanConfig, plan
from tests.support.notify_events import event

RESULTS = Path(__file__).resolve().parent / "results" / "notify_planning.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    config = PlanConfig(
        enabled_channels=frozenset(CHANNELS),
        directory=Directory(duty_group_url="http://127.0.0.1:9/duty", webhook_urls=("http://127.0.0.1:9/h",)),
        timezone="Asia/Shanghai",
        sms_max_segments=2,
        secret_key="bench",  # noqa: S106 (a benchmark signs nothing real)
        public_url="http://127.0.0.1:8003",
    )
    contacts = _contacts_from(event("case.submitted").data)
    now = datetime.now(UTC)
    figures = {}
    for event_type in RULES:
        timings, count = [], 0
        for _ in range(args.rounds):
            envelope = event(event_type)
            started = time.perf_counter()
            count = len(plan(envelope, contacts, lambda key: None, config, now=now))
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        figures[event_type] = {
            "deliveries_per_event": count,
            "median_ms": round(statistics.median(timings), 3),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 3),
            "per_delivery_ms": round(statistics.median(timings) / max(count, 1), 3),
        }
    result = {
        "benchmark": "notify_planning",
        "at": now.isoformat(),
        "machine": machine(),
        "rounds": args.rounds,
        "events": figures,
        "note": "CPU only (rendering); no database or broker time included.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["events"], indent=2))
    from bench import report  # the README's results table follows the files

    report.update_readme()


if __name__ == "__main__":
    main()
