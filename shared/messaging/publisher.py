"""Confirmed, persistent publishing with bounded retries: never hangs, never silently drops.

`Publisher.publish` returns only once the broker has confirmed the message, or raises
`PublishError` within roughly `connect_timeout + publish_timeout` when it cannot. Callers that must
not lose a message write it to the outbox first (`shared.outbox`), so a failed publish is retried
later by the relay.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from amqp import spec
from kombu import Connection, Exchange, Producer

from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Topology

log = logging.getLogger(__name__)

# After a failure, inline publishing is skipped this long so requests don't each wait for a
# dead broker; the outbox relay keeps trying in the background.
COOL_DOWN_SECONDS = 5.0


class PublishError(Exception):
    """The broker did not confirm the message."""


def make_connection(settings: Settings, *, confirm: bool = True) -> Connection:
    """A kombu connection with timeouts, heartbeats and (on AMQP) publisher confirms."""
    options: dict[str, Any] = {}
    if Topology(settings).is_amqp:
        if confirm:
            options["confirm_publish"] = True
        # No read or write on the socket waits forever: a broker that stops answering without
        # closing the connection (a partition) fails it after this long, even when closing it.
        options["read_timeout"] = settings.publish_timeout
        options["write_timeout"] = settings.publish_timeout
    return Connection(
        settings.broker_url,
        connect_timeout=settings.connect_timeout,
        heartbeat=settings.broker_heartbeat,
        transport_options=options,
    )


class Publisher:
    """Publishes envelopes to the event exchange; one connection per process, thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topology = Topology(settings)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._failed_at = 0.0
        self._published = 0  # messages published on `_counted` (the channel's delivery tags)
        self._counted: Any = None

    @property
    def cooling_down(self) -> bool:
        """True shortly after a failure: inline publishers should leave the work to the relay."""
        return time.monotonic() - self._failed_at < COOL_DOWN_SECONDS

    def publish(self, envelope: Envelope) -> None:
        """Publish an event on the topic exchange under its type as routing key."""
        self.publish_raw(
            envelope.to_dict(),
            exchange=self.topology.exchange,
            routing_key=envelope.type,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
        )

    def publish_raw(
        self,
        body: Any,
        *,
        exchange: Exchange,
        routing_key: str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
        declare: list | None = None,
    ) -> None:
        """Publish any JSON body; raises `PublishError` unless the broker confirmed it."""
        with self._lock:
            try:
                producer = self._get_producer()
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    serializer="json",
                    delivery_mode=2,
                    message_id=message_id,
                    correlation_id=correlation_id,
                    headers=headers or {},
                    declare=declare if declare is not None else [self.topology.exchange],
                    retry=True,
                    retry_policy={
                        "max_retries": 2,
                        "interval_start": 0.1,
                        "interval_step": 0.4,
                        "interval_max": 1.0,
                    },
                    timeout=self.settings.publish_timeout,
                    confirm_timeout=self.settings.publish_timeout,
                )
            except Exception as err:  # any transport, timeout or nack error means "not confirmed"
                self._failed_at = time.monotonic()
                self._reset()
                raise PublishError(f"{type(err).__name__}: {err}") from err
            self._count_publish(producer.channel)
            self._failed_at = 0.0

    def _count_publish(self, channel: Any) -> None:
        # A retried publish may have reopened the channel (kombu revives it): its tags restart.
        if channel is not self._counted:
            self._counted, self._published = channel, 0
        self._published += 1

    def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish events in order, then wait once for the broker's confirms of them all.

        One confirm round trip for the batch instead of one per message: the broker acknowledges
        many at once (`multiple`), and each message costs it and us less CPU. Raises
        `PublishError` unless every one was confirmed within `publish_timeout` (some may have
        been: callers publish them again, consumers deduplicate). Not retried here: the outbox
        relay is the retry."""
        if not envelopes:
            return
        if not self.topology.is_amqp:  # no publisher confirms on other transports: one at a time
            for envelope in envelopes:
                self.publish(envelope)
            return
        with self._lock:
            try:
                self._publish_and_confirm(self._get_producer(), envelopes)
            except Exception as err:  # any transport, timeout or nack error means "not confirmed"
                self._failed_at = time.monotonic()
                self._reset()
                raise PublishError(f"{type(err).__name__}: {err}") from err
            self._failed_at = 0.0

    def _publish_and_confirm(self, producer: Producer, envelopes: Sequence[Envelope]) -> None:
        channel = producer.channel
        if not channel._confirm_selected:  # py-amqp selects confirms on a channel's first publish
            channel._confirm_selected = True
            channel.confirm_select()
        if channel is not self._counted:  # a channel nothing was published on yet
            self._counted, self._published = channel, 0
        first = self._published + 1  # the broker numbers a channel's publishes from 1
        waiting = set(range(first, first + len(envelopes)))
        refused: list[int] = []

        def settle(tag: int, multiple: bool, nack: bool = False) -> None:
            done = {t for t in waiting if t <= tag} if multiple else waiting & {tag}
            waiting.difference_update(done)
            if nack and done:
                refused.append(tag)

        def on_ack(tag: int, multiple: bool) -> None:
            settle(tag, multiple)

        def on_nack(tag: int, multiple: bool) -> None:
            settle(tag, multiple, nack=True)

        # Publish without waiting (py-amqp's confirming publish waits for each message's ack).
        confirming = channel.__dict__.get("basic_publish")
        channel.basic_publish = channel._basic_publish
        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        try:
            for envelope in envelopes:
                producer.publish(
                    envelope.to_dict(),
                    exchange=self.topology.exchange,
                    routing_key=envelope.type,
                    serializer="json",
                    delivery_mode=2,
                    message_id=envelope.message_id,
                    correlation_id=envelope.correlation_id,
                    headers={},
                    declare=[self.topology.exchange],
                    timeout=self.settings.publish_timeout,
                )
                self._count_publish(channel)
            deadline = time.monotonic() + self.settings.publish_timeout
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(waiting)} of {len(envelopes)} messages not confirmed")
                channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=left)
        finally:
            if confirming is None:
                del channel.basic_publish
            else:
                channel.basic_publish = confirming
            channel.events["basic_ack"].discard(on_ack)
            channel.events["basic_nack"].discard(on_nack)
        if refused:
            raise PublishError(f"the broker refused {len(refused)} of {len(envelopes)} messages")

    def _get_producer(self) -> Producer:
        if self._pid != os.getpid():  # after fork: never reuse the parent's socket
            self._connection = None
            self._producer = None
            self._pid = os.getpid()
        if self._producer is None:
            self._counted, self._published = None, 0
            self._connection = make_connection(self.settings)
            self._connection.ensure_connection(
                max_retries=1, interval_start=0.1, timeout=self.settings.connect_timeout
            )
            channel = self._connection.default_channel
            for queue in self.topology.system_queues():
                queue(channel).declare()
            self._producer = Producer(channel)
        return self._producer

    def _reset(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # the connection is already broken; nothing more to release
                log.debug("release after failed publish raised", exc_info=True)
        self._connection = None
        self._producer = None

    def close(self) -> None:
        with self._lock:
            self._reset()


def broker_reachable(settings: Settings) -> bool:
    """True when a connection to the broker opens within the connect timeout (for /readyz)."""
    connection = make_connection(settings, confirm=False)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=settings.connect_timeout)
    except Exception:  # any failure to connect means "not ready"
        return False
    finally:
        connection.release()
    return True
