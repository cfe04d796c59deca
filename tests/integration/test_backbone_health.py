"""/healthz answers while the process is up; /readyz fails while MongoDB is away, and only then:
with the broker away a service still takes cases (the outbox keeps their events), so it stays in
service and reports the broker in /readyz's detail and in /metrics (issue 17, item 7)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devtools.secantus import free_port
from services.council.app import create_app as council_app
from services.intake.app import create_app as intake_app
from services.mediation.app import create_app as mediation_app
from services.notify.app import create_app as notify_app
from shared.config import Settings

FACTORIES = {"intake": intake_app, "mediation": mediation_app, "notify": notify_app, "council": council_app}


@pytest.mark.parametrize("service", FACTORIES)
def test_ready_when_dependencies_answer(settings: Settings, service: str) -> None:
    client = FACTORIES[service](settings).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"mongodb": True}, "detail": {"broker": True}}


@pytest.mark.parametrize("service", FACTORIES)
def test_not_ready_while_the_database_is_unreachable(settings: Settings, service: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    broken = replace(settings, mongo_url=f"mongodb://{dead}/?serverSelectionTimeoutMS=300")
    client = FACTORIES[service](broken).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json == {"status": "unavailable", "checks": {"mongodb": False}, "detail": {"broker": True}}


@pytest.mark.parametrize("service", FACTORIES)
def test_still_ready_while_only_the_broker_is_unreachable(settings: Settings, service: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    broken = replace(settings, broker_url=f"amqp://guest:guest@{dead}//", connect_timeout=0.5)
    client = FACTORIES[service](broken).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"mongodb": True}, "detail": {"broker": False}}
    metrics = client.get("/metrics", base_url=f"http://localhost:{broken.metrics_port}").get_data(
        as_text=True
    )
    assert f'concord_dependency_up{{dependency="broker",service="{service}"}} 0.0' in metrics
    healthy = FACTORIES[service](settings).test_client()
    metrics = healthy.get("/metrics", base_url=f"http://localhost:{settings.metrics_port}").get_data(
        as_text=True
    )
    assert f'concord_dependency_up{{dependency="broker",service="{service}"}} 1.0' in metrics


@pytest.mark.parametrize("service", FACTORIES)
def test_openapi_document_and_offline_docs_page(settings: Settings, service: str) -> None:
    client = FACTORIES[service](settings).test_client()
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.json["openapi"].startswith("3.")
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/docs/assets/swagger-ui-bundle.js" in page.data
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.data) > 100_000
