"""Follow-up after an ending (回访), pure: which endings give which tasks, when they are due, what a
visit record may hold, how a renewed conflict raises the risk, and agreement terms with a due date.

The tasks live in mediation's `follow_up_tasks` collection (the shape is shared with the "is it
settled?" follow-up, see `services/mediation/visits.py`); this module builds and judges them without
I/O. A task never holds a party's name or phone: a party is a stable key (`applicant-1`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.mediation.domain import lifecycle as lc
from shared.taxonomy import RISK_LEVELS

# Task kinds ---------------------------------------------------------------------------------------
VISIT = "visit"
TERM_CHECK = "term_check"
NOT_SETTLED = "not_settled"
KINDS: tuple[str, ...] = (VISIT, TERM_CHECK, NOT_SETTLED)
MEDIATOR = "mediator"
STUDIO_LEAD = "studio_lead"

# A studio's `follow_up_days` (registry): days from the ending to the visit's due date.
DEFAULT_FOLLOW_UP_DAYS = 14
MIN_FOLLOW_UP_DAYS = 1
MAX_FOLLOW_UP_DAYS = 180

# Which endings are followed up by a visit per party. A case that was not accepted never reached
# mediation (its parties were referred elsewhere at screening), and a merged duplicate carries on in
# the case it joined (that case's ending gives the visits): neither gets visits of its own.
VISIT_ENDINGS: tuple[str, ...] = (
    lc.AGREEMENT_WRITTEN,
    lc.AGREEMENT_ORAL,
    lc.FAILED,
    lc.WITHDRAWN,
    lc.REFERRED,
)
# After these there is an agreement whose performance the visit asks about.
AGREEMENT_ENDINGS: tuple[str, ...] = (lc.AGREEMENT_WRITTEN, lc.AGREEMENT_ORAL)

# The visit record's vocabularies.
HOW: tuple[str, ...] = ("phone", "visit", "message")
PERFORMANCE: tuple[str, ...] = ("performed", "partly", "not_performed")
PERFORMED = "performed"
SATISFACTION_MIN, SATISFACTION_MAX = 1, 5
NOTE_MAX = 2000

# A term's reminder goes out at this local hour of its due day (a message at 9, not at midnight).
TERM_CHECK_HOUR = 9


def gets_visits(to_state: str) -> bool:
    """Whether a case ending in `to_state` is followed up by a visit to each party."""
    return to_state in VISIT_ENDINGS


def asks_performance(outcome: str | None) -> bool:
    """Whether a visit after this ending asks if the agreement was performed."""
    return outcome in AGREEMENT_ENDINGS


def follow_up_days(studio: Mapping[str, Any] | None) -> int:
    """The studio's days from an ending to its visits (the default when unset or out of range)."""
    raw = (studio or {}).get("follow_up_days")
    if isinstance(raw, int) and not isinstance(raw, bool) and MIN_FOLLOW_UP_DAYS <= raw <= MAX_FOLLOW_UP_DAYS:
        return raw
    return DEFAULT_FOLLOW_UP_DAYS


