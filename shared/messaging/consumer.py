"""Reconnecting event consumers with explicit acks, bounded retries and a dead-letter queue.

A handler receives a validated `Envelope`. What happens next:
- it returns: its effect is stored, the message is acked;
- it raises `PermanentError`, or the message is invalid (`InvalidMessage`, undecodable body):
  the message goes to the dead-letter queue with the reason, then is acked;
- it raises anything else: the message goes to the next retry tier (waiting there, then coming
  back), or to the dead-letter queue after the last tier, with the error in its headers.
The retry or dead-letter copy is published with confirms *before* the original is acked; if that
publish fails the original is requeued, so a message is never dropped on the floor.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any

from kombu import Connection, Message
from kombu.mixins import ConsumerMixin

from shared.config import Settings
from shared.logs import correlation
from shared.messaging.envelope import Envelope, InvalidMessage, parse_envelope
from shared.messaging.publisher import Publisher, PublishError, make_connection
from shared.messaging.topology import ConsumerSpec, Topology
from shared.metrics import MESSAGE_TIME, MESSAGES

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], None]
DeadLetterHook = Callable[[Envelope | None, str], None]

ATTEMPT_HEADER = "x-concord-attempt"
ERROR_HEADER = "x-concord-error"
ROUTING_KEY_HEADER = "x-concord-routing-key"


class PermanentError(Exception):
    """Raised by a handler when retrying can never help (e.g. data that breaks a domain rule)."""


@dataclass(frozen=True)
class Subscription:
    """One queue and what to do with its messages.

    `on_dead_letter` runs before a message is parked in the dead-letter queue, so the service can
    record the failure on its own data (e.g. mark a delivery as failed).
    """

    spec: ConsumerSpec
    handlers: Mapping[str, Handler]
    on_dead_letter: DeadLetterHook | None = None


class EventConsumer(ConsumerMixin):
    """Consumes the queues of its subscriptions and dispatches each event to its handler."""

    def __init__(
        self,
        settings: Settings,
        subscriptions: list[Subscription],
        *,
        connection: Connection | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.topology = Topology(settings)
        self.connection = connection or make_connection(settings, confirm=False)
        self.publisher = publisher or Publisher(settings)
        self.handled = 0  # messages finished (acked), for tests and metrics
        self.ready = threading.Event()  # set once the queues are declared and consumed

    # kombu's ConsumerMixin hooks ---------------------------------------------------------
    def get_consumers(self, Consumer: type, channel: Any) -> list:  # noqa: N803 (kombu's name)
        consumers = []
        for sub in self.subscriptions:
            for queue in self.topology.all_queues(sub.spec):
                queue(channel).declare()
            consumers.append(
                Consumer(
                    queues=[self.topology.queue(sub.spec)],
                    callbacks=[partial(self.on_message, sub)],
                    accept=["json"],
                    prefetch_count=self.settings.consumer_prefetch,
                    on_decode_error=partial(self.on_decode_error, sub),
                )
            )
        return consumers

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        log.warning("broker connection lost, retrying", extra={"retry_in": interval, "error": str(exc)})

    def on_consume_ready(self, connection: Connection, channel: Any, consumers: list, **kw: Any) -> None:
        queues = [self.topology.queue_name(sub.spec) for sub in self.subscriptions]
        log.info("consuming", extra={"queues": queues})
        self.ready.set()

    # message handling --------------------------------------------------------------------
    def on_message(self, sub: Subscription, body: Any, message: Message) -> None:
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        try:
            envelope = parse_envelope(body)
        except InvalidMessage as err:
            self._dead_letter(sub, None, body, message, attempt, f"invalid message: {err}")
            return
        handler = sub.handlers.get(envelope.type)
        with correlation(envelope.correlation_id):
            if handler is None:
                reason = f"no handler for {envelope.type}"
                self._dead_letter(sub, envelope, body, message, attempt, reason)
                return
            queue = self.topology.queue_name(sub.spec)
            started = time.perf_counter()
            try:
                handler(envelope)
            except PermanentError as err:
                reason = f"permanent error: {err}"
                self._dead_letter(sub, envelope, body, message, attempt, reason)
            except Exception as err:  # a failed attempt: retry later, bounded
                log.warning(
                    "handler failed",
                    exc_info=True,
                    extra={"type": envelope.type, "message_id": envelope.message_id, "attempt": attempt},
                )
                self._retry(sub, envelope, body, message, attempt, f"{type(err).__name__}: {err}")
            else:
                self._ack(message)
                MESSAGES.labels(queue, envelope.type, "ok").inc()
                log.info("event handled", extra={"type": envelope.type, "message_id": envelope.message_id})
            finally:
                MESSAGE_TIME.labels(queue, envelope.type).observe(time.perf_counter() - started)

    def on_decode_error(self, sub: Subscription, message: Message, exc: Exception) -> None:
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        raw = message.body.decode("utf-8", "replace") if isinstance(message.body, bytes) else message.body
        body = {"undecodable_body": raw}
        self._dead_letter(sub, None, body, message, attempt, f"cannot decode: {exc}")

    def _retry(
        self, sub: Subscription, envelope: Envelope, body: Any, message: Message, attempt: int, error: str
    ) -> None:
        if attempt >= len(self.settings.retry_delays):
            reason = f"gave up after {attempt + 1} attempts: {error}"
            self._dead_letter(sub, envelope, body, message, attempt, reason)
            return
        if self.topology.is_amqp:
            queue = self.topology.retry_queue(sub.spec, attempt)
        else:  # no broker-side delays on virtual transports: straight back into the queue
            queue = self.topology.queue(sub.spec)
        MESSAGES.labels(self.topology.queue_name(sub.spec), envelope.type, "retried").inc()
        self._forward(body, message, queue, attempt + 1, error)

    def _dead_letter(
        self,
        sub: Subscription,
        envelope: Envelope | None,
        body: Any,
        message: Message,
        attempt: int,
        reason: str,
    ) -> None:
        log.error(
            "dead-lettering message",
            extra={"queue": self.topology.queue_name(sub.spec), "reason": reason[:500]},
        )
        kind = envelope.type if envelope is not None else "invalid"
        MESSAGES.labels(self.topology.queue_name(sub.spec), kind, "dead_lettered").inc()
        if sub.on_dead_letter is not None:
            try:
                sub.on_dead_letter(envelope, reason)
            except Exception:  # recording the failure must not stop the message being parked
                log.warning("dead-letter hook failed", exc_info=True)
        self._forward(body, message, self.topology.dead_queue(sub.spec), attempt, reason)

    def _forward(self, body: Any, message: Message, queue: Any, attempt: int, error: str) -> None:
        headers = dict(message.headers or {})
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                ERROR_HEADER: error[:2000],
                ROUTING_KEY_HEADER: message.delivery_info.get("routing_key", ""),
            }
        )
        try:
            self.publisher.publish_raw(
                body,
                exchange=self.topology.default_exchange,
                routing_key=queue.name,
                message_id=message.properties.get("message_id"),
                correlation_id=message.properties.get("correlation_id"),
                headers=headers,
                declare=[queue],
            )
        except PublishError:
            log.warning("could not park failed message; requeueing it", exc_info=True)
            message.requeue()
            return
        self._ack(message)

    def _ack(self, message: Message) -> None:
        message.ack()
        self.handled += 1

    # process control ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """Stop after the message in hand on SIGTERM or SIGINT."""

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("stopping consumer", extra={"signal": signum})
            self.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
