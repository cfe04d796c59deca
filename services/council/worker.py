"""Council's worker process: relays the outbox (consumers of other services' events come later).

Run with `python -m services.council.worker`.
"""

from __future__ import annotations

from functools import partial

from services.council.bootstrap import SERVICE, Council, bootstrap, ensure_indexes
from services.council.closing_job import ClosingJob
from shared.messaging.consumer import Subscription
from shared.worker import run_worker


def subscriptions(council: Council) -> list[Subscription]:
    """What council consumes: nothing yet (the read model of mediation's events is part 2)."""
    return []


def startup(council: Council) -> None:
    """Indexes first, so the app's unique flat index exists even if the app could not create it."""
    ensure_indexes(council.db)
    ClosingJob(council).start()  # consultations whose window has ended are closed and frozen


def main() -> None:
    council = bootstrap()
    run_worker(SERVICE, council.settings, subscriptions(council), council.outbox, partial(startup, council))


if __name__ == "__main__":
    main()
