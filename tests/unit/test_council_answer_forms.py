"""Reading the answering form and the question editor's form (pure: no database, no request)."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from services.council.domain import questions as qs
from services.council.http.forms import answers_from_form, form_values, local_datetime, question_from_form

OPTS = (qs.Option("a", "甲"), qs.Option("b", "乙"), qs.Option("c", "丙"))
QUESTIONS = (
    qs.Question("one", qs.SINGLE, "单选", options=OPTS),
    qs.Question("many", qs.MULTIPLE, "多选", options=OPTS),
    qs.Question("rank", qs.RANKING, "排序", options=OPTS, top_k=2),
    qs.Question(
        "grid", qs.MATRIX, "矩阵", options=OPTS[:2], rows=(qs.Option("x", "行一"), qs.Option("y", "行二"))
    ),
    qs.Question("note", qs.SHORT_TEXT, "备注"),
)


def test_answers_from_the_form_have_the_shapes_the_domain_checks() -> None:
    pairs = [("q-one", "b"), ("q-many", "a"), ("q-many", "c"), ("q-rank-r1", "c"), ("q-rank-r2", "a")]
    form = MultiDict([*pairs, ("q-grid-x", "b"), ("q-note", " 好 ")])
    raw = answers_from_form(QUESTIONS, form)
    assert raw == {
        "one": "b",
        "many": ["a", "c"],
        "rank": ["c", "a"],
        "grid": {"x": "b", "y": ""},
        "note": " 好 ",
    }
    check = qs.check_submission(QUESTIONS, raw)
    assert check.ok and check.answers["grid"] == (("x", "b"),) and check.answers["note"] == "好"


def test_a_half_filled_ranking_is_incomplete_for_the_domain() -> None:
    raw = answers_from_form(QUESTIONS, MultiDict([("q-rank-r1", "a")]))
    problem = qs.check_submission(QUESTIONS, raw).problem_for("rank")
    assert problem is not None and problem.code == "ranking_incomplete"


def test_stored_answers_prefill_the_fields() -> None:
    values = form_values(QUESTIONS, {"one": "a", "rank": ["b", "c"], "grid": {"y": "a"}, "many": ["a"]})
    assert values == {"q-one": "a", "q-rank-r1": "b", "q-rank-r2": "c", "q-grid-y": "a", "q-many": ["a"]}


def test_the_question_editor_makes_keys_from_positions() -> None:
    form = MultiDict(
        {"kind": "matrix", "prompt": " 评价 ", "mandatory": "yes", "options": "好\n\n差\n", "rows": "保洁"}
    )
    doc = question_from_form(form, [{"key": "q1"}, {"key": "q3"}])
    assert doc["key"] == "q4" and doc["prompt"] == "评价" and doc["mandatory"] is True
    assert doc["options"] == [{"key": "o1", "label": "好"}, {"key": "o2", "label": "差"}]
    assert doc["rows"] == [{"key": "r1", "label": "保洁"}]
    bounds = question_from_form(MultiDict({"kind": "multiple", "max_selections": "x2"}), [])
    assert bounds["max_selections"] == "x2"  # left for the domain's check to refuse


def test_local_times_are_beijing_time() -> None:
    parsed = local_datetime("2026-05-06T18:30")
    assert parsed is not None and parsed.utcoffset().total_seconds() == 8 * 3600
    assert local_datetime("tomorrow") is None and local_datetime("") is None
