"""Council's worker process: relays the outbox, consumes mediation's events into the board's
statistics (a read model) and rebuilds the board's quarters when their facts change, takes
mediation's answers about the council hall, and closes consultations whose window has ended.

Run with `python -m services.council.worker`.
"""

from __future__ import annotations

import os
from functools import partial

from services.council import meetings, settlement_answers, statistics, walk_ins
from services.council.bootstrap import SERVICE, Council, bootstrap, ensure_indexes
from services.council.closing_job import ClosingJob
from shared.messaging.consumer import Subscription
from shared.messaging.topology import (
    COUNCIL_HALL,
    COUNCIL_SETTLEMENT,
    COUNCIL_STAFF,
    COUNCIL_STATISTICS,
    COUNCIL_WALK_INS,
)
from shared.staff_access import EVENT as STAFF_ACCESS_REVOKED
from shared.staff_access import on_access_revoked
from shared.worker import run_worker


def subscriptions(council: Council) -> list[Subscription]:
    """What council consumes: mediation's events for the board's statistics, mediation's answers
    about the council hall (docs/council-hall.md), intake's reception-day walk-ins and the applicants'
    "is it settled?" answers."""
    on_event = partial(statistics.on_event, council)
    return [
        Subscription(COUNCIL_STATISTICS, dict.fromkeys(statistics.EVENTS, on_event)),
        Subscription(
            COUNCIL_HALL,
            {
                "hall.booking_confirmed": partial(meetings.on_hall_answer, council),
                "hall.booking_refused": partial(meetings.on_hall_answer, council),
            },
        ),
        # Intake's walk-in register: counts for the board, collective matters for the committee.
        Subscription(COUNCIL_WALK_INS, dict.fromkeys(walk_ins.EVENTS, partial(walk_ins.on_event, council))),
        Subscription(COUNCIL_STAFF, {STAFF_ACCESS_REVOKED: partial(on_access_revoked, council.db)}),
        # "Is it settled?" answers (intake's survey): counted on the board by answer.
        Subscription(
            COUNCIL_SETTLEMENT,
            dict.fromkeys(settlement_answers.EVENTS, partial(settlement_answers.on_event, council)),
        ),
    ]


def startup(council: Council) -> None:
    """Indexes first, so the app's unique flat index exists even if the app could not create it."""
    ensure_indexes(council.db)
    ClosingJob(council).start()  # consultations whose window has ended are closed and frozen
    statistics.BoardRefresher(council, float(os.environ.get("BOARD_REFRESH_INTERVAL", "2"))).start()


def main() -> None:
    council = bootstrap()
    run_worker(SERVICE, council.settings, subscriptions(council), council.outbox, partial(startup, council))


if __name__ == "__main__":
    main()
