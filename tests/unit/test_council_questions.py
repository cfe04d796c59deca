# ruff: noqa: RUF001
"""Questionnaire questions: definitions refused with clear codes, answers checked per type, whole
submissions checked without partial acceptance, and every error code translatable in both languages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.council.domain import questions as qs
from services.council.domain.questions import Option, Question, QuestionnaireError

OPTS = (Option("gate", "Replace the gate"), Option("paint", "Paint the walls"), Option("heat", "Heating"))
ROWS = (Option("b1", "Building 1"), Option("b2", "Building 2"))


def codes(problems) -> list[str]:
    return [p.code for p in problems]


SINGLE = Question("q1", qs.SINGLE, "Which first?", mandatory=True, options=OPTS)
MULTI = Question("q2", qs.MULTIPLE, "Which ones?", options=OPTS, min_selections=1, max_selections=2)
RANK = Question("q3", qs.RANKING, "Order them", options=OPTS)
TOP2 = Question("q4", qs.RANKING, "Your top two", options=OPTS, top_k=2)
SHORT = Question("q5", qs.SHORT_TEXT, "Your building?", max_length=10)
LONG = Question("q6", qs.LONG_TEXT, "Anything else?")
MATRIX = Question(
    "q7",
    qs.MATRIX,
    "Rate each",
    mandatory=True,
    options=(Option("good", "Good"), Option("bad", "Bad")),
    rows=ROWS,
)
ALL = (SINGLE, MULTI, RANK, TOP2, SHORT, LONG, MATRIX)


# --- definitions ----------------------------------------------------------------------------------


def test_sound_questionnaire_passes():
    assert qs.check_questionnaire(ALL) == ALL
    assert qs.questionnaire_problems(ALL) == []


@pytest.mark.parametrize(
    ("question", "code"),
    [
        (Question("q", qs.SINGLE, "?", options=()), "no_options"),
        (Question("q", qs.SINGLE, "?", options=(Option("a", "A"),)), "no_options"),
        (Question("q", qs.SINGLE, "?", options=(Option("a", "A"), Option("a", "B"))), "duplicate_option"),
        (
            Question("q", qs.SINGLE, "?", options=(Option("a", "Yes"), Option("b", " yes "))),
            "duplicate_option",
        ),
        (Question("q", qs.SINGLE, "?", options=(Option("a", "A"), Option("b", "  "))), "empty_option"),
        (Question("q", qs.SINGLE, "?", options=(Option("a", "A"), Option("B C", "B"))), "bad_key"),
        (Question("q", qs.SINGLE, "   ", options=OPTS), "empty_prompt"),
        (Question("Q 1", qs.SINGLE, "?", options=OPTS), "bad_key"),
        (Question("q", "slider", "?"), "unknown_kind"),
        (Question("q", qs.MULTIPLE, "?", options=OPTS, min_selections=3, max_selections=2), "bad_bounds"),
        (Question("q", qs.MULTIPLE, "?", options=OPTS, max_selections=4), "bad_bounds"),
        (Question("q", qs.MULTIPLE, "?", options=OPTS, min_selections=-1), "bad_bounds"),
        (Question("q", qs.MULTIPLE, "?", options=OPTS, max_selections=0), "bad_bounds"),
        (Question("q", qs.MULTIPLE, "?", options=OPTS, max_selections=True), "bad_bounds"),
        (Question("q", qs.SINGLE, "?", options=OPTS, max_selections=2), "bounds_not_allowed"),
        (Question("q", qs.RANKING, "?", options=OPTS, top_k=1), "bad_top_k"),
        (Question("q", qs.RANKING, "?", options=OPTS, top_k=4), "bad_top_k"),
        (Question("q", qs.SINGLE, "?", options=OPTS, top_k=2), "top_k_not_allowed"),
        (Question("q", qs.SHORT_TEXT, "?", max_length=0), "bad_max_length"),
        (Question("q", qs.SHORT_TEXT, "?", max_length=501), "bad_max_length"),
        (Question("q", qs.LONG_TEXT, "?", max_length=10001), "bad_max_length"),
        (Question("q", qs.SINGLE, "?", options=OPTS, max_length=5), "max_length_not_allowed"),
        (Question("q", qs.SHORT_TEXT, "?", options=OPTS), "options_not_allowed"),
        (Question("q", qs.MATRIX, "?", options=OPTS), "no_rows"),
        (
            Question("q", qs.MATRIX, "?", options=OPTS, rows=(Option("r", "R"), Option("r", "S"))),
            "duplicate_row",
        ),
        (Question("q", qs.SINGLE, "?", options=OPTS, rows=ROWS), "rows_not_allowed"),
        (
            Question("q", qs.SINGLE, "?", options=tuple(Option(f"o{i}", str(i)) for i in range(51))),
            "too_many_options",
        ),
    ],
)
def test_bad_definition_has_a_clear_code(question, code):
    problems = qs.definition_problems(question)
    assert code in codes(problems)
    with pytest.raises(QuestionnaireError) as e:
        qs.check_questionnaire([question])
    assert code in codes(e.value.problems) and str(e.value)


def test_duplicate_question_keys_and_empty_questionnaire():
    assert codes(qs.questionnaire_problems([SINGLE, SINGLE])) == ["duplicate_question"]
    assert codes(qs.questionnaire_problems([])) == ["no_questions"]
    many = [Question(f"q{i}", qs.LONG_TEXT, "?") for i in range(101)]
    assert codes(qs.questionnaire_problems(many)) == ["too_many_questions"]


def test_every_problem_is_reported_not_only_the_first():
    bad = Question("q", qs.MULTIPLE, " ", options=(Option("a", "A"),), min_selections=2, max_selections=1)
    assert set(codes(qs.definition_problems(bad))) == {"empty_prompt", "no_options", "bad_bounds"}


# --- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "value", "expected"),
    [
        (SINGLE, "gate", "gate"),
        (MULTI, ["heat", "gate"], ("gate", "heat")),  # normalised to the options' order
        (MULTI, ("paint",), ("paint",)),
        (RANK, ["heat", "gate", "paint"], ("heat", "gate", "paint")),  # rank order kept
        (TOP2, ["paint", "heat"], ("paint", "heat")),
        (SHORT, "  Bldg 3 ", "Bldg 3"),
        (LONG, "line one\r\nline two", "line one\nline two"),
        (MATRIX, {"b2": "bad", "b1": "good"}, (("b1", "good"), ("b2", "bad"))),
    ],
)
def test_good_answers_are_normalised(question, value, expected):
    assert qs.check_answer(question, value) == (expected, None)


@pytest.mark.parametrize(
    ("question", "value", "code"),
    [
        (SINGLE, None, "required"),
        (SINGLE, "   ", "required"),
        (SINGLE, "lift", "not_an_option"),
        (SINGLE, ["gate"], "wrong_type"),
        (SINGLE, 1, "wrong_type"),
        (MULTI, "gate", "wrong_type"),
        (MULTI, ["gate", 3], "wrong_type"),
        (MULTI, ["gate", "lift"], "not_an_option"),
        (MULTI, ["gate", "gate"], "duplicate_selection"),
        (MULTI, ["gate", "paint", "heat"], "too_many_selections"),
        (RANK, ["gate", "paint"], "ranking_incomplete"),
        (RANK, ["gate", "paint", "paint"], "duplicate_selection"),
        (TOP2, ["gate", "paint", "heat"], "ranking_incomplete"),
        (TOP2, ["gate", "lift"], "not_an_option"),
        (SHORT, "12345678901", "text_too_long"),
        (SHORT, "two\nlines", "text_not_single_line"),
        (SHORT, "bell\x07", "text_bad_characters"),
        (LONG, "x" * 4001, "text_too_long"),
        (LONG, ["text"], "wrong_type"),
        (MATRIX, {"b1": "good"}, "matrix_incomplete"),
        (MATRIX, {"b1": "good", "b3": "bad"}, "unknown_row"),
        (MATRIX, {"b1": "good", "b2": "meh"}, "not_an_option"),
        (MATRIX, ["b1"], "wrong_type"),
        (MATRIX, {}, "required"),
        (MATRIX, {"b1": "", "b2": None}, "required"),
    ],
)
def test_bad_answers_have_a_code(question, value, code):
    normal, problem = qs.check_answer(question, value)
    assert normal is None and problem is not None
    assert (problem.question, problem.code) == (question.key, code)


def test_optional_questions_may_be_left_out_but_not_answered_wrongly():
    for q in (MULTI, RANK, SHORT, LONG):
        assert qs.check_answer(q, None) == (None, None)
        assert qs.check_answer(q, "") == (None, None)
    assert qs.check_answer(MULTI, []) == (None, None)
    assert qs.check_answer(MULTI, ["lift"])[1].code == "not_an_option"


def test_optional_matrix_accepts_some_rows():
    m = Question("m", qs.MATRIX, "?", options=(Option("y", "Y"), Option("n", "N")), rows=ROWS)
    assert qs.check_answer(m, {"b2": "n", "b1": ""}) == ((("b2", "n"),), None)
    assert qs.check_answer(m, {"b1": "", "b2": ""}) == (None, None)


def test_multiple_choice_minimum():
    q = Question("m", qs.MULTIPLE, "?", options=OPTS, min_selections=2)
    assert qs.check_answer(q, ["gate"])[1].code == "too_few_selections"
    assert qs.check_answer(q, ["gate"])[1].params == {"min": 2}
    assert qs.check_answer(q, ["gate", "heat", "paint"])[1] is None  # default max = all


def test_text_limits_are_counted_in_characters_not_bytes():
    assert qs.check_answer(SHORT, "三号楼三单元一零一室")[1] is None  # 10 characters, 30 bytes
    assert qs.check_answer(SHORT, "三号楼三单元一零一室A")[1].params == {"max": 10, "length": 11}


# --- submissions ----------------------------------------------------------------------------------


def test_submission_ok_keeps_answered_questions_only():
    check = qs.check_submission(ALL, {"q1": "gate", "q7": {"b1": "good", "b2": "good"}, "q6": " "})
    assert check.ok
    assert dict(check.answers) == {"q1": "gate", "q7": (("b1", "good"), ("b2", "good"))}
    with pytest.raises(TypeError):
        check.answers["q2"] = ("gate",)  # type: ignore[index]


def test_submission_lists_every_problem_in_questionnaire_order_and_stores_nothing():
    check = qs.check_submission(ALL, {"q2": ["lift"], "q5": "far too long text", "q99": "x"})
    assert not check.ok
    assert [(p.question, p.code) for p in check.problems] == [
        ("q1", "required"),
        ("q2", "not_an_option"),
        ("q5", "text_too_long"),
        ("q7", "required"),
        ("q99", "unknown_question"),
    ]
    assert check.problem_for("q5").code == "text_too_long" and check.problem_for("q3") is None


def test_every_code_has_both_languages_with_its_placeholders():
    for table in (qs.ANSWER_MESSAGES, qs.DEFINITION_MESSAGES):
        for zh, en in table.values():
            assert zh and en and zh != en
    p = qs.Problem("q", "text_too_long", {"max": 10, "length": 12})
    assert p.message("zh-CN") == "最多10个字（现在12个）。"
    assert p.message("en") == "At most 10 characters (now 12)."
    # every code the module can produce is in a table
    for code in ("required", "ranking_incomplete", "matrix_incomplete", "unknown_question"):
        assert code in qs.ANSWER_MESSAGES


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([o.key for o in OPTS] + ["lift", ""]), max_size=5))
def test_multiple_choice_accepts_exactly_the_valid_selections(chosen):
    normal, problem = qs.check_answer(MULTI, chosen)
    valid = (
        all(c in {"gate", "paint", "heat"} for c in chosen)
        and len(set(chosen)) == len(chosen)
        and 1 <= len(chosen) <= 2
    )
    if not chosen:
        assert (normal, problem) == (None, None)
    elif valid:
        assert problem is None and set(normal) == set(chosen)
    else:
        assert normal is None and problem is not None


@settings(max_examples=300, deadline=None)
@given(st.permutations([o.key for o in OPTS]), st.integers(0, 3))
def test_ranking_accepts_any_permutation_prefix_of_the_right_length(perm, k):
    normal, problem = qs.check_answer(TOP2, perm[:k])
    if k == 0:
        assert (normal, problem) == (None, None)
    elif k == 2:
        assert normal == tuple(perm[:2]) and problem is None
    else:
        assert problem.code == "ranking_incomplete"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_short_text_never_accepts_what_it_should_refuse(text):
    normal, problem = qs.check_answer(SHORT, text)
    if problem is None and normal is not None:
        assert len(normal) <= 10 and "\n" not in normal and normal == normal.strip()
        assert not any(ord(c) < 32 and c not in "\t" for c in normal)
