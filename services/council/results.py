"""A consultation's results: the snapshot frozen at closing, the committee's review of free-text
answers, the public and staff views of the result, and the export of the anonymous answers.

The seam with the answering side (council-contract.md): `consultations.close` calls `freeze` inside
its transaction and stores what it returns as `consultation.result`. Nothing here changes a ballot.

Re-identification (the export and the published texts):
- rows carry no flat id, no slip number, no channel and no time (a paper slip or the hour of an
  answer can point at one household), and are ordered by a keyed hash, not by flat or time;
- the building is shown only for buildings with at least `MIN_GROUP` answers; the others are merged
  into one "other buildings" group, and when that group itself would hold fewer than `MIN_GROUP`
  answers, the smallest named buildings join it until it does (otherwise a single small building
  could be read off by elimination);
- area is never exported (exact areas single out flats);
- free text appears only as a committee member released it (possibly redacted), else a marker.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pymongo.client_session import ClientSession

from services.council import access
from services.council.bootstrap import Council
from services.council.domain import questions as qs
from services.council.domain import tallies, votes
from shared.auth import Staff
from shared.messaging.envelope import new_id, utcnow

log = logging.getLogger(__name__)

MIN_GROUP = 5  # a building with fewer answers than this is not named in an export
OTHER_BUILDINGS = "other"
# Markers put in an export's text cells instead of texts nobody released.
TEXT_PENDING = "[not reviewed]"
TEXT_WITHHELD = "[withheld]"


class NotFound(LookupError):
    """No such consultation (or none this member of staff may see)."""


class Forbidden(PermissionError):
    """This member of staff may not do that."""


class NotClosed(ValueError):
    """Results exist only once a consultation is closed."""


class BadReview(ValueError):
    """A review that names an unknown question or answer, or has no decision."""


# --- reading what the answering side stored ---------------------------------------------------------


def _text(value: Any, language: str = "zh-CN") -> str:
    """A stored label: plain text, or {"zh-CN": ..., "en": ...} localised (zh-CN as fallback)."""
    if isinstance(value, Mapping):
        return str(value.get(language) or value.get("zh-CN") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _options(items: Iterable[Any], language: str) -> tuple[qs.Option, ...]:
    return tuple(qs.Option(str(o["key"]), _text(o.get("label"), language)) for o in items or ())


def question_of(doc: Mapping[str, Any], language: str = "zh-CN") -> qs.Question:
    """A stored question definition as the domain's `Question` (labels in `language`)."""
    return qs.Question(
        key=str(doc["key"]),
        kind=str(doc["kind"]),
        prompt=_text(doc.get("prompt"), language),
        mandatory=bool(doc.get("mandatory", False)),
        options=_options(doc.get("options", ()), language),
        min_selections=doc.get("min_selections"),
        max_selections=doc.get("max_selections"),
        top_k=doc.get("top_k"),
        max_length=doc.get("max_length"),
        rows=_options(doc.get("rows", ()), language),
        help=_text(doc.get("help"), language),
    )


def questions_of(consultation: Mapping[str, Any], language: str = "zh-CN") -> list[qs.Question]:
    """The consultation's questions as domain objects."""
    return [question_of(doc, language) for doc in consultation.get("questions", [])]


def eligible_flats(
    council: Council, consultation: Mapping[str, Any], session: ClientSession | None = None
) -> list[dict[str, Any]]:
    """The flats entitled to answer: the electorate snapshotted at opening (`electorates`, written by
    `consultations.open_`), as {_id, building, unit, flat, area_hundredths, owner_key, developer_held}.

    Without a snapshot (a consultation opened before snapshots existed) the register's flats of the
    community registered by the opening are taken."""
    row = council.db.electorates.find_one({"_id": consultation["_id"]}, session=session)
    if row is not None:
        return [{**f, "_id": f["flat_id"]} for f in row["flats"]]
    query: dict[str, Any] = {"community": consultation["community"]}
    opened_at = consultation.get("opened_at")
    if opened_at is not None:
        query["$or"] = [{"created_at": {"$exists": False}}, {"created_at": {"$lte": opened_at}}]
    projection = {
        "building": 1,
        "unit": 1,
        "flat": 1,
        "area_hundredths": 1,
        "owner_key": 1,
        "developer_held": 1,
    }
    return list(council.db.flats.find(query, projection, session=session))


