"""Art 278 votes: the edges written out by hand (exactly 2/3, exactly 3/4, exactly 1/2, one dimension
passing while the other fails, an owner with three flats, the developer's unsold flats), bad input, and
hypothesis properties checked against an independent integer cross-multiplication oracle."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import votes as v
from services.council.domain.votes import Flat, VoteInputError, count_vote

D = Decimal
ORDINARY = 1
SPECIAL = 7


def flats_equal(n: int, area: str = "100") -> list[Flat]:
    """n flats of one owner each, all of the same area."""
    return [Flat(f"f{i}", D(area), f"o{i}") for i in range(n)]


def ballots(**by_choice: list[int]) -> dict[str, str]:
    """ballots(for_=[0, 1], against=[2]) -> {"f0": "for", ...}."""
    out: dict[str, str] = {}
    for key, idx in by_choice.items():
        for i in idx:
            out[f"f{i}"] = key.rstrip("_")
    return out


# --- the table ------------------------------------------------------------------------------------


def test_nine_items_with_labels_and_special_6_7_8():
    assert sorted(v.ITEMS) == list(range(1, 10))
    assert {n for n, it in v.ITEMS.items() if it.special} == {6, 7, 8}
    for it in v.ITEMS.values():
        assert it.zh and it.en and it.zh != it.en
        assert it.name("zh-CN") == it.zh and it.name("en") == it.en
    assert len({it.code for it in v.ITEMS.values()}) == 9


@pytest.mark.parametrize("bad", [0, 10, -1, "7", None, True, 7.0])
def test_unknown_item_refused(bad):
    with pytest.raises(VoteInputError) as e:
        count_vote(bad, flats_equal(3), {})
    assert e.value.code == "unknown_item"


# --- quorum ---------------------------------------------------------------------------------------


def test_exactly_two_thirds_meets_quorum_on_both_dimensions():
    r = count_vote(ORDINARY, flats_equal(3), ballots(for_=[0, 1]))
    assert r.area.participating == D(200) and r.area.eligible == D(300)
    assert r.headcount.participating == 2 and r.headcount.eligible == 3
    assert r.area.quorum.met and r.headcount.quorum.met
    assert r.area.quorum.required == Fraction(200) and r.headcount.quorum.minimum == 2
    assert r.outcome == v.PASSED


def test_just_below_two_thirds_area_is_no_quorum_even_with_headcount_met():
    # 3 flats: 100, 100, 100.01 -> two smallest answer: area 200 / 300.01 < 2/3, headcount 2/3.
    fl = [Flat("f0", D("100"), "a"), Flat("f1", D("100"), "b"), Flat("f2", D("100.01"), "c")]
    r = count_vote(ORDINARY, fl, ballots(for_=[0, 1]))
    assert r.headcount.quorum.met and not r.area.quorum.met
    assert r.outcome == v.NO_QUORUM and r.reason_code == "no_quorum_area"
    assert "66.6% < 2/3" in r.reason_en and "未达到三分之二" in r.reason_zh


def test_headcount_below_quorum_while_area_meets_it():
    # One big flat owner answers; two small flats do not: area 300/400 = 3/4 >= 2/3, heads 1/3.
    fl = [Flat("f0", D("300"), "a"), Flat("f1", D("50"), "b"), Flat("f2", D("50"), "c")]
    r = count_vote(ORDINARY, fl, ballots(for_=[0]))
    assert r.area.quorum.met and not r.headcount.quorum.met
    assert (r.outcome, r.reason_code) == (v.NO_QUORUM, "no_quorum_headcount")
    assert "headcount taking part 33.3% < 2/3" in r.reason_en


def test_both_below_quorum_names_both():
    r = count_vote(ORDINARY, flats_equal(10), ballots(for_=[0, 1, 2, 3, 4, 5]))
    assert (r.outcome, r.reason_code) == (v.NO_QUORUM, "no_quorum_both")
    assert "area taking part 60.0% < 2/3" in r.reason_en and "headcount taking part" in r.reason_en


def test_empty_register_is_no_quorum():
    r = count_vote(ORDINARY, [], {})
    assert (r.outcome, r.reason_code) == (v.NO_QUORUM, "no_quorum_empty_register")
    assert r.area.eligible == 0 and r.headcount.eligible == 0
    assert r.reason("zh-CN") == r.reason_zh and r.reason("en") == r.reason_en


def test_no_ballots_is_no_quorum():
    r = count_vote(SPECIAL, flats_equal(4), {})
    assert r.outcome == v.NO_QUORUM and r.reason_code == "no_quorum_both"
    assert r.area.participating == 0 and r.headcount.participating == 0


# --- passing --------------------------------------------------------------------------------------


def test_exactly_three_quarters_passes_a_special_item():
    r = count_vote(SPECIAL, flats_equal(4), ballots(for_=[0, 1, 2], against=[3]))
    assert r.area.passing.met and r.headcount.passing.met
    assert r.headcount.passing.minimum == 3 and not r.headcount.passing.strict
    assert r.outcome == v.PASSED and r.reason_code == "passed"
    assert "area in favour 75.0% ≥ 3/4" in r.reason_en and "达到四分之三" in r.reason_zh


def test_just_below_three_quarters_fails_a_special_item():
    # 8 flats: 5 for, 2 against, 1 abstain -> 5/8 = 62.5 %.
    r = count_vote(6, flats_equal(8), ballots(for_=[0, 1, 2, 3, 4], against=[5, 6], abstain=[7]))
    assert r.outcome == v.FAILED and r.reason_code == "failed_both"
    assert "62.5% < 3/4" in r.reason_en


def test_same_ballots_pass_an_ordinary_item_and_fail_a_special_one():
    b = ballots(for_=[0, 1], against=[2])
    assert count_vote(ORDINARY, flats_equal(3), b).outcome == v.PASSED
    assert count_vote(8, flats_equal(3), b).outcome == v.FAILED


def test_exactly_half_fails_an_ordinary_item():
    r = count_vote(ORDINARY, flats_equal(4), ballots(for_=[0, 1], against=[2, 3]))
    assert not r.area.passing.met and not r.headcount.passing.met
    assert r.headcount.passing.strict and r.headcount.passing.minimum == 3
    assert (r.outcome, r.reason_code) == (v.FAILED, "failed_both")
    assert "area in favour 50.0% ≤ 1/2" in r.reason_en and "未超过二分之一" in r.reason_zh


def test_abstentions_participate_but_are_not_in_favour():
    # 3 of 3 take part (quorum); 1 for, 2 abstain -> 1/3 in favour fails.
    r = count_vote(ORDINARY, flats_equal(3), ballots(for_=[0], abstain=[1, 2]))
    assert r.area.participating == D(300) and r.headcount.participating == 3
    assert r.area.abstain == D(200) and r.headcount.abstain == 2
    assert r.outcome == v.FAILED


def test_abstentions_can_make_the_quorum():
    # 2 for, 1 abstain of 4 flats: without the abstention 2/4 < 2/3, with it 3/4 >= 2/3.
    b = ballots(for_=[0, 1])
    assert count_vote(ORDINARY, flats_equal(4), b).outcome == v.NO_QUORUM
    b["f2"] = v.ABSTAIN
    r = count_vote(ORDINARY, flats_equal(4), b)
    assert r.outcome == v.PASSED  # 2/3 in favour > 1/2


def test_area_passes_while_headcount_fails():
    # Owner a holds a big flat (for); b and c small flats (against). Area 300/400 for, heads 1/3.
    fl = [Flat("f0", D("300"), "a"), Flat("f1", D("50"), "b"), Flat("f2", D("50"), "c")]
    r = count_vote(ORDINARY, fl, ballots(for_=[0], against=[1, 2]))
    assert r.area.passing.met and not r.headcount.passing.met
    assert (r.outcome, r.reason_code) == (v.FAILED, "failed_headcount")
    assert "headcount in favour 33.3% ≤ 1/2" in r.reason_en and "area" not in r.reason_en


def test_headcount_passes_while_area_fails():
    fl = [Flat("f0", D("300"), "a"), Flat("f1", D("50"), "b"), Flat("f2", D("50"), "c")]
    r = count_vote(ORDINARY, fl, ballots(against=[0], for_=[1, 2]))
    assert not r.area.passing.met and r.headcount.passing.met
    assert (r.outcome, r.reason_code) == (v.FAILED, "failed_area")
    assert r.reason_en == "failed: area in favour 25.0% ≤ 1/2"


# --- persons: several flats, the developer -------------------------------------------------------


def test_owner_with_three_flats_is_one_person_and_three_areas():
    fl = [
        Flat("a1", D("80.5"), "anna"),
        Flat("a2", D("60"), "anna"),
        Flat("a3", D("59.5"), "anna"),
        Flat("b", D("100"), "bo"),
        Flat("c", D("100"), "chen"),
    ]
    r = count_vote(ORDINARY, fl, {"a1": "for", "a2": "for", "a3": "for", "b": "against"})
    assert r.headcount.eligible == 3
    assert (r.headcount.participating, r.headcount.for_, r.headcount.against) == (2, 1, 1)
    assert (r.area.eligible, r.area.participating, r.area.for_) == (D(400), D(300), D(200))
    # area 200/300 > 1/2 but headcount 1/2 is not more than half
    assert r.reason_code == "failed_headcount"


def test_owner_with_three_flats_participates_when_one_flat_answers():
    fl = [Flat("a1", D("50"), "anna"), Flat("a2", D("50"), "anna"), Flat("a3", D("50"), "anna")]
    fl += [Flat("b", D("50"), "bo")]
    r = count_vote(ORDINARY, fl, {"a1": "for", "b": "for"})
    assert (r.headcount.eligible, r.headcount.participating, r.headcount.for_) == (2, 2, 2)
    # only the answered flat's area takes part: 100/200 < 2/3
    assert r.area.participating == D(100) and r.reason_code == "no_quorum_area"


def test_owner_whose_flats_disagree_counts_as_one_abstaining_person():
    fl = [Flat("a1", D("100"), "anna"), Flat("a2", D("50"), "anna"), Flat("a3", D("50"), "anna")]
    fl += [Flat("b", D("100"), "bo")]
    r = count_vote(ORDINARY, fl, {"a1": "for", "a2": "against", "a3": "for", "b": "for"})
    assert (r.headcount.participating, r.headcount.for_, r.headcount.against, r.headcount.abstain) == (
        2,
        1,
        0,
        1,
    )
    # area is counted flat by flat with each flat's own choice
    assert (r.area.for_, r.area.against, r.area.abstain) == (D(250), D(50), D(0))
    assert r.reason_code == "failed_headcount"  # 1 of 2 persons is not more than half


def test_owner_key_whitespace_does_not_split_a_person():
    fl = [Flat("a1", D("10"), "anna"), Flat("a2", D("10"), " anna ")]
    assert count_vote(ORDINARY, fl, {}).headcount.eligible == 1


def test_unsold_developer_flats_count_once_in_total():
    fl = [Flat(f"d{i}", D("90"), f"dev-{i}", developer_held=True) for i in range(5)]
    fl += [Flat("x", D("90"), "xu"), Flat("y", D("90"), "yang")]
    r = count_vote(SPECIAL, fl, {"d0": "for", "d1": "for", "x": "for", "y": "for", "d4": "for"})
    assert r.headcount.eligible == 3  # the developer + xu + yang
    assert r.headcount.participating == 3 and r.headcount.for_ == 3
    assert r.area.eligible == D(630) and r.area.participating == D(450)
    assert r.outcome == v.PASSED


def test_developer_flat_sharing_an_owner_key_is_still_the_developer():
    fl = [Flat("d", D("90"), "xu", developer_held=True), Flat("x", D("90"), "xu")]
    assert count_vote(ORDINARY, fl, {}).headcount.eligible == 2


def test_developer_alone_cannot_carry_the_headcount():
    # The developer holds 8 of 10 flats (area 80 %) and votes for; the two owners vote against.
    fl = [Flat(f"d{i}", D("100"), "dev", developer_held=True) for i in range(8)]
    fl += [Flat("x", D("100"), "xu"), Flat("y", D("100"), "yang")]
    b = {f"d{i}": "for" for i in range(8)} | {"x": "against", "y": "against"}
    r = count_vote(ORDINARY, fl, b)
    assert r.area.passing.met and (r.headcount.for_, r.headcount.against) == (1, 2)
    assert r.reason_code == "failed_headcount"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fl", "b", "code"),
    [
        ([Flat("f", D("-1"), "a")], {}, "bad_area"),
        ([Flat("f", D("0"), "a")], {}, "bad_area"),
        ([Flat("f", D("NaN"), "a")], {}, "bad_area"),
        ([Flat("f", 80.5, "a")], {}, "bad_area"),  # type: ignore[arg-type]
        ([Flat("f", D("1"), "a"), Flat("f", D("2"), "b")], {}, "duplicate_flat"),
        ([Flat("", D("1"), "a")], {}, "bad_flat_id"),
        ([Flat("f", D("1"), "  ")], {}, "bad_owner_key"),
        ([Flat("f", D("1"), "a")], {"g": "for"}, "unknown_flat"),
        ([Flat("f", D("1"), "a")], {"f": "yes"}, "bad_choice"),
        ([Flat("f", D("1"), "a")], {"f": None}, "bad_choice"),
    ],
)
def test_bad_input_is_a_clear_error(fl, b, code):
    with pytest.raises(VoteInputError) as e:
        count_vote(ORDINARY, fl, b)
    assert e.value.code == code and str(e.value)


def test_developer_flat_needs_no_owner_key():
    r = count_vote(ORDINARY, [Flat("d", D("1"), "", developer_held=True)], {"d": "for"})
    assert r.outcome == v.PASSED


def test_as_dict_keeps_exact_values():
    fl = [Flat("f0", D("33.33"), "a"), Flat("f1", D("33.33"), "b"), Flat("f2", D("33.34"), "c")]
    d = count_vote(ORDINARY, fl, {"f0": "for", "f1": "for"}).as_dict()
    assert d["area"]["eligible"] == "100.00" and d["area"]["for"] == "66.66"
    assert d["area"]["quorum"]["required"] == "200/3" and d["area"]["quorum"]["met"] is False
    assert d["headcount"]["quorum"]["minimum"] == 2 and d["headcount"]["quorum"]["met"] is True
    assert d["outcome"] == "no_quorum" and set(d["reason"]) == {"zh-CN", "en"}


# --- properties against an independent oracle ----------------------------------------------------

AREAS = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2, allow_nan=False, allow_infinity=False)


@st.composite
def communities(draw, max_flats: int = 14):
    n = draw(st.integers(min_value=0, max_value=max_flats))
    owners = draw(st.integers(min_value=1, max_value=max(1, n)))
    fl = [
        Flat(f"f{i}", draw(AREAS), f"o{draw(st.integers(0, owners - 1))}", draw(st.integers(0, 5)) == 0)
        for i in range(n)
    ]
    b = {f.flat_id: c for f in fl if (c := draw(st.sampled_from([*v.CHOICES, None]))) is not None}
    return fl, b


def oracle(item_number: int, fl: list[Flat], b: dict[str, str]) -> str:
    """Independent count in integer hundredths and cross-multiplication (no Fraction, no module code)."""
    if not fl:
        return v.NO_QUORUM
    cents = {f.flat_id: int(f.area * 100) for f in fl}
    total = sum(cents.values())
    part = sum(cents[k] for k in b)
    for_area = sum(cents[k] for k, c in b.items() if c == "for")
    people: dict[str, set[str]] = {}
    for f in fl:
        key = "DEV" if f.developer_held else "O:" + f.owner_key
        people.setdefault(key, set())
        if f.flat_id in b:
            people[key].add(b[f.flat_id])
    heads = len(people)
    part_h = sum(1 for s in people.values() if s)
    for_h = sum(1 for s in people.values() if s == {"for"})
    if not (3 * part >= 2 * total and 3 * part_h >= 2 * heads):
        return v.NO_QUORUM
    if item_number in (6, 7, 8):
        ok = 4 * for_area >= 3 * part and 4 * for_h >= 3 * part_h
    else:
        ok = 2 * for_area > part and 2 * for_h > part_h
    return v.PASSED if ok else v.FAILED


@settings(max_examples=400, deadline=None)
@given(communities(), st.integers(1, 9))
def test_outcome_matches_an_independent_oracle(community, item_number):
    fl, b = community
    r = count_vote(item_number, fl, b)
    assert r.outcome == oracle(item_number, fl, b)
    # the parts add up on both dimensions
    assert r.area.for_ + r.area.against + r.area.abstain == r.area.participating <= r.area.eligible
    h = r.headcount
    assert h.for_ + h.against + h.abstain == h.participating <= h.eligible


@settings(max_examples=300, deadline=None)
@given(communities(), st.integers(1, 9), st.data())
def test_adding_a_for_ballot_never_turns_passed_into_failed(community, item_number, data):
    fl, b = community
    if not fl:
        return
    before = count_vote(item_number, fl, b)
    flat = data.draw(st.sampled_from(fl))
    after = count_vote(item_number, fl, {**b, flat.flat_id: v.FOR})
    if b.get(flat.flat_id) is None:
        # a new participant: the quorum can only improve
        assert not (before.outcome != v.NO_QUORUM and after.outcome == v.NO_QUORUM)
    if before.outcome == v.PASSED:
        assert after.outcome == v.PASSED


@settings(max_examples=200, deadline=None)
@given(communities(), st.integers(1, 9))
def test_ballot_order_and_flat_order_do_not_matter(community, item_number):
    fl, b = community
    r1 = count_vote(item_number, fl, b)
    r2 = count_vote(item_number, list(reversed(fl)), dict(reversed(list(b.items()))))
    assert r1 == r2
