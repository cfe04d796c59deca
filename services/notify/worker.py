"""Notify's worker process: plans deliveries from case events, sends them, plans daily digests.

Run with `python -m services.notify.worker`.
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from services.notify import delivery, erasure
from services.notify.bootstrap import SERVICE, Notify, bootstrap, ensure_indexes
from services.notify.domain.rules import RULES
from services.notify.planning import reference_of
from shared.messaging.consumer import Subscription
from shared.messaging.envelope import Envelope
from shared.messaging.topology import NOTIFY_DELIVERIES, NOTIFY_EVENTS, NOTIFY_RETENTION, NOTIFY_STAFF
from shared.staff_access import EVENT as STAFF_ACCESS_REVOKED
from shared.staff_access import on_access_revoked
from shared.worker import run_worker

log = logging.getLogger(__name__)

DIGEST_CHECK_SECONDS = 60.0


def subscriptions(notify: Notify) -> list[Subscription]:
    """The queues: case events (planning), delivery commands (sending), erasures (retention).

    Events and delivery commands are handled `NOTIFY_CONSUMERS` at a time; one case's events one
    at a time (`case_of`), in the order they came.
    """
    plan = partial(delivery.handle_event, notify)
    lanes = notify.settings.notify_consumers
    return [
        Subscription(NOTIFY_EVENTS, dict.fromkeys(RULES, plan), concurrency=lanes, ordering_key=case_of),
        Subscription(
            NOTIFY_DELIVERIES,
            {"notify.delivery_due": partial(delivery.send_delivery, notify)},
            on_dead_letter=partial(delivery.on_delivery_dead, notify),
            concurrency=lanes,
        ),
        # Retention: a case's personal data erased in mediation is erased here too.
        Subscription(
            NOTIFY_RETENTION, {"case.personal_data_erased": partial(erasure.on_personal_data_erased, notify)}
        ),
        Subscription(NOTIFY_STAFF, {STAFF_ACCESS_REVOKED: partial(on_access_revoked, notify.db)}),
    ]


def case_of(envelope: Envelope) -> str | None:
    """The case (or consultation, plan item) an event is about: its events are handled in order.

    A case's later events read what its earlier ones stored (case.assigned reads the contacts its
    case.submitted stored; the digest's projection folds status changes in order), so two of them
    are never handled at once by the worker's lanes.
    """
    return reference_of(envelope.data) or None


class DigestScheduler(threading.Thread):
    """Checks every minute whether today's digests are due; planning them is idempotent."""

    def __init__(self, notify: Notify, interval: float = DIGEST_CHECK_SECONDS) -> None:
        super().__init__(name="digest-scheduler", daemon=True)
        self.notify = notify
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                delivery.plan_digests(self.notify)
            except Exception:  # database down: try again next round
                log.warning("digest pass failed", exc_info=True)

    def stop(self) -> None:
        self.stopping.set()


def main() -> None:
    notify = bootstrap()

    def startup() -> None:
        ensure_indexes(notify.db)
        DigestScheduler(notify).start()

    run_worker(SERVICE, notify.settings, subscriptions(notify), notify.outbox, startup)


if __name__ == "__main__":
    main()
