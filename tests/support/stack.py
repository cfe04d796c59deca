"""Run the services' real worker processes against a test's settings, and wait for outcomes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kombu import Connection

from devtools.secantus import free_port
from shared.config import Settings
from shared.messaging.topology import ALL_CONSUMERS, ConsumerSpec, Topology

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """Environment variables that make a service process use `settings`."""
    env = dict(os.environ)
    env.update(
        {
            "MONGO_URL": settings.mongo_url,
            "DB_PREFIX": settings.db_prefix,
            "BROKER_URL": settings.broker_url,
            "BROKER_NAMESPACE": settings.broker_namespace,
            "RETRY_DELAYS": ",".join(str(d) for d in settings.retry_delays),
            "OUTBOX_GRACE_SECONDS": str(settings.outbox_grace_seconds),
            "OUTBOX_RELAY_INTERVAL": str(settings.outbox_relay_interval),
            "PUBLISH_TIMEOUT": str(settings.publish_timeout),
            "CONNECT_TIMEOUT": str(settings.connect_timeout),
            "SMTP_URL": settings.smtp_url,
            # Every gunicorn a test starts gets its own /metrics listener (default 9100 would clash).
            "METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "INFO",
            # No daily digest from the workers' scheduler (hour 24 never comes): at 08:00 in the
            # district's time zone it would mail every studio lead in whatever test runs then.
            # Digests are tested by calling the planner at chosen times.
            "DIGEST_HOUR": "24",
        }
    )
    env.update(overrides)
    return env


class Workers:
    """The worker processes of a test (`python -m services.<name>.worker`), logs in `log_dir`."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, service: str, **env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{service}-worker.log", "ab")  # noqa: SIM115 (owned by the child)
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}.worker"],
            cwd=ROOT,
            env=service_env(self.settings, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[service] = process
        return process

    def log(self, service: str) -> str:
        return (self.log_dir / f"{service}-worker.log").read_text(encoding="utf-8", errors="replace")

    def stop(self, service: str, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        process = self.processes.pop(service)
        process.send_signal(sig)
        return process.wait(timeout=timeout)

    def stop_all(self) -> dict[str, int]:
        return {name: self.stop(name) for name in list(self.processes)}

    def kill_all(self) -> None:
        """Teardown: stop politely, then for good."""
        for name, process in list(self.processes.items()):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            del self.processes[name]


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.1, what: str = "") -> T:
    """Poll until `predicate()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def delete_broker_namespace(settings: Settings, specs: tuple[ConsumerSpec, ...] = ALL_CONSUMERS) -> None:
    """Remove every queue and the exchange a test's namespace declared."""
    topology = Topology(settings)
    with Connection(settings.broker_url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for spec in specs:
            names = [topology.queue_name(spec), topology.dead_queue_name(spec)]
            names += [topology.retry_queue_name(spec, t) for t in range(len(settings.retry_delays))]
            for name in names:
                try:
                    channel.queue_delete(name)
                except Exception:
                    channel = conn.channel()  # deleting a missing queue closes the channel
        with contextlib.suppress(Exception):
            channel.exchange_delete(topology.exchange.name)
