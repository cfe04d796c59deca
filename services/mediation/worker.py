"""Mediation's worker process: routes submitted cases, relays the outbox, runs the desk's deadline
job (escalations, untouched cases back to the pool, judicial-confirmation reminders) and the archive
job (dossiers of archived cases, erasure at the end of retention).

Run with `python -m services.mediation.worker`.
"""

from __future__ import annotations

import os
from functools import partial

from services.mediation import access_log, desk, hall_bookings, party_requests, routing, search, settlement
from services.mediation.archive_job import ArchiveJob
from services.mediation.bootstrap import SERVICE, Mediation, bootstrap, ensure_indexes
from services.mediation.deadlines import INTERVAL_SECONDS, DeadlineJob
from services.mediation.registry import seed_registry
from shared.messaging.consumer import Subscription
from shared.messaging.topology import (
    MEDIATION_ACCESS,
    MEDIATION_HALL,
    MEDIATION_INTAKE,
    MEDIATION_PARTIES,
    MEDIATION_SETTLEMENT,
)
from shared.worker import run_worker


def subscriptions(mediation: Mediation) -> list[Subscription]:
    return [
        Subscription(
            MEDIATION_INTAKE,
            {"case.submitted": partial(routing.on_case_submitted, mediation)},
            # A case that cannot be routed is parked with its reason and listed on the admin page.
            on_dead_letter=partial(routing.record_routing_failure, mediation),
        ),
        # Parties' own requests from their tracking page (withdraw, another mediator).
        Subscription(
            MEDIATION_PARTIES,
            {"case.party_requested": partial(party_requests.on_party_requested, mediation)},
        ),
        # The council hall's calendar: council's meetings ask for it (docs/council-hall.md).
        Subscription(
            MEDIATION_HALL,
            {
                "hall.booking_requested": partial(hall_bookings.on_booking_requested, mediation),
                "hall.booking_released": partial(hall_bookings.on_booking_released, mediation),
            },
        ),
        # Attachment downloads in intake, for the access log the studio lead reads.
        Subscription(
            MEDIATION_ACCESS,
            {"attachment.downloaded": partial(access_log.on_attachment_downloaded, mediation)},
        ),
        # "Is it settled?": the applicants' answers, and the linked case intake filed (issue 14.4).
        Subscription(
            MEDIATION_SETTLEMENT,
            {
                "case.settlement_answered": partial(settlement.on_settlement_answered, mediation),
                "case.linked": partial(settlement.on_case_linked, mediation),
            },
        ),
    ]


def startup(mediation: Mediation) -> None:
    ensure_indexes(mediation.db)
    seed_registry(mediation.db)
    # Cases routed before the search existed (or before the secret was rotated) get their keys.
    search.backfill(mediation.db, mediation.settings.secret_key)
    access_log.backfill_studios(mediation.db)
    # Studios whose desk lists were never counted (cases routed before the counts existed).
    desk.backfill_queue(mediation.db)
    interval = float(os.environ.get("DESK_JOB_INTERVAL", INTERVAL_SECONDS))
    DeadlineJob(mediation, interval).start()
    ArchiveJob(mediation, interval).start()  # dossiers of archived cases; retention


def main() -> None:
    mediation = bootstrap()
    run_worker(
        SERVICE, mediation.settings, subscriptions(mediation), mediation.outbox, partial(startup, mediation)
    )


if __name__ == "__main__":
    main()
