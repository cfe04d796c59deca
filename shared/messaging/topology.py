"""Names and shapes of everything declared on the broker.

One durable topic exchange carries every event. Each consumer owns a durable queue (quorum on
RabbitMQ) bound to the routing keys it handles, plus:
- retry queues, one per delay tier: a failed message waits there (message TTL) and is then
  dead-lettered by the broker back into the consumer's queue;
- a dead-letter queue, where messages end after the last retry or when they can never succeed,
  with the reason in their headers.
The main queue also dead-letters into that queue by itself after `delivery_limit` redeliveries,
so even a message that crashes the consumer process every time cannot loop forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

from shared.config import Settings

# Redeliveries without an ack (consumer crashes) before the broker dead-letters a message.
DELIVERY_LIMIT = 10


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer's queue: `name` is unique per broker namespace, e.g. "mediation.events"."""

    name: str
    routing_keys: tuple[str, ...]


# Every consumer queue of the system: the contract of who listens to what. Publishers declare
# them all before their first publish, so an event sent before its consumer ever started is
# queued for it rather than dropped as unroutable.
INTAKE_TRACKING = ConsumerSpec(
    "intake.tracking",
    (
        "case.assigned",
        "case.status_changed",
        "session.scheduled",
        "session.rescheduled",
        "session.cancelled",
        "case.closed",
        "case.merged",
        "case.personal_data_erased",  # retention: intake erases its copy of the parties' data
        "case.party_request_handled",
    ),
)
MEDIATION_INTAKE = ConsumerSpec("mediation.intake", ("case.submitted",))
# A party's request from their tracking page (withdraw, another mediator), applied to the lifecycle.
MEDIATION_PARTIES = ConsumerSpec("mediation.parties", ("case.party_requested",))
# The council hall's calendar is mediation's: council asks for it and is answered (docs/council-hall.md).
MEDIATION_HALL = ConsumerSpec("mediation.hall", ("hall.booking_requested", "hall.booking_released"))
COUNCIL_HALL = ConsumerSpec("council.hall", ("hall.booking_confirmed", "hall.booking_refused"))
# "Is it settled?" (issue 14.4): mediation says when to ask and asks intake for a linked case;
# intake asks the applicants, and tells mediation their answers and the linked case it filed.
INTAKE_SETTLEMENT = ConsumerSpec("intake.settlement", ("case.settlement_check_due", "case.reopen_requested"))
MEDIATION_SETTLEMENT = ConsumerSpec("mediation.settlement", ("case.settlement_answered", "case.linked"))
# Attachment downloads in intake, kept in mediation's access log (the lead's viewer).
MEDIATION_ACCESS = ConsumerSpec("mediation.access", ("attachment.downloaded",))
NOTIFY_EVENTS = ConsumerSpec(
    "notify.events",
    (
        "case.submitted",
        "case.assigned",
        "case.status_changed",
        "session.scheduled",
        "session.rescheduled",
        "session.cancelled",
        "case.escalated",
        "patrol.dispatched",
        "case.closed",
        "case.merged",
        "agreement.confirmation_due",
        "meeting.invited",
        "meeting.rescheduled",
        "meeting.cancelled",
        "minutes.published",
        "consultation.opened",
        "consultation.closed",
        "consultation.reminder",
        "consultation.code_requested",
        "plan.item_finished",
        "case.tracking_link",
        "case.tracking_code_requested",
        "case.party_request_handled",
        "case.settlement_survey",
        "case.not_settled",
        "follow_up.renewed_conflict",
        "follow_up.term_due",
    ),
)  # must match services/notify/domain/rules.py RULES (a unit test checks)
NOTIFY_DELIVERIES = ConsumerSpec("notify.deliveries", ("notify.delivery_due",))
# Retention: notify erases the contacts and delivery addresses it keeps for a case (not a message rule).
NOTIFY_RETENTION = ConsumerSpec("notify.retention", ("case.personal_data_erased",))
# Council's read model of mediation (the public board's statistics): facts only, never the case file.
COUNCIL_STATISTICS = ConsumerSpec(
    "council.statistics",
    ("case.submitted", "case.status_changed", "case.closed", "case.agreement_performed", "patrol.reported"),
)
# Intake's reception-day walk-in register: counted on the board, collective matters to the committee.
COUNCIL_WALK_INS = ConsumerSpec("council.walk_ins", ("walk_in.recorded", "walk_in.collective_matter"))
# Staff tokens voided before they expire (an account disabled, its role changed): every service but
# mediation, which keeps the record itself, keeps a copy for its request loader (`shared.staff_access`).
INTAKE_STAFF = ConsumerSpec("intake.staff", ("staff.access_revoked",))
NOTIFY_STAFF = ConsumerSpec("notify.staff", ("staff.access_revoked",))
COUNCIL_STAFF = ConsumerSpec("council.staff", ("staff.access_revoked",))
# "Is it settled?" answers, counted on the public board by outcome (never who, never the comment).
COUNCIL_SETTLEMENT = ConsumerSpec("council.settlement", ("case.settlement_answered",))
ALL_CONSUMERS: tuple[ConsumerSpec, ...] = (
    INTAKE_TRACKING,
    MEDIATION_INTAKE,
    NOTIFY_EVENTS,
    NOTIFY_DELIVERIES,
    NOTIFY_RETENTION,
    COUNCIL_STATISTICS,
    MEDIATION_HALL,
    COUNCIL_HALL,
    COUNCIL_WALK_INS,
    MEDIATION_ACCESS,
    MEDIATION_PARTIES,
    INTAKE_STAFF,
    NOTIFY_STAFF,
    COUNCIL_STAFF,
    INTAKE_SETTLEMENT,
    MEDIATION_SETTLEMENT,
    COUNCIL_SETTLEMENT,
)


