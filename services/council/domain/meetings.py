"""Representatives' meetings (议事会) as pure rules: the meeting's states (its hall requested from
mediation, then confirmed or refused), times and reception days, quorum, the representatives'
recommendation per agenda item, check-in codes, and the minutes' way from draft to publication
with the attendees' amendment window. No I/O here.

Times are timezone-aware and compared as half-open intervals, like mediation's sessions: a
meeting holds the hall in whole quarter hours.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

# The meeting and its hall ------------------------------------------------------------------------
REQUESTED = "requested"  # council asked mediation for the hall; no answer yet
CONFIRMED = "confirmed"  # the hall is held for the meeting
REFUSED = "refused"  # the hall was not free (or the time was not bookable): pick another time
CANCELLED = "cancelled"
MEETING_STATES = (REQUESTED, CONFIRMED, REFUSED, CANCELLED)

QUARTER = timedelta(minutes=15)
MAX_LENGTH = timedelta(hours=8)
DEFAULT_RECEPTION_DAYS: tuple[int, ...] = (6, 26)
KINDS = ("representative", "council_member")


class MeetingError(ValueError):
    """A meeting rule broken; `code` lets the pages say it in the reader's language, `field` is
    the form field it belongs to (None for the whole form)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """A bookable meeting time: zoned, on the quarter hour, after `now`, ending after it starts,
    at most 8 hours (the hall's rules, which mediation applies again)."""
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise MeetingError("invalid_times", "Times need a time zone.", name)
        if value.minute % 15 or value.second or value.microsecond:
            raise MeetingError("quarter_hour", "Times are on the quarter hour (e.g. 19:00, 19:15).", name)
    if ends_at <= starts_at:
        raise MeetingError("ends_before_start", "A meeting ends after it starts.", "ends_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise MeetingError("too_long", "A meeting lasts at most 8 hours.", "ends_at")
    if starts_at <= now:
        raise MeetingError("past", "A meeting cannot be held in the past.", "starts_at")


# What may be done to a meeting in each state.
_ACTIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({"move", "cancel", "edit"}),
    CONFIRMED: frozenset({"move", "cancel", "edit", "attendance", "vote", "minutes"}),
    REFUSED: frozenset({"move", "cancel", "edit"}),
    CANCELLED: frozenset(),
}


def check_meeting_action(status: str, action: str) -> None:
    """Refuse `action` when the meeting's state does not allow it (e.g. attendance before the hall
    is confirmed, anything after a cancellation)."""
    if action not in _ACTIONS.get(status, frozenset()):
        raise MeetingError(f"{status}_no_{action}", f"A {status} meeting allows no {action}.")


def answer_applies(hall: Mapping[str, object], request: int) -> bool:
    """Whether mediation's answer to `request` still decides the meeting: only the answer to its
    latest request, and only while that request is waiting (a redelivered or overtaken answer
    changes nothing)."""
    return int(hall.get("request") or 0) == request and hall.get("status") == REQUESTED


def next_reception_days(on_or_after: date, days: Iterable[int] | None = None, count: int = 3) -> list[date]:
    """The next `count` reception days from `on_or_after` (inclusive); a day a month lacks (the
    31st in April) is skipped, since residents know the day by its number."""
    wanted = tuple(sorted(set(days))) if days else DEFAULT_RECEPTION_DAYS
    if not all(isinstance(d, int) and 1 <= d <= 31 for d in wanted):
        raise ValueError(f"reception days must be days of the month, got {wanted!r}")
    found: list[date] = []
    year, month = on_or_after.year, on_or_after.month
    while len(found) < count:
        last = calendar.monthrange(year, month)[1]
        for day in wanted:
            if day <= last and date(year, month, day) >= on_or_after and len(found) < count:
                found.append(date(year, month, day))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


# Quorum ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """The share of the invited who must be present: "more than" (strict) or "at least" it."""

    share: Fraction = Fraction(1, 2)
    strict: bool = True

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """ "1/2" (more than half), ">=2/3" (at least two thirds), ">1/2"."""
        raw = text.strip().replace(" ", "")
        strict = not raw.startswith(">=")
        raw = raw.removeprefix(">=").removeprefix(">")
        try:
            share = Fraction(raw)
        except (ValueError, ZeroDivisionError) as err:
            raise ValueError(f"not a quorum threshold: {text!r}") from err
        if not 0 < share <= 1:
            raise ValueError(f"a quorum threshold is a share between 0 and 1, got {text!r}")
        return cls(share, strict)


@dataclass(frozen=True)
class Quorum:
    present: int
    invited: int
    needed: int  # the fewest present that reach the threshold
    reached: bool


