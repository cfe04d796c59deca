"""Reconnecting event consumers with explicit acks, bounded retries and a dead-letter queue.

A handler receives a validated `Envelope`. What happens next:
- it returns: its effect is stored, the message is acked;
- it raises `PermanentError`, or the message is invalid (`InvalidMessage`, undecodable body):
  the message goes to the dead-letter queue with the reason, then is acked;
- it raises anything else: the message goes to the next retry tier (waiting there, then coming
  back), or to the dead-letter queue after the last tier, with the error in its headers.
The retry or dead-letter copy is published with confirms *before* the original is acked; if that
publish fails the original is requeued, so a message is never dropped on the floor.

A worker may handle several messages of a queue at once (`Subscription.concurrency`): a
`ConsumerGroup` runs that many lanes, each an `EventConsumer` in its own thread with its own broker
connection and channel (kombu channels are not thread-safe: a message is acked by the thread that
received it), all sharing the process's publisher and database client. Messages with the same
`Subscription.ordering_key` (e.g. one case's events) are handled one at a time in the process.
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
OrderingKey = Callable[[Envelope], str | None]

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

    `concurrency` is how many of the queue's messages the process handles at once (one lane each,
    see `ConsumerGroup`). With more than one, messages whose `ordering_key` is the same (not None)
    are still handled one at a time, in the order the lanes received them, so a handler that
    depends on an earlier message of the same key (e.g. a case's contacts stored by its
    case.submitted) does not race it within the process.
    """

    spec: ConsumerSpec
    handlers: Mapping[str, Handler]
    on_dead_letter: DeadLetterHook | None = None
    concurrency: int = 1
    ordering_key: OrderingKey | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency of {self.spec.name} must be at least 1, not {self.concurrency}")


class Overtaken(Exception):
    """Raised by a handler, before any effect, when its message depends on an earlier message of
    the same ordering key that has not been handled yet (e.g. a case.assigned that overtook its
    case.submitted).

    When that earlier message comes to the key's lock in this process within
    `OVERTAKEN_GRACE_SECONDS` (two lanes received them at about the same moment and the later one
    got the lock first), the consumer lets it go first and handles this message again. Otherwise
    it is a failed attempt like any other, retried through the retry tiers.
    """


# How long a message that overtook another of its key waits for that one to reach the key's lock
# in this process (a lane that was just finishing its previous message takes a few milliseconds),
# and then for it to be handled.
OVERTAKEN_GRACE_SECONDS = 0.5
OVERTAKEN_WAIT_SECONDS = 30.0


class KeyedLocks:
    """One lock per key, shared by the lanes of a process; a key's lock exists only while some
    lane holds or waits for it, so the table stays as small as the messages in flight."""

    def __init__(self) -> None:
        self._guard = threading.Condition()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str | None) -> Iterator[None]:
        """Hold `key`'s lock for the block (no lock at all for None)."""
        if key is None:
            yield
            return
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
            self._guard.notify_all()
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]
                    self._guard.notify_all()

    def others_waiting(self, key: str, timeout: float = 0.0) -> bool:
        """True when, besides its holder, someone waits for `key`'s lock, or comes to within
        `timeout` seconds."""

        def waiting() -> bool:
            entry = self._locks.get(key)
            return entry is not None and entry[1][0] > 1

        with self._guard:
            return self._guard.wait_for(waiting, timeout)

    def wait_until_free(self, key: str, timeout: float) -> bool:
        """Wait until no one holds or waits for `key` (False if `timeout` passed first)."""
        with self._guard:
            return self._guard.wait_for(lambda: key not in self._locks, timeout)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


