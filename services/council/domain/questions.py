# ruff: noqa: RUF001
"""Questionnaire questions (征求意见): their types, the checks on a question's definition, and the checks
on a flat's answer to it.

Types and the shape of an answer (as a form or the API hands it over, before normalising):

| kind       | definition                                      | answer                           |
| ---------- | ----------------------------------------------- | -------------------------------- |
| single     | 2+ options                                      | one option key (str)             |
| multiple   | 2+ options, min_selections..max_selections      | list of distinct option keys     |
| ranking    | 2+ options, top_k (None = rank all)             | ordered list: exactly top_k keys |
| short_text | max_length (1..500, default 200), one line      | str                              |
| long_text  | max_length (1..10000, default 4000)             | str (line breaks allowed)        |
| matrix     | 1+ rows x a 2+ option scale, one choice per row | {row key: option key}            |

"Not answered" is None, "", whitespace only, [] or {}. A mandatory question must be answered (a
mandatory matrix: every row); an optional one may be left out, but what is given must be valid (an
optional matrix may answer only some rows). Text is stripped; control characters other than line
breaks and tabs are refused (they are never typed by a person and can hide text in exports).

Errors are `Problem`s with a machine code a page translates (`ANSWER_MESSAGES` and
`DEFINITION_MESSAGES` give the zh-CN and en wording with `{placeholders}` filled from `params`).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SINGLE = "single"
MULTIPLE = "multiple"
RANKING = "ranking"
SHORT_TEXT = "short_text"
LONG_TEXT = "long_text"
MATRIX = "matrix"
KINDS: tuple[str, ...] = (SINGLE, MULTIPLE, RANKING, SHORT_TEXT, LONG_TEXT, MATRIX)
CHOICE_KINDS = frozenset({SINGLE, MULTIPLE, RANKING, MATRIX})
TEXT_KINDS = frozenset({SHORT_TEXT, LONG_TEXT})

SHORT_TEXT_DEFAULT, SHORT_TEXT_LIMIT = 200, 500
LONG_TEXT_DEFAULT, LONG_TEXT_LIMIT = 4000, 10000
MAX_OPTIONS = 50
MAX_ROWS = 30
MAX_QUESTIONS = 100

# Keys travel in form field names and URLs: keep them plain.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Control characters except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Option:
    """A choice (or a matrix row): a stable key the answers store, and the label shown."""

    key: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question's definition. Only the fields of its kind are used; others must stay unset."""

    key: str
    kind: str
    prompt: str
    mandatory: bool = False
    options: tuple[Option, ...] = ()
    min_selections: int | None = None  # multiple
    max_selections: int | None = None  # multiple
    top_k: int | None = None  # ranking: rank this many (None: all)
    max_length: int | None = None  # text: None means the kind's default
    rows: tuple[Option, ...] = ()  # matrix
    help: str = ""

    def text_limit(self) -> int:
        """The effective maximum length of a text answer."""
        if self.max_length is not None:
            return self.max_length
        return SHORT_TEXT_DEFAULT if self.kind == SHORT_TEXT else LONG_TEXT_DEFAULT

    def ranked_count(self) -> int:
        """How many options a ranking answer orders."""
        return self.top_k if self.top_k is not None else len(self.options)

    def selection_bounds(self) -> tuple[int, int]:
        """(min, max) selections of a multiple-choice answer, with the defaults 1 and all options."""
        lo = self.min_selections if self.min_selections is not None else 1
        hi = self.max_selections if self.max_selections is not None else len(self.options)
        return lo, hi


@dataclass(frozen=True)
class Problem:
    """One error: which question (None: the questionnaire as a whole), a code, and its parameters."""

    question: str | None
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, language: str) -> str:
        """The error in zh-CN or en, from `ANSWER_MESSAGES`/`DEFINITION_MESSAGES`."""
        table = ANSWER_MESSAGES if self.code in ANSWER_MESSAGES else DEFINITION_MESSAGES
        zh, en = table[self.code]
        return (zh if language.lower().startswith("zh") else en).format(**self.params)


