"""Issue 15 items 1 and 2, the pure rules: how a query is read, how phones and names become keyed
hashes (never stored in plain text again), which states an ended case waits in, and its next step."""

from __future__ import annotations

import hashlib

import pytest

from services.mediation.domain import follow_up
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import search as rules

SECRET = "a-test-secret-of-enough-length-000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("(010) 6512-3456", "01065123456"),
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "13800138000"),  # full-width
        ("not a phone", ""),
        (None, ""),
    ],
)
def test_phones_are_normalised_to_their_digits(raw: str | None, expected: str) -> None:
    assert rules.normalise_phone(raw) == expected


def test_names_are_normalised_for_spaces_width_case_and_middle_dots() -> None:
    assert rules.normalise_name("Zhang  San") == rules.normalise_name("zhang san") == "zhangsan"
    assert rules.normalise_name("\uff3a\uff48\uff41\uff4e\uff47 San") == "zhangsan"  # full-width
    assert rules.normalise_name("阿卜杜·热合曼") == rules.normalise_name("阿卜杜热合曼")
    assert rules.normalise_name(" 张 三 ") == "张三"


def test_the_query_box_reads_references_phones_last_four_and_names() -> None:
    assert rules.interpret("", SECRET) is None and rules.interpret("   ", SECRET) is None
    assert rules.interpret("lc-2026-000123", SECRET) == rules.Match(rules.BY_REFERENCE, "LC-2026-000123")
    assert rules.interpret("LC-2026", SECRET).kind == rules.BY_NAME  # a reference matches whole
    phone = rules.interpret("138 0013 8000", SECRET)
    assert phone == rules.Match(rules.BY_PHONE, rules.key(SECRET, rules.BY_PHONE, "13800138000"))
    last4 = rules.interpret("8000", SECRET)
    assert last4 == rules.Match(rules.BY_PHONE_LAST4, rules.key(SECRET, rules.BY_PHONE_LAST4, "8000"))
    name = rules.interpret("张三", SECRET)
    assert name == rules.Match(rules.BY_NAME, rules.key(SECRET, rules.BY_NAME, "张三"))
    assert rules.interpret("张 三", SECRET) == name


def test_case_keys_hold_no_plain_phone_or_name_and_depend_on_the_secret() -> None:
    case = {
        "parties": [
            {"role": "applicant", "name": "张三", "phone": "13800138000"},
            {"role": "respondent", "name": "李四", "phone": None},
        ],
        "filer": {"name": "王五", "phone": "+86 139 0000 1234"},
    }
    keys = rules.case_keys(case, SECRET)
    # phone + last four for two phones, three names
    assert len(keys) == 7
    for plain in ("13800138000", "8000", "张三", "1234"):
        assert plain not in "".join(keys)
    # No unkeyed hash: without the secret the last four digits cannot be tried out.
    unkeyed = hashlib.sha256(b"8000").hexdigest()
    assert all(not unkeyed.startswith(k) for k in keys)
    assert rules.key(SECRET, rules.BY_PHONE_LAST4, "1234") in keys
    assert rules.key(SECRET, rules.BY_NAME, "王五") in keys
    other = rules.case_keys(case, "another-secret-of-enough-length-11")
    assert not set(keys) & set(other)
    assert rules.key_id(SECRET) != rules.key_id("another-secret-of-enough-length-11")


def test_state_groups_cover_every_state_once() -> None:
    groups = rules.STATE_GROUPS
    every = [s for states in groups.values() for s in states]
    assert sorted(every) == sorted(lc.STATES)
    assert groups[rules.ARCHIVED] == (lc.ARCHIVED,) and lc.FAILED in groups[rules.ENDED]


def test_ended_cases_wait_for_confirmation_follow_up_or_archiving() -> None:
    assert follow_up.waiting_for(lc.AGREEMENT_WRITTEN) == follow_up.CONFIRMATION
    assert follow_up.waiting_for(lc.CONFIRMATION_APPLIED) == follow_up.CONFIRMATION
    assert follow_up.waiting_for(lc.AGREEMENT_ORAL) == follow_up.FOLLOW_UP
    assert follow_up.waiting_for(lc.CONFIRMATION_CONFIRMED) == follow_up.FOLLOW_UP
    for state in (lc.FAILED, lc.WITHDRAWN, lc.REFERRED, lc.NOT_ACCEPTED, lc.PERFORMED, lc.MERGED):
        assert follow_up.waiting_for(state) == follow_up.ARCHIVING
    assert follow_up.waiting_for(lc.ARCHIVED) is None and follow_up.waiting_for(lc.IN_MEDIATION) is None
    assert set(follow_up.ENDED_STATES) == set(lc.CLOSED_STATES) - {lc.ARCHIVED}


def test_the_next_step_comes_from_the_lifecycle_table() -> None:
    assert follow_up.next_steps(lc.CONFIRMATION_APPLIED) == [lc.CONFIRM, lc.REJECT_CONFIRMATION]
    assert follow_up.next_steps(lc.AGREEMENT_WRITTEN)[0] == lc.APPLY_CONFIRMATION
    assert follow_up.next_steps(lc.AGREEMENT_WRITTEN)[-1] == lc.ARCHIVE
    assert follow_up.next_steps(lc.FAILED) == [lc.ARCHIVE]
    for state in follow_up.ENDED_STATES:
        for action in follow_up.next_steps(state):
            assert lc.rule_for(state, action) is not None
