"""Retention of personal data (PIPL Art 19: kept no longer than the purpose needs; Art 47: deleted when
the period ends): when an archived case's period has run, and what of the case is erased.

An archived case keeps its personal data for `years` after archiving (5 by default, the
`PERSONAL_DATA_RETENTION_YEARS` setting); then names, phones, e-mail and home addresses go, with the
free texts that name people (the dispute's description and claims, notes, session statements, the
agreement's wording, what a patrol found and whom it met). What the statistics count stays: the
category, the community, the dates, the source, the outcome and its codes, the amount, the number of
parties on each side, the mediators (staff), the agreement's number and dates.

Pure: no I/O. The caller stores the changes and tells intake and notify.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

DEFAULT_YEARS = 5
# Timeline details that are codes or institutions, kept; every other detail (notes, names of who
# acknowledged or withdrew, an oral agreement's content, where the parties were directed) goes.
KEPT_DETAILS = frozenset(
    {"reason", "target", "target_name", "agreement_number", "session_id", "into", "court"}
)
# Timeline entry fields written by other steps that may hold personal texts (a patrol's findings).
ERASED_ENTRY_FIELDS = ("findings", "people_met", "note", "text")
# The agreement's wording (it names the parties and their conduct); its number and dates stay.
AGREEMENT_TEXTS = (
    "facts",
    "issues",
    "responsibility",
    "terms",
    "performance_method",
    "performance_place",
    "performance_deadline",
)


def retention_ends(archived_at: datetime, years: int = DEFAULT_YEARS) -> datetime:
    """The moment the personal data of a case archived at `archived_at` is due for erasure: the same
    day and time `years` later (29 February becomes 1 March in a common year)."""
    if years < 0:
        raise ValueError("a retention period is not negative")
    try:
        return archived_at.replace(year=archived_at.year + years)
    except ValueError:  # 29 February, `years` later in a common year
        return archived_at.replace(year=archived_at.year + years, month=3, day=1)


def due(archived_at: datetime | None, now: datetime, years: int = DEFAULT_YEARS) -> bool:
    """Whether a case archived at `archived_at` is due for erasure at `now` (never when not archived)."""
    return archived_at is not None and now >= retention_ends(archived_at, years)


def erased_party(party: Mapping[str, Any]) -> dict[str, Any]:
    """A party with only its role left (the count of parties per side stays for the statistics)."""
    return {"role": party.get("role"), "erased": True}


def erased_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A timeline entry without the personal parts of its details."""
    kept = {k: v for k, v in entry.items() if k not in ERASED_ENTRY_FIELDS}
    if isinstance(entry.get("details"), Mapping):
        kept["details"] = {k: v for k, v in entry["details"].items() if k in KEPT_DETAILS}
    return kept


def case_changes(case: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The `$set` that erases the personal data of a mediation case document (everything else of
    the case stays as it is)."""
    agreement = case.get("agreement")
    changes: dict[str, Any] = {
        "parties": [erased_party(p) for p in case.get("parties") or []],
        "filer": {"erased": True} if case.get("filer") else None,
        "building": "",
        "unit": "",
        "description": "",
        "claims": "",
        "notes": [{k: v for k, v in n.items() if k != "text"} for n in case.get("notes") or []],
        "timeline": [erased_entry(e) for e in case.get("timeline") or []],
        "personal_data_erased_at": now,
    }
    settlement = case.get("settlement")
    if isinstance(settlement, Mapping) and settlement.get("answers"):
        # An applicant's "is it settled?" comment is free text: it goes, the answer stays.
        answers = {party: {**a, "comment": ""} for party, a in settlement["answers"].items()}
        changes["settlement"] = {**settlement, "answers": answers}
    if isinstance(agreement, Mapping):
        changes["agreement"] = {k: v for k, v in agreement.items() if k not in (*AGREEMENT_TEXTS, "scan")}
    return changes


# A patrol task's fields that name places or people of the case.
PATROL_TASK_FIELDS = ("building", "unit")
PATROL_REPORT_TEXTS = ("findings", "people_met")