def latest_ballots(
    council: Council, consultation_id: str, session: ClientSession | None = None
) -> list[dict[str, Any]]:
    """Every ballot of a consultation (one per flat: the stored answers are the latest version)."""
    return list(council.db.ballots.find({"consultation_id": consultation_id}, session=session))


def answer_id(council: Council, ballot_id: str) -> str:
    """An anonymous, stable id for a flat's answer: reviews refer to it, never to the flat.

    A keyed hash (HMAC with the service's secret) so nobody can recompute it from a flat id."""
    key = council.settings.secret_key.encode()
    return hmac.new(key, ballot_id.encode(), hashlib.sha256).hexdigest()[:20]


def _records(council: Council, ballots: Iterable[Mapping[str, Any]]) -> list[tallies.AnswerRecord]:
    return [
        tallies.AnswerRecord(
            answer_id(council, b["_id"]), b["flat_id"], b.get("answers") or {}, int(b.get("version") or 1)
        )
        for b in ballots
    ]


# --- freezing at closing ------------------------------------------------------------------------------


def _vote_question(consultation: Mapping[str, Any]) -> str:
    keys = [q["key"] for q in consultation.get("questions", [])]
    if len(keys) != 1:
        raise ValueError("a vote has exactly one question (for / against / abstain)")
    return keys[0]


def count_vote(
    consultation: Mapping[str, Any], flats: Sequence[Mapping[str, Any]], ballots: Sequence[Mapping[str, Any]]
) -> votes.VoteResult:
    """The Art 278 count of a vote over the register's flats at opening and the ballots cast."""
    key = _vote_question(consultation)
    register = [
        votes.Flat(
            f["_id"],
            Decimal(int(f["area_hundredths"])).scaleb(-2),  # exact, two places as registered
            str(f.get("owner_key") or ""),
            bool(f.get("developer_held", False)),
        )
        for f in flats
    ]
    choices = {b["flat_id"]: (b.get("answers") or {}).get(key) for b in ballots}
    return votes.count_vote(int(consultation["vote_item"]), register, {k: v for k, v in choices.items() if v})


def freeze(
    council: Council, consultation: Mapping[str, Any], session: ClientSession | None
) -> dict[str, Any]:
    """The result snapshot stored at closing (inside the closing transaction when `session` is given).

    {"frozen_at", "eligible", "answered", "by_building": {building: {"eligible", "answered"}},
     "questions": {question key: tally (free text counted only)}, "vote": Art 278 result or None,
     "excluded_ballots": ballots of flats not in the register at opening (not counted)}."""
    closed_at = consultation.get("closed_at")
    now = closed_at if isinstance(closed_at, datetime) and closed_at.tzinfo else utcnow()
    flats = eligible_flats(council, consultation, session)
    ids = {f["_id"] for f in flats}
    all_ballots = latest_ballots(council, consultation["_id"], session)
    ballots = [b for b in all_ballots if b["flat_id"] in ids]
    if len(ballots) != len(all_ballots):
        # Not an error: the register may lose a flat while a consultation runs; say so in the result.
        log.warning(
            "ballots of flats outside the register at opening left out",
            extra={"consultation_id": consultation["_id"], "count": len(all_ballots) - len(ballots)},
        )
    eligible = [tallies.EligibleFlat(f["_id"], str(f["building"])) for f in flats]
    snapshot = tallies.freeze(
        consultation["_id"], now, questions_of(consultation), eligible, _records(council, ballots)
    )
    buildings = {b: {"eligible": 0, "answered": 0} for b in consultation.get("buildings") or []}
    for row in snapshot.by_building:
        buildings[row[0]] = {"eligible": row[1].eligible, "answered": row[1].answered}
    vote = None
    if consultation.get("kind") == "vote":
        vote = count_vote(consultation, flats, ballots).as_dict()
    return {
        "frozen_at": now,
        "eligible": snapshot.participation.eligible,
        "answered": snapshot.participation.answered,
        "by_building": buildings,
        "questions": {t.key: t.as_dict() for t in snapshot.questions},
        "vote": vote,
        "excluded_ballots": len(all_ballots) - len(ballots),
    }


