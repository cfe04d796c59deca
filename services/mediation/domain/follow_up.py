"""Ended cases still waiting for something (pure): judicial confirmation (PML Art 33), the
performance follow-up of an agreement, or archiving (PML Art 27), and the lifecycle actions that
are their next step (read from the lifecycle's table, so the two never disagree)."""

from __future__ import annotations

from collections.abc import Mapping

from services.mediation.domain import lifecycle as lc

CONFIRMATION = "confirmation"
FOLLOW_UP = "follow_up"
ARCHIVING = "archiving"
WAITING = (CONFIRMATION, FOLLOW_UP, ARCHIVING)

# What an ended, unarchived case waits for, by its state. A written agreement may still be taken to
# court (its parties are reminded for 30 days); an application waits for the court's decision; an
# oral or confirmed agreement waits for the follow-up of its performance; everything else (no
# agreement, or performance recorded) waits only to be archived.
WAITING_FOR: Mapping[str, str] = {
    lc.AGREEMENT_WRITTEN: CONFIRMATION,
    lc.CONFIRMATION_APPLIED: CONFIRMATION,
    lc.AGREEMENT_ORAL: FOLLOW_UP,
    lc.CONFIRMATION_CONFIRMED: FOLLOW_UP,
    lc.CONFIRMATION_REJECTED: FOLLOW_UP,
    **{
        state: ARCHIVING
        for state in lc.CLOSED_STATES
        if state
        not in (
            lc.ARCHIVED,
            lc.AGREEMENT_WRITTEN,
            lc.CONFIRMATION_APPLIED,
            lc.AGREEMENT_ORAL,
            lc.CONFIRMATION_CONFIRMED,
            lc.CONFIRMATION_REJECTED,
        )
    },
}
ENDED_STATES: tuple[str, ...] = tuple(WAITING_FOR)
_ALL_ROLES = (lc.MEDIATOR, lc.STUDIO_LEAD, lc.DISTRICT_ADMIN)


def waiting_for(state: str) -> str | None:
    """What an ended case in `state` waits for; None for open and archived cases."""
    return WAITING_FOR.get(state)


def next_steps(state: str) -> list[str]:
    """The lifecycle actions that take an ended case in `state` on, most expected first: the
    court's decision or the follow-up before archiving."""
    actions = lc.allowed_actions(state, _ALL_ROLES)
    return sorted(actions, key=lambda action: action == lc.ARCHIVE)
