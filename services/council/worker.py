"""Council's worker process: relays the outbox and takes mediation's answers about the council hall.

Run with `python -m services.council.worker`.
"""

from __future__ import annotations

from functools import partial

from services.council import meetings
from services.council.bootstrap import SERVICE, Council, bootstrap, ensure_indexes
from shared.messaging.consumer import Subscription
from shared.messaging.topology import COUNCIL_HALL
from shared.worker import run_worker


def subscriptions(council: Council) -> list[Subscription]:
    """What council consumes: mediation's answers about the council hall (docs/council-hall.md)."""
    return [
        Subscription(
            COUNCIL_HALL,
            {
                "hall.booking_confirmed": partial(meetings.on_hall_answer, council),
                "hall.booking_refused": partial(meetings.on_hall_answer, council),
            },
        ),
    ]


def startup(council: Council) -> None:
    """Indexes first, so the app's unique flat index exists even if the app could not create it."""
    ensure_indexes(council.db)


def main() -> None:
    council = bootstrap()
    run_worker(SERVICE, council.settings, subscriptions(council), council.outbox, partial(startup, council))


if __name__ == "__main__":
    main()
