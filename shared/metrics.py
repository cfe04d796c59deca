"""Prometheus metrics for every service: HTTP latency, message handling, outbox backlog, queue depth.

Under gunicorn several worker processes serve one service, so counters and histograms live in
prometheus_client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (gunicorn's config
clears a dead worker's files). Gauges that describe shared state — the outbox backlog, queue
depths, cases by state — are not kept per process at all: they are read from MongoDB or the
broker when /metrics is scraped, so every worker answers the same truth.

/metrics is never served where the public reaches the service: a web service answers it only on
its metrics port (`METRICS_PORT`, a second listener gunicorn opens besides the public one; see
deploy/gunicorn.conf.py), which the Kubernetes Service exposes inside the cluster and no Ingress
routes to. The metrics port serves nothing else, and the public port answers /metrics with 404.

A worker process (consumers) has no HTTP server of its own; with WORKER_METRICS_PORT set it
serves its metrics on that port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

HTTP_LATENCY = Histogram(
    "concord_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["service", "method", "endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES = Counter(
    "concord_messages_handled_total",
    "Messages a consumer finished, by outcome (ok, retried, dead_lettered).",
    ["queue", "type", "outcome"],
)
MESSAGE_TIME = Histogram(
    "concord_message_processing_seconds",
    "Time a handler took for one message.",
    ["queue", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

GaugeSource = Callable[[], Iterable[Metric]]


class ScrapeTimeCollector(Collector):
    """Runs the service's gauge sources at scrape time; a failing source is skipped, not fatal."""

    def __init__(self, sources: Iterable[GaugeSource]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            try:
                yield from source()
            except Exception:  # a dependency down must not break the whole scrape
                log.warning("metrics source failed", exc_info=True)


def gauge(
    name: str, documentation: str, labels: list[str], values: Iterable[tuple[list[str], float]]
) -> Metric:
    """A gauge family built from (label values, value) pairs."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def _registries(sources: Iterable[GaugeSource]) -> tuple[CollectorRegistry, CollectorRegistry]:
    """The process metrics (all gunicorn workers' in multiprocess mode) and the scrape-time ones."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)
    else:
        process = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(ScrapeTimeCollector(sources))
    return process, scraped


def exposition(registries: tuple[CollectorRegistry, ...]) -> bytes:
    """The Prometheus text format of several registries (their metric names never overlap)."""
    return b"".join(generate_latest(registry) for registry in registries)


def on_metrics_port(metrics_port: int) -> bool:
    """True when the request came in on the metrics listener (the WSGI server's own port: under
    gunicorn the listening socket's, which no client header changes)."""
    return bool(metrics_port) and request.environ.get("SERVER_PORT") == str(metrics_port)


def init_metrics(app: Flask, service: str, metrics_port: int) -> None:
    """Time every request and serve GET /metrics in the Prometheus text format, on the metrics
    port only (404 on the public port; the metrics port answers nothing but /metrics).

    Services add scrape-time gauges with `add_metrics_source(app, source)`.
    """
    sources: list[GaugeSource] = app.extensions.setdefault("metrics_sources", [])
    registries: list[tuple[CollectorRegistry, CollectorRegistry]] = []

    @app.before_request
    def start_timer() -> None:
        # Case counts by studio and state, queue depths: for the monitoring system, not the public.
        if (request.path == "/metrics") != on_metrics_port(metrics_port):
            abort(404)
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Any) -> Any:
        started = g.pop("metrics_started", None)
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            HTTP_LATENCY.labels(service, request.method, endpoint, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    def metrics() -> Response:
        if not registries:  # built lazily: after fork, on first scrape
            registries.append(_registries(sources))
        return Response(exposition(registries[0]), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics)


def add_metrics_source(app: Flask, source: GaugeSource) -> None:
    app.extensions.setdefault("metrics_sources", []).append(source)


def outbox_backlog(service: str, outbox: Callable[[], Any]) -> GaugeSource:
    """Events stored but not yet confirmed by the broker (should hover near zero)."""

    def source() -> Iterable[Metric]:
        pending = outbox().pending_count()
        yield gauge(
            "concord_outbox_pending", "Outbox events not yet published.", ["service"], [([service], pending)]
        )

    return source


def dependency_up(service: str, dependency: str, check: Callable[[], bool]) -> GaugeSource:
    """1 when `dependency` answers at scrape time, else 0 (the broker: not part of readiness)."""

    def source() -> Iterable[Metric]:
        up = 1.0 if check() else 0.0
        yield gauge(
            "concord_dependency_up",
            "1 when the dependency answers, 0 when it does not.",
            ["service", "dependency"],
            [([service, dependency], up)],
        )

    return source


def queue_depths(settings: Any, specs: Iterable[Any]) -> GaugeSource:
    """Messages waiting in each of a service's queues (consumer lag), and in its dead letters."""
    from kombu import Connection

    from shared.messaging.topology import Topology

    topology = Topology(settings)
    names = [n for spec in specs for n in (topology.queue_name(spec), topology.dead_queue_name(spec))]

    def source() -> Iterable[Metric]:
        depths = []
        with Connection(settings.broker_url, connect_timeout=settings.connect_timeout) as conn:
            for name in names:
                depths.append(([name], _message_count(conn, name)))
        yield gauge("concord_queue_messages", "Messages waiting in a queue.", ["queue"], depths)

    return source


def _message_count(conn: Any, queue: str) -> int:
    channel = conn.channel()
    try:
        return channel.queue_declare(queue, passive=True).message_count
    except Exception:  # not declared yet: nothing waiting (the broker closed the channel)
        return 0
    finally:
        with contextlib.suppress(Exception):
            channel.close()


def serve_worker_metrics(sources: Iterable[GaugeSource] = ()) -> None:
    """Expose a worker process's metrics on WORKER_METRICS_PORT, if set."""
    port = int(os.environ.get("WORKER_METRICS_PORT", "0"))
    if not port:
        return
    process, scraped = _registries(sources)
    combined = CollectorRegistry()
    combined.register(_Union(process, scraped))
    start_http_server(port, addr=os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1"), registry=combined)


class _Union(Collector):
    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterator[Metric]:
        for registry in self.registries:
            yield from registry.collect()
