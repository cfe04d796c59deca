"""Intake's tracking use cases: the resident's view of a case, kept current from mediation's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession

from services.intake import filing
from services.intake.bootstrap import Intake
from services.intake.domain import case_rules
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope

# The ids of the events a case's tracking view has taken in, kept on the case itself (its
# conditional update is the idempotency check: no marker collection, no transaction).
PROCESSED_FIELD = "processed_events"
# Reads and conditional writes of a case that concurrent events keep changing, before the
# consumer's retry queue takes over.
CHANGED_ATTEMPTS = 10


def public_status(intake: Intake, reference: str, token: str) -> dict[str, Any] | None:
    """The resident's view of a case, or None when the reference or the token is wrong
    (deliberately indistinguishable)."""
    case = intake.db.cases.find_one({"_id": reference})
    if case is None:
        return None
    holder = case_rules.token_holder(token, case)
    if holder is False:
        return None
    # Asked here, where it is shown, not at filing (a round trip off the filing's request).
    related = bool(case.get("open")) and bool(filing.possible_duplicates(intake.db, case))
    return {**public_view(case, holder), "related_case_exists": related}


def public_view(case: dict[str, Any], holder: str | None = None) -> dict[str, Any]:
    """What the tracking page shows of a case (and no more: building leaders see the same, as
    nobody's own link: `holder` None)."""
    return {
        # Which applicant's own link this is (None: the filer's copy), for the page's own requests.
        "party": holder,
        "open": bool(case.get("open", True)),
        "pending_requests": dict(case.get("pending_requests") or {}),
        "reference": case["reference"],
        "status": case["status"],
        "outcome": case.get("outcome"),
        "category": case["category"],
        "community": case["community"],
        "received_at": case["received_at"],
        # Only the other case's reference: nothing about it (its parties are other residents).
        "merged_into": case.get("merged_into"),
        # "Is it settled?": the case this one follows up, and those opened after it (references only).
        "linked_to": case.get("linked_to"),
        "linked_cases": list(case.get("linked_cases") or []),
        "timeline": case_rules.mark_shared_notes(
            case_rules.mark_superseded_sessions(sorted(case["timeline"], key=lambda e: e["at"]))
        ),
    }


def _record_status(
    intake: Intake,
    envelope: Envelope,
    status: str | None,
    at: datetime,
    note: str | None,
    changes: dict[str, Any] | None = None,
    *,
    studio_code: str | None = None,
    **details: Any,
) -> None:
    """Add a public timeline entry; move the current status only for a newer event (events can
    arrive out of order after retries). `status=None` adds to the timeline without moving it;
    `studio_code` records the case's studio (the newest assignment wins, by its own time
    `studio_at`) in the same write.

    One conditional update of the case does it all: the entry, the status, the studio and the
    event's `message_id` among the case's `processed_events` (the filter's `$ne` on it is the
    idempotency check), atomic without a transaction because it is one document. The first try
    assumes the usual order (this event newer than the case's status and studio), one round trip;
    an event that is not, a duplicate or an unknown case costs a read and a write on what was read.
    """
    reference = envelope.data["reference"]
    entry_status = status or details.pop("entry_status")
    entry = case_rules.timeline_entry(entry_status, at, note, **details)
    marker = envelope.message_id
    cases = intake.db.cases

    def write(conditions: list[dict[str, Any]], move_status: bool, move_studio: bool) -> bool:
        new_values = dict(changes or {})
        if move_status:
            new_values.update({"status": status, "status_at": at})
        if move_studio:
            new_values.update({"studio_code": studio_code, "studio_at": at})
        update: dict[str, Any] = {
            "$push": {"timeline": entry, PROCESSED_FIELD: marker},
            "$max": {"updated_at": at},
        }
        if new_values:
            update["$set"] = new_values
        found: dict[str, Any] = {"_id": reference, PROCESSED_FIELD: {"$ne": marker}}
        if conditions:
            found["$and"] = conditions
        return cases.update_one(found, update).matched_count == 1

    # The usual order: this event is the newest the case has seen.
    usual: list[dict[str, Any]] = []
    if status:
        usual.append({"status_at": {"$lte": at}})
    if studio_code:
        usual.append({"$or": [{"studio_at": None}, {"studio_at": {"$lte": at}}]})
    if write(usual, bool(status), bool(studio_code)):
        return
    # Out of order, a duplicate or an unknown case: decide on what is read, write only if it has
    # not changed meanwhile (a concurrent event), else read again.
    for _ in range(CHANGED_ATTEMPTS):
        case = cases.find_one({"_id": reference}, {"status_at": 1, "studio_at": 1, PROCESSED_FIELD: 1})
        if case is None:
            # Intake wrote the case before publishing its first event, so this is a real fault.
            raise LookupError(f"event for unknown case {reference}")
        if marker in (case.get(PROCESSED_FIELD) or []):
            return  # processed already: a redelivery or a duplicate has no second effect
        status_at, studio_at = case.get("status_at"), case.get("studio_at")
        unchanged = [{"status_at": status_at}, {"studio_at": studio_at}]
        move_status = bool(status) and case_rules.is_newer(at, status_at)
        move_studio = bool(studio_code) and (studio_at is None or studio_at <= at)
        if write(unchanged, move_status, move_studio):
            return
    raise RuntimeError(f"case {reference} kept changing under an event; retried later")


def _record_studio(intake: Intake, reference: str, code: str, at: datetime, session: ClientSession) -> None:
    """Keep the code of the studio the case is with (who may open its attachments): the newest
    assignment wins, by its own time (`studio_at`), whatever order the events arrive in."""
    intake.db.cases.update_one(
        {"_id": reference, "$or": [{"studio_at": None}, {"studio_at": {"$lte": at}}]},
        {"$set": {"studio_code": code, "studio_at": at}},
        session=session,
    )


def on_case_assigned(intake: Intake, envelope: Envelope) -> None:
    """Mediation routed (or moved) the case to a studio: the resident sees which one; intake keeps
    the studio's code for staff access to the attachments."""
    at = datetime.fromisoformat(envelope.data["assigned_at"])
    code = envelope.data["studio"]["code"]
    reference = envelope.data["reference"]
    if envelope.data.get("mediator"):
        # A mediator took the case: the public step is the status change that comes with it.
        def effect(session: ClientSession) -> None:
            case = intake.db.cases.find_one({"_id": reference}, {"pending_requests": 1}, session=session)
            if case is None:
                raise LookupError(f"event for unknown case {reference}")
            _record_studio(intake, reference, code, at, session)
            asked = ((case.get("pending_requests") or {}).get("other_mediator") or {}).get("at")
            if asked is not None and asked <= at:
                # The new mediator a party asked for: they may ask again later if need be.
                intake.db.cases.update_one(
                    {"_id": reference}, {"$unset": {"pending_requests.other_mediator": ""}}, session=session
                )

        retry_transient(lambda: process_once(intake.db, "intake.tracking", envelope, effect))
        return
    studio = envelope.data["studio"]["name"]
    _record_status(
        intake,
        envelope,
        case_rules.ASSIGNED,
        at,
        studio,
        {"studio_name": studio},
        studio_code=code,
        studio_name_en=envelope.data["studio"].get("name_en"),
    )


def on_case_status_changed(intake: Intake, envelope: Envelope) -> None:
    """A public lifecycle change (internal ones never reach the resident)."""
    if not envelope.data.get("public", True) or envelope.data.get("closing"):
        return  # internal; or an ending, which case.closed records with its outcome
    at = datetime.fromisoformat(envelope.data["changed_at"])
    status = envelope.data["status"]
    note = envelope.data.get("note")
    if note and status == envelope.data.get("previous_status"):
        # A shared note (the state did not change): an entry of its own, not a repeated state line.
        _record_status(intake, envelope, None, at, note, entry_status=case_rules.NOTE_SHARED)
        return
    changes = {"open": False} if status in case_rules.FINAL_STATES else None
    _record_status(intake, envelope, status, at, note, changes)


def on_session_scheduled(intake: Intake, envelope: Envelope) -> None:
    """A session was scheduled: the parties see when and where (never who else attends)."""
    data = envelope.data
    at = datetime.fromisoformat(envelope.occurred_at)
    _record_status(
        intake,
        envelope,
        None,
        at,
        None,
        entry_status=case_rules.SESSION_SCHEDULED,
        starts_at=datetime.fromisoformat(data["starts_at"]),
        place=data["place"]["name"],
        place_en=data["place"].get("name_en"),
        session_id=data["session_id"],
        sequence=data.get("sequence", 0),
    )


def on_session_rescheduled(intake: Intake, envelope: Envelope) -> None:
    """A session was moved: the parties see the new time (and the old one struck out); the entry
    of the time it replaces is marked when the page is read (`mark_superseded_sessions`)."""
    data = envelope.data
    _record_status(
        intake,
        envelope,
        None,
        datetime.fromisoformat(data["rescheduled_at"]),
        None,
        entry_status=case_rules.SESSION_RESCHEDULED,
        starts_at=datetime.fromisoformat(data["starts_at"]),
        previous_starts_at=datetime.fromisoformat(data["previous_starts_at"]),
        place=data["place"]["name"],
        place_en=data["place"].get("name_en"),
        session_id=data["session_id"],
        sequence=data["sequence"],
    )


def on_session_cancelled(intake: Intake, envelope: Envelope) -> None:
    """A session was cancelled: the parties see which one and why (the reason is written for them;
    the form says so); its earlier entries are marked cancelled when the page is read."""
    data = envelope.data
    _record_status(
        intake,
        envelope,
        None,
        datetime.fromisoformat(data["cancelled_at"]),
        data["reason"],
        entry_status=case_rules.SESSION_CANCELLED,
        starts_at=datetime.fromisoformat(data["starts_at"]),
        place=data["place"]["name"],
        place_en=data["place"].get("name_en"),
        session_id=data["session_id"],
        sequence=data["sequence"],
    )


def on_case_merged(intake: Intake, envelope: Envelope) -> None:
    """The case was closed as a duplicate of another: the resident sees that it was merged and the
    other case's reference (only that: the status change that came with it is not recorded)."""
    data = envelope.data
    at = datetime.fromisoformat(data["merged_at"])
    _record_status(
        intake,
        envelope,
        case_rules.MERGED,
        at,
        None,
        {"open": False, "merged_into": data["merged_into"], "closed_at": at},
        merged_into=data["merged_into"],
    )


def on_case_closed(intake: Intake, envelope: Envelope) -> None:
    """The case ended: its outcome and what the parties are told (never internal notes)."""
    data = envelope.data
    at = datetime.fromisoformat(data["closed_at"])
    _record_status(
        intake,
        envelope,
        case_rules.CLOSED,
        at,
        data.get("public_note"),
        {"open": False, "outcome": data["outcome"], "closed_at": at},
        outcome=data["outcome"],
    )


def on_party_request_handled(intake: Intake, envelope: Envelope) -> None:
    """Mediation answered a party's request. Carried out: a withdrawal is followed by the case's
    ending (`case.closed`), another mediator by the new mediator's assignment. Not carried out (the
    case had moved on): the party's page says so and they may ask again."""
    data = envelope.data
    if data["applied"]:

        def effect(session: ClientSession) -> None:
            if intake.db.cases.find_one({"_id": data["reference"]}, {"_id": 1}, session=session) is None:
                raise LookupError(f"event for unknown case {data['reference']}")

        retry_transient(lambda: process_once(intake.db, "intake.tracking", envelope, effect))
        return
    _record_status(
        intake,
        envelope,
        None,
        datetime.fromisoformat(data["handled_at"]),
        None,
        {f"pending_requests.{data['request']}": None},
        entry_status=case_rules.PARTY_REQUEST_NOT_CARRIED_OUT,
        request=data["request"],
    )