# --- access --------------------------------------------------------------------------------------------


def get_consultation(council: Council, consultation_id: str) -> dict[str, Any]:
    """A consultation by id, or NotFound."""
    doc = council.db.consultations.find_one({"_id": consultation_id})
    if doc is None:
        raise NotFound(consultation_id)
    return doc


def require_committee(staff: Staff, consultation: Mapping[str, Any]) -> None:
    """Reviews and exports: the community's committee members (and district admins)."""
    if not access.may_edit_register(staff, consultation["community"]):
        raise Forbidden("Only the community's committee members may do this.")


def closed_result(consultation: Mapping[str, Any]) -> dict[str, Any]:
    """The frozen snapshot of a closed consultation, or NotClosed."""
    if consultation.get("status") not in ("closed", "published") or not consultation.get("result"):
        raise NotClosed("The consultation is not closed yet: results are frozen at closing.")
    return consultation["result"]


# --- reviews of free text ------------------------------------------------------------------------------


def text_questions(consultation: Mapping[str, Any], language: str = "zh-CN") -> list[qs.Question]:
    """The consultation's free-text questions."""
    return [q for q in questions_of(consultation, language) if q.kind in qs.TEXT_KINDS]


def reviews(council: Council, consultation_id: str) -> dict[tuple[str, str], tallies.Review]:
    """Stored reviews keyed by (answer id, question key)."""
    return {
        (r["answer_id"], r["question"]): tallies.Review(bool(r["publish"]), r.get("text"))
        for r in council.db.result_reviews.find({"consultation_id": consultation_id})
    }


@dataclass(frozen=True)
class TextToReview:
    """One free-text answer as the reviewer sees it (never with its flat)."""

    answer_id: str
    question: str
    text: str
    publish: bool | None  # None: not reviewed yet
    shown: str | None  # the redacted text released, when one was given


def texts_for_review(council: Council, consultation: Mapping[str, Any], staff: Staff) -> list[TextToReview]:
    """Every free-text answer of a closed consultation with its review, for a committee member.

    The texts may hold personal data, so each opening of the review list is logged (who, when, what)."""
    require_committee(staff, consultation)
    closed_result(consultation)
    done = reviews(council, consultation["_id"])
    keys = [q.key for q in text_questions(consultation)]
    out: list[TextToReview] = []
    for ballot in latest_ballots(council, consultation["_id"]):
        aid = answer_id(council, ballot["_id"])
        for key in keys:
            text = (ballot.get("answers") or {}).get(key)
            if not isinstance(text, str) or not text.strip():
                continue
            review = done.get((aid, key))
            out.append(
                TextToReview(
                    aid, key, text, None if review is None else review.publish, review and review.text
                )
            )
    out.sort(key=lambda t: (keys.index(t.question), t.answer_id))
    council.db.access_log.insert_one(
        {
            "_id": new_id(),
            "kind": "consultation_texts",
            "consultation_id": consultation["_id"],
            "by": staff.user_id,
            "at": utcnow(),
            "texts": len(out),
        }
    )
    return out


def save_reviews(
    council: Council, consultation: Mapping[str, Any], staff: Staff, decisions: Iterable[Mapping[str, Any]]
) -> int:
    """Store a committee member's decisions: each {answer_id, question, publish: bool, text?}.

    All decisions are checked before any is stored: one bad decision stores nothing."""
    require_committee(staff, consultation)
    closed_result(consultation)
    known = {(t.answer_id, t.question): t for t in _texts(council, consultation)}
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for d in decisions:
        key = (str(d.get("answer_id")), str(d.get("question")))
        if key not in known:
            raise BadReview(f"No free-text answer {key[0]} to question {key[1]}.")
        if not isinstance(d.get("publish"), bool):
            raise BadReview("Each answer needs a decision: publish or withhold.")
        redacted = d.get("text")
        redacted = redacted.strip() if isinstance(redacted, str) and redacted.strip() else None
        rows.append(
            {
                "_id": f"{consultation['_id']}:{key[1]}:{key[0]}",
                "consultation_id": consultation["_id"],
                "question": key[1],
                "answer_id": key[0],
                "publish": d["publish"],
                "text": redacted if d["publish"] else None,
                "by": staff.user_id,
                "at": now,
            }
        )
    for row in rows:  # each review is its own document: a replace is atomic, reviewing again overwrites
        council.db.result_reviews.replace_one({"_id": row["_id"]}, row, upsert=True)
    return len(rows)


