"""A consultation's lifecycle: the transition table against an expectation written out here, the
window edges (start inclusive, end exclusive), extensions, locking questions, and the channel rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.council.domain import consultation_states as cs
from services.council.domain.consultation_states import ExistingAnswer

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
END = T0 + timedelta(days=7)
MIN = timedelta(minutes=1)

EXPECTED = {
    ("draft", "edit_questions"): "draft",
    ("draft", "open"): "open",
    ("open", "extend"): "open",
    ("open", "answer"): "open",
    ("open", "close"): "closed",
    ("closed", "publish"): "published",
}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(cs.STATES, cs.ACTIONS)))
def test_transition_table_is_exactly_the_expected_one(state, action):
    d = cs.transition(state, action)
    if (state, action) in EXPECTED:
        assert d.allowed and d.next_state == EXPECTED[(state, action)] and d.reason is None
    else:
        assert not d.allowed and d.reason in cs.REASONS and d.next_state is None


def test_unknown_state_or_action():
    assert cs.transition("archived", "open").reason == "unknown_state"
    assert cs.transition("open", "delete").reason == "unknown_action"


def test_refusals_are_worded_by_what_was_attempted():
    assert cs.transition("open", "edit_questions").reason == "not_draft"
    assert cs.transition("closed", "answer").reason == "not_open"
    assert cs.transition("open", "publish").reason == "not_closed"
    assert cs.transition("published", "publish").reason == "not_closed"


def test_every_reason_has_both_languages():
    for zh, en in cs.REASONS.values():
        assert zh and en and zh != en
    d = cs.can_answer("closed", T0, END, T0)
    assert d.message("en") == "The consultation is not open." and d.message("zh-CN") == "征询未在进行中。"
    assert cs.Decision(True).message("en") == ""


# --- questions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "answers", "reason"),
    [("draft", 0, None), ("draft", 1, "has_answers"), ("open", 0, "not_draft"), ("closed", 0, "not_draft")],
)
def test_questions_editable_only_in_draft_without_answers(state, answers, reason):
    assert cs.can_edit_questions(state, answers).reason == reason


# --- opening --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "count", "opens", "closes", "now", "reason"),
    [
        ("draft", 3, T0, END, T0, None),
        ("draft", 3, T0, END, END - MIN, None),
        ("draft", 0, T0, END, T0, "no_questions"),
        ("draft", 3, T0, T0, T0 - MIN, "bad_window"),
        ("draft", 3, END, T0, T0 - MIN, "bad_window"),
        ("draft", 3, T0, END, END, "end_in_past"),
        ("open", 3, T0, END, T0, "not_draft"),
        ("draft", 3, T0.replace(tzinfo=None), END, T0, "naive_time"),
    ],
)
def test_open(state, count, opens, closes, now, reason):
    d = cs.can_open(state, count, opens, closes, now)
    assert d.reason == reason and d.allowed == (reason is None)
    if d.allowed:
        assert d.next_state == "open"


# --- answering window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "now", "reason"),
    [
        ("open", T0, None),  # the start is inclusive
        ("open", END - timedelta(microseconds=1), None),
        ("open", END, "window_ended"),  # the end is exclusive
        ("open", T0 - MIN, "not_started"),
        ("draft", T0 + MIN, "not_open"),
        ("closed", T0 + MIN, "not_open"),
        ("published", T0 + MIN, "not_open"),
    ],
)
def test_answer_window(state, now, reason):
    assert cs.can_answer(state, T0, END, now).reason == reason


def test_naive_times_are_refused():
    assert cs.can_answer("open", T0, END, datetime(2026, 12, 2)).reason == "naive_time"


# --- extending and closing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "new_end", "now", "reason"),
    [
        ("open", END + timedelta(days=2), T0, None),
        ("open", END + MIN, END - MIN, None),
        ("open", END, T0, "end_not_later"),
        ("open", END - MIN, T0, "end_not_later"),
        ("open", END + timedelta(days=2), END, "window_ended"),
        ("draft", END + timedelta(days=2), T0, "not_open"),
        ("closed", END + timedelta(days=2), T0, "not_open"),
    ],
)
def test_extend_only_while_open_and_only_later(state, new_end, now, reason):
    assert cs.can_extend(state, END, new_end, now).reason == reason


def test_close_by_hand_any_time_while_open_and_by_the_job_when_due():
    assert cs.can_close("open").next_state == "closed"
    assert cs.can_close("closed").reason == "not_open"
    assert cs.close_due("open", END, END - MIN).reason == "not_due"
    assert cs.close_due("open", END, END).allowed
    assert cs.close_due("closed", END, END + MIN).reason == "not_open"


def test_publish_after_closing_once():
    assert cs.can_publish("closed").next_state == "published"
    assert cs.can_publish("open").reason == "not_closed"
    assert cs.can_publish("published").reason == "not_closed"


# --- channels -------------------------------------------------------------------------------------

NOW = T0 + timedelta(days=1)


@pytest.mark.parametrize("channel", cs.CHANNELS)
def test_first_answer_through_any_channel_is_version_one(channel):
    d = cs.can_submit("open", T0, END, NOW, channel, None)
    assert d.allowed and d.version == 1


@pytest.mark.parametrize(
    ("first", "second", "allowed", "reason"),
    [
        ("web_slip_code", "web_slip_code", True, None),
        ("web_sms_code", "web_sms_code", True, None),
        ("web_slip_code", "web_sms_code", False, "other_channel"),
        ("web_sms_code", "web_slip_code", False, "other_channel"),
        ("web_slip_code", "paper", False, "other_channel"),
        ("web_sms_code", "paper", False, "other_channel"),
        ("paper", "web_slip_code", False, "paper_final"),
        ("paper", "web_sms_code", False, "paper_final"),
        ("paper", "paper", False, "paper_final"),
    ],
)
def test_one_channel_per_flat(first, second, allowed, reason):
    d = cs.can_submit("open", T0, END, NOW, second, ExistingAnswer(first, 3))
    assert (d.allowed, d.reason) == (allowed, reason)
    if allowed:
        assert d.version == 4


def test_no_change_after_closing_even_through_the_same_channel():
    existing = ExistingAnswer("web_slip_code", 1)
    assert cs.can_submit("open", T0, END, END, "web_slip_code", existing).reason == "window_ended"
    assert cs.can_submit("closed", T0, END, NOW, "web_slip_code", existing).reason == "not_open"


def test_unknown_channel():
    assert cs.can_submit("open", T0, END, NOW, "wechat", None).reason == "unknown_channel"
