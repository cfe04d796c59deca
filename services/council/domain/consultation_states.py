# ruff: noqa: RUF001
"""A consultation's lifecycle (questionnaire or vote) as one table, and the rules on answering.

    draft --open--> open --close--> closed --publish--> published
    open --extend--> open (only to a later end, still in the future)

- Questions (and a vote's matter) are editable only in `draft`, and only while no answer exists
  (the brief's "locked once the first answer exists"; in draft there should be none, but a
  consultation reopened by an operator from a backup must not be edited under its answers either).
- Opening needs a sound questionnaire (at least one question) and a window whose end is later than
  its start and still in the future.
- Answering happens only while `open` and within the window `opens_at <= now < closes_at` (the end is
  exclusive: at the closing minute it is closed, whether or not the closing job has run yet).
- Closing: a committee member may close an open consultation at any time; the closing job closes
  it once the window has ended (`close_due`).

Channels (one answer per flat, through ONE channel): `web_slip_code` (the code printed on the flat's
slip), `web_sms_code` (a code sent to the flat's registered phone), `paper` (entered by the building
leader or clerk with the slip number). The first answer fixes the flat's channel. A web answer may be
changed through the same channel until closing — each change is a new version, all kept; a paper
answer is never replaced (neither by paper nor by web) and a web answer is never replaced by paper
or by the other web channel. A mistaken paper entry is corrected by an operator outside this rule.

Every check returns a `Decision`: allowed, or refused with a reason code that `REASONS` words in
zh-CN and en. Times must be timezone-aware. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DRAFT = "draft"
OPEN = "open"
CLOSED = "closed"
PUBLISHED = "published"
STATES: tuple[str, ...] = (DRAFT, OPEN, CLOSED, PUBLISHED)

EDIT = "edit_questions"
OPEN_ACTION = "open"
EXTEND = "extend"
CLOSE = "close"
PUBLISH = "publish"
ANSWER = "answer"
ACTIONS: tuple[str, ...] = (EDIT, OPEN_ACTION, EXTEND, CLOSE, PUBLISH, ANSWER)

# (state, action) -> the state after it. Every pair not listed is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, EDIT): DRAFT,
    (DRAFT, OPEN_ACTION): OPEN,
    (OPEN, EXTEND): OPEN,
    (OPEN, ANSWER): OPEN,
    (OPEN, CLOSE): CLOSED,
    (CLOSED, PUBLISH): PUBLISHED,
}

# Each action is allowed in one state only, so a refusal is worded by the action.
_REFUSAL: dict[str, str] = {
    EDIT: "not_draft",
    OPEN_ACTION: "not_draft",
    EXTEND: "not_open",
    ANSWER: "not_open",
    CLOSE: "not_open",
    PUBLISH: "not_closed",
}

WEB_SLIP = "web_slip_code"
WEB_SMS = "web_sms_code"
PAPER = "paper"
CHANNELS: tuple[str, ...] = (WEB_SLIP, WEB_SMS, PAPER)
WEB_CHANNELS = frozenset({WEB_SLIP, WEB_SMS})

REASONS: dict[str, tuple[str, str]] = {
    "unknown_state": ("未知的状态。", "Unknown state."),
    "unknown_action": ("未知的操作。", "Unknown action."),
    "not_draft": ("只有草稿可以修改或开始。", "Only a draft can be edited or opened."),
    "not_open": ("征询未在进行中。", "The consultation is not open."),
    "not_closed": ("征询尚未结束，不能公布。", "Not closed yet: it cannot be published."),
    "has_answers": ("已有答复，问题已锁定。", "Answers exist: the questions are locked."),
    "no_questions": ("至少需要一个问题。", "At least one question is needed."),
    "bad_window": ("截止时间必须晚于开始时间。", "The end must be later than the start."),
    "end_in_past": ("截止时间已过。", "The end is already past."),
    "end_not_later": ("延期后的截止时间必须晚于原截止时间。", "An extension must end later."),
    "not_started": ("答复尚未开始。", "Answering has not started yet."),
    "window_ended": ("答复已截止。", "Answering has closed."),
    "not_due": ("答复期尚未结束。", "The answering window has not ended yet."),
    "naive_time": ("时间缺少时区。", "A time without a timezone."),
    "unknown_channel": ("未知的答复方式。", "Unknown answering channel."),
    "other_channel": ("本户已通过其他方式答复。", "This flat has already answered through another channel."),
    "paper_final": ("本户的纸质答复不能更改。", "This flat's paper answer cannot be replaced."),
}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """Allowed (with the state after the action, and for answers the version to write) or refused."""

    allowed: bool
    reason: str | None = None
    next_state: str | None = None
    version: int | None = None

    def message(self, language: str) -> str:
        """The refusal in zh-CN or en ("" when allowed)."""
        if self.reason is None:
            return ""
        zh, en = REASONS[self.reason]
        return zh if language.lower().startswith("zh") else en


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def _naive(*times: datetime | None) -> bool:
    return any(t is not None and t.tzinfo is None for t in times)


def transition(state: str, action: str) -> Decision:
    """May `action` happen in `state` at all (the table only; the other checks add the conditions)."""
    if state not in STATES:
        return _no("unknown_state")
    if action not in ACTIONS:
        return _no("unknown_action")
    nxt = TRANSITIONS.get((state, action))
    if nxt is not None:
        return Decision(True, next_state=nxt)
    return _no(_REFUSAL[action])


def can_edit_questions(state: str, answer_count: int) -> Decision:
    """Questions may change only in draft and while no answer exists."""
    d = transition(state, EDIT)
    if not d.allowed:
        return d
    return _no("has_answers") if answer_count > 0 else d


def can_open(
    state: str, question_count: int, opens_at: datetime, closes_at: datetime, now: datetime
) -> Decision:
    """A draft opens with at least one question and a window ending later than it starts, in the future."""
    d = transition(state, OPEN_ACTION)
    if not d.allowed:
        return d
    if _naive(opens_at, closes_at, now):
        return _no("naive_time")
    if question_count < 1:
        return _no("no_questions")
    if closes_at <= opens_at:
        return _no("bad_window")
    if closes_at <= now:
        return _no("end_in_past")
    return d


def can_extend(state: str, closes_at: datetime, new_closes_at: datetime, now: datetime) -> Decision:
    """Extend only while open (and before the window has ended), and only to a later end."""
    d = transition(state, EXTEND)
    if not d.allowed:
        return d
    if _naive(closes_at, new_closes_at, now):
        return _no("naive_time")
    if now >= closes_at:
        return _no("window_ended")  # too late: the answers are final, the job is about to close it
    if new_closes_at <= closes_at:
        return _no("end_not_later")
    return d


def can_close(state: str) -> Decision:
    """A committee member may close an open consultation at any time."""
    return transition(state, CLOSE)


def close_due(state: str, closes_at: datetime, now: datetime) -> Decision:
    """For the closing job: close an open consultation once its window has ended."""
    d = transition(state, CLOSE)
    if not d.allowed:
        return d
    if _naive(closes_at, now):
        return _no("naive_time")
    return d if now >= closes_at else _no("not_due")


def can_publish(state: str) -> Decision:
    """Results are published after closing (once)."""
    return transition(state, PUBLISH)


def can_answer(state: str, opens_at: datetime, closes_at: datetime, now: datetime) -> Decision:
    """Answering only while open and within [opens_at, closes_at)."""
    d = transition(state, ANSWER)
    if not d.allowed:
        return d
    if _naive(opens_at, closes_at, now):
        return _no("naive_time")
    if now < opens_at:
        return _no("not_started")
    if now >= closes_at:
        return _no("window_ended")
    return d


@dataclass(frozen=True)
class ExistingAnswer:
    """What the flat has answered so far: the channel of its first answer and its latest version."""

    channel: str
    latest_version: int


def can_submit(
    state: str,
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    channel: str,
    existing: ExistingAnswer | None,
) -> Decision:
    """May a flat submit an answer through `channel` now? Allowed answers carry the version to write
    (1 for a first answer, latest + 1 for a change of a web answer through the same channel)."""
    if channel not in CHANNELS:
        return _no("unknown_channel")
    d = can_answer(state, opens_at, closes_at, now)
    if not d.allowed:
        return d
    if existing is None:
        return Decision(True, next_state=OPEN, version=1)
    if existing.channel == PAPER:
        return _no("paper_final")
    if existing.channel != channel:
        return _no("other_channel")
    return Decision(True, next_state=OPEN, version=existing.latest_version + 1)
