"""Where a request's time goes, measured inside the real gunicorn workers (bench runs only).

`bench/gunicorn_instrumented.conf.py` loads `deploy/gunicorn.conf.py` unchanged and adds hooks
that call `install()` after the fork and `begin()`/`end()` around every request. Per request it
sums the durations pymongo's command monitoring reports for the thread handling it (the
database's share: the round trip to SecantusDB, as the client sees it) and the time spent in
`Publisher.publish_raw` (the broker's share: a confirmed publish). The rest is ours (Flask,
validation, templates, gunicorn). Each worker writes its totals to
`$BENCH_PROFILE_DIR/<pid>.json` every 100 requests and when it exits. Command listeners cost a
few microseconds per command.

Round trips made off the request by the process's background threads are counted apart, per
thread name (`background`): the batched "sent" marks of the outbox (`outbox-sent-marks`) and
intake's reference blocks (`reference-blocks`) belong to the cases handled, the outbox relay's
polls (`outbox-relay`) and the rest to the passing of time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pymongo import monitoring


class _RequestState(threading.local):
    """The request (or message) in hand, per thread: a worker's consumer lanes handle several
    messages at once, each in its own thread, and each is accounted on its own."""

    def __init__(self) -> None:
        self.db = 0.0
        self.db_calls = 0
        self.publish = 0.0
        self.started: float | None = None
        self.statements: Counter[str] = Counter()


_state = _RequestState()
_totals_lock = threading.RLock()  # lanes finish messages concurrently; `dump` runs under it too
_totals: dict[str, Any] = {
    "requests": 0,
    "request_seconds": 0.0,
    "db_seconds": 0.0,
    "db_calls": 0,
    "publish_seconds": 0.0,
    "by_path": defaultdict(lambda: Counter()),
    "commands": Counter(),
    "background": Counter(),
}
# Background threads whose round trips are part of handling cases (the rest are idle polls).
CASE_THREADS = ("outbox-sent-marks", "reference-blocks", "delivery-secrets")


# A request's statements are named by command and collection ("find cases") in its row, under
# these prefixes: `collect` gives each one's calls and ms per request (which statement is slow).
STATEMENT_CALLS = "statement_calls "
STATEMENT_MICROS = "statement_micros "


class _Listener(monitoring.CommandListener):
    def __init__(self) -> None:
        self._statements: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if _state.started is not None:
            target = event.command.get(event.command_name)
            where = target if isinstance(target, str) else ""
            self._statements[event.request_id] = f"{event.command_name} {where}".strip()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event.command_name, event.duration_micros, self._statements.pop(event.request_id, None))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event.command_name, event.duration_micros, self._statements.pop(event.request_id, None))

    @staticmethod
    def _add(name: str, micros: int, statement: str | None) -> None:
        if _state.started is None:
            # Start-up, or another thread (outbox relay, sent marks, deadline job): no request.
            with _totals_lock:
                _totals["background"][threading.current_thread().name] += 1
            return
        _state.db += micros / 1e6
        _state.db_calls += 1
        _state.statements[STATEMENT_MICROS + (statement or name)] += micros
        _state.statements[STATEMENT_CALLS + (statement or name)] += 1
        with _totals_lock:
            _totals["commands"][name] += 1


def install() -> None:
    """Register the command listener (before any client exists) and wrap the publisher."""
    monitoring.register(_Listener())
    from shared.messaging import publisher

    original = publisher.Publisher.publish_raw

    def timed_publish_raw(self: Any, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            original(self, *args, **kwargs)
        finally:
            if _state.started is not None:
                _state.publish += time.perf_counter() - started

    publisher.Publisher.publish_raw = timed_publish_raw  # type: ignore[method-assign]


def begin() -> None:
    _state.db, _state.db_calls, _state.publish = 0.0, 0, 0.0
    _state.statements = Counter()
    _state.started = time.perf_counter()


def end(path: str) -> None:
    if _state.started is None:
        return
    elapsed = time.perf_counter() - _state.started
    _state.started = None
    key = path if not path.startswith("/api/v1/cases/") else "/api/v1/cases/<ref>"
    with _totals_lock:
        _add_request(key, elapsed)


def _add_request(key: str, elapsed: float) -> None:
    _totals["requests"] += 1
    _totals["request_seconds"] += elapsed
    _totals["db_seconds"] += _state.db
    _totals["db_calls"] += _state.db_calls
    _totals["publish_seconds"] += _state.publish
    row = _totals["by_path"][key]
    row["requests"] += 1
    row["request_seconds"] += elapsed
    row["db_seconds"] += _state.db
    row["db_calls"] += _state.db_calls
    row["publish_seconds"] += _state.publish
    row.update(_state.statements)
    if _totals["requests"] % 100 == 0:
        dump()


def dump() -> None:
    folder = os.environ.get("BENCH_PROFILE_DIR")
    if not folder:
        return
    with _totals_lock:
        data = {
            **_totals,
            "by_path": {k: dict(v) for k, v in _totals["by_path"].items()},
            "background": dict(_totals["background"]),
            "commands": dict(_totals["commands"]),
        }
    path = Path(folder) / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def collect(folder: Path) -> dict[str, Any]:
    """Sum every worker's totals in `folder`: per path, mean ms per request and the split."""
    paths: dict[str, Counter] = defaultdict(Counter)
    background: Counter = Counter()
    for file in folder.glob("*.json"):
        data = json.loads(file.read_text())
        for key, row in data["by_path"].items():
            paths[key].update(row)
        background.update(data.get("background", {}))
    out: dict[str, Any] = {}
    for key, row in paths.items():
        n = row["requests"] or 1
        total = row["request_seconds"] / n * 1000
        db = row["db_seconds"] / n * 1000
        pub = row["publish_seconds"] / n * 1000
        out[key] = {
            "requests": row["requests"],
            "server_ms_per_request": round(total, 2),
            "database_ms": round(db, 2),
            "database_calls": round(row["db_calls"] / n, 1),
            "database_calls_total": row["db_calls"],
            "broker_publish_ms": round(pub, 2),
            "ours_ms": round(total - db - pub, 2),
            "database_share": round(db / total, 3) if total else None,
            "broker_share": round(pub / total, 3) if total else None,
            "ours_share": round((total - db - pub) / total, 3) if total else None,
            # Per statement (command and collection), its share of `database_ms`, slowest first.
            "statements": {
                name[len(STATEMENT_MICROS) :]: {
                    "calls": round(row[STATEMENT_CALLS + name[len(STATEMENT_MICROS) :]] / n, 2),
                    "ms": round(micros / n / 1000, 2),
                }
                for name, micros in sorted(row.items(), key=lambda kv: -kv[1])
                if name.startswith(STATEMENT_MICROS)
            },
        }
    if background:
        out["background_threads"] = {"database_calls_by_thread": dict(background)}
    return out


def case_round_trips(collected: dict[str, Any], keys: list[str] | None, cases: int) -> dict[str, Any]:
    """Database round trips per case of one service: the handling of `keys` (request paths or
    queues; None: all) plus its case threads' (`CASE_THREADS`), over `cases` cases."""
    handled = sum(
        row["database_calls_total"]
        for key, row in collected.items()
        if key != "background_threads" and (keys is None or key in keys)
    )
    threads = collected.get("background_threads", {}).get("database_calls_by_thread", {})
    marks = sum(threads.get(name, 0) for name in CASE_THREADS)
    return {
        "handling": round(handled / cases, 2) if cases else None,
        "background": round(marks / cases, 2) if cases else None,
        "per_case": round((handled + marks) / cases, 2) if cases else None,
    }
