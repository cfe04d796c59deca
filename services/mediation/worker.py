"""Mediation's worker process: routes submitted cases, relays the outbox, runs the desk's deadline
job (escalations, untouched cases back to the pool, judicial-confirmation reminders).

Run with `python -m services.mediation.worker`.
"""

from __future__ import annotations

import os
from functools import partial

from services.mediation import routing
from services.mediation.bootstrap import SERVICE, Mediation, bootstrap, ensure_indexes
from services.mediation.deadlines import INTERVAL_SECONDS, DeadlineJob
from services.mediation.registry import seed_registry
from shared.messaging.consumer import Subscription
from shared.messaging.topology import MEDIATION_INTAKE
from shared.worker import run_worker


def subscriptions(mediation: Mediation) -> list[Subscription]:
    return [
        Subscription(
            MEDIATION_INTAKE,
            {"case.submitted": partial(routing.on_case_submitted, mediation)},
            # A case that cannot be routed is parked with its reason and listed on the admin page.
            on_dead_letter=partial(routing.record_routing_failure, mediation),
        )
    ]


def startup(mediation: Mediation) -> None:
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    interval = float(os.environ.get("DESK_JOB_INTERVAL", INTERVAL_SECONDS))
    DeadlineJob(mediation, interval).start()


def main() -> None:
    mediation = bootstrap()
    run_worker(
        SERVICE, mediation.settings, subscriptions(mediation), mediation.outbox, partial(startup, mediation)
    )


if __name__ == "__main__":
    main()