def _texts(council: Council, consultation: Mapping[str, Any]) -> list[TextToReview]:
    keys = [q.key for q in text_questions(consultation)]
    out = []
    for ballot in latest_ballots(council, consultation["_id"]):
        for key in keys:
            text = (ballot.get("answers") or {}).get(key)
            if isinstance(text, str) and text.strip():
                out.append(TextToReview(answer_id(council, ballot["_id"]), key, text, None, None))
    return out


# --- the result as pages show it -----------------------------------------------------------------------


@dataclass(frozen=True)
class ResultView:
    """What a results page shows: the consultation, its frozen snapshot, questions in the page's
    language and the released texts per text question."""

    consultation: Mapping[str, Any]
    result: Mapping[str, Any]
    questions: list[qs.Question]
    texts: dict[str, tallies.TextListing]

    @property
    def vote(self) -> Mapping[str, Any] | None:
        """The Art 278 result, for a vote."""
        return self.result.get("vote")


def result_view(council: Council, consultation: Mapping[str, Any], language: str) -> ResultView:
    """The closed consultation's result with released free text (public and staff pages alike)."""
    result = closed_result(consultation)
    questions = questions_of(consultation, language)
    texts: dict[str, tallies.TextListing] = {}
    text_qs = [q for q in questions if q.kind in qs.TEXT_KINDS]
    if text_qs:
        ballots = latest_ballots(council, consultation["_id"])
        eligible = [tallies.EligibleFlat(b["flat_id"], "") for b in ballots]
        records = [
            tallies.AnswerRecord(answer_id(council, b["_id"]), b["flat_id"], b.get("answers") or {}, 1)
            for b in ballots
        ]
        done = reviews(council, consultation["_id"])
        for q in text_qs:
            texts[q.key] = tallies.text_listing(q, records, eligible, done)
    return ResultView(consultation, result, questions, texts)


def public_summary(view: ResultView, language: str) -> dict[str, Any]:
    """The JSON form of a result (API and public page alike): no flat, no unreleased text."""
    result = view.result
    out: dict[str, Any] = {
        "consultation_id": view.consultation["_id"],
        "kind": view.consultation.get("kind"),
        "title": _text(view.consultation.get("title"), language),
        "closed_at": _iso(view.consultation.get("closed_at")),
        "eligible": result["eligible"],
        "answered": result["answered"],
        "by_building": result.get("by_building", {}),
        "questions": [],
        "vote": result.get("vote"),
    }
    for q in view.questions:
        tally = dict(result["questions"].get(q.key, {}))
        if q.key in view.texts:
            listing = view.texts[q.key]
            tally["texts"] = list(listing.published)
            tally["texts_pending"] = listing.pending
            tally["texts_withheld"] = listing.withheld
        tally["prompt"] = q.prompt
        out["questions"].append(tally)
    return out


def _iso(value: Any) -> str | None:
    """A stored time as ISO 8601 in UTC (the database hands back naive UTC datetimes)."""
    if not isinstance(value, datetime):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


# --- export ------------------------------------------------------------------------------------------


