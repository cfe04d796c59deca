"""Mediation statistics as a read model: mediation's events in, per-case facts stored, the board's
suppressed tables built per quarter when the facts change (never per request).

What is stored (`mediation_facts`, one document per message, `_id` = the message id, so a message
delivered twice is one fact): the kind of fact, a keyed one-way hash of the case reference
(HMAC-SHA256 with SECRET_KEY: the read model can merge a case's facts but holds no reference), the
time, and counts or codes — category, source group, community, street, persons, outcome,
prevention counts, found early. Never a name, phone, reference or free text (patrol findings and
public notes are dropped here).

The board (`board_quarters`, one document per quarter) is rebuilt from every stored fact by
`rebuild_quarters`: the consumer marks the quarters a fact touches in `board_dirty`, and the worker's
`BoardRefresher` thread rebuilds them a moment later (suppressing a table takes up to a second or two,
so a burst of events costs one rebuild, not one per event).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.domain import board_tables as bt
from services.council.domain import mediation_stats as ms
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope, utcnow
from shared.moj_table import MOJ_SOURCE_OF
from shared.taxonomy import communities

log = logging.getLogger(__name__)

CONSUMER = "council.statistics"
EVENTS = (
    "case.submitted",
    "case.status_changed",
    "case.closed",
    "case.agreement_performed",
    "patrol.reported",
)

# case.submitted's detailed source -> the MoJ table's three sources (shared with mediation's reports).
SOURCE_GROUP = MOJ_SOURCE_OF


def district() -> list[tuple[str, str]]:
    """(community, street) of the district, in the reference data's order."""
    return [(c.code, c.street) for c in communities()]


def case_key(secret: str, reference: str) -> str:
    """A keyed one-way hash of a case reference: facts of one case meet, the reference is not kept."""
    return hmac.new(secret.encode(), reference.encode(), hashlib.sha256).hexdigest()[:32]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def fact_of(envelope: Envelope, secret: str) -> ms.Fact | None:
    """The fact an event brings (None when the event means nothing to the statistics)."""
    d, mid = envelope.data, envelope.message_id
    street = {c: s for c, s in district()}
    if envelope.type == "case.submitted":
        if d["community"] not in street:
            log.warning("case.submitted for an unknown community; not counted", extra={"message_id": mid})
            return None
        persons = max(int(d.get("people_affected") or 0), len(d.get("parties") or []))
        return ms.CaseReceived(
            mid,
            case_key(secret, d["reference"]),
            _at(d["received_at"]),
            d["category"],
            SOURCE_GROUP.get(d.get("source") or "application", ms.APPLICATION),
            d["community"],
            street[d["community"]],
            persons,
        )
    if envelope.type == "case.status_changed":
        key = case_key(secret, d["reference"])
        if d["status"] == "accepted":
            return ms.CaseAccepted(mid, key, _at(d["changed_at"]))
        if d["status"] == "performed":
            return ms.AgreementPerformed(mid, key, _at(d["changed_at"]))
        return None
    if envelope.type == "case.agreement_performed":  # a follow-up visit found it performed
        return ms.AgreementPerformed(mid, case_key(secret, d["reference"]), _at(d["performed_at"]))
    if envelope.type == "case.closed":
        return ms.CaseEnded(
            mid,
            case_key(secret, d["reference"]),
            _at(d["closed_at"]),
            d["outcome"],
            int(d.get("criminal_prevented_persons") or 0),
            int(d.get("petition_prevented_persons") or 0),
        )
    if envelope.type == "patrol.reported":
        if d["community"] not in street:
            return None
        return ms.PatrolVisit(
            mid, _at(d["reported_at"]), d["community"], street[d["community"]], bool(d.get("found_early"))
        )
    return None


_KIND = {
    ms.CaseReceived: "received",
    ms.CaseAccepted: "accepted",
    ms.CaseEnded: "ended",
    ms.AgreementPerformed: "performed",
    ms.PatrolVisit: "patrol",
}
_CLASS = {v: k for k, v in _KIND.items()}


