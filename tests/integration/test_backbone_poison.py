"""A message that can never be processed goes to the dead-letter queue with its reason, and the
consumer keeps running."""

from __future__ import annotations

import json

from kombu import Connection, Producer

from shared.config import Settings
from shared.messaging.consumer import ERROR_HEADER
from shared.messaging.publisher import Publisher
from shared.messaging.topology import MEDIATION_INTAKE, Topology
from tests.integration.conftest import database
from tests.integration.test_backbone_duplicates import submitted_event
from tests.support.stack import Workers, wait_for


def drain(settings: Settings, queue_name: str) -> list:
    """Every message now in `queue_name` (acked, so the queue is left empty)."""
    messages = []
    with Connection(settings.broker_url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue_name, no_ack=True)) is not None:
            messages.append(message)
    return messages


def test_poison_messages_are_dead_lettered_with_reason_and_consumer_survives(
    stack_settings: Settings, workers: Workers
) -> None:
    workers.start("mediation")
    topology = Topology(stack_settings)
    publisher = Publisher(stack_settings)
    valid = submitted_event()
    bad_data = valid.to_dict() | {"message_id": "bad-data", "data": {**valid.data, "category": "nonsense"}}
    poison = [
        b"{not json",  # undecodable
        json.dumps({"hello": "world"}).encode(),  # not an envelope
        json.dumps(bad_data).encode(),  # an envelope whose data fails the event schema
    ]
    with Connection(stack_settings.broker_url) as conn:
        # Declared here as the publishers do, so the poison is queued even if the worker is slow.
        topology.queue(MEDIATION_INTAKE)(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        for body in poison:
            producer.publish(
                body,
                exchange=topology.exchange,
                routing_key="case.submitted",
                content_type="application/json",
                content_encoding="utf-8",
                declare=[topology.exchange],
            )
    publisher.publish(valid)

    mediation = database(stack_settings, "mediation")
    wait_for(lambda: mediation.cases.count_documents({}) == 1, what="the valid case after the poison")
    dead_queue = topology.dead_queue_name(MEDIATION_INTAKE)
    dead = wait_for(lambda: drain(stack_settings, dead_queue), what="dead-lettered messages")
    while len(dead) < 3:
        more = wait_for(lambda: drain(stack_settings, dead_queue), what="all three dead letters")
        dead += more
    reasons = sorted(m.headers[ERROR_HEADER] for m in dead)
    assert len(dead) == 3
    assert any("cannot decode" in r or "invalid message" in r for r in reasons)
    assert any("bad envelope" in r for r in reasons)
    assert any("category" in r for r in reasons)
    assert workers.processes["mediation"].poll() is None, "the consumer must keep running"
    publisher.close()
