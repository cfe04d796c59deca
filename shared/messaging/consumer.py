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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any

from kombu import Connection, Message
from kombu.mixins import ConsumerMixin
from pymongo.errors import ConnectionFailure, PyMongoError

from shared.config import Settings
from shared.db import is_transient
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


DEFERRALS_HEADER = "x-concord-deferrals"
# A deferred message that is still not ready after this many waits is treated as failing.
MAX_DEFERRALS = 1000


class ConsumerStopped(Exception):
    """Asked to stop while (re)connecting to the broker."""


class PermanentError(Exception):
    """Raised by a handler when retrying can never help (e.g. data that breaks a domain rule)."""


class RetryLater(Exception):
    """Raised by a handler when the message cannot be handled *yet*, for a reason that ends by
    itself within `delay` seconds (e.g. another worker holds it under a lease that expires).

    Waiting is not failing: the message goes through the retry queue whose delay is closest to
    `delay` without using up one of its attempts, so it is never dead-lettered for waiting (a
    safety cap of `MAX_DEFERRALS` waits still applies).
    """

    def __init__(self, reason: str, delay: float = 0.0) -> None:
        super().__init__(reason)
        self.delay = delay


def must_wait(err: Exception) -> RetryLater | None:
    """A failure that says "not now" rather than "not this message", as a `RetryLater`.

    - The database is unreachable (down, restarting, cut off): every message would fail alike,
      and spending their attempts would dead-letter good messages during an outage.
    - A write conflict that outlasted the in-process retries (`shared.db.retry_transient`):
      another transaction holds the document, e.g. one abandoned by a worker killed in the
      middle of it, which the server aborts after its transaction lifetime (60 s by default).
    """
    if isinstance(err, ConnectionFailure):
        return RetryLater(f"database unreachable: {type(err).__name__}")
    if isinstance(err, PyMongoError) and is_transient(err):
        return RetryLater(f"database busy: {type(err).__name__}: {str(err)[:200]}")
    return None


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
        self._stop_requested = threading.Event()

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
            except RetryLater as err:
                self._defer(sub, envelope, body, message, attempt, err)
            except Exception as err:  # a failed attempt: retry later, bounded
                waiting = must_wait(err)
                if waiting is not None:
                    self._defer(sub, envelope, body, message, attempt, waiting)
                    return
                log.warning(
                    "handler failed",
                    exc_info=True,
                    extra={"type": envelope.type, "message_id": envelope.message_id, "attempt": attempt},
                )
                self._retry(sub, envelope, body, message, attempt, f"{type(err).__name__}: {err}")
            else:
                self._ack(message)
                MESSAGES.labels(queue, envelope.type, "ok").inc()
                log.info(
                    "event handled",
                    extra={
                        "type": envelope.type,
                        "message_id": envelope.message_id,
                        # True after a consumer died or lost its connection holding it unacked.
                        "redelivered": bool(message.delivery_info.get("redelivered")),
                    },
                )
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

    def _defer(
        self,
        sub: Subscription,
        envelope: Envelope,
        body: Any,
        message: Message,
        attempt: int,
        err: RetryLater,
    ) -> None:
        deferrals = int((message.headers or {}).get(DEFERRALS_HEADER, 0))
        if deferrals >= MAX_DEFERRALS:
            self._retry(
                sub, envelope, body, message, attempt, f"still waiting after {deferrals} waits: {err}"
            )
            return
        log.info(
            "handler deferred",
            extra={"type": envelope.type, "message_id": envelope.message_id, "reason": str(err)[:200]},
        )
        if self.topology.is_amqp:
            delays = self.settings.retry_delays
            tier = next((i for i, d in enumerate(delays) if d >= err.delay), len(delays) - 1)
            queue = self.topology.retry_queue(sub.spec, tier)
        else:
            queue = self.topology.queue(sub.spec)
        MESSAGES.labels(self.topology.queue_name(sub.spec), envelope.type, "deferred").inc()
        self._forward(body, message, queue, attempt, f"deferred: {err}", {DEFERRALS_HEADER: deferrals + 1})

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

    def _forward(
        self,
        body: Any,
        message: Message,
        queue: Any,
        attempt: int,
        error: str,
        extra_headers: dict[str, Any] | None = None,
    ) -> None:
        headers = dict(message.headers or {})
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                ERROR_HEADER: error[:2000],
                ROUTING_KEY_HEADER: message.delivery_info.get("routing_key", ""),
                **(extra_headers or {}),
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
    @property
    def should_stop(self) -> bool:
        return self._stop_requested.is_set()

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        if value:
            self._stop_requested.set()
        else:
            self._stop_requested.clear()

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        """Connect, retrying with backoff until connected or asked to stop.

        kombu's own loop retries forever with growing sleeps and never looks at `should_stop`, so
        a worker could not be stopped (SIGTERM, a rolling deploy) while the broker was away.
        """
        with self.create_connection() as conn:
            delay = 0.5
            while True:
                try:
                    conn.ensure_connection(
                        max_retries=1, interval_start=0, timeout=self.settings.connect_timeout
                    )
                    break
                except Exception as exc:  # any failure to connect: wait, unless stopping
                    if self.should_stop:
                        raise ConsumerStopped from exc
                    self.on_connection_error(exc, delay)
                    if self._stop_requested.wait(delay):
                        raise ConsumerStopped from exc
                    delay = min(delay * 2, 10.0)
            yield conn

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        try:
            super().run(_tokens, **kwargs)
        except ConsumerStopped:
            log.info("stopped while waiting for the broker")

    def install_signal_handlers(self) -> None:
        """Stop after the message in hand on SIGTERM or SIGINT."""

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("stopping consumer", extra={"signal": signum})
            self.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