def quorum(present: int, invited: int, threshold: Threshold = Threshold()) -> Quorum:
    """Whether `present` of `invited` reach the threshold (default: more than half)."""
    if present < 0 or invited < 0 or present > invited:
        raise ValueError("present must be between 0 and the number invited")
    exact = threshold.share * invited
    # "More than" half of 10 is 6 (floor + 1); "at least" two thirds of 9 is 6 (the ceiling).
    needed = int(exact) + 1 if threshold.strict else -(-exact.numerator // exact.denominator)
    needed = max(needed, 1)
    return Quorum(present, invited, needed, invited > 0 and present >= needed)


# The recommendation per agenda item ---------------------------------------------------------------
ADOPTED, NOT_ADOPTED, NO_QUORUM = "adopted", "not_adopted", "no_quorum"


@dataclass(frozen=True)
class Recommendation:
    for_: int
    against: int
    abstain: int
    outcome: str


def recommendation(for_: int, against: int, abstain: int, present: int, reached: bool) -> Recommendation:
    """The representatives' recommendation on one item, as the clerk counted hands: adopted when
    the meeting has its quorum and more than half of those present voted for it. Counts are whole,
    not negative, and together at most the number present."""
    counts = {"for": for_, "against": against, "abstain": abstain}
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MeetingError("bad_count", "Counts are whole numbers, 0 or more.", name)
    if for_ + against + abstain > present:
        raise MeetingError("more_votes_than_present", "More votes than people present.", "for")
    if not reached:
        return Recommendation(for_, against, abstain, NO_QUORUM)
    return Recommendation(for_, against, abstain, ADOPTED if 2 * for_ > present else NOT_ADOPTED)


# Check-in codes ----------------------------------------------------------------------------------
CODE_LENGTH = 6
CHECK_IN_OPENS = timedelta(hours=1)  # before the start: people arrive early
MAX_FAILURES = 5  # wrong codes per client and meeting within FAILURE_WINDOW before a pause
FAILURE_WINDOW = timedelta(minutes=10)


def new_code() -> str:
    """A fresh six-digit check-in code (typed on a phone: digits only)."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def normalize_code(text: str) -> str:
    """What was typed, as a code: full-width digits made ASCII, spaces and dashes dropped."""
    folded = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in folded if ch not in " -\t")


def code_hash(secret: str, meeting_id: str, code: str) -> str:
    """The stored form of a code: keyed, per meeting, so a database copy does not reveal codes."""
    message = f"{meeting_id}:{normalize_code(code)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def well_formed(code: str) -> bool:
    normalized = normalize_code(code)
    return len(normalized) == CODE_LENGTH and normalized.isascii() and normalized.isdigit()


def check_in_open(starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
    """Check-in runs from an hour before the start to the end."""
    return starts_at - CHECK_IN_OPENS <= now < ends_at


def rate_limited(failures: int) -> bool:
    """Too many wrong codes from one client for one meeting: wait until the window passes."""
    return failures >= MAX_FAILURES


# Minutes -----------------------------------------------------------------------------------------
DRAFT = "draft"
AMENDING = "amending"  # circulated: attendees may propose amendments until the window ends
ADOPTED_MINUTES = "adopted"
PUBLISHED = "published"
MINUTES_STATES = (DRAFT, AMENDING, ADOPTED_MINUTES, PUBLISHED)
DEFAULT_AMENDMENT_WINDOW = timedelta(days=3)

PROPOSED, ACCEPTED, REJECTED = "proposed", "accepted", "rejected"


class MinutesError(ValueError):
    """A step the minutes' state does not allow; `code` for the reader's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_draft(status: str | None) -> None:
    """The text is written (and rewritten) while the minutes are a draft."""
    if status not in (None, DRAFT):
        raise MinutesError("not_draft", "The minutes are no longer a draft.")


def circulate(status: str | None, text: str, now: datetime, window: timedelta) -> datetime:
    """Send the draft to the attendees; return when their amendment window ends."""
    if status != DRAFT:
        raise MinutesError("not_draft", "Only a draft is circulated.")
    if not text.strip():
        raise MinutesError("empty", "The minutes have no text.")
    if window <= timedelta(0):
        raise MinutesError("bad_window", "The amendment window must be longer than nothing.")
    return now + window


def check_amendment(status: str | None, now: datetime, window_ends: datetime | None, present: bool) -> None:
    """An attendee may propose an amendment while the minutes circulate, within the window."""
    if not present:
        raise MinutesError("not_attendee", "Only those who attended propose amendments.")
    if status != AMENDING or window_ends is None:
        raise MinutesError("not_amending", "The minutes are not open for amendments.")
    if now >= window_ends:
        raise MinutesError("window_closed", "The time for amendments has ended.")


def check_decision(status: str | None, amendment_status: str, decision: str) -> None:
    """The drafter accepts or rejects each proposed amendment, while circulating."""
    if decision not in (ACCEPTED, REJECTED):
        raise MinutesError("bad_decision", "Accept or reject.")
    if status != AMENDING:
        raise MinutesError("not_amending", "The minutes are not open for amendments.")
    if amendment_status != PROPOSED:
        raise MinutesError("decided", "This amendment was decided already.")


def check_adopt(
    status: str | None, now: datetime, window_ends: datetime | None, open_amendments: int
) -> None:
    """Adopt once the window has ended and every amendment is accepted or rejected."""
    if status != AMENDING or window_ends is None:
        raise MinutesError("not_amending", "Only circulated minutes are adopted.")
    if now < window_ends:
        raise MinutesError("window_open", "Attendees may still propose amendments.")
    if open_amendments:
        raise MinutesError("open_amendments", "Accept or reject every amendment first.")


def check_publish(status: str | None) -> None:
    if status != ADOPTED_MINUTES:
        raise MinutesError("not_adopted", "Only adopted minutes are published.")
