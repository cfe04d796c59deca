"""A questionnaire's results: per-question tallies and participation, and the frozen snapshot taken
at closing.

Input is the register's eligible flats (id and building, as at opening) and the answer records: one
per flat and version (a web answer may be changed until closing; every version is kept). Only each
flat's **latest version** counts. Answers are in the normalised form of `questions.check_answer`
(lists are accepted for tuples and a mapping for a matrix, as a database hands them back).

Tallies:
- single / multiple choice: a count per option (every option listed, zeros included), the number of
  flats that answered the question and that skipped it; multiple choice also the selections made.
- ranking: **Borda points** — with n options, rank 1 earns n-1 points, rank 2 n-2, ... and an option a
  flat did not rank (top-k rankings) earns 0 — plus first-place counts and counts per position.
- matrix: for each row, a count per scale option and how many answered that row.
- short / long text: only **counted** here. The texts themselves may hold personal data, so they are
  never part of the snapshot: `text_listing` lists those a committee member has reviewed and released
  (possibly redacted), at display time, from the stored answers and reviews.
- participation: answered / eligible flats, overall and by building (a flat answered when it has a
  record, even one that skipped every optional question). Never who answered what.

`freeze` builds the immutable `ResultSnapshot` at closing (tuples, frozen dataclasses, exact
`Fraction` rates) with `as_dict()` for storing and publishing. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from services.council.domain import questions as qs
from services.council.domain.questions import Question


class TallyInputError(ValueError):
    """Answer records that cannot be counted (unknown flat, repeated version, an answer that does not
    fit its question); `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class EligibleFlat:
    """A flat entitled to answer, with its building (for participation by building)."""

    flat_id: str
    building: str


@dataclass(frozen=True)
class AnswerRecord:
    """One stored version of a flat's answers. `answer_id` is the record's own anonymous id (text
    reviews refer to it); `answers` maps a question key to its normalised answer."""

    answer_id: str
    flat_id: str
    answers: Mapping[str, Any]
    version: int = 1


@dataclass(frozen=True)
class Review:
    """A committee member's decision on one free-text answer: release it (optionally redacted) or not."""

    publish: bool
    text: str | None = None  # the redacted text to show; None shows the answer as written


def percent(rate: Fraction) -> str:
    """A rate as a percentage with one decimal, rounded half up (2/3 -> "66.7")."""
    tenths = rate * 1000
    n = int(tenths) + (1 if tenths - int(tenths) >= Fraction(1, 2) else 0)
    return f"{n // 10}.{n % 10}"


def _rate(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole else Fraction(0)


@dataclass(frozen=True)
class Participation:
    """Answered of eligible flats."""

    eligible: int
    answered: int

    @property
    def rate(self) -> Fraction:
        """answered / eligible (0 when nobody is eligible)."""
        return _rate(self.answered, self.eligible)

    @property
    def missing(self) -> int:
        """Flats that have not answered."""
        return self.eligible - self.answered

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "eligible": self.eligible,
            "answered": self.answered,
            "rate": str(self.rate),
            "percent": percent(self.rate),
        }


@dataclass(frozen=True)
class OptionCount:
    """How many flats chose one option (or one scale value in a matrix row)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class RankScore:
    """One option's ranking result."""

    key: str
    label: str
    borda: int
    first_place: int
    by_position: tuple[int, ...]  # how many flats put it at rank 1, 2, ...


@dataclass(frozen=True)
class RowTally:
    """One matrix row's counts."""

    key: str
    label: str
    answered: int
    counts: tuple[OptionCount, ...]


@dataclass(frozen=True)
class QuestionTally:
    """The result of one question. Only the fields of its kind are filled."""

    key: str
    kind: str
    prompt: str
    answered: int
    skipped: int
    options: tuple[OptionCount, ...] = ()  # single, multiple
    selections: int = 0  # multiple: options chosen in total
    ranking: tuple[RankScore, ...] = ()  # ranking, highest Borda points first
    rows: tuple[RowTally, ...] = ()  # matrix

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (text questions give counts only)."""
        out: dict[str, Any] = {
            "key": self.key,
            "kind": self.kind,
            "prompt": self.prompt,
            "answered": self.answered,
            "skipped": self.skipped,
        }
        if self.kind in (qs.SINGLE, qs.MULTIPLE):
            out["options"] = [{"key": o.key, "label": o.label, "count": o.count} for o in self.options]
        if self.kind == qs.MULTIPLE:
            out["selections"] = self.selections
        if self.kind == qs.RANKING:
            out["ranking"] = [
                {
                    "key": r.key,
                    "label": r.label,
                    "borda": r.borda,
                    "first_place": r.first_place,
                    "by_position": list(r.by_position),
                }
                for r in self.ranking
            ]
        if self.kind == qs.MATRIX:
            out["rows"] = [
                {
                    "key": r.key,
                    "label": r.label,
                    "answered": r.answered,
                    "counts": [{"key": c.key, "label": c.label, "count": c.count} for c in r.counts],
                }
                for r in self.rows
            ]
        return out


def latest_records(
    records: Iterable[AnswerRecord], eligible: Iterable[EligibleFlat]
) -> dict[str, AnswerRecord]:
    """Each answering flat's latest version, by flat id. Refuses a record of a flat that is not
    eligible and two records with the same flat and version (the store's uniqueness was broken)."""
    flats = {f.flat_id for f in eligible}
    latest: dict[str, AnswerRecord] = {}
    for r in records:
        if r.flat_id not in flats:
            raise TallyInputError(
                "unknown_flat", f"answer {r.answer_id} is from flat {r.flat_id!r}, not eligible"
            )
        seen = latest.get(r.flat_id)
        if seen is not None and seen.version == r.version:
            raise TallyInputError(
                "duplicate_version", f"flat {r.flat_id} has two answers of version {r.version}"
            )
        if seen is None or r.version > seen.version:
            latest[r.flat_id] = r
    return latest


def participation(
    eligible: Sequence[EligibleFlat], records: Iterable[AnswerRecord]
) -> tuple[Participation, tuple[tuple[str, Participation], ...]]:
    """(overall, by building sorted by building) answered / eligible flats."""
    answered = set(latest_records(records, eligible))
    buildings: dict[str, list[int]] = {}
    for f in eligible:
        counts = buildings.setdefault(f.building, [0, 0])
        counts[0] += 1
        counts[1] += f.flat_id in answered
    by_building = tuple((b, Participation(e, a)) for b, (e, a) in sorted(buildings.items()))
    return Participation(len(eligible), len(answered)), by_building


def _blank(value: Any) -> bool:
    """Not answered: None, blank text, or an empty list/mapping."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | tuple | Mapping) and len(value) == 0)


def _bad(q: Question, r: AnswerRecord) -> TallyInputError:
    return TallyInputError(
        "bad_answer", f"answer {r.answer_id} to question {q.key} does not fit the question"
    )


def _keys(q: Question, r: AnswerRecord, value: Any) -> tuple[str, ...]:
    keys = {o.key for o in q.options}
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _bad(q, r)
    if any(k not in keys for k in value) or len(set(value)) != len(value):
        raise _bad(q, r)
    return tuple(value)


def _matrix(q: Question, r: AnswerRecord, value: Any) -> dict[str, str]:
    try:
        pairs = dict(value.items() if isinstance(value, Mapping) else value)
    except (TypeError, ValueError):
        raise _bad(q, r) from None
    rows = {row.key for row in q.rows}
    keys = {o.key for o in q.options}
    if any(k not in rows or v not in keys for k, v in pairs.items()):
        raise _bad(q, r)
    return pairs


def tally_question(q: Question, answers: Sequence[AnswerRecord]) -> QuestionTally:
    """Count one question over the flats' latest answer records."""
    given = [(r, r.answers.get(q.key)) for r in answers]
    given = [(r, v) for r, v in given if not _blank(v)]
    answered, skipped = len(given), len(answers) - len(given)
    if q.kind in (qs.SINGLE, qs.MULTIPLE):
        counts = dict.fromkeys((o.key for o in q.options), 0)
        selections = 0
        for r, v in given:
            chosen = (v,) if q.kind == qs.SINGLE and isinstance(v, str) else _keys(q, r, v)
            if q.kind == qs.SINGLE and (len(chosen) != 1 or chosen[0] not in counts):
                raise _bad(q, r)
            for k in chosen:
                counts[k] += 1
            selections += len(chosen)
        options = tuple(OptionCount(o.key, o.label, counts[o.key]) for o in q.options)
        return QuestionTally(
            q.key, q.kind, q.prompt, answered, skipped, options=options, selections=selections
        )
    if q.kind == qs.RANKING:
        n = len(q.options)
        positions = {o.key: [0] * q.ranked_count() for o in q.options}
        for r, v in given:
            ranked = _keys(q, r, v)
            if len(ranked) != q.ranked_count():
                raise _bad(q, r)
            for i, k in enumerate(ranked):
                positions[k][i] += 1
        scores = [
            RankScore(
                o.key,
                o.label,
                sum((n - 1 - i) * c for i, c in enumerate(positions[o.key])),
                positions[o.key][0],
                tuple(positions[o.key]),
            )
            for o in q.options
        ]
        # Highest points first; ties by first places, then the questionnaire's own order (stable sort).
        scores.sort(key=lambda s: (-s.borda, -s.first_place))
        return QuestionTally(q.key, q.kind, q.prompt, answered, skipped, ranking=tuple(scores))
    if q.kind == qs.MATRIX:
        per_row = {row.key: dict.fromkeys((o.key for o in q.options), 0) for row in q.rows}
        for r, v in given:
            for row, choice in _matrix(q, r, v).items():
                per_row[row][choice] += 1
        rows = tuple(
            RowTally(
                row.key,
                row.label,
                sum(per_row[row.key].values()),
                tuple(OptionCount(o.key, o.label, per_row[row.key][o.key]) for o in q.options),
            )
            for row in q.rows
        )
        return QuestionTally(q.key, q.kind, q.prompt, answered, skipped, rows=rows)
    if q.kind in qs.TEXT_KINDS:
        for r, v in given:
            if not isinstance(v, str):
                raise _bad(q, r)
        return QuestionTally(q.key, q.kind, q.prompt, answered, skipped)
    raise TallyInputError("unknown_kind", f"question {q.key} has an unknown kind {q.kind!r}")


@dataclass(frozen=True)
class TextListing:
    """The free-text answers of one question as far as they may be shown."""

    published: tuple[str, ...]  # released by a reviewer (redacted where they gave a text)
    pending: int  # not reviewed yet: not shown
    withheld: int  # reviewed and not released


def text_listing(
    q: Question,
    records: Iterable[AnswerRecord],
    eligible: Iterable[EligibleFlat],
    reviews: Mapping[tuple[str, str], Review],
) -> TextListing:
    """The reviewed texts of a text question `q`, from the latest answers; `reviews` is keyed by
    (answer_id, question key). Texts appear in a stable order (by answer id), never with the flat."""
    if q.kind not in qs.TEXT_KINDS:
        raise TallyInputError("not_text", f"question {q.key} is not a text question")
    latest = sorted(latest_records(records, eligible).values(), key=lambda r: r.answer_id)
    published: list[str] = []
    pending = withheld = 0
    for r in latest:
        text = r.answers.get(q.key)
        if not isinstance(text, str) or not text.strip():
            continue
        review = reviews.get((r.answer_id, q.key))
        if review is None:
            pending += 1
        elif not review.publish:
            withheld += 1
        else:
            published.append(review.text if review.text is not None else text)
    return TextListing(tuple(published), pending, withheld)


@dataclass(frozen=True)
class ResultSnapshot:
    """A consultation's results as frozen at closing."""

    consultation_id: str
    closed_at: datetime
    participation: Participation
    by_building: tuple[tuple[str, Participation], ...]
    questions: tuple[QuestionTally, ...]

    def question(self, key: str) -> QuestionTally:
        """The tally of one question (KeyError when there is none)."""
        for t in self.questions:
            if t.key == key:
                return t
        raise KeyError(key)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form to store once and publish as is."""
        return {
            "consultation_id": self.consultation_id,
            "closed_at": self.closed_at.isoformat(),
            "participation": self.participation.as_dict(),
            "by_building": [{"building": b, **p.as_dict()} for b, p in self.by_building],
            "questions": [t.as_dict() for t in self.questions],
        }


def freeze(
    consultation_id: str,
    closed_at: datetime,
    questions: Sequence[Question],
    eligible: Sequence[EligibleFlat],
    records: Iterable[AnswerRecord],
) -> ResultSnapshot:
    """The immutable result snapshot at closing: participation and every question's tally from each
    flat's latest answer. `closed_at` must be timezone-aware (results are compared across services)."""
    if closed_at.tzinfo is None:
        raise TallyInputError("naive_time", "closed_at must carry a timezone")
    if len({f.flat_id for f in eligible}) != len(eligible):
        raise TallyInputError("duplicate_flat", "a flat is eligible twice")
    records = list(records)
    latest = list(latest_records(records, eligible).values())
    overall, by_building = participation(eligible, records)
    tallies = tuple(tally_question(q, latest) for q in questions)
    return ResultSnapshot(consultation_id, closed_at, overall, by_building, tallies)