def building_labels(counts: Mapping[str, int], min_group: int = MIN_GROUP) -> dict[str, str]:
    """The building label each building's rows carry in an export (see the module's docstring).

    Buildings with at least `min_group` answers keep their name; the rest become `OTHER_BUILDINGS`,
    and while that group is non-empty but smaller than `min_group`, the smallest named building
    joins it (so no building can be read off by elimination)."""
    named = {b for b, n in counts.items() if n >= min_group}
    while True:
        hidden = sum(n for b, n in counts.items() if b not in named)
        if hidden == 0 or hidden >= min_group or not named:
            break
        smallest = min(named, key=lambda b: (counts[b], b))
        named.discard(smallest)
    return {b: (b if b in named else OTHER_BUILDINGS) for b in counts}


def export_table(
    council: Council, consultation: Mapping[str, Any], staff: Staff, language: str
) -> list[list[Any]]:
    """The anonymous answers as a table (header row first) for a committee member.

    One row per answering flat (its latest answers). Columns: building (see `building_labels`), then
    per question: single choice and matrix rows as the option's label, multiple choice one 1/0
    column per option, a ranking one column per option with its rank (empty when unranked), text as
    released by the review (else a marker), a vote's choice."""
    require_committee(staff, consultation)
    closed_result(consultation)
    questions = questions_of(consultation, language)
    ballots = latest_ballots(council, consultation["_id"])
    flats = {f["_id"]: str(f["building"]) for f in eligible_flats(council, consultation)}
    ballots = [b for b in ballots if b["flat_id"] in flats]
    counts: dict[str, int] = {}
    for b in ballots:
        counts[flats[b["flat_id"]]] = counts.get(flats[b["flat_id"]], 0) + 1
    labels = building_labels(counts)
    done = reviews(council, consultation["_id"])
    header: list[Any] = ["building"]
    for q in questions:
        if q.kind == qs.MULTIPLE or q.kind == qs.RANKING:
            header += [f"{q.key}: {o.label}" for o in q.options]
        elif q.kind == qs.MATRIX:
            header += [f"{q.key}: {r.label}" for r in q.rows]
        else:
            header.append(q.key if consultation.get("kind") != "vote" else "choice")
    rows: list[list[Any]] = []
    for b in sorted(ballots, key=lambda b: answer_id(council, b["_id"])):
        answers = b.get("answers") or {}
        aid = answer_id(council, b["_id"])
        row: list[Any] = [labels[flats[b["flat_id"]]]]
        for q in questions:
            row += _cells(q, answers.get(q.key), done.get((aid, q.key)))
        rows.append(row)
    council.db.access_log.insert_one(
        {
            "_id": new_id(),
            "kind": "consultation_export",
            "consultation_id": consultation["_id"],
            "by": staff.user_id,
            "at": utcnow(),
            "rows": len(rows),
        }
    )
    return [header, *rows]


def _cells(q: qs.Question, value: Any, review: tallies.Review | None) -> list[Any]:
    labels = {o.key: o.label for o in q.options}
    if q.kind == qs.MULTIPLE:
        chosen = set(value or ())
        return [1 if o.key in chosen else 0 for o in q.options] if value else [None] * len(q.options)
    if q.kind == qs.RANKING:
        ranked = list(value or ())
        return [ranked.index(o.key) + 1 if o.key in ranked else None for o in q.options]
    if q.kind == qs.MATRIX:
        pairs = dict(value.items() if isinstance(value, Mapping) else (value or ()))
        return [labels.get(pairs.get(r.key)) for r in q.rows]
    if q.kind in qs.TEXT_KINDS:
        if not isinstance(value, str) or not value.strip():
            return [None]
        if review is None:
            return [TEXT_PENDING]
        if not review.publish:
            return [TEXT_WITHHELD]
        return [review.text if review.text is not None else value]
    if value is None or value == "":
        return [None]
    return [labels.get(value, value)]


def to_csv(table: Sequence[Sequence[Any]]) -> bytes:
    """CSV with a UTF-8 byte-order mark (so Excel and WPS in China open it as UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in table:
        writer.writerow(["" if cell is None else _safe_cell(cell) for cell in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _safe_cell(cell: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def to_xlsx(table: Sequence[Sequence[Any]], title: str = "answers") -> bytes:
    """XLSX with the header row bold and frozen; numbers stay numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31] or "answers"
    for row in table:
        sheet.append([_safe_cell(cell) for cell in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
