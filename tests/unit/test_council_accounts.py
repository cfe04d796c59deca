"""Public accounts: entries checked, approval by a second member, the 15-day question window at its
edges in Beijing time, and statements that add up (hypothesis: any entries, chained months)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import accounts as ac
from services.council.domain.accounts import Entry

D = Decimal
APPROVED_AT = datetime(2026, 12, 3, 10, 0, tzinfo=ac.BEIJING)


def entry(amount="100.00", kind=ac.INCOME, category="parking", day=date(2026, 12, 2), approved=True, **kw):
    return Entry(
        kw.get("entry_id", "e1"),
        day,
        kind,
        category,
        D(amount) if isinstance(amount, str) else amount,
        kw.get("counterparty", "Parking company"),
        kw.get("entered_by", "li"),
        "wang" if approved else None,
        APPROVED_AT if approved else None,
    )


# --- entries --------------------------------------------------------------------------------------


def test_a_sound_entry_has_no_problems():
    assert ac.entry_problems(entry(approved=False), date(2026, 12, 5)) == []


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"amount": "0"}, "bad_amount"),
        ({"amount": "-5.00"}, "bad_amount"),
        ({"amount": "1.005"}, "bad_amount"),
        ({"amount": "NaN"}, "bad_amount"),
        ({"amount": 10.5}, "bad_amount"),
        ({"kind": "gift"}, "bad_kind"),
        ({"kind": ac.SPENDING, "category": "parking"}, "bad_category"),
        ({"counterparty": "  "}, "no_counterparty"),
        ({"entered_by": ""}, "no_author"),
        ({"day": date(2026, 12, 6)}, "future_date"),
    ],
)
def test_bad_entries(kw, code):
    assert code in ac.entry_problems(entry(approved=False, **kw), date(2026, 12, 5))


def test_every_reason_and_category_has_both_languages():
    for zh, en in ac.REASONS.values():
        assert zh and en
    for cats in ac.CATEGORIES.values():
        for zh, en in cats.values():
            assert zh and en


# --- approval -------------------------------------------------------------------------------------


def test_approval_by_a_second_member_once():
    new = entry(approved=False)
    assert ac.can_approve(new, "wang", True) == ac.Decision(True)
    assert ac.can_approve(new, "li", True).reason == "self_approval"
    assert ac.can_approve(new, "zhao", False).reason == "not_committee"
    assert ac.can_approve(entry(), "zhao", True).reason == "already_approved"


# --- the question window --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (APPROVED_AT, None),
        (datetime(2026, 12, 18, 23, 59, 59, tzinfo=ac.BEIJING), None),  # the 15th day, to its end
        (datetime(2026, 12, 19, 0, 0, tzinfo=ac.BEIJING), "question_window_closed"),
        (datetime(2026, 12, 18, 15, 59, tzinfo=UTC), None),  # 23:59 in Beijing
        (datetime(2026, 12, 18, 16, 0, tzinfo=UTC), "question_window_closed"),
        (APPROVED_AT - timedelta(seconds=1), "not_published"),
        (datetime(2026, 12, 5), "naive_time"),
    ],
)
def test_question_window(now, reason):
    assert ac.can_ask(entry(), now).reason == reason


def test_question_window_counts_the_beijing_day_of_publication():
    # approved at 2026-12-03 20:00 UTC = 2026-12-04 04:00 Beijing: the window runs to the end of 19 Dec
    e = Entry(
        "e",
        date(2026, 12, 3),
        ac.INCOME,
        "parking",
        D("1.00"),
        "x",
        "li",
        "wang",
        datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
    )
    assert ac.question_deadline(e.approved_at) == datetime(2026, 12, 20, 0, 0, tzinfo=ac.BEIJING)


def test_unpublished_entries_take_no_questions():
    assert ac.can_ask(entry(approved=False), APPROVED_AT).reason == "not_published"


# --- statements -----------------------------------------------------------------------------------


def test_monthly_statement_by_hand():
    entries = [
        entry("1200.00", entry_id="a"),
        entry("300.50", category="advertising", entry_id="b"),
        entry("450.25", ac.SPENDING, "maintenance", entry_id="c"),
        entry("999.00", entry_id="d", approved=False),  # not approved: not counted
        entry("80.00", day=date(2026, 11, 30), entry_id="e"),  # another month
    ]
    s = ac.monthly_statement(entries, 2026, 12, D("5000"))
    assert (s.opening, s.income, s.spending, s.closing, s.entries) == (
        D("5000.00"),
        D("1500.50"),
        D("450.25"),
        D("6050.25"),
        3,
    )
    assert s.income_by_category == (("advertising", D("300.50")), ("parking", D("1200.00")))
    assert ac.check_statement(s)
    assert s.as_dict()["closing"] == "6050.25" and s.as_dict()["month"] == "2026-12"


def test_a_tampered_statement_does_not_add_up():
    s = ac.monthly_statement([entry()], 2026, 12, D("0"))
    bad = ac.Statement(**{**s.__dict__, "closing": s.closing + D("0.01")})
    assert ac.check_statement(s) and not ac.check_statement(bad)


def test_statements_chain_across_the_year_end():
    entries = [
        entry("100.00", day=date(2026, 11, 5), entry_id="a"),
        entry("40.00", ac.SPENDING, "cleaning_greening", day=date(2026, 12, 5), entry_id="b"),
        entry("10.00", day=date(2027, 1, 5), entry_id="c"),
    ]
    ss = ac.statements(entries, (2026, 11), (2027, 1), D("0"))
    assert [(s.month, s.opening, s.closing) for s in ss] == [
        (11, D("0.00"), D("100.00")),
        (12, D("100.00"), D("60.00")),
        (1, D("60.00"), D("70.00")),
    ]
    with pytest.raises(ValueError):
        ac.statements(entries, (2027, 2), (2027, 1), D("0"))


def test_opening_balance_must_be_decimal():
    with pytest.raises(ValueError):
        ac.monthly_statement([], 2026, 12, 10.0)  # type: ignore[arg-type]


AMOUNTS = st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(AMOUNTS, st.sampled_from(ac.KINDS), st.integers(1, 3), st.integers(1, 28), st.booleans()),
        max_size=30,
    ),
    st.decimals(min_value=D("-1000"), max_value=D("100000"), places=2),
)
def test_statements_always_add_up(rows, opening):
    entries = [
        Entry(
            f"e{k}",
            date(2026, month, day),
            kind,
            "parking" if kind == ac.INCOME else "maintenance",
            amount,
            "x",
            "li",
            "wang" if ok else None,
            APPROVED_AT if ok else None,
        )
        for k, (amount, kind, month, day, ok) in enumerate(rows)
    ]
    ss = ac.statements(entries, (2026, 1), (2026, 3), opening)
    assert all(ac.check_statement(s) for s in ss)
    for a, b in itertools.pairwise(ss):
        assert b.opening == a.closing
    approved_net = sum((e.amount if e.kind == ac.INCOME else -e.amount for e in entries if e.approved), D(0))
    assert ss[-1].closing == opening + approved_net