class Topology:
    """Builds kombu entities for one broker namespace."""

    def __init__(self, settings: Settings) -> None:
        self.namespace = settings.broker_namespace
        self.retry_delays = settings.retry_delays
        self.queue_type = settings.queue_type
        # Broker-side features (queue arguments, TTL, dead-lettering) exist only on AMQP.
        self.is_amqp = settings.broker_url.split("://", 1)[0] in {"amqp", "pyamqp", "amqps"}
        self.exchange = Exchange(f"{self.namespace}.events", type="topic", durable=True)
        self.default_exchange = Exchange("", type="direct", durable=True)

    def queue_name(self, spec: ConsumerSpec) -> str:
        return f"{self.namespace}.{spec.name}"

    def dead_queue_name(self, spec: ConsumerSpec) -> str:
        return f"{self.queue_name(spec)}.dead"

    def retry_queue_name(self, spec: ConsumerSpec, tier: int) -> str:
        return f"{self.queue_name(spec)}.retry.{tier}"

    def _arguments(self, **extra: object) -> dict[str, object]:
        if not self.is_amqp:
            return {}
        args: dict[str, object] = {"x-queue-type": self.queue_type}
        args.update(extra)
        return args

    def queue(self, spec: ConsumerSpec) -> Queue:
        extra: dict[str, object] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_queue_name(spec),
        }
        if self.queue_type == "quorum":
            extra["x-delivery-limit"] = DELIVERY_LIMIT
        return Queue(
            self.queue_name(spec),
            bindings=[binding(self.exchange, routing_key=key) for key in spec.routing_keys],
            durable=True,
            queue_arguments=self._arguments(**extra),
        )

    def dead_queue(self, spec: ConsumerSpec) -> Queue:
        return Queue(
            self.dead_queue_name(spec),
            exchange=self.default_exchange,
            routing_key=self.dead_queue_name(spec),
            durable=True,
            queue_arguments=self._arguments(),
        )

    def retry_queue(self, spec: ConsumerSpec, tier: int) -> Queue:
        # Classic queues: a per-queue TTL with dead-lettering back to the work queue is their
        # long-standing use; every message in one tier waits the same time, so none blocks another.
        args: dict[str, object] = {}
        if self.is_amqp:
            args = {
                "x-queue-type": "classic",
                "x-message-ttl": int(self.retry_delays[tier] * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue_name(spec),
            }
        return Queue(
            self.retry_queue_name(spec, tier),
            exchange=self.default_exchange,
            routing_key=self.retry_queue_name(spec, tier),
            durable=True,
            queue_arguments=args,
        )

    def system_queues(self) -> list[Queue]:
        """The work queues of every consumer (declared by publishers before publishing)."""
        return [self.queue(spec) for spec in ALL_CONSUMERS]

    def all_queues(self, spec: ConsumerSpec) -> list[Queue]:
        """Every queue a consumer needs, declared together at start-up."""
        queues = [self.queue(spec), self.dead_queue(spec)]
        if self.is_amqp:
            queues += [self.retry_queue(spec, tier) for tier in range(len(self.retry_delays))]
        return queues
