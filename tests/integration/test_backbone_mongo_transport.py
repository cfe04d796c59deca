"""`make run`'s fallback when no RabbitMQ can be had: the same publisher and consumer over
kombu's MongoDB transport on the SecantusDB server (virtual queues, no broker-side retries)."""

from __future__ import annotations

import threading
from dataclasses import replace

from shared.config import Settings
from shared.messaging.consumer import EventConsumer, Subscription
from shared.messaging.envelope import Envelope
from shared.messaging.publisher import Publisher
from shared.messaging.topology import MEDIATION_INTAKE
from tests.integration.test_backbone_duplicates import submitted_event
from tests.support.stack import wait_for


def test_events_flow_and_failures_retry_over_the_mongodb_transport(settings: Settings) -> None:
    base = settings.mongo_url.split("?")[0].rstrip("/")
    over_mongo = replace(settings, broker_url=f"{base}/{settings.db_prefix}_broker")
    received: list[str] = []

    def flaky(envelope: Envelope) -> None:
        received.append(envelope.message_id)
        if len(received) == 1:
            raise ConnectionError("first attempt fails")

    consumer = EventConsumer(over_mongo, [Subscription(MEDIATION_INTAKE, {"case.submitted": flaky})])
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        assert consumer.ready.wait(10)
        event = submitted_event()
        Publisher(over_mongo).publish(event)
        wait_for(lambda: consumer.handled >= 2, timeout=20, what="the retried message to be handled")
        assert received == [event.message_id, event.message_id]
    finally:
        consumer.should_stop = True
        thread.join(timeout=10)
