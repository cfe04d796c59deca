"""Intake's worker process: follows mediation's events for the tracking page (and erases a case's
personal data when its retention period ends), asks applicants whether their dispute stayed
settled (and files the linked case a lead opens), relays the outbox.

Run with `python -m services.intake.worker`.
"""

from __future__ import annotations

from functools import partial

from services.intake import erasure, settlement, tracking
from services.intake.bootstrap import SERVICE, Intake, bootstrap, ensure_indexes
from shared.messaging.consumer import Subscription
from shared.messaging.topology import INTAKE_SETTLEMENT, INTAKE_STAFF
from shared.messaging.topology import INTAKE_TRACKING as TRACKING
from shared.staff_access import EVENT as STAFF_ACCESS_REVOKED
from shared.staff_access import on_access_revoked
from shared.worker import run_worker


def subscriptions(intake: Intake) -> list[Subscription]:
    return [
        Subscription(
            TRACKING,
            {
                "case.assigned": partial(tracking.on_case_assigned, intake),
                "case.status_changed": partial(tracking.on_case_status_changed, intake),
                "session.scheduled": partial(tracking.on_session_scheduled, intake),
                "session.rescheduled": partial(tracking.on_session_rescheduled, intake),
                "session.cancelled": partial(tracking.on_session_cancelled, intake),
                "case.closed": partial(tracking.on_case_closed, intake),
                "case.merged": partial(tracking.on_case_merged, intake),
                "case.personal_data_erased": partial(erasure.on_personal_data_erased, intake),
                "case.party_request_handled": partial(tracking.on_party_request_handled, intake),
            },
        ),
        Subscription(INTAKE_STAFF, {STAFF_ACCESS_REVOKED: partial(on_access_revoked, intake.db)}),
        # "Is it settled?" (issue 14.4): ask the applicants; file a linked case the lead opens.
        Subscription(
            INTAKE_SETTLEMENT,
            {
                "case.settlement_check_due": partial(settlement.on_check_due, intake),
                "case.reopen_requested": partial(settlement.on_reopen_requested, intake),
            },
        ),
    ]


def main() -> None:
    intake = bootstrap()
    run_worker(
        SERVICE, intake.settings, subscriptions(intake), intake.outbox, lambda: ensure_indexes(intake.db)
    )


if __name__ == "__main__":
    main()
