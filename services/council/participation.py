"""Live participation of an open consultation, the building leader's list of flats that have not
answered yet, and reminders to them.

Who sees what:
- committee members (and district admins): answered / eligible for every building of the community;
- a building leader: the same counts for their own buildings only, and which flats of those buildings
  have not answered (the flat's label only: never how anyone answered, never another building).
Reminders: a building leader (or a committee member) reminds the unanswered households of one
building (`consultation.reminder` through the outbox: SMS to the flats' registered phones and the
building's WeChat Work group). At most one per building, consultation and local day: the reminder's
document id is that triple, so the database refuses a second one, also under two concurrent clicks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.council import access, building_groups, consultations
from services.council.bootstrap import SERVICE, Council
from services.council.consultations import flat_label, household_refs
from services.council.results import Forbidden, NotFound, eligible_flats, get_consultation
from shared.auth import Staff
from shared.db import in_transaction
from shared.messaging.envelope import make_envelope, utcnow

__all__ = ["Forbidden", "NotFound"]


class NotOpen(ValueError):
    """Reminders go out only while a consultation is open."""


class AlreadyReminded(ValueError):
    """This building was already reminded today for this consultation."""


class NothingToRemind(ValueError):
    """Every flat of the building has answered."""


@dataclass(frozen=True)
class BuildingCount:
    """One building's participation."""

    building: str
    eligible: int
    answered: int

    @property
    def missing(self) -> int:
        """Flats that have not answered yet."""
        return self.eligible - self.answered

    @property
    def percent(self) -> int:
        """Answered share in whole percent (rounded down: 99.9 % is not shown as all)."""
        return (self.answered * 100) // self.eligible if self.eligible else 0


def _natural(building: str) -> tuple[int, str]:
    return (len(building), building)


def require_view(staff: Staff, consultation: Mapping[str, Any]) -> frozenset[str] | None:
    """The buildings `staff` may see counts of (None: all), or Forbidden."""
    community = consultation["community"]
    if not access.may_see_community(staff, community):
        raise Forbidden("Not your community.")
    allowed = access.visible_buildings(staff, community)
    if allowed is not None and not allowed:
        raise Forbidden("No buildings of yours in this community.")
    return allowed


def _answered_flats(council: Council, consultation_id: str, session: ClientSession | None = None) -> set[str]:
    rows = council.db.ballots.find({"consultation_id": consultation_id}, {"flat_id": 1}, session=session)
    return {row["flat_id"] for row in rows}


def counts(council: Council, consultation_id: str, staff: Staff) -> list[BuildingCount]:
    """Answered / eligible flats per building this member of staff may see, live."""
    consultation = get_consultation(council, consultation_id)
    allowed = require_view(staff, consultation)
    answered = _answered_flats(council, consultation_id)
    per: dict[str, list[int]] = {}
    for flat in eligible_flats(council, consultation):
        if allowed is not None and flat["building"] not in allowed:
            continue
        row = per.setdefault(flat["building"], [0, 0])
        row[0] += 1
        row[1] += flat["_id"] in answered
    return [BuildingCount(b, e, a) for b, (e, a) in sorted(per.items(), key=lambda kv: _natural(kv[0]))]


def require_building(staff: Staff, consultation: Mapping[str, Any], building: str) -> None:
    """A building leader acts for their own buildings only; the committee for every building."""
    allowed = require_view(staff, consultation)
    if allowed is not None and building not in allowed:
        raise Forbidden("Not one of your buildings.")


def unanswered(council: Council, consultation_id: str, staff: Staff, building: str) -> list[str]:
    """Labels of the building's flats that have not answered yet (no names, no answers)."""
    consultation = get_consultation(council, consultation_id)
    require_building(staff, consultation, building)
    answered = _answered_flats(council, consultation_id)
    flats = [
        f
        for f in eligible_flats(council, consultation)
        if f["building"] == building and f["_id"] not in answered
    ]
    return sorted((flat_label(f) for f in flats), key=lambda s: [_natural(p) for p in s.split("-")])


def local_day(now: datetime, timezone: str) -> date:
    """The calendar day in the district (reminders are limited per local day, not per UTC day)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def reminder_id(consultation_id: str, building: str, day: date) -> str:
    """The one reminder allowed per consultation, building and day."""
    return f"{consultation_id}:{building}:{day.isoformat()}"


def notice_data(council: Council, consultation: Mapping[str, Any], url: str) -> dict[str, Any]:
    """The fields every consultation event carries (households and groups added by the caller)."""
    closes_at = consultation["closes_at"]
    return {
        "consultation_id": consultation["_id"],
        "community": consultation["community"],
        "kind": consultation["kind"],
        "title": dict(consultation.get("title") or {}),
        "vote_item": consultation.get("vote_item"),
        "closes_at": closes_at.isoformat() if isinstance(closes_at, datetime) else str(closes_at),
        "url": url,
    }


def send_reminder(
    council: Council, consultation_id: str, staff: Staff, building: str, now: datetime | None = None
) -> dict[str, Any]:
    """Remind the building's households that have not answered (and its WeChat Work group).

    Refuses (and stores nothing) when the consultation is not open, when every flat has answered, and
    when the building was already reminded today: the reminder document's id is unique, so of two
    concurrent clicks one inserts it and the other gets AlreadyReminded."""
    now = now or utcnow()
    consultation = get_consultation(council, consultation_id)
    require_building(staff, consultation, building)
    if consultation.get("status") != "open":
        raise NotOpen("The consultation is not open.")
    day = local_day(now, council.settings.notify_timezone)
    rid = reminder_id(consultation_id, building, day)
    published: list[Any] = []

    def work(session: ClientSession) -> dict[str, Any]:
        answered = _answered_flats(council, consultation_id, session)
        households = household_refs(council, consultation, [building], answered, session)
        if not households:
            raise NothingToRemind("Every flat of this building has answered.")
        data = notice_data(council, consultation, consultations.public_url(council, consultation_id))
        data["households"] = households
        data["building_groups"] = building_groups.group_refs(
            council, consultation["community"], [building], session
        )
        doc = {
            "_id": rid,
            "consultation_id": consultation_id,
            "community": consultation["community"],
            "building": building,
            "day": day.isoformat(),
            "households": len(households),
            "by": staff.user_id,
            "at": now,
        }
        council.db.reminders.insert_one(doc, session=session)
        envelope = make_envelope("consultation.reminder", data, source=SERVICE)
        published.extend(council.outbox.add([envelope], session=session))
        return doc

    try:
        doc = in_transaction(council.db, work)
    except DuplicateKeyError:
        raise AlreadyReminded("This building was already reminded today.") from None
    except OperationFailure as err:
        # A concurrent click's transaction wrote the same reminder first: after retries we still
        # conflict, or the server reports the duplicate as a failed operation.
        if err.code == 11000 or err.has_error_label("TransientTransactionError"):
            raise AlreadyReminded("This building was already reminded today.") from None
        raise
    council.outbox.flush(published)
    return doc


def reminders_sent(council: Council, consultation_id: str, staff: Staff) -> dict[str, str]:
    """Building → the day of its latest reminder, for the buildings `staff` may see."""
    consultation = get_consultation(council, consultation_id)
    allowed = require_view(staff, consultation)
    out: dict[str, str] = {}
    for row in council.db.reminders.find({"consultation_id": consultation_id}):
        if allowed is None or row["building"] in allowed:
            out[row["building"]] = max(out.get(row["building"], ""), row["day"])
    return out