def fact_to_doc(fact: ms.Fact) -> dict[str, Any]:
    """The stored form of a fact (only its dataclass fields: counts, codes, times, the case hash)."""
    doc = {k: v for k, v in vars(fact).items() if k != "message_id"}
    return {"_id": fact.message_id, "kind": _KIND[type(fact)], **doc}


def fact_from_doc(doc: dict[str, Any]) -> ms.Fact:
    """A stored fact back as a domain fact (stored times come back naive UTC from MongoDB)."""
    fields = {k: v for k, v in doc.items() if k not in ("_id", "kind")}
    at = fields["at"]
    fields["at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return _CLASS[doc["kind"]](message_id=doc["_id"], **fields)  # type: ignore[call-arg]


def _quarter(at: datetime) -> str:
    return ms.quarter_of_month(ms.month_of(at))


def on_event(council: Council, envelope: Envelope) -> None:
    """Store the fact an event brings (exactly once) and mark the quarters it touches for a rebuild."""
    fact = fact_of(envelope, council.settings.secret_key)
    db = council.db

    def effect(session: ClientSession) -> None:
        if fact is None:
            return
        db.mediation_facts.insert_one(fact_to_doc(fact), session=session)
        quarters = {_quarter(fact.at)}
        case = getattr(fact, "case", None)
        if case is not None and isinstance(fact, ms.CaseReceived):
            # A case's later facts (arrived first) count only once its receipt is known.
            earlier = db.mediation_facts.find({"case": case}, session=session)
            quarters |= {_quarter(fact_from_doc(d).at) for d in earlier}
        for q in quarters:
            db.board_dirty.update_one({"_id": q}, {"$inc": {"version": 1}}, upsert=True, session=session)

    process_once(db, CONSUMER, envelope, effect)


# --- building the board -----------------------------------------------------------------------------


def load_state(council: Council) -> ms.State:
    """Every stored fact folded into the statistics' state."""
    return ms.fold_all(fact_from_doc(d) for d in council.db.mediation_facts.find({}))


def build_board(facts: Iterable[ms.Fact], quarters: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Quarter -> its published tables (domain/board_tables.py), from facts; all quarters by default."""
    state = ms.fold_all(facts)
    by_quarter = bt.quarter_by_community(ms.figures(state, "month"))
    wanted = set(by_quarter) if quarters is None else set(quarters)
    return {q: bt.build_quarter(by_quarter.get(q, {}), district()) for q in sorted(wanted)}


def rebuild_quarters(council: Council, quarters: Iterable[str] | None = None) -> list[str]:
    """Rebuild the stored board for `quarters` (every quarter with facts by default); returns them."""
    db = council.db
    facts = [fact_from_doc(d) for d in db.mediation_facts.find({})]
    built = build_board(facts, quarters)
    now = utcnow()
    for quarter, board in built.items():
        db.board_quarters.replace_one(
            {"_id": quarter}, {"_id": quarter, **board, "built_at": now}, upsert=True
        )
    return list(built)


def refresh_dirty(council: Council) -> list[str]:
    """Rebuild the quarters marked dirty; a mark added meanwhile (a newer version) stays for next time."""
    db = council.db
    marks = list(db.board_dirty.find({}))
    if not marks:
        return []
    done = rebuild_quarters(council, [m["_id"] for m in marks])
    for m in marks:
        db.board_dirty.delete_one({"_id": m["_id"], "version": m["version"]})
    return done


class BoardRefresher(threading.Thread):
    """The worker's background thread: rebuilds dirty quarters every `interval` seconds."""

    def __init__(self, council: Council, interval: float = 2.0) -> None:
        super().__init__(name="board-refresher", daemon=True)
        self.council = council
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                built = refresh_dirty(self.council)
                if built:
                    log.info("board rebuilt", extra={"quarters": built})
            except Exception:  # the database may be down a moment; the marks stay for the next round
                log.warning("board rebuild failed; will retry", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
