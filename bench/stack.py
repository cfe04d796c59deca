"""The benchmarks' harness: the real local stack, started and torn down by one object.

`Stack` starts SecantusDB (a temporary storage folder, or `:memory:`), the SMTP sink (a separate
process writing each accepted message to a maildir as `<unix time>.eml`), gunicorn for each
chosen service (`deploy/gunicorn.conf.py`, GUNICORN_WORKERS workers) and each chosen worker
process, on the local RabbitMQ under a namespace of its own (DB_PREFIX and BROKER_NAMESPACE are
the same random tag). Teardown stops every process it started and deletes its queues and
exchange, also when the benchmark fails; children are asked to die with the bench process too
(PR_SET_PDEATHSIG), so an interrupted run leaves nothing behind.

Also here: RSS sampling of every process of the stack (/proc/<pid>/status VmRSS), a disturbance
watch (RabbitMQ restarted? how much CPU did processes outside the stack use?), a tiny HTTP
client, percentiles, and the writer of bench/results/<name>.json and .md.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kombu import Connection
from pymongo import MongoClient
from pymongo.database import Database

from devtools.secantus import free_port, mongo_url, start_secantus
from shared.auth import Staff, issue_token
from shared.config import Settings
from shared.messaging.topology import (
    ALL_CONSUMERS,
    INTAKE_TRACKING,
    MEDIATION_INTAKE,
    NOTIFY_DELIVERIES,
    NOTIFY_EVENTS,
    ConsumerSpec,
    Topology,
)
from tests.support.stack import delete_broker_namespace, service_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SERVICES = ("intake", "mediation", "notify")
WORKER_QUEUES: dict[str, tuple[ConsumerSpec, ...]] = {
    "intake": (INTAKE_TRACKING,),
    "mediation": (MEDIATION_INTAKE,),
    "notify": (NOTIFY_EVENTS, NOTIFY_DELIVERIES),
    "council": (),  # its worker relays the outbox and closes due consultations: no queue of its own
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the bench process dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# /proc ---------------------------------------------------------------------------------------------
def rss_kb(pid: int) -> int | None:
    """Resident memory of a process (VmRSS), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / CLK_TCK


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return sorted(found)