def party_keys(parties: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(key, role) of each applicant and respondent, numbered within their role in filing order:
    `applicant-1`, `applicant-2`, `respondent-1`. Stable: parties are never reordered."""
    seen: dict[str, int] = {}
    keys = []
    for party in parties:
        role = party.get("role")
        if role not in ("applicant", "respondent"):
            continue
        seen[role] = seen.get(role, 0) + 1
        keys.append((f"{role}-{seen[role]}", str(role)))
    return keys


def visit_task_id(case_id: str, party: str) -> str:
    return f"{case_id}:visit:{party}"


def term_task_id(case_id: str, index: int) -> str:
    return f"{case_id}:term:{index}"


def visit_tasks(
    case: Mapping[str, Any], to_state: str, ended_at: datetime, days: int
) -> list[dict[str, Any]]:
    """The visit tasks an ending gives: one per party, for the case's lead mediator (its owner; the
    studio lead's when no mediator had the case), due `days` after the ending. Empty for endings
    without visits. Deterministic `_id`s: the same ending inserts each task once."""
    if not gets_visits(to_state):
        return []
    lead = case.get("owner") or next(iter(case.get("mediators") or []), None)
    due = ended_at + timedelta(days=days)
    return [
        {
            "_id": visit_task_id(case["_id"], key),
            "kind": VISIT,
            "case_id": case["_id"],
            "reference": case["_id"],
            "studio": case.get("studio"),
            "assignee": lead,
            "assignee_role": MEDIATOR if lead else STUDIO_LEAD,
            "party": key,
            "due": due,
            "created_at": ended_at,
            "done_at": None,
            "done_by": None,
            "record": None,
            "detail": {"outcome": lc.OUTCOME_OF.get(to_state), "role": role, "ended_at": ended_at},
        }
        for key, role in party_keys(case.get("parties") or [])
    ]


def raised_level(level: str | None) -> str:
    """The risk after a visit found the conflict renewed (or a hidden danger): at least yellow, one
    level up when it was raised already; red stays red."""
    current = level if level in RISK_LEVELS else "none"
    index = RISK_LEVELS.index(current)
    return RISK_LEVELS[max(RISK_LEVELS.index("yellow"), min(index + 1, len(RISK_LEVELS) - 1))]


def is_overdue(task: Mapping[str, Any], now: datetime) -> bool:
    return task.get("done_at") is None and task["due"] <= now


def ordered(tasks: Iterable[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Open tasks as the desk lists them: overdue first, then by due date (then by id, stable)."""
    return sorted(tasks, key=lambda t: (not is_overdue(t, now), t["due"], t["_id"]))


def visibility(user_id: str, roles: Iterable[str], studio: str | None) -> dict[str, Any] | None:
    """The filter of the open tasks a member of staff sees: a mediator their own; a studio lead
    also their studio's tasks for the lead; a district admin all. None: no tasks at all."""
    held = set(roles)
    if "district_admin" in held:
        return {"done_at": None}
    if "studio_lead" in held and studio:
        return {
            "done_at": None,
            "$or": [{"assignee": user_id}, {"studio": studio, "assignee_role": STUDIO_LEAD}],
        }
    if "mediator" in held:
        return {"done_at": None, "assignee": user_id}
    return None


def may_act(user_id: str, roles: Iterable[str], studio: str | None, task: Mapping[str, Any]) -> str | None:
    """Why `user_id` may not record or close `task` ("not_found": another studio's, or not theirs to
    see; "forbidden": their studio's, but neither theirs nor the lead's), or None when they may.
    District admins oversee: they see every task but record no casework."""
    held = set(roles)
    if "district_admin" in held:
        return "forbidden"
    if task.get("studio") != studio:
        return "not_found"
    if task.get("assignee") == user_id or "studio_lead" in held:
        return None
    return "forbidden"


# Agreement terms with a due date -------------------------------------------------------------------
def term_text(term: Any) -> str:
    """A term's wording: older agreements store plain strings, newer ones `{"text", "due"}`."""
    if isinstance(term, Mapping):
        return str(term.get("text") or "")
    return str(term or "")


def term_due(term: Any) -> date | None:
    """A term's due date (a local day), if it has one."""
    if isinstance(term, Mapping) and term.get("due"):
        try:
            return date.fromisoformat(str(term["due"]))
        except ValueError:
            return None
    return None


def parse_terms(
    lines: Sequence[str], dues: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The agreement form's terms: one per non-blank line of `lines`; the n-th term's due date (ISO
    `YYYY-MM-DD`, optional) is the n-th of `dues`. Returns the terms and the problems by field
    (`term_due-<n>`, counted from 1). A due date beyond the terms is refused, not dropped."""
    terms: list[dict[str, Any]] = []
    problems: dict[str, list[str]] = {}
    for line in lines:
        text = line.strip()
        if not text:
            continue
        position = len(terms)
        raw = (dues[position] if position < len(dues) else "") or ""
        raw = raw.strip()
        due = None
        if raw:
            try:
                due = date.fromisoformat(raw).isoformat()
            except ValueError:
                problems[f"term_due-{position + 1}"] = ["A date as YYYY-MM-DD."]
        terms.append({"text": text, "due": due})
    for extra in range(len(terms), len(dues)):
        if (dues[extra] or "").strip():
            problems[f"term_due-{extra + 1}"] = ["There is no term with this number."]
    return terms, problems


def term_check_at(due: date, tz: ZoneInfo) -> datetime:
    """When a term due on `due` (local day) is checked: at `TERM_CHECK_HOUR` that morning."""
    return datetime.combine(due, time(TERM_CHECK_HOUR), tzinfo=tz)


def next_term_check(terms: Sequence[Any], checked: Iterable[int], tz: ZoneInfo) -> datetime | None:
    """The moment of the next term check not made yet (the job's selective field), or None."""
    done = set(checked)
    moments = [
        term_check_at(due, tz)
        for index, term in enumerate(terms, start=1)
        if index not in done and (due := term_due(term)) is not None
    ]
    return min(moments) if moments else None


def terms_due(
    terms: Sequence[Any], checked: Iterable[int], now: datetime, tz: ZoneInfo
) -> list[tuple[int, Any]]:
    """(index from 1, term) of the terms whose check moment has come and that were not checked yet."""
    done = set(checked)
    return [
        (index, term)
        for index, term in enumerate(terms, start=1)
        if index not in done and (due := term_due(term)) is not None and term_check_at(due, tz) <= now
    ]
