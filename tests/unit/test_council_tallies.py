"""Results: tallies per question type (expected figures worked out by hand), latest versions only,
participation by building, text listed only after review, the frozen snapshot, and hypothesis
properties against a straightforward recount."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import questions as qs
from services.council.domain import tallies as t
from services.council.domain.questions import Option, Question
from services.council.domain.tallies import AnswerRecord, EligibleFlat, Review, TallyInputError

OPTS = (Option("gate", "Gate"), Option("paint", "Paint"), Option("heat", "Heating"))
SINGLE = Question("s", qs.SINGLE, "First?", options=OPTS)
MULTI = Question("m", qs.MULTIPLE, "Which?", options=OPTS, max_selections=2)
RANK = Question("r", qs.RANKING, "Order", options=OPTS)
TOP2 = Question("t", qs.RANKING, "Top two", options=OPTS, top_k=2)
TEXT = Question("x", qs.LONG_TEXT, "Else?")
MATRIX = Question(
    "g",
    qs.MATRIX,
    "Rate",
    options=(Option("good", "Good"), Option("bad", "Bad")),
    rows=(Option("b1", "B1"), Option("b2", "B2")),
)
QUESTIONS = (SINGLE, MULTI, RANK, TOP2, TEXT, MATRIX)
CLOSED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

FLATS = [EligibleFlat(f"1-{i}", "1") for i in range(4)] + [EligibleFlat(f"2-{i}", "2") for i in range(2)]


def rec(aid: str, flat: str, version: int = 1, **answers) -> AnswerRecord:
    return AnswerRecord(aid, flat, answers, version)


RECORDS = [
    rec(
        "a",
        "1-0",
        s="gate",
        m=("gate", "heat"),
        r=("gate", "paint", "heat"),
        t=("heat", "gate"),
        x="More trees",
        g={"b1": "good", "b2": "bad"},
    ),
    rec(
        "b", "1-1", s="gate", m=["paint"], r=["paint", "gate", "heat"], t=["heat", "paint"], g=[["b1", "bad"]]
    ),
    rec("c", "2-0", s="heat", r=("gate", "heat", "paint"), x="Call me on 13800000000"),
    # flat 1-2 answers twice: only version 2 counts
    rec("d1", "1-2", 1, s="paint"),
    rec("d2", "1-2", 2, s="heat", x="   "),
]


def counts(tally) -> dict[str, int]:
    return {o.key: o.count for o in tally.options}


def test_single_and_multiple_choice_counts():
    latest = list(t.latest_records(RECORDS, FLATS).values())
    s = t.tally_question(SINGLE, latest)
    assert counts(s) == {"gate": 2, "paint": 0, "heat": 2}  # d1's "paint" is superseded
    assert (s.answered, s.skipped) == (4, 0)
    m = t.tally_question(MULTI, latest)
    assert counts(m) == {"gate": 1, "paint": 1, "heat": 1}
    assert (m.answered, m.skipped, m.selections) == (2, 2, 3)


def test_ranking_borda_points_first_places_and_positions():
    latest = list(t.latest_records(RECORDS, FLATS).values())
    r = t.tally_question(RANK, latest)
    # n = 3: rank 1 -> 2 points, rank 2 -> 1, rank 3 -> 0
    # gate: 1st, 2nd, 1st -> 5; paint: 2nd, 1st, 3rd -> 3; heat: 3rd, 3rd, 2nd -> 1
    assert [(x.key, x.borda, x.first_place, x.by_position) for x in r.ranking] == [
        ("gate", 5, 2, (2, 1, 0)),
        ("paint", 3, 1, (1, 1, 1)),
        ("heat", 1, 0, (0, 1, 2)),
    ]
    top = t.tally_question(TOP2, latest)
    # heat: 1st, 1st -> 4; gate: 2nd -> 1; paint: 2nd -> 1 (tie kept in the questionnaire's order)
    assert [(x.key, x.borda, x.first_place) for x in top.ranking] == [
        ("heat", 4, 2),
        ("gate", 1, 0),
        ("paint", 1, 0),
    ]
    assert (top.answered, top.skipped) == (2, 2)


def test_matrix_counts_per_row_from_mapping_or_pairs():
    latest = list(t.latest_records(RECORDS, FLATS).values())
    g = t.tally_question(MATRIX, latest)
    assert [(row.key, row.answered, {c.key: c.count for c in row.counts}) for row in g.rows] == [
        ("b1", 2, {"good": 1, "bad": 1}),
        ("b2", 1, {"good": 0, "bad": 1}),
    ]
    assert g.answered == 2


def test_text_is_counted_but_never_in_the_tally():
    latest = list(t.latest_records(RECORDS, FLATS).values())
    x = t.tally_question(TEXT, latest)
    assert (x.answered, x.skipped) == (2, 2)  # "   " is not an answer
    assert "More trees" not in json.dumps(x.as_dict())


def test_text_listed_only_after_review():
    nothing = t.text_listing(TEXT, RECORDS, FLATS, {})
    assert nothing == t.TextListing((), 2, 0)
    reviews = {("a", "x"): Review(True), ("c", "x"): Review(True, "Call me on [phone removed]")}
    assert t.text_listing(TEXT, RECORDS, FLATS, reviews) == t.TextListing(
        ("More trees", "Call me on [phone removed]"), 0, 0
    )
    assert t.text_listing(TEXT, RECORDS, FLATS, {("c", "x"): Review(False)}) == t.TextListing((), 1, 1)
    with pytest.raises(TallyInputError):
        t.text_listing(SINGLE, RECORDS, FLATS, {})


def test_participation_overall_and_by_building():
    overall, by_building = t.participation(FLATS, RECORDS)
    assert (overall.eligible, overall.answered, overall.missing) == (6, 4, 2)
    assert overall.rate == t.Fraction(2, 3) and overall.as_dict()["percent"] == "66.7"
    assert [(b, p.eligible, p.answered) for b, p in by_building] == [("1", 4, 3), ("2", 2, 1)]


def test_participation_of_nobody():
    overall, by_building = t.participation([], [])
    assert (overall.eligible, overall.answered, overall.rate) == (0, 0, 0) and by_building == ()


@pytest.mark.parametrize(
    ("records", "code"),
    [
        ([rec("z", "9-9", s="gate")], "unknown_flat"),
        ([rec("a", "1-0", 1, s="gate"), rec("b", "1-0", 1, s="heat")], "duplicate_version"),
    ],
)
def test_bad_records_are_refused(records, code):
    with pytest.raises(TallyInputError) as e:
        t.freeze("c1", CLOSED, QUESTIONS, FLATS, records)
    assert e.value.code == code


@pytest.mark.parametrize(
    ("question", "value"),
    [
        (SINGLE, "lift"),
        (SINGLE, ["gate", "heat"]),
        (MULTI, "gate"),
        (MULTI, ["gate", "gate"]),
        (RANK, ["gate", "heat"]),
        (TOP2, ["gate", "lift"]),
        (MATRIX, {"b9": "good"}),
        (MATRIX, {"b1": "meh"}),
        (MATRIX, 5),
        (TEXT, ["list"]),
    ],
)
def test_answers_that_do_not_fit_their_question_are_refused(question, value):
    with pytest.raises(TallyInputError) as e:
        t.tally_question(question, [rec("a", "1-0", **{question.key: value})])
    assert e.value.code == "bad_answer"


def test_freeze_builds_an_immutable_json_ready_snapshot():
    snap = t.freeze("c1", CLOSED, QUESTIONS, FLATS, RECORDS)
    assert snap.participation.answered == 4 and snap.question("s").answered == 4
    with pytest.raises(AttributeError):
        snap.questions = ()  # type: ignore[misc]
    assert isinstance(snap.questions, tuple) and isinstance(snap.by_building, tuple)
    doc = json.loads(json.dumps(snap.as_dict(), ensure_ascii=False))
    assert doc["closed_at"] == "2026-11-30T12:00:00+00:00"
    assert doc["by_building"][0] == {
        "building": "1",
        "eligible": 4,
        "answered": 3,
        "rate": "3/4",
        "percent": "75.0",
    }
    assert [q["key"] for q in doc["questions"]] == ["s", "m", "r", "t", "x", "g"]
    assert doc["questions"][2]["ranking"][0] == {
        "key": "gate",
        "label": "Gate",
        "borda": 5,
        "first_place": 2,
        "by_position": [2, 1, 0],
    }
    text = json.dumps(doc, ensure_ascii=False)
    assert "More trees" not in text and "13800000000" not in text and "1-0" not in text
    with pytest.raises(KeyError):
        snap.question("nope")


def test_freeze_refuses_a_naive_time_and_duplicate_flats():
    with pytest.raises(TallyInputError):
        t.freeze("c1", datetime(2026, 11, 30), QUESTIONS, FLATS, RECORDS)
    with pytest.raises(TallyInputError):
        t.freeze("c1", CLOSED, QUESTIONS, [*FLATS, FLATS[0]], RECORDS)


def test_percent_rounds_half_up():
    assert [t.percent(t.Fraction(n, d)) for n, d in [(1, 3), (2, 3), (1, 2000), (1, 1), (0, 1)]] == [
        "33.3",
        "66.7",
        "0.1",
        "100.0",
        "0.0",
    ]


# --- properties -----------------------------------------------------------------------------------

KEYS = [o.key for o in OPTS]


@st.composite
def answer_sets(draw):
    n = draw(st.integers(0, 12))
    flats = [EligibleFlat(f"f{i}", draw(st.sampled_from("ABC"))) for i in range(n)]
    records = []
    for i, f in enumerate(flats):
        for version in range(1, draw(st.integers(0, 3)) + 1):
            answers = {}
            if draw(st.booleans()):
                answers["s"] = draw(st.sampled_from(KEYS))
            if draw(st.booleans()):
                answers["m"] = tuple(
                    draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True))
                )
            if draw(st.booleans()):
                answers["r"] = tuple(draw(st.permutations(KEYS)))
            records.append(AnswerRecord(f"a{i}v{version}", f.flat_id, answers, version))
    return flats, draw(st.permutations(records))


@settings(max_examples=200, deadline=None)
@given(answer_sets())
def test_tallies_match_a_plain_recount_of_latest_versions(data):
    flats, records = data
    snap = t.freeze("c", CLOSED, (SINGLE, MULTI, RANK), flats, records)
    latest: dict[str, AnswerRecord] = {}
    for r in records:
        if r.flat_id not in latest or r.version > latest[r.flat_id].version:
            latest[r.flat_id] = r
    assert snap.participation.answered == len(latest) <= snap.participation.eligible == len(flats)
    assert sum(p.answered for _, p in snap.by_building) == len(latest)
    s = snap.question("s")
    assert sum(counts(s).values()) == s.answered == sum(1 for r in latest.values() if "s" in r.answers)
    assert s.answered + s.skipped == len(latest)
    m = snap.question("m")
    assert sum(counts(m).values()) == m.selections
    r = snap.question("r")
    n_ranked = sum(1 for x in latest.values() if "r" in x.answers)
    assert sum(x.borda for x in r.ranking) == n_ranked * (0 + 1 + 2)  # every ranking hands out 3 points
    assert sum(x.first_place for x in r.ranking) == n_ranked
    assert [x.borda for x in r.ranking] == sorted((x.borda for x in r.ranking), reverse=True)


@settings(max_examples=100, deadline=None)
@given(answer_sets())
def test_record_order_does_not_matter(data):
    flats, records = data
    a = t.freeze("c", CLOSED, (SINGLE, MULTI, RANK), flats, records)
    b = t.freeze("c", CLOSED, (SINGLE, MULTI, RANK), flats, list(reversed(records)))
    assert a == b
