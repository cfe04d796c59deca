"""The run loop of a service's worker process: its consumers plus its outbox relay."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.config import Settings
from shared.logs import configure_logging
from shared.messaging.consumer import ConsumerGroup, Subscription
from shared.metrics import outbox_backlog, queue_depths, serve_worker_metrics
from shared.outbox import Outbox, OutboxRelay

log = logging.getLogger(__name__)


def run_worker(
    service: str,
    settings: Settings,
    subscriptions: list[Subscription],
    outbox: Outbox,
    startup: Callable[[], None] | None = None,
) -> None:
    """Consume until SIGTERM/SIGINT, relaying the outbox in a background thread.

    Each subscription is consumed by as many lanes as its `concurrency` (`ConsumerGroup`).
    """
    settings.check_production()
    configure_logging(f"{service}-worker", settings.log_level)
    if startup is not None:
        startup()
    serve_worker_metrics(
        [outbox_backlog(service, lambda: outbox), queue_depths(settings, [s.spec for s in subscriptions])]
    )
    relay = OutboxRelay(outbox, settings.outbox_relay_interval)
    relay.start()
    consumer = ConsumerGroup(settings, subscriptions, publisher=outbox.publisher)
    consumer.install_signal_handlers()
    log.info("worker started", extra={"broker": settings.broker_url.split("@")[-1]})
    try:
        consumer.run()
    finally:
        relay.stop()
        relay.join(timeout=5)
        log.info("worker stopped")
