""" "Is it settled?" (issue 14.4), the applicant's side: their one-time survey link and how long an
answer may be changed. Pure rules.

The answer is stored when a link is opened (one click), so it cannot wait for a confirmation; the
applicant may change it, and add a comment, within `window` of their first answer (a misclick is
put right), after which the stored answer stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

SETTLED = "settled"
NOT_SETTLED = "not_settled"
NOT_SURE = "not_sure"
ANSWERS = (SETTLED, NOT_SETTLED, NOT_SURE)
# How long a survey link can be used for a first answer.
LINK_VALID = timedelta(days=60)
# How long notify may keep the link's token (to send it, and resend it from the delivery log).
SECRET_KEPT = timedelta(days=7)
MAX_COMMENT = 2000
# Endings whose applicants are never asked (mediation does not ask them either; checked again here
# in case intake knows better, e.g. a merge it has seen).
NOT_ASKED_OUTCOMES = frozenset({"withdrawn", "not_accepted"})

# What a link may do now.
ANSWERABLE = "answerable"  # never answered, link valid: the click stores the answer
CHANGEABLE = "changeable"  # answered, within the window: a click changes it, a comment may be added
FIXED = "fixed"  # answered, the window is over: the stored answer stands
EXPIRED = "expired"  # never answered and the link is too old


def survey_id(reference: str, party: str) -> str:
    """One survey per applicant and case: a redelivered check creates none twice."""
    return f"{reference}:{party}"


def state(survey: Mapping[str, Any], now: datetime, window: timedelta) -> str:
    """What `survey`'s link may do at `now`."""
    first = survey.get("first_answered_at")
    if first is None:
        return ANSWERABLE if now <= survey["expires_at"] else EXPIRED
    return CHANGEABLE if now <= first + window else FIXED


def should_ask(case: Mapping[str, Any]) -> bool:
    """Whether intake asks this case's applicants (a merged or withdrawn case, or one whose
    personal data was erased, is not asked)."""
    if case.get("outcome") in NOT_ASKED_OUTCOMES or case.get("status") == "merged" or case.get("merged_into"):
        return False
    return any(p.get("role") == "applicant" and not p.get("erased") for p in case.get("parties") or [])


def clean_comment(text: str) -> str:
    """A comment as stored: trimmed (its length is checked by the caller)."""
    return (text or "").strip()