class EventConsumer(ConsumerMixin):
    """Consumes the queues of its subscriptions and dispatches each event to its handler.

    On its own it handles one message at a time. As lane `lane` of a `ConsumerGroup` it shares the
    group's `ordering` locks with the other lanes.
    """

    def __init__(
        self,
        settings: Settings,
        subscriptions: list[Subscription],
        *,
        connection: Connection | None = None,
        publisher: Publisher | None = None,
        lane: int = 0,
        ordering: KeyedLocks | None = None,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.topology = Topology(settings)
        self.connection = connection or make_connection(settings, confirm=False)
        self.publisher = publisher or Publisher(settings)
        self.lane = lane
        self.ordering = ordering
        self.handled = 0  # messages finished (acked), for tests and metrics
        self.ready = threading.Event()  # set once the queues are declared and consumed
        self._stop_requested = threading.Event()

    # kombu's ConsumerMixin hooks ---------------------------------------------------------
    def get_consumers(self, Consumer: type, channel: Any) -> list:  # noqa: N803 (kombu's name)
        consumers = []
        # kombu sets each consumer's QoS as it is made and starts them all after, so the channel's
        # last setting applies to all: one prefetch per lane, the smallest its queues ask for.
        prefetch = min(prefetch_of(sub, self.settings) for sub in self.subscriptions)
        for sub in self.subscriptions:
            for queue in self.topology.all_queues(sub.spec):
                queue(channel).declare()
            consumers.append(
                Consumer(
                    queues=[self.topology.queue(sub.spec)],
                    callbacks=[partial(self.on_message, sub)],
                    accept=["json"],
                    prefetch_count=prefetch,
                    on_decode_error=partial(self.on_decode_error, sub),
                )
            )
        return consumers

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        log.warning("broker connection lost, retrying", extra={"retry_in": interval, "error": str(exc)})

    def on_consume_ready(self, connection: Connection, channel: Any, consumers: list, **kw: Any) -> None:
        queues = [self.topology.queue_name(sub.spec) for sub in self.subscriptions]
        # "consuming" once per worker (its first lane consumes every queue): operators and the
        # fault tests read it as "the worker (re)connected"; the other lanes say so apart.
        message = "consuming" if self.lane == 0 else "lane consuming"
        log.info(message, extra={"queues": queues, "lane": self.lane})
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
                self._handle(sub, handler, envelope)
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

    def _handle(self, sub: Subscription, handler: Handler, envelope: Envelope) -> None:
        """Run the handler; under its ordering key's lock when other lanes may handle that key.

        A message that overtook an earlier one of its key (`Overtaken`) while that one waited
        here for the lock is handled again once the earlier one is done.
        """
        key = self._ordering_key(sub, envelope)
        if key is None or self.ordering is None:
            handler(envelope)
            return
        with self.ordering.hold(key):
            try:
                handler(envelope)
                return
            except Overtaken:
                if not self.ordering.others_waiting(key, OVERTAKEN_GRACE_SECONDS):
                    raise  # the earlier message is not here: the retry tiers bring this one back
        log.info("message overtook another of its key; handling it after", extra={"type": envelope.type})
        self.ordering.wait_until_free(key, OVERTAKEN_WAIT_SECONDS)
        with self.ordering.hold(key):
            handler(envelope)

    @staticmethod
    def _ordering_key(sub: Subscription, envelope: Envelope) -> str | None:
        if sub.ordering_key is None or sub.concurrency == 1:
            return None
        key = sub.ordering_key(envelope)
        return f"{sub.spec.name}:{key}" if key else None

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
        _stop_on_signals(self)


def _stop_on_signals(consumer: EventConsumer | ConsumerGroup) -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping consumer", extra={"signal": signum})
        consumer.should_stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def prefetch_of(sub: Subscription, settings: Settings) -> int:
    """How many unacked messages of `sub`'s queue the broker may hand one lane.

    One lane alone takes `CONSUMER_PREFETCH`, so the next messages are already there when it
    finishes one. Lanes of a queue take one each: a message prefetched by a lane busy with a slow
    one (a hanging SMTP server) would wait there while other lanes are idle; with one each the
    broker hands every message to a lane that is free.
    """
    return 1 if sub.concurrency > 1 else settings.consumer_prefetch


def lanes_of(subscriptions: list[Subscription]) -> list[list[Subscription]]:
    """The subscriptions each lane consumes: lane i takes those whose concurrency exceeds i, so
    the first lane consumes every queue and a queue of concurrency N has N lanes."""
    width = max((sub.concurrency for sub in subscriptions), default=1)
    return [[sub for sub in subscriptions if sub.concurrency > i] for i in range(width)]


class ConsumerGroup:
    """The consumers of a worker process: one lane (`EventConsumer`) per message a queue may have
    in flight, each in its own thread with its own broker connection, sharing one publisher.

    Every lane retries, defers, dead-letters and acks exactly as a lone consumer does, on its own
    channel. `run` returns once every lane has stopped: on SIGTERM/SIGINT each finishes the
    message in hand first; if one lane fails, the others are stopped too and its error is raised,
    so the process ends (and is restarted) rather than running with fewer lanes.
    """

    def __init__(
        self,
        settings: Settings,
        subscriptions: list[Subscription],
        *,
        publisher: Publisher | None = None,
    ) -> None:
        self.publisher = publisher or Publisher(settings)
        self.ordering = KeyedLocks()
        self.lanes = [
            EventConsumer(settings, subs, publisher=self.publisher, lane=i, ordering=self.ordering)
            for i, subs in enumerate(lanes_of(subscriptions))
        ]

    @property
    def handled(self) -> int:
        """Messages finished (acked) by all lanes."""
        return sum(lane.handled for lane in self.lanes)

    def is_ready(self) -> bool:
        """True once every lane consumes its queues."""
        return all(lane.ready.is_set() for lane in self.lanes)

    @property
    def should_stop(self) -> bool:
        return all(lane.should_stop for lane in self.lanes)

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        for lane in self.lanes:
            lane.should_stop = value

    def install_signal_handlers(self) -> None:
        """Stop every lane after its message in hand on SIGTERM or SIGINT (main thread only)."""
        _stop_on_signals(self)

    def run(self) -> None:
        """Consume until asked to stop; a single lane runs in the calling thread."""
        if len(self.lanes) == 1:
            self.lanes[0].run()
            return
        one_ended = threading.Event()
        errors: list[BaseException] = []

        def run_lane(lane: EventConsumer) -> None:
            try:
                lane.run()
            except BaseException as err:  # reported, then raised by `run` in the main thread
                log.exception("consumer lane failed", extra={"lane": lane.lane})
                errors.append(err)
            finally:
                one_ended.set()

        threads = [
            threading.Thread(target=run_lane, args=(lane,), name=f"consumer-{lane.lane}")
            for lane in self.lanes
        ]
        for thread in threads:
            thread.start()
        # A timed wait, so the main thread runs the signal handlers while the lanes work.
        while not one_ended.wait(0.5):
            pass
        self.should_stop = True  # asked to stop, or a lane failed: the others finish their message
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
