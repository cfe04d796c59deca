"""A consultation's frozen result (H3's minimal version: H4 owns and extends this module, keeping
`freeze(council, consultation, session) -> dict`).

The snapshot (council-contract.md): {"frozen_at", "eligible", "answered", "by_building": {building:
{"eligible", "answered"}}, "questions": {question key: tally as domain/tallies.py gives it, without any
free text}, "vote": the Art 278 result as a plain dict, or None}.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.domain import tallies, votes
from services.council.domain.questions import MATRIX


def _stored_answers(questions: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as the tallies read them: a stored matrix {row: option} becomes row/option pairs."""
    out: dict[str, Any] = {}
    for key, value in answers.items():
        q = questions.get(key)
        if q is not None and q.kind == MATRIX and isinstance(value, dict):
            out[key] = tuple(value.items())
        else:
            out[key] = value
    return out


def freeze(council: Council, consultation: dict[str, Any], session: ClientSession | None) -> dict[str, Any]:
    """The result snapshot at closing, read inside the closing transaction (`session`)."""
    from services.council.consultations import electorate, questions_of  # consultations imports us

    flats = electorate(council, consultation["_id"], session)
    questions = questions_of(consultation)
    by_key = {q.key: q for q in questions}
    eligible = [tallies.EligibleFlat(f["flat_id"], f["building"]) for f in flats]
    ballots = list(council.db.ballots.find({"consultation_id": consultation["_id"]}, session=session))
    records = [
        tallies.AnswerRecord(
            b["_id"], b["flat_id"], _stored_answers(by_key, b.get("answers", {})), b.get("version", 1)
        )
        for b in ballots
    ]
    snapshot = tallies.freeze(consultation["_id"], consultation["closed_at"], questions, eligible, records)
    frozen = snapshot.as_dict()
    vote = None
    if consultation.get("kind") == "vote":
        register = [
            votes.Flat(f["flat_id"], Decimal(f["area_hundredths"]) / 100, f["owner_key"], f["developer_held"])
            for f in flats
        ]
        choices = {
            b["flat_id"]: b["answers"]["decision"] for b in ballots if b.get("answers", {}).get("decision")
        }
        vote = votes.count_vote(consultation["vote_item"], register, choices).as_dict()
    return {
        "frozen_at": consultation["closed_at"].isoformat(),
        "eligible": snapshot.participation.eligible,
        "answered": snapshot.participation.answered,
        "by_building": {b: {"eligible": p.eligible, "answered": p.answered} for b, p in snapshot.by_building},
        "questions": {q["key"]: q for q in frozen["questions"]},
        "vote": vote,
    }
