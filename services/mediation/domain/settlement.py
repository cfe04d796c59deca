""" "Is it settled?" (issue 14.4): which ended cases are asked, and what an answer allows. Pure rules.

Some weeks after an ending (`settlement_check_days`, per studio, 28 by default) the applicants are
asked whether the dispute stayed settled. Only endings where there was a dispute to settle are
asked: not a withdrawal (the party ended it), not a case that was not accepted, and not a merged
duplicate (its dispute is the other case's). Each case is asked once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

DEFAULT_CHECK_DAYS = 28
MIN_CHECK_DAYS = 1
MAX_CHECK_DAYS = 365
SETTLED = "settled"
NOT_SETTLED = "not_settled"
NOT_SURE = "not_sure"
ANSWERS = (SETTLED, NOT_SETTLED, NOT_SURE)
# The endings whose applicants are asked (lifecycle.OUTCOME_OF's codes).
ASKED_OUTCOMES = ("agreement_written", "agreement_oral", "failed", "referred")
NOT_ASKED_OUTCOMES = ("withdrawn", "not_accepted")
# The follow-up task a "not settled" answer gives the studio lead (contract: follow_up_tasks).
TASK_KIND = "not_settled"
TASK_DUE = timedelta(days=7)


def check_days(studio: Mapping[str, Any] | None) -> int:
    """The studio's `settlement_check_days` (a stored value out of range counts as the default)."""
    value = (studio or {}).get("settlement_check_days")
    if isinstance(value, int) and not isinstance(value, bool) and MIN_CHECK_DAYS <= value <= MAX_CHECK_DAYS:
        return value
    return DEFAULT_CHECK_DAYS


def parse_check_days(raw: str) -> int | None:
    """A form's value as a number of days, or None when it is not a whole number in range."""
    text = (raw or "").strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if MIN_CHECK_DAYS <= value <= MAX_CHECK_DAYS else None


def cutoff(now: datetime, days: int) -> datetime:
    """Cases ended at or before this moment are due to be asked."""
    return now - timedelta(days=days)


def check_due(case: Mapping[str, Any], now: datetime, days: int) -> bool:
    """Whether `case` should be asked now: ended in an asked outcome at least `days` ago, not
    merged, and not asked yet."""
    ended_at = case.get("ended_at")
    if ended_at is None or case.get("settlement_check"):
        return False
    if case.get("outcome") not in ASKED_OUTCOMES or case.get("status") == "merged":
        return False
    return ended_at <= cutoff(now, days)


def is_newer(answered_at: datetime, stored: Mapping[str, Any] | None) -> bool:
    """Whether an answer made at `answered_at` replaces the `stored` one (the latest wins, so a
    redelivered or overtaken message has no effect)."""
    if not stored or stored.get("answered_at") is None:
        return True
    return answered_at > stored["answered_at"]


def task_id(case_id: str, party: str) -> str:
    """The not-settled task's deterministic `_id` (one per applicant's answer)."""
    return f"{case_id}:{TASK_KIND}:{party}"


def reopen_refusal(case: Mapping[str, Any], party: str) -> str | None:
    """Why a linked case may not be opened from `case` for `party`'s answer, or None when it may."""
    answers = (case.get("settlement") or {}).get("answers") or {}
    answer = answers.get(party)
    if not answer or answer.get("answer") != NOT_SETTLED:
        return "not_not_settled"
    if party in ((case.get("settlement") or {}).get("reopen_requests") or {}):
        return "already_linked"
    return None


def reopen_request_id(case_id: str, party: str) -> str:
    """Deterministic: a second request for the same answer is the same request."""
    return f"{case_id}:reopen:{party}"
