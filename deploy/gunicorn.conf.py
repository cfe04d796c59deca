"""Gunicorn settings shared by every Concord web service (intake, mediation, notify).

Used as `gunicorn -c deploy/gunicorn.conf.py "services.<name>.app:create_app()"`. Everything an
operator may need to change per deployment comes from the environment (twelve-factor); the rest
are fixed values chosen for these services.
"""

from __future__ import annotations

import os

# Loopback by default, so a bare run never exposes the service; containers set 0.0.0.0:8000.
_public_bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# A second listener on the same address for /metrics alone (shared/metrics.py): the monitoring
# system scrapes it inside the cluster; the public port answers /metrics with 404. 0 turns it off.
_metrics_port = int(os.environ.get("METRICS_PORT", "9100"))
bind = [_public_bind]
if _metrics_port:
    bind.append(f"{_public_bind.rsplit(':', 1)[0]}:{_metrics_port}")

# Sync workers: the views are short and I/O-bound on MongoDB and the broker. Scale with
# GUNICORN_WORKERS (processes) first; GUNICORN_THREADS adds threads inside each process. Measured
# on two cores (bench/intake_throughput.py): four threads per worker starve the process's
# background threads (a filing's events are published by one, shared.outbox.Publishing), so
# hundreds of filed cases wait seconds for their events, for little gain in CPU per case.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

# A request stuck for 30 s is a bug or a dead dependency: kill the worker and start another.
timeout = 30
# On SIGTERM, finish in-flight requests for up to 20 s (compose's stop_grace_period is longer).
graceful_timeout = 20

# Never preload. pymongo's MongoClient is not fork-safe (its monitor threads and pooled sockets
# do not survive fork), and a kombu connection shared across processes would interleave frames.
# With preload off, each worker imports the app and calls create_app() after the fork, so every
# process creates its own database and broker clients, lazily.
preload_app = False

# Access log to stdout, where the container runtime collects it.
accesslog = "-"
# The path without its query string, and no referrer: a resident's tracking link carries its secret
# token in the query (`/track/<reference>?token=...`), and a link's secret is never logged.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'

# Trust X-Forwarded-* headers only from these proxy addresses (the same variable gunicorn
# itself reads). Widen it only to the address of the reverse proxy in front of the service.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Workers signal liveness to the arbiter by touching a file in worker_tmp_dir. In containers the
# default temporary directory may sit on an overlay filesystem, where those writes can stall and
# get healthy workers killed on timeout; /dev/shm is tmpfs. Outside Linux it may not exist.
if os.path.isdir("/dev/shm"):  # noqa: S108 (tmpfs for the heartbeat file, not shared data)
    worker_tmp_dir = "/dev/shm"  # noqa: S108


# Metrics under several workers: prometheus_client's multiprocess mode keeps each worker's
# counters in files under PROMETHEUS_MULTIPROC_DIR; start from an empty folder, and drop a dead
# worker's live gauges when it exits.
def on_starting(server: object) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def child_exit(server: object, worker: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