class QuestionnaireError(ValueError):
    """A questionnaire definition with problems; `problems` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.question or '*'}: {p.message('en')}" for p in problems))
        self.problems = tuple(problems)


DEFINITION_MESSAGES: dict[str, tuple[str, str]] = {
    "bad_key": (
        "问题或选项的标识不合规（小写字母、数字、-、_，最多40个字符）。",
        "Keys use a-z, 0-9, - and _ (at most 40).",
    ),
    "duplicate_question": ("问题标识重复。", "Two questions have the same key."),
    "no_questions": ("问卷至少要有一个问题。", "A questionnaire needs at least one question."),
    "too_many_questions": ("问题太多（最多{max}个）。", "Too many questions (at most {max})."),
    "unknown_kind": ("未知的问题类型。", "Unknown question type."),
    "empty_prompt": ("问题内容不能为空。", "The question text is empty."),
    "no_options": ("选择题至少需要两个选项。", "A choice question needs at least two options."),
    "too_many_options": ("选项太多（最多{max}个）。", "Too many options (at most {max})."),
    "duplicate_option": ("选项重复：{option}。", "Duplicate option: {option}."),
    "empty_option": ("选项内容不能为空。", "An option has no text."),
    "options_not_allowed": ("文本题不能有选项。", "A text question has no options."),
    "bad_bounds": ("可选数量的上下限不合理。", "The minimum/maximum number of selections is impossible."),
    "bounds_not_allowed": ("只有多选题可设可选数量。", "Only multiple choice has selection bounds."),
    "bad_top_k": (
        "排序数量须在2到选项数之间。",
        "The number to rank must be between 2 and the number of options.",
    ),
    "top_k_not_allowed": ("只有排序题可设排序数量。", "Only a ranking has a number to rank."),
    "bad_max_length": ("最大字数须在1到{max}之间。", "The maximum length must be between 1 and {max}."),
    "max_length_not_allowed": ("只有文本题可设最大字数。", "Only text questions have a maximum length."),
    "no_rows": ("矩阵题至少需要一行。", "A matrix needs at least one row."),
    "too_many_rows": ("矩阵行太多（最多{max}行）。", "Too many matrix rows (at most {max})."),
    "duplicate_row": ("矩阵行重复：{row}。", "Duplicate matrix row: {row}."),
    "rows_not_allowed": ("只有矩阵题有行。", "Only a matrix has rows."),
}

ANSWER_MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("此题必答。", "Please answer this question."),
    "wrong_type": ("答案格式不对。", "This answer has the wrong form."),
    "not_an_option": ("请从给出的选项中选择。", "Please choose one of the options given."),
    "duplicate_selection": ("同一选项只能选一次。", "Each option can be chosen once."),
    "too_few_selections": ("请至少选择{min}项。", "Please choose at least {min}."),
    "too_many_selections": ("最多只能选择{max}项。", "Please choose at most {max}."),
    "ranking_incomplete": ("请为{count}个选项排出顺序。", "Please put {count} options in order."),
    "text_too_long": ("最多{max}个字（现在{length}个）。", "At most {max} characters (now {length})."),
    "text_not_single_line": ("请写在一行内。", "Please write this on one line."),
    "text_bad_characters": ("含有不能识别的字符。", "This text has characters that cannot be used."),
    "unknown_row": ("矩阵中没有这一行。", "This row is not in the table."),
    "matrix_incomplete": ("请为每一行选择一项。", "Please choose one for every row."),
    "unknown_question": ("问卷中没有这个问题。", "There is no such question in this questionnaire."),
}  # fmt: skip


def _option_problems(q: Question, items: tuple[Option, ...], what: str) -> list[Problem]:
    """Checks shared by options and matrix rows: keys, labels, no duplicates (by key or by label)."""
    out: list[Problem] = []
    keys: set[str] = set()
    labels: set[str] = set()
    dup_code = "duplicate_option" if what == "option" else "duplicate_row"
    for o in items:
        if not isinstance(o.key, str) or not _KEY.match(o.key):
            out.append(Problem(q.key, "bad_key", {what: str(o.key)}))
        if not isinstance(o.label, str) or not o.label.strip():
            out.append(Problem(q.key, "empty_option", {what: str(o.key)}))
            continue
        label = " ".join(o.label.split()).casefold()
        if o.key in keys or label in labels:
            out.append(Problem(q.key, dup_code, {what: o.label.strip()}))
        keys.add(o.key)
        labels.add(label)
    return out


def definition_problems(q: Question) -> list[Problem]:
    """Every problem of one question's definition (empty when it is sound)."""
    out: list[Problem] = []
    if not isinstance(q.key, str) or not _KEY.match(q.key):
        out.append(Problem(q.key if isinstance(q.key, str) else None, "bad_key", {"question": str(q.key)}))
    if q.kind not in KINDS:
        return [*out, Problem(q.key, "unknown_kind", {"kind": str(q.kind)})]
    if not isinstance(q.prompt, str) or not q.prompt.strip():
        out.append(Problem(q.key, "empty_prompt"))
    n = len(q.options)
    if q.kind in CHOICE_KINDS:
        if n < 2:
            out.append(Problem(q.key, "no_options"))
        elif n > MAX_OPTIONS:
            out.append(Problem(q.key, "too_many_options", {"max": MAX_OPTIONS}))
        out += _option_problems(q, q.options, "option")
    elif n:
        out.append(Problem(q.key, "options_not_allowed"))

    if q.kind == MULTIPLE:
        lo, hi = q.selection_bounds()
        ints = all(
            x is None or (isinstance(x, int) and not isinstance(x, bool))
            for x in (q.min_selections, q.max_selections)
        )
        if not ints or lo < 0 or hi < 1 or lo > hi or hi > max(n, 1):
            out.append(Problem(q.key, "bad_bounds", {"min": lo, "max": hi}))
    elif q.min_selections is not None or q.max_selections is not None:
        out.append(Problem(q.key, "bounds_not_allowed"))

    if q.kind == RANKING:
        k = q.top_k
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 2 or k > n):
            out.append(Problem(q.key, "bad_top_k", {"top_k": k}))
    elif q.top_k is not None:
        out.append(Problem(q.key, "top_k_not_allowed"))

    if q.kind in TEXT_KINDS:
        limit = SHORT_TEXT_LIMIT if q.kind == SHORT_TEXT else LONG_TEXT_LIMIT
        m = q.max_length
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= limit):
            out.append(Problem(q.key, "bad_max_length", {"max": limit}))
    elif q.max_length is not None:
        out.append(Problem(q.key, "max_length_not_allowed"))

    if q.kind == MATRIX:
        if not q.rows:
            out.append(Problem(q.key, "no_rows"))
        elif len(q.rows) > MAX_ROWS:
            out.append(Problem(q.key, "too_many_rows", {"max": MAX_ROWS}))
        out += _option_problems(q, q.rows, "row")
    elif q.rows:
        out.append(Problem(q.key, "rows_not_allowed"))
    return out


