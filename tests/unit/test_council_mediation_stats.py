"""The mediation statistics fold: the category table against shared/taxonomy.py and the brief's 15
lines, a worked example at three levels, Beijing month edges, rates, and hypothesis properties:
any order, any repetition -> the same figures; quarters from months = quarters directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import mediation_stats as ms
from services.council.domain.mediation_stats import (
    AgreementPerformed,
    CaseAccepted,
    CaseEnded,
    CaseReceived,
    PatrolVisit,
    StatsInputError,
)
from shared.taxonomy import CATEGORY_CODES

BRIEF_15 = (
    "婚姻家庭, 邻里, 房屋宅基地, 合同, 生产经营, 损害赔偿, 山林土地, 征地拆迁, "
    "环境污染, 劳动争议, 消费, 医疗, 道路交通事故, 物业, 其它"
)


def t(day: int, month: int = 11, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ms.BEIJING)


def test_fifteen_categories_as_in_the_brief():
    assert [zh for zh, _ in ms.MOJ_CATEGORIES.values()] == BRIEF_15.split(", ")


def test_every_taxonomy_code_maps_to_a_moj_category():
    assert set(ms.MOJ_OF_TAXONOMY) == set(CATEGORY_CODES)
    assert set(ms.MOJ_OF_TAXONOMY.values()) <= set(ms.MOJ_CATEGORIES)
    assert (
        ms.MOJ_OF_TAXONOMY["village_affairs"] == "other"
        and ms.MOJ_OF_TAXONOMY["housing"] == "housing_homestead"
    )


FACTS = [
    CaseReceived("m1", "c1", t(2), "neighbours", ms.APPLICATION, "lianhua", "qinghe", 2),
    CaseAccepted("m2", "c1", t(3)),
    CaseEnded("m3", "c1", t(20), "agreement_written", criminal_prevented_persons=2),
    AgreementPerformed("m4", "c1", t(5, 12)),
    CaseReceived("m5", "c2", t(10), "housing", ms.OWN_INITIATIVE, "heping", "qinghe", 5),
    CaseAccepted("m6", "c2", t(11)),
    CaseEnded("m7", "c2", t(20, 12), "failed", petition_prevented_persons=12),
    CaseReceived("m8", "c3", t(12), "labour", ms.REFERRED, "binhe", "nanhu", 30),
    CaseEnded("m9", "c3", t(13), "referred"),
    PatrolVisit("m10", t(14), "lianhua", "qinghe", found_early=True),
    PatrolVisit("m11", t(15), "lianhua", "qinghe"),
]


def test_worked_example_at_three_levels():
    fig = ms.figures(ms.fold_all(FACTS))
    lianhua = fig[("community", "lianhua", "2026-11")]
    assert (lianhua.received, lianhua.persons, lianhua.accepted, lianhua.settled, lianhua.ended) == (
        1,
        2,
        1,
        1,
        1,
    )
    assert (lianhua.criminal_prevented_cases, lianhua.criminal_prevented_persons) == (1, 2)
    assert (lianhua.patrol_visits, lianhua.found_early) == (2, 1)
    assert dict(lianhua.received_by_category)["neighbours"] == 1
    assert lianhua.close_days == (18,) and lianhua.success_rate == 1

    qinghe = fig[("street", "qinghe", "2026-11")]
    assert (qinghe.received, qinghe.persons, qinghe.accepted, qinghe.ended) == (2, 7, 2, 1)
    assert dict(qinghe.received_by_source) == {"application": 1, "own_initiative": 1, "referred": 0}
    assert dict(qinghe.received_by_category)["housing_homestead"] == 1

    dec = fig[("street", "qinghe", "2026-12")]
    assert (
        dec.received,
        dec.failed,
        dec.performed,
        dec.petitions_prevented_cases,
        dec.petitions_prevented_persons,
    ) == (
        0,
        1,
        1,
        1,
        12,
    )
    assert dec.close_days == (40,) and dec.success_rate == 0 and dec.closed_within_month == 0

    district = fig[("district", "district", "2026-11")]
    assert (district.received, district.persons, district.ended, district.settled, district.failed) == (
        3,
        37,
        2,
        1,
        0,
    )
    # a referral ended the case without mediation to an end: neither settled nor failed
    assert district.success_rate == 1 and district.median_days_to_close == Fraction(18 + 1, 2)
    assert district.closed_within_month == 1
    assert len(district.received_by_category) == 15
    assert sum(n for _, n in district.received_by_category) == district.received


def test_month_is_the_beijing_month():
    # 30 Nov 17:00 UTC is 1 Dec 01:00 in Beijing
    f = CaseReceived("m", "c", datetime(2026, 11, 30, 17, tzinfo=UTC), "other", ms.APPLICATION, "x", "y", 1)
    assert set(k[2] for k in ms.figures(ms.fold_all([f]))) == {"2026-12"}
    assert ms.month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"


def test_an_ending_before_its_receipt_counts_once_the_receipt_arrives():
    ended_first = ms.fold_all([CaseEnded("e", "c", t(20), "agreement_oral")])
    assert ms.figures(ended_first) == {}
    both = ms.fold(ended_first, CaseReceived("r", "c", t(1), "other", ms.APPLICATION, "x", "y", 1))
    assert ms.figures(both)[("community", "x", "2026-11")].settled == 1


def test_same_message_twice_is_one_fact_and_state_is_immutable():
    s1 = ms.fold_all(FACTS)
    s2 = ms.fold_all(FACTS + FACTS[:4])
    assert s1 == s2 and ms.figures(s1) == ms.figures(s2)
    with pytest.raises(TypeError):
        s1.facts["x"] = FACTS[0]  # type: ignore[index]


def test_median_of_an_even_and_odd_count_and_empty_rates():
    f = ms.Figures(close_days=(3, 10, 31, 40))
    assert f.median_days_to_close == Fraction(41, 2) and f.closed_within_month == Fraction(1, 2)
    assert ms.Figures(close_days=(1, 2, 90)).median_days_to_close == 2
    empty = ms.Figures()
    assert (empty.success_rate, empty.median_days_to_close, empty.closed_within_month) == (None, None, None)


def test_public_dict_has_no_per_case_data():
    fig = ms.figures(ms.fold_all(FACTS))[("district", "district", "2026-11")]
    d = fig.public_dict()
    assert "close_days" not in d and d["success_rate"] == "1" and d["median_days_to_close"] == "19/2"
    assert "c1" not in str(d)


@pytest.mark.parametrize(
    "fact",
    [
        CaseReceived("m", "c", t(1), "pets", ms.APPLICATION, "x", "y", 1),
        CaseReceived("m", "c", t(1), "other", "hotline", "x", "y", 1),
        CaseReceived("m", "c", t(1), "other", ms.APPLICATION, "x", "y", -1),
        CaseReceived("m", "c", datetime(2026, 11, 1), "other", ms.APPLICATION, "x", "y", 1),
        CaseEnded("m", "c", t(1), "settled"),
        CaseEnded("m", "c", t(1), "failed", criminal_prevented_persons=-1),
    ],
)
def test_bad_facts_are_refused(fact):
    with pytest.raises(StatsInputError):
        ms.fold(ms.State(), fact)


def test_period_must_be_month_or_quarter():
    with pytest.raises(ValueError):
        ms.figures(ms.State(), period="week")


# --- properties -----------------------------------------------------------------------------------

PLACES = [("lianhua", "qinghe"), ("heping", "qinghe"), ("binhe", "nanhu")]
BASE = datetime(2026, 1, 1, tzinfo=ms.BEIJING)


@st.composite
def fact_streams(draw):
    facts: list[ms.Fact] = []
    n = draw(st.integers(0, 12))
    for i in range(n):
        community, street = draw(st.sampled_from(PLACES))
        start = BASE + timedelta(hours=draw(st.integers(0, 24 * 300)))
        facts.append(
            CaseReceived(
                f"r{i}",
                f"c{i}",
                start,
                draw(st.sampled_from(sorted(ms.MOJ_OF_TAXONOMY))),
                draw(st.sampled_from(sorted(ms.SOURCES))),
                community,
                street,
                draw(st.integers(1, 20)),
            )
        )
        if draw(st.booleans()):
            facts.append(CaseAccepted(f"a{i}", f"c{i}", start + timedelta(days=draw(st.integers(0, 5)))))
        if draw(st.booleans()):
            outcome = draw(st.sampled_from(sorted(ms.OUTCOMES)))
            facts.append(
                CaseEnded(
                    f"e{i}",
                    f"c{i}",
                    start + timedelta(days=draw(st.integers(0, 80))),
                    outcome,
                    draw(st.sampled_from([0, 0, 3])),
                    draw(st.sampled_from([0, 0, 15])),
                )
            )
            if outcome in ms.SETTLED_OUTCOMES and draw(st.booleans()):
                facts.append(AgreementPerformed(f"p{i}", f"c{i}", start + timedelta(days=90)))
    for k in range(draw(st.integers(0, 4))):
        community, street = draw(st.sampled_from(PLACES))
        at = BASE + timedelta(days=draw(st.integers(0, 300)))
        facts.append(PatrolVisit(f"v{k}", at, community, street, draw(st.booleans())))
    return facts


@settings(max_examples=150, deadline=None)
@given(fact_streams(), st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_give_the_same_figures(facts, rnd):
    once = ms.figures(ms.fold_all(facts))
    replay = facts + rnd.sample(facts, k=len(facts) // 2)
    rnd.shuffle(replay)
    assert ms.figures(ms.fold_all(replay)) == once


@settings(max_examples=150, deadline=None)
@given(fact_streams())
def test_levels_add_up_and_quarters_from_months_equal_quarters_directly(facts):
    state = ms.fold_all(facts)
    monthly = ms.figures(state)
    assert ms.to_quarter(monthly) == ms.figures(state, period="quarter")
    periods = {k[2] for k in monthly}
    for p in periods:
        communities = [f for (lvl, _, q), f in monthly.items() if lvl == "community" and q == p]
        streets = [f for (lvl, _, q), f in monthly.items() if lvl == "street" and q == p]
        district = monthly[("district", "district", p)]
        assert ms.combine(communities) == ms.combine(streets) == ms.combine([district])
    n_received = sum(1 for f in facts if isinstance(f, CaseReceived))
    assert sum(f.received for (lvl, _, _), f in monthly.items() if lvl == "district") == n_received
