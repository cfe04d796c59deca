"""/metrics in the Prometheus format: request latency, outbox backlog, queue depth, consumer
counts — and correct when several gunicorn workers answer the scrapes. Served on the metrics port
only: the public port answers /metrics with 404 (issue 17, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.secantus import free_port
from services.intake.app import create_app
from shared.config import Settings
from tests.integration.conftest import CASE
from tests.support.stack import ROOT, service_env, wait_for


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lbls), v in found.items() if n == name and set(labels.items()) <= set(lbls))


def on_metrics_port(settings: Settings) -> str:
    """The test client's base URL for a request arriving on the metrics listener."""
    return f"http://localhost:{settings.metrics_port}"


def test_metrics_show_requests_outbox_and_queue_depth(settings: Settings) -> None:
    client = create_app(settings).test_client()
    assert client.post("/api/v1/cases", json=CASE).status_code == 201
    assert client.post("/api/v1/cases", json=CASE).status_code == 201
    assert client.get("/metrics").status_code == 404  # the public port
    response = client.get("/metrics", base_url=on_metrics_port(settings))
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    found = samples(response.get_data(as_text=True))
    assert (
        value(found, "concord_http_request_duration_seconds_count", endpoint="/api/v1/cases", status="201")
        >= 2
    )

    # Published, and marked sent by the process's batch soon after (a quarter of the grace period).
    def pending() -> float:
        return value(
            samples(client.get("/metrics", base_url=on_metrics_port(settings)).get_data(as_text=True)),
            "concord_outbox_pending",
            service="intake",
        )

    wait_for(
        lambda: pending() == 0,
        timeout=5,
        what="the published events marked sent",
    )
    # No intake worker runs: both case.submitted events wait in mediation's queue, not intake's.
    assert ("concord_queue_messages", (("queue", f"{settings.broker_namespace}.intake.tracking"),)) in found


def test_request_counts_add_up_across_gunicorn_workers(settings: Settings, tmp_path) -> None:
    port, metrics_port = free_port(), free_port()
    env = service_env(
        settings,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        METRICS_PORT=str(metrics_port),
        GUNICORN_WORKERS="3",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        INTAKE_RATE_LIMIT="1000/600",
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "services.intake.app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=20, what="gunicorn")
        for _ in range(30):
            request = urllib.request.Request(
                f"{base}/api/v1/cases",
                data=json.dumps(CASE).encode(),
                headers={"Content-Type": "application/json"},
            )
            assert urllib.request.urlopen(request, timeout=10).status == 201
        # Not on the public port, whatever the client claims to be talking to.
        for headers in ({}, {"Host": f"127.0.0.1:{metrics_port}"}):
            request = urllib.request.Request(f"{base}/metrics", headers=headers)
            with pytest.raises(urllib.error.HTTPError) as public:
                urllib.request.urlopen(request, timeout=10)
            assert public.value.code == 404
        # The metrics port serves /metrics and nothing else.
        for path in ("/", "/healthz", "/api/v1/cases/LC-2026-000001?token=x"):
            with pytest.raises(urllib.error.HTTPError) as other:
                urllib.request.urlopen(f"{metrics}{path}", timeout=10)
            assert other.value.code == 404, path
        # Whichever worker answers the scrape, it reports all workers' requests.
        for _ in range(3):
            text = urllib.request.urlopen(f"{metrics}/metrics", timeout=10).read().decode()
            found = samples(text)
            assert value(found, "concord_http_request_duration_seconds_count", endpoint="/api/v1/cases") == 30
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_notify_metrics_count_deliveries_by_channel_and_status(settings: Settings) -> None:
    from services.notify.app import create_app as notify_app
    from shared.db import get_database

    deliveries = get_database(settings, "notify").deliveries
    deliveries.insert_many(
        [
            {"_id": "d1", "channel": "email", "status": "sent"},
            {"_id": "d2", "channel": "email", "status": "sent"},
            {"_id": "d3", "channel": "sms", "status": "failed"},
        ]
    )
    found = samples(
        notify_app(settings)
        .test_client()
        .get("/metrics", base_url=on_metrics_port(settings))
        .get_data(as_text=True)
    )
    assert value(found, "concord_deliveries", channel="email", status="sent") == 2
    assert value(found, "concord_deliveries", channel="sms", status="failed") == 1
    assert value(found, "concord_outbox_pending", service="notify") == 0


def test_mediation_metrics_count_cases_by_state(settings: Settings) -> None:
    from services.mediation.app import create_app as mediation_app
    from shared.db import get_database

    get_database(settings, "mediation").cases.insert_many(
        [
            {"_id": "LC-2026-000001", "status": "received", "studio": "zhihe"},
            {"_id": "LC-2026-000002", "status": "received", "studio": "zhihe"},
            {"_id": "LC-2026-000003", "status": "in_mediation", "studio": "heping-rc"},
        ]
    )
    found = samples(
        mediation_app(settings)
        .test_client()
        .get("/metrics", base_url=on_metrics_port(settings))
        .get_data(as_text=True)
    )
    assert value(found, "concord_cases", state="received", studio="zhihe") == 2
    assert value(found, "concord_cases", state="in_mediation", studio="heping-rc") == 1
    assert ("concord_queue_messages", (("queue", f"{settings.broker_namespace}.mediation.intake"),)) in found
