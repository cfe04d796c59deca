"""Envelope, event schemas and broker topology: pure, no broker needed."""

from __future__ import annotations

import pytest

from services.notify.domain.rules import RULES
from shared.config import Settings
from shared.logs import correlation
from shared.messaging.envelope import InvalidMessage, make_envelope, parse_envelope
from shared.messaging.events import SCHEMAS
from shared.messaging.topology import ALL_CONSUMERS, DELIVERY_LIMIT, NOTIFY_EVENTS, ConsumerSpec, Topology

ASSIGNED = {
    "reference": "LC-2026-000123",
    "studio": {"code": "zhihe", "name": "至和调解工作室"},
    "assigned_at": "2026-11-25T08:00:00+00:00",
    "rule": "area+category",
}


def test_envelope_has_every_contract_field_and_round_trips() -> None:
    envelope = make_envelope("case.assigned", ASSIGNED, source="mediation", correlation_id="corr-1")
    body = envelope.to_dict()
    assert set(body) == {
        "message_id",
        "type",
        "occurred_at",
        "source",
        "correlation_id",
        "schema_version",
        "data",
    }
    assert body["occurred_at"].endswith("+00:00")
    assert parse_envelope(body) == envelope


def test_correlation_id_follows_the_work_in_progress() -> None:
    with correlation("request-42"):
        assert make_envelope("case.assigned", ASSIGNED, source="mediation").correlation_id == "request-42"


def test_making_an_invalid_event_fails_before_it_is_stored() -> None:
    with pytest.raises(InvalidMessage, match="reference"):
        make_envelope("case.assigned", {**ASSIGNED, "reference": "123"}, source="mediation")
    with pytest.raises(InvalidMessage, match="unknown event"):
        make_envelope("case.teleported", {}, source="mediation")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: "not a dict", "not a JSON object"),
        (lambda b: {k: v for k, v in b.items() if k != "correlation_id"}, "correlation_id"),
        (lambda b: b | {"schema_version": "1"}, "schema_version"),
        (lambda b: b | {"schema_version": 99}, "unknown event"),
        (lambda b: b | {"occurred_at": "yesterday"}, "ISO-8601"),
        (lambda b: b | {"data": {**ASSIGNED, "assigned_at": "2026-11-25T08:00:00"}}, "UTC offset"),
        (lambda b: b | {"data": {**ASSIGNED, "risk_level": "purple"}}, "risk_level"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(mutate, reason: str) -> None:
    body = make_envelope("case.assigned", ASSIGNED, source="mediation").to_dict()
    with pytest.raises(InvalidMessage, match=reason):
        parse_envelope(mutate(body))


def test_unknown_data_fields_are_tolerated_for_forward_compatibility() -> None:
    body = make_envelope("case.assigned", ASSIGNED, source="mediation").to_dict()
    body["data"]["added_later"] = 1
    assert parse_envelope(body).data["added_later"] == 1


def test_every_consumed_routing_key_has_a_schema() -> None:
    event_types = {event_type for event_type, _ in SCHEMAS}
    for spec in ALL_CONSUMERS:
        assert set(spec.routing_keys) <= event_types, spec


def test_notify_consumes_every_event_its_rules_name() -> None:
    assert set(RULES) <= set(NOTIFY_EVENTS.routing_keys)


def test_amqp_topology_has_quorum_queue_dead_letters_and_retry_tiers() -> None:
    topology = Topology(Settings(broker_namespace="ns", retry_delays=(1.0, 5.0)))
    spec = ConsumerSpec("svc.work", ("case.submitted",))
    queue = topology.queue(spec)
    assert queue.name == "ns.svc.work"
    assert queue.durable
    assert queue.queue_arguments["x-queue-type"] == "quorum"
    assert queue.queue_arguments["x-dead-letter-routing-key"] == "ns.svc.work.dead"
    assert queue.queue_arguments["x-delivery-limit"] == DELIVERY_LIMIT
    assert [b.routing_key for b in queue.bindings] == ["case.submitted"]
    retry = topology.retry_queue(spec, 1)
    assert retry.queue_arguments["x-message-ttl"] == 5000
    assert retry.queue_arguments["x-dead-letter-routing-key"] == "ns.svc.work"
    assert [q.name for q in topology.all_queues(spec)] == [
        "ns.svc.work",
        "ns.svc.work.dead",
        "ns.svc.work.retry.0",
        "ns.svc.work.retry.1",
    ]


def test_virtual_transport_topology_has_no_amqp_arguments() -> None:
    topology = Topology(Settings(broker_url="mongodb://127.0.0.1:27018/broker"))
    spec = ConsumerSpec("svc.work", ("case.submitted",))
    assert topology.queue(spec).queue_arguments == {}
    assert [q.name for q in topology.all_queues(spec)] == ["concord.svc.work", "concord.svc.work.dead"]


def test_received_data_gets_the_schema_defaults() -> None:
    body = make_envelope("case.assigned", ASSIGNED, source="mediation").to_dict()
    data = parse_envelope(body).data
    assert data["risk_level"] == "none"
    assert data["needs_manual_routing"] is False
    assert data["studio"]["email"] is None
