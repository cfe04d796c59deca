"""Notify's worker process: plans deliveries from case events and sends them.

Run with `python -m services.notify.worker`.
"""

from __future__ import annotations

from functools import partial

from services.notify import service
from services.notify.bootstrap import SERVICE, Notify, bootstrap, ensure_indexes
from services.notify.rules import RULES
from shared.messaging.consumer import Subscription
from shared.messaging.topology import NOTIFY_DELIVERIES, NOTIFY_EVENTS
from shared.worker import run_worker


def subscriptions(notify: Notify) -> list[Subscription]:
    plan = partial(service.plan_deliveries, notify)
    return [
        Subscription(
            NOTIFY_EVENTS,
            {
                "case.submitted": partial(service.on_case_submitted, notify),
                **{event: plan for event in RULES},
            },
        ),
        Subscription(
            NOTIFY_DELIVERIES,
            {"notify.delivery_due": partial(service.send_delivery, notify)},
            on_dead_letter=partial(service.on_delivery_dead, notify),
        ),
    ]


def main() -> None:
    notify = bootstrap()
    run_worker(
        SERVICE, notify.settings, subscriptions(notify), notify.outbox, lambda: ensure_indexes(notify.db)
    )


if __name__ == "__main__":
    main()
