"""Council's page forms as data (they work without JavaScript; CSRF is checked for every POST by
shared/web's Flask-WTF protection): the register's posted fields and refusals, a flat's answers to a
consultation, a question typed by a committee member, and local date-times. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from services.council.domain import questions as qs
from services.council.domain.register import RowError
from services.council.http.register_text import reason

FLAT_FIELDS = ("area", "owner_names", "phones", "owner_key", "occupancy", "developer_held")
UPLOAD_FIELD = "file"
ALLOWED_SUFFIXES = (".csv", ".xlsx", ".txt")


def flat_values(form: Mapping[str, str]) -> dict[str, str]:
    """The edit form's fields; an unticked developer box means "no"."""
    values = {name: form.get(name, "") for name in FLAT_FIELDS if name != "developer_held"}
    values["developer_held"] = "yes" if form.get("developer_held") == "yes" else "no"
    return values


def errors_by_field(errors: Sequence[RowError]) -> dict[str, list[str]]:
    """Field id → its messages, in the reader's language."""
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(error.field or "file", []).append(reason(error))
    return out


LOCAL = ZoneInfo("Asia/Shanghai")  # the district's time: what committee members type and residents read


def field_id(question_key: str, part: str | None = None) -> str:
    """The HTML id (and name) of a question's field: "q-<key>", a matrix row "q-<key>-<row>", a rank
    "q-<key>-r<n>"."""
    return f"q-{question_key}" if part is None else f"q-{question_key}-{part}"


def answers_from_form(questions: Sequence[qs.Question], form: MultiDict) -> dict[str, Any]:
    """The raw answers (as domain/questions.py checks them) from the answering form's fields."""
    raw: dict[str, Any] = {}
    for q in questions:
        name = field_id(q.key)
        if q.kind in (qs.SINGLE, qs.SHORT_TEXT, qs.LONG_TEXT):
            raw[q.key] = form.get(name, "")
        elif q.kind == qs.MULTIPLE:
            raw[q.key] = [v for v in form.getlist(name) if v]
        elif q.kind == qs.RANKING:
            raw[q.key] = [form.get(field_id(q.key, f"r{n}"), "") for n in range(1, q.ranked_count() + 1)]
            raw[q.key] = [v for v in raw[q.key] if v]
        elif q.kind == qs.MATRIX:
            raw[q.key] = {r.key: form.get(field_id(q.key, r.key), "") for r in q.rows}
    return raw


def form_values(questions: Sequence[qs.Question], answers: dict[str, Any]) -> dict[str, Any]:
    """Stored (or submitted) answers as the template pre-fills them, by field id."""
    values: dict[str, Any] = {}
    for q in questions:
        value = answers.get(q.key)
        if value is None:
            continue
        if q.kind == qs.RANKING:
            for n, key in enumerate(value, start=1):
                values[field_id(q.key, f"r{n}")] = key
        elif q.kind == qs.MATRIX and isinstance(value, dict):
            for row, option in value.items():
                values[field_id(q.key, row)] = option
        else:
            values[field_id(q.key)] = value
    return values


def local_datetime(value: str | None) -> datetime | None:
    """A `datetime-local` input ("2026-05-06T18:30") read as the district's time; None if unreadable."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=LOCAL) if parsed.tzinfo is None else parsed


def as_local_input(value: datetime | None) -> str:
    """A stored time for a `datetime-local` input."""
    return value.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M") if value else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _int_or_none(text: str | None) -> int | str | None:
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"\d{1,4}", text) else text  # a non-number fails the domain's check


def question_from_form(form: MultiDict, existing: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A question definition from the editor's form: options and matrix rows one per line, keys made
    from their position ("o1", "r1"), the question's key the next free "qN"."""
    taken = {q["key"] for q in existing}
    n = len(existing) + 1
    while f"q{n}" in taken:
        n += 1
    kind = form.get("kind", "")
    doc: dict[str, Any] = {
        "key": f"q{n}",
        "kind": kind,
        "prompt": form.get("prompt", "").strip(),
        "mandatory": form.get("mandatory") == "yes",
    }
    if kind in qs.CHOICE_KINDS:
        doc["options"] = [
            {"key": f"o{i}", "label": label} for i, label in enumerate(_lines(form.get("options", "")), 1)
        ]
    if kind == qs.MATRIX:
        doc["rows"] = [
            {"key": f"r{i}", "label": label} for i, label in enumerate(_lines(form.get("rows", "")), 1)
        ]
    if kind == qs.MULTIPLE:
        doc["min_selections"] = _int_or_none(form.get("min_selections"))
        doc["max_selections"] = _int_or_none(form.get("max_selections"))
    if kind == qs.RANKING:
        doc["top_k"] = _int_or_none(form.get("top_k"))
    if kind in qs.TEXT_KINDS:
        doc["max_length"] = _int_or_none(form.get("max_length"))
    return {k: v for k, v in doc.items() if v is not None}