def questionnaire_problems(questions: Sequence[Question]) -> list[Problem]:
    """Every problem of a whole questionnaire: each question's, plus duplicate keys and the count."""
    out: list[Problem] = []
    if not questions:
        out.append(Problem(None, "no_questions"))
    if len(questions) > MAX_QUESTIONS:
        out.append(Problem(None, "too_many_questions", {"max": MAX_QUESTIONS}))
    seen: set[str] = set()
    for q in questions:
        if q.key in seen:
            out.append(Problem(q.key, "duplicate_question"))
        seen.add(q.key)
        out += definition_problems(q)
    return out


def check_questionnaire(questions: Sequence[Question]) -> tuple[Question, ...]:
    """The questions as a tuple when sound; else `QuestionnaireError` listing every problem."""
    problems = questionnaire_problems(questions)
    if problems:
        raise QuestionnaireError(problems)
    return tuple(questions)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set | frozenset):
        return len(value) == 0
    return False


def _keys_list(value: Any) -> list[str] | None:
    """A list of option keys from a list/tuple of strings (a single string is not a list)."""
    if isinstance(value, list | tuple) and all(isinstance(x, str) for x in value):
        return list(value)
    return None


def check_answer(q: Question, value: Any) -> tuple[Any, Problem | None]:
    """Check one answer to `q` and normalise it.

    Returns (normalised answer or None when not answered, the first problem or None). Normalised:
    a single choice is the key; multiple choice a tuple of keys in the options' order; a ranking the
    tuple of keys in rank order; text the stripped string; a matrix a tuple of (row, option) pairs in
    the rows' order. A question left unanswered gives (None, None) unless it is mandatory.
    """
    if _blank(value):
        return None, (Problem(q.key, "required") if q.mandatory else None)
    keys = [o.key for o in q.options]
    if q.kind == SINGLE:
        if not isinstance(value, str):
            return None, Problem(q.key, "wrong_type")
        if value not in keys:
            return None, Problem(q.key, "not_an_option")
        return value, None
    if q.kind in (MULTIPLE, RANKING):
        chosen = _keys_list(value)
        if chosen is None:
            return None, Problem(q.key, "wrong_type")
        if any(c not in keys for c in chosen):
            return None, Problem(q.key, "not_an_option")
        if len(set(chosen)) != len(chosen):
            return None, Problem(q.key, "duplicate_selection")
        if q.kind == RANKING:
            if len(chosen) != q.ranked_count():
                return None, Problem(q.key, "ranking_incomplete", {"count": q.ranked_count()})
            return tuple(chosen), None
        lo, hi = q.selection_bounds()
        if len(chosen) < lo:
            return None, Problem(q.key, "too_few_selections", {"min": lo})
        if len(chosen) > hi:
            return None, Problem(q.key, "too_many_selections", {"max": hi})
        return tuple(k for k in keys if k in chosen), None
    if q.kind in TEXT_KINDS:
        if not isinstance(value, str):
            return None, Problem(q.key, "wrong_type")
        text = value.strip().replace("\r\n", "\n").replace("\r", "\n")
        if _CONTROL.search(text):
            return None, Problem(q.key, "text_bad_characters")
        if q.kind == SHORT_TEXT and "\n" in text:
            return None, Problem(q.key, "text_not_single_line")
        if len(text) > q.text_limit():
            return None, Problem(q.key, "text_too_long", {"max": q.text_limit(), "length": len(text)})
        return text, None
    if q.kind == MATRIX:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            return None, Problem(q.key, "wrong_type")
        rows = [r.key for r in q.rows]
        given = {r: c for r, c in value.items() if not _blank(c)}
        if any(r not in rows for r in given):
            return None, Problem(q.key, "unknown_row")
        if any(not isinstance(c, str) or c not in keys for c in given.values()):
            return None, Problem(q.key, "not_an_option")
        if not given:
            return None, (Problem(q.key, "required") if q.mandatory else None)
        if q.mandatory and len(given) < len(rows):
            return None, Problem(q.key, "matrix_incomplete")
        return tuple((r, given[r]) for r in rows if r in given), None
    raise ValueError(f"unknown question kind {q.kind!r}")  # a definition that skipped its check


@dataclass(frozen=True)
class SubmissionCheck:
    """The outcome of checking one flat's whole submission."""

    answers: Mapping[str, Any]  # question key -> normalised answer (unanswered questions left out)
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (the answers may be stored)."""
        return not self.problems

    def problem_for(self, question_key: str) -> Problem | None:
        """The problem of one question, for showing next to it on the page."""
        return next((p for p in self.problems if p.question == question_key), None)


def check_submission(questions: Iterable[Question], submitted: Mapping[str, Any]) -> SubmissionCheck:
    """Check a flat's answers against the questionnaire: one problem per wrong question (in the
    questionnaire's order), then one per key that is not a question. Nothing is partially accepted:
    a caller stores `answers` only when `ok`."""
    questions = tuple(questions)
    answers: dict[str, Any] = {}
    problems: list[Problem] = []
    for q in questions:
        normal, problem = check_answer(q, submitted.get(q.key))
        if problem is not None:
            problems.append(problem)
        elif normal is not None:
            answers[q.key] = normal
    known = {q.key for q in questions}
    problems += [Problem(str(k), "unknown_question") for k in submitted if k not in known]
    return SubmissionCheck(MappingProxyType(answers), tuple(problems))
