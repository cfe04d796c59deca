"""The broker is unreachable while a case is submitted: the case is accepted, stored, and
published once the broker is back — through the outbox relay, exactly once."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from devtools.smtp_sink import CapturingHandler
from devtools.tcp_proxy import TcpProxy
from services.intake.app import create_app
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.outbox import pending_events
from tests.support.stack import Workers, wait_for


@pytest.fixture
def broker_proxy():
    proxy = TcpProxy(("127.0.0.1", 5672))
    yield proxy
    proxy.close()


def test_case_accepted_while_broker_down_is_published_when_it_returns(
    stack_settings: Settings, workers: Workers, mailbox: CapturingHandler, broker_proxy: TcpProxy
) -> None:
    via_proxy = stack_settings.broker_url.replace("127.0.0.1:5672", f"127.0.0.1:{broker_proxy.port}")
    intake_settings = replace(stack_settings, broker_url=via_proxy)
    client = create_app(intake_settings).test_client()
    workers.start("mediation")
    workers.start("notify")
    broker_proxy.cut()

    started = time.monotonic()
    created = client.post("/api/v1/cases", json=CASE)
    assert created.status_code == 201, created.json
    assert time.monotonic() - started < 10, "a dead broker must not hang the request"
    reference, token = created.json["reference"], created.json["tracking_token"]

    intake_db = database(stack_settings, "intake")
    assert intake_db.cases.count_documents({"_id": reference}) == 1
    # The case's own case.submitted, and the applicant's tracking link (in the outbox collection).
    assert pending_events(intake_db, ("cases",)) == 2

    workers.start("intake", BROKER_URL=via_proxy)  # its relay retries through the cut line
    time.sleep(2.0)
    assert database(stack_settings, "mediation").cases.count_documents({}) == 0
    assert pending_events(intake_db, ("cases",)) == 2

    broker_proxy.restore()
    wait_for(
        lambda: client.get(f"/api/v1/cases/{reference}?token={token}").json["status"] == "assigned",
        timeout=20,
        what="the case to be assigned after the broker returned",
    )
    # The studio's email, and the resident's two: routed, and their own tracking link.
    wait_for(lambda: len(mailbox.messages) == 3, what="studio and resident emails")
    time.sleep(1.0)
    assert pending_events(intake_db, ("cases",)) == 0
    assert database(stack_settings, "mediation").cases.count_documents({}) == 1
    assert len(mailbox.messages) == 3
