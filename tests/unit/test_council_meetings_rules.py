# Full-width digits are what a Chinese phone keyboard may type.
# ruff: noqa: RUF001
"""Pure rules of council meetings: times, states, quorum, recommendations, codes, minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from services.council.domain import meetings as mt

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
START = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)


def test_times_on_the_quarter_hour_in_the_future_and_at_most_eight_hours() -> None:
    mt.check_times(START, START + timedelta(hours=2), NOW)
    cases = [
        (START.replace(tzinfo=None), START + timedelta(hours=1), "invalid_times"),
        (START + timedelta(minutes=5), START + timedelta(hours=1), "quarter_hour"),
        (START, START, "ends_before_start"),
        (START, START + timedelta(hours=8, minutes=15), "too_long"),
        (NOW - timedelta(hours=1), NOW + timedelta(hours=1), "past"),
    ]
    for starts, ends, code in cases:
        with pytest.raises(mt.MeetingError) as err:
            mt.check_times(starts, ends, NOW)
        assert err.value.code == code


def test_meeting_actions_follow_the_hall() -> None:
    mt.check_meeting_action(mt.CONFIRMED, "attendance")
    for status in (mt.REQUESTED, mt.REFUSED, mt.CANCELLED):
        with pytest.raises(mt.MeetingError):
            mt.check_meeting_action(status, "attendance")
    with pytest.raises(mt.MeetingError):
        mt.check_meeting_action(mt.CANCELLED, "move")
    mt.check_meeting_action(mt.REFUSED, "move")


def test_only_the_answer_to_the_latest_waiting_request_applies() -> None:
    assert mt.answer_applies({"request": 2, "status": mt.REQUESTED}, 2)
    assert not mt.answer_applies({"request": 3, "status": mt.REQUESTED}, 2)
    assert not mt.answer_applies({"request": 2, "status": mt.CONFIRMED}, 2)


def test_reception_days_skip_days_a_month_lacks() -> None:
    assert mt.next_reception_days(date(2026, 11, 27)) == [
        date(2026, 12, 6),
        date(2026, 12, 26),
        date(2027, 1, 6),
    ]
    assert mt.next_reception_days(date(2026, 4, 1), [31, 1], 2) == [date(2026, 4, 1), date(2026, 5, 1)]
    with pytest.raises(ValueError):
        mt.next_reception_days(date(2026, 4, 1), [0])


@pytest.mark.parametrize(
    ("present", "invited", "reached", "needed"),
    [
        (5, 10, False, 6),
        (6, 10, True, 6),
        (5, 9, True, 5),
        (4, 9, False, 5),
        (0, 0, False, 1),
        (1, 1, True, 1),
    ],
)
def test_quorum_is_more_than_half_by_default(present, invited, reached, needed) -> None:
    result = mt.quorum(present, invited)
    assert (result.reached, result.needed) == (reached, needed)


def test_quorum_threshold_is_configurable() -> None:
    two_thirds = mt.Threshold.parse(">=2/3")
    assert two_thirds == mt.Threshold(Fraction(2, 3), strict=False)
    assert mt.quorum(6, 9, two_thirds).reached and not mt.quorum(5, 9, two_thirds).reached
    assert mt.Threshold.parse("1/2") == mt.Threshold()
    for bad in ("half", "0", "3/2", "1/0"):
        with pytest.raises(ValueError):
            mt.Threshold.parse(bad)
    with pytest.raises(ValueError):
        mt.quorum(11, 10)


def test_recommendation_needs_quorum_and_a_majority_of_those_present() -> None:
    assert mt.recommendation(4, 1, 1, 7, True).outcome == mt.ADOPTED
    assert mt.recommendation(3, 3, 0, 6, True).outcome == mt.NOT_ADOPTED
    assert mt.recommendation(6, 0, 0, 6, False).outcome == mt.NO_QUORUM
    with pytest.raises(mt.MeetingError) as err:
        mt.recommendation(4, 4, 0, 7, True)
    assert err.value.code == "more_votes_than_present"
    with pytest.raises(mt.MeetingError):
        mt.recommendation(-1, 0, 0, 7, True)


def test_codes_are_six_digits_typed_loosely_and_stored_keyed() -> None:
    code = mt.new_code()
    assert mt.well_formed(code)
    assert mt.normalize_code("１２３ ４５６") == "123456"
    assert mt.well_formed("123-456") and not mt.well_formed("12345") and not mt.well_formed("abcdef")
    h = mt.code_hash("k", "m1", "123456")
    assert h == mt.code_hash("k", "m1", "123 456") != mt.code_hash("k", "m2", "123456")
    assert h != mt.code_hash("other", "m1", "123456") and "123456" not in h


def test_check_in_window_and_rate_limit() -> None:
    end = START + timedelta(hours=2)
    assert not mt.check_in_open(START, end, START - timedelta(hours=2))
    assert mt.check_in_open(START, end, START - timedelta(minutes=30))
    assert not mt.check_in_open(START, end, end)
    assert not mt.rate_limited(mt.MAX_FAILURES - 1) and mt.rate_limited(mt.MAX_FAILURES)


def test_minutes_from_draft_to_publication() -> None:
    mt.check_draft(None)
    with pytest.raises(mt.MinutesError):
        mt.circulate(mt.DRAFT, "  ", NOW, mt.DEFAULT_AMENDMENT_WINDOW)
    ends = mt.circulate(mt.DRAFT, "text", NOW, mt.DEFAULT_AMENDMENT_WINDOW)
    assert ends == NOW + timedelta(days=3)
    with pytest.raises(mt.MinutesError):
        mt.check_draft(mt.AMENDING)
    mt.check_amendment(mt.AMENDING, NOW + timedelta(days=2), ends, present=True)
    for status, at, present, code in [
        (mt.AMENDING, NOW, False, "not_attendee"),
        (mt.AMENDING, ends, True, "window_closed"),
        (mt.DRAFT, NOW, True, "not_amending"),
    ]:
        with pytest.raises(mt.MinutesError) as err:
            mt.check_amendment(status, at, ends, present)
        assert err.value.code == code
    mt.check_decision(mt.AMENDING, mt.PROPOSED, mt.ACCEPTED)
    with pytest.raises(mt.MinutesError):
        mt.check_decision(mt.AMENDING, mt.REJECTED, mt.ACCEPTED)
    with pytest.raises(mt.MinutesError) as early:
        mt.check_adopt(mt.AMENDING, ends - timedelta(seconds=1), ends, 0)
    assert early.value.code == "window_open"
    with pytest.raises(mt.MinutesError) as pending:
        mt.check_adopt(mt.AMENDING, ends, ends, 1)
    assert pending.value.code == "open_amendments"
    mt.check_adopt(mt.AMENDING, ends, ends, 0)
    with pytest.raises(mt.MinutesError):
        mt.check_publish(mt.AMENDING)
    mt.check_publish(mt.ADOPTED_MINUTES)