def total_busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, not idle/iowait) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    revision = ""
    with contextlib.suppress(Exception):
        revision = subprocess.run(
            ["/usr/bin/git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "revision": revision,
    }


# The stack ----------------------------------------------------------------------------------------
@dataclass
class Stack:
    """Start with `with Stack(...) as stack:`; everything is stopped and deleted on exit."""

    web: Sequence[str] = SERVICES
    workers: Sequence[str] = SERVICES
    gunicorn_workers: int = 2
    worker_replicas: int = 1  # worker processes per service (replicas, as Kubernetes would run them)
    storage: str = "disk"  # "disk" (a temporary WiredTiger folder) or "memory"
    smtp: bool = True
    env: dict[str, str] = field(default_factory=dict)  # extra environment of every process
    log_level: str = "INFO"
    instrument: bool = False  # gunicorn with bench/instrument.py's hooks (database/broker/ours split)
    tag: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"concord-{self.tag}-"))
        self.maildir = self.tmp / "mail"
        self.ports = {name: free_port() for name in self.web}
        self.mongo_port = free_port()
        self.smtp_port = free_port()
        self.settings = Settings.from_env(
            {
                "mongo_url": mongo_url(self.mongo_port),
                "db_prefix": self.tag,
                "broker_namespace": self.tag,
                "smtp_url": f"smtp://127.0.0.1:{self.smtp_port}",
            }
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self._client: MongoClient | None = None
        self.beam_pids_at_start: list[int] = []

    # life cycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        process = subprocess.Popen(  # noqa: S603 (fixed commands, no outside input)
            args,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.processes[name] = process
        return process

    def process_env(self, **extra: str) -> dict[str, str]:
        return service_env(self.settings, LOG_LEVEL=self.log_level, **self.env, **extra)

    def start(self) -> None:
        self.beam_pids_at_start = pids_named("beam.smp")
        storage = ":memory:" if self.storage == "memory" else self.tmp / "mongo"
        if storage != ":memory:":
            Path(storage).mkdir()
        self.processes["secantus"] = start_secantus(self.mongo_port, storage, self.tmp / "secantus.log")
        if self.smtp:
            self._spawn(
                "smtp-sink",
                [
                    sys.executable,
                    "-m",
                    "devtools.smtp_sink",
                    "--port",
                    str(self.smtp_port),
                    "--maildir",
                    str(self.maildir),
                ],
                self.process_env(),
            )
        # Workers first: they create the indexes, seed mediation's registry and declare the queues.
        for service in self.workers:
            worker = [sys.executable, "-m", f"services.{service}.worker"]
            profile = self.tmp / "profile" / f"{service}-worker"  # one file per process: summed
            profile.mkdir(parents=True)
            if self.instrument:
                worker[2:2] = ["bench.instrumented_worker"]
            for replica in range(1, self.worker_replicas + 1):
                name = f"{service}-worker" + (f"-{replica}" if replica > 1 else "")
                self._spawn(name, worker, self.process_env(BENCH_PROFILE_DIR=str(profile)))
        config = "bench/gunicorn_instrumented.conf.py" if self.instrument else "deploy/gunicorn.conf.py"
        for service in self.web:
            profile = self.tmp / "profile" / service
            profile.mkdir(parents=True)
            self._spawn(
                f"{service}-gunicorn",
                [sys.executable, "-m", "gunicorn", "-c", config, f"services.{service}.app:create_app()"],
                self.process_env(
                    GUNICORN_BIND=f"127.0.0.1:{self.ports[service]}",
                    GUNICORN_WORKERS=str(self.gunicorn_workers),
                    PROMETHEUS_MULTIPROC_DIR=str(self.tmp / "metrics" / service),
                    BENCH_PROFILE_DIR=str(profile),
                ),
            )
        for service in self.workers:
            self.wait_consuming(service)
        for service in self.web:
            self.wait_http(service)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self._client is not None:
            self._client.close()
            self._client = None
        with contextlib.suppress(Exception):
            delete_broker_namespace(self.settings)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def profile(self, service: str) -> dict[str, Any]:
        """Stop the service's (instrumented) gunicorn and sum its workers' request split."""
        from bench.instrument import collect

        self.stop_process(f"{service}-gunicorn")
        return collect(self.tmp / "profile" / service)

    def profile_worker(self, service: str) -> dict[str, Any]:
        """Stop the service's (instrumented) worker and collect its per-queue message split."""
        from bench.instrument import collect

        replicas = [n for n in self.processes if n.startswith(f"{service}-worker")]
        for name in replicas:
            self.stop_process(name)
        return collect(self.tmp / "profile" / f"{service}-worker")

    def check_alive(self) -> None:
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        if dead:
            logs = {name: self.log_tail(name) for name in dead}
            raise RuntimeError(f"stack processes died: {dead}\n{json.dumps(logs, indent=1)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # waiting ------------------------------------------------------------------------------------------
    def wait_http(self, service: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get(service, "/readyz")[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{service} did not become ready:\n{self.log_tail(service + '-gunicorn')}")

    def wait_consuming(self, service: str, timeout: float = 60.0) -> None:
        """Until every queue of the service's worker has a consumer."""
        topology = Topology(self.settings)
        names = [topology.queue_name(spec) for spec in WORKER_QUEUES[service]]
        deadline = time.monotonic() + timeout
        with Connection(self.settings.broker_url, connect_timeout=3) as conn:
            while time.monotonic() < deadline:
                self.check_alive()
                ready = 0
                for name in names:
                    try:
                        _, _, consumers = conn.default_channel.queue_declare(name, passive=True)
                    except Exception:
                        conn.close()  # a missing queue closes the channel (and may the connection)
                        conn.connect()
                        break
                    ready += consumers > 0
                if ready == len(names):
                    return
                time.sleep(0.2)
        raise RuntimeError(f"{service} worker is not consuming:\n{self.log_tail(service + '-worker')}")

    def queue_depths(self) -> dict[str, int]:
        topology = Topology(self.settings)
        depths = {}
        with Connection(self.settings.broker_url, connect_timeout=3) as conn:
            for spec in ALL_CONSUMERS:
                try:
                    _, count, _ = conn.default_channel.queue_declare(topology.queue_name(spec), passive=True)
                except Exception:
                    conn.close()
                    conn.connect()
                    continue
                depths[spec.name] = count
        return depths

    # access -----------------------------------------------------------------------------------------
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def db(self, service: str) -> Database:
        if self._client is None:
            self._client = MongoClient(self.settings.mongo_url, tz_aware=True)
        return self._client[self.settings.database_name(service)]

    def staff_token(self, user_id: str, roles: Iterable[str], studio: str | None = None) -> str:
        staff = Staff(user_id=user_id, name=user_id, roles=frozenset(roles), studio=studio, language="en")
        return issue_token(self.settings, staff)

    def get(self, service: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[service], timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    # processes and memory -------------------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        """Every process of the stack by a stable label, plus RabbitMQ's beam (shared broker)."""
        found: dict[str, int] = {}
        for name, process in self.processes.items():
            if process.poll() is not None:
                continue
            if name.endswith("-gunicorn"):
                found[f"{name} master"] = process.pid
                for i, child in enumerate(sorted(children_of(process.pid)), 1):
                    found[f"{name} worker {i}"] = child
            else:
                found[name] = process.pid
        for i, pid in enumerate(pids_named("beam.smp"), 1):
            found["rabbitmq beam.smp" + (f" {i}" if i > 1 else "")] = pid
        return found

    def rss(self) -> dict[str, int]:
        """VmRSS in KiB of every process of the stack now."""
        return {label: kb for label, pid in self.pids().items() if (kb := rss_kb(pid)) is not None}

    def cpu(self) -> dict[str, float]:
        return {label: cpu_seconds(pid) for label, pid in self.pids().items()}

    def broker_restarted(self) -> bool:
        return pids_named("beam.smp") != self.beam_pids_at_start


class RssSampler(threading.Thread):
    """Samples the stack's RSS every `interval` seconds; `peak` per process when stopped."""

    def __init__(self, stack: Stack, interval: float = 1.0) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.stack = stack
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for label, kb in self.stack.rss().items():
                self.peak[label] = max(self.peak.get(label, 0), kb)
            self.stopping.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.join(timeout=5)
        return dict(self.peak)


class Watch:
    """How disturbed a measured interval was: CPU used by the stack, the bench process (and the
    load tool it ran), RabbitMQ, and everything else on the machine; whether RabbitMQ restarted."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __enter__(self) -> Watch:
        self.started = time.monotonic()
        self.busy0 = total_busy_seconds()
        self.cpu0 = self.stack.cpu()
        self.own0 = sum(os.times()[:4])
        self.beam0 = pids_named("beam.smp")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started
        busy = total_busy_seconds() - self.busy0
        cpu1 = self.stack.cpu()
        per = {k: cpu1[k] - self.cpu0.get(k, 0.0) for k in cpu1}
        rabbit = sum(v for k, v in per.items() if k.startswith("rabbitmq"))
        stack = sum(v for k, v in per.items() if not k.startswith("rabbitmq"))
        own = sum(os.times()[:4]) - self.own0
        self.report = {
            "seconds": round(self.seconds, 2),
            "machine_busy_cores": round(busy / self.seconds, 2),
            "stack_cpu_cores": round(stack / self.seconds, 2),
            "rabbitmq_cpu_cores": round(rabbit / self.seconds, 2),
            "bench_and_load_tool_cpu_cores": round(own / self.seconds, 2),
            "other_processes_cpu_cores": round(max(0.0, busy - stack - rabbit - own) / self.seconds, 2),
            "per_process_cpu_seconds": {k: round(v, 2) for k, v in sorted(per.items())},
            "rabbitmq_restarted": pids_named("beam.smp") != self.beam0,
        }

    @property
    def disturbed(self) -> bool:
        """RabbitMQ restarted, or processes outside the benchmark took more than a quarter core."""
        return self.report["rabbitmq_restarted"] or self.report["other_processes_cpu_cores"] > 0.25


# Numbers and results --------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"count": 0}
    return {
        "count": len(ms),
        "mean": round(sum(ms) / len(ms), 2),
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2),
    }


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, result: dict[str, Any], markdown: str) -> None:
    """bench/results/<name>.json (machine-readable) and <name>.md (the short table)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n"
    )
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(markdown)
    from bench import report  # the README's results table follows the files

    report.update_readme()


def header_md(title: str, result: dict[str, Any]) -> str:
    m = result["machine"]
    return (
        f"# {title}\n\n"
        f"{result['at']} · {m['cpus']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, "
        f"revision {m['revision'] or '?'} · load average at start {m['load_average_at_start']}\n"
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


@contextlib.contextmanager
def terminate_on_signal() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `with Stack()` tears down when the bench is stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
