"""The household register's use cases: preview and import a file, list flats (masked), view one
flat (logged), edit one flat, and hand the Art 278 count its flats.

Every function takes the council context first and the acting member of staff (`Staff`, from the
staff token); who may do what is `services.council.access`. A building leader asking for a flat
outside their buildings gets the same "not found" as for a flat that does not exist.

Imports are all or nothing: the rows are inserted in one transaction together with the import's
record, and the unique (community, building, unit, flat) index refuses a flat that a concurrent
import committed first, which aborts the whole transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.council import access
from services.council.bootstrap import Council
from services.council.domain.register import (
    CountedFlat,
    FlatRow,
    ParsedTable,
    RowError,
    against_register,
    area_from_hundredths,
    natural_key,
    parse_table,
    validate_flat,
)
from shared.auth import Staff
from shared.db import in_transaction
from shared.masking import mask_name, mask_phone
from shared.messaging.envelope import new_id, utcnow
from shared.taxonomy import community_codes

# A previewed file waits this long for its confirmation; then it must be uploaded again.
PREVIEW_LIFETIME = timedelta(hours=2)
EDITABLE = ("area", "owner_names", "phones", "owner_key", "occupancy", "developer_held")
PERSONAL = ("owner_names", "phones")
DUPLICATE_KEY = 11000


class NotAllowed(Exception):
    """The member of staff may not do this in this community."""


class NotFound(Exception):
    """No such flat or import (or one this member of staff may not see)."""


class Refused(Exception):
    """Bad input: nothing was changed. `errors` lists each problem (row 0 for a single edit)."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class Preview:
    """A checked file: its rows, its problems, and (when clean and staged) the id to confirm."""

    parsed: ParsedTable
    import_id: str | None = None

    @property
    def clean(self) -> bool:
        return self.parsed.clean


# Checks -------------------------------------------------------------------------------------------
def check_community(community: str) -> None:
    if community not in community_codes():
        raise NotFound(f"No community {community}.")


def require_view(staff: Staff, community: str) -> None:
    check_community(community)
    if not access.may_see_community(staff, community):
        raise NotAllowed("Not a member of this community's council.")


def require_edit(staff: Staff, community: str) -> None:
    check_community(community)
    if not access.may_edit_register(staff, community):
        raise NotAllowed("Only the community's committee members and district admins keep the register.")


# Import -----------------------------------------------------------------------------------------------
def check_table(
    council: Council, community: str, table: Sequence[Sequence[str]], staff: Staff
) -> ParsedTable:
    """Validate a file's table row by row and against the register; stores nothing."""
    require_edit(staff, community)
    parsed = parse_table(table)
    identities = [row.identity for row in parsed.rows]
    parsed.errors.extend(against_register(parsed.rows, existing_identities(council, community, identities)))
    parsed.errors.sort(key=lambda error: error.row)
    return parsed


def existing_identities(
    council: Council, community: str, identities: Iterable[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Which of these flats the register already holds (one query per building named)."""
    wanted = set(identities)
    found: set[tuple[str, str, str]] = set()
    for building in {identity[0] for identity in wanted}:
        for doc in council.db.flats.find(
            {"community": community, "building": building}, {"building": 1, "unit": 1, "flat": 1}
        ):
            identity = (doc["building"], doc["unit"], doc["flat"])
            if identity in wanted:
                found.add(identity)
    return found


def preview(council: Council, community: str, table: Sequence[Sequence[str]], staff: Staff) -> Preview:
    """The page's first step: check the file and, if it is clean, keep its rows to be confirmed."""
    parsed = check_table(council, community, table, staff)
    if not parsed.clean:
        return Preview(parsed)
    import_id = new_id()
    now = utcnow()
    council.db.register_imports.insert_one(
        {
            "_id": import_id,
            "community": community,
            "status": "previewed",
            "rows": [row_document(row) for row in parsed.rows],
            "by": staff.user_id,
            "created_at": now,
            "expires_at": now + PREVIEW_LIFETIME,
        }
    )
    return Preview(parsed, import_id)


def confirm(council: Council, community: str, import_id: str, staff: Staff) -> int:
    """The page's second step: import the previewed rows, all or none; returns how many."""
    require_edit(staff, community)
    staged = council.db.register_imports.find_one(
        {"_id": import_id, "community": community, "status": "previewed", "by": staff.user_id}
    )
    if staged is None or staged["expires_at"].replace(tzinfo=None) < utcnow().replace(tzinfo=None):
        raise NotFound("This preview is gone or already imported: upload the file again.")
    rows = [row_from_document(doc) for doc in staged["rows"]]
    return insert_rows(council, community, rows, staff, import_id)


def import_table(council: Council, community: str, table: Sequence[Sequence[str]], staff: Staff) -> int:
    """The API's one step: check the file and import it if clean (Refused lists every bad row)."""
    parsed = check_table(council, community, table, staff)
    if not parsed.clean:
        raise Refused(parsed.errors)
    return insert_rows(council, community, parsed.rows, staff, None)


def insert_rows(
    council: Council, community: str, rows: Sequence[FlatRow], staff: Staff, import_id: str | None
) -> int:
    """Insert every row in one transaction with the import's record; a flat already there (a
    concurrent import won) aborts it all and is reported as a refusal, nothing stored."""
    now = utcnow()
    docs = [
        {
            "_id": new_id(),
            "community": community,
            **row_document(row),
            "created_at": now,
            "created_by": staff.user_id,
            "updated_at": now,
            "updated_by": staff.user_id,
        }
        for row in rows
    ]
    record_id = import_id or new_id()

    def work(session: ClientSession) -> int:
        if import_id is not None:
            done = council.db.register_imports.update_one(
                {"_id": import_id, "status": "previewed"},
                # The staged rows (names, phones) are not kept once they are in the register.
                {
                    "$set": {"status": "imported", "imported_at": now, "flats": len(docs)},
                    "$unset": {"rows": ""},
                },
                session=session,
            )
            if done.modified_count != 1:
                raise NotFound("This preview was imported already.")
        else:
            council.db.register_imports.insert_one(
                {"_id": record_id, "community": community, "status": "imported", "by": staff.user_id,
                 "created_at": now, "imported_at": now, "flats": len(docs)},
                session=session,
            )  # fmt: skip
        council.db.flats.insert_many(docs, ordered=True, session=session)
        return len(docs)

    try:
        return in_transaction(council.db, work)
    except BulkWriteError as err:
        if any(error.get("code") != DUPLICATE_KEY for error in err.details.get("writeErrors", [])):
            raise
        taken = existing_identities(council, community, [row.identity for row in rows])
        raise Refused(against_register(rows, taken) or [RowError(0, "flat", "in_register")]) from err
    except DuplicateKeyError as err:
        taken = existing_identities(council, community, [row.identity for row in rows])
        errors = against_register(rows, taken) or [RowError(0, "flat", "in_register")]
        raise Refused(errors) from err


def row_document(row: FlatRow) -> dict[str, Any]:
    return {
        "building": row.building,
        "unit": row.unit,
        "flat": row.flat,
        "area_hundredths": row.area_hundredths,
        "owner_names": list(row.owner_names),
        "phones": list(row.phones),
        "owner_key": row.owner_key,
        "occupancy": row.occupancy,
        "developer_held": row.developer_held,
        "row": row.row,
    }


def row_from_document(doc: Mapping[str, Any]) -> FlatRow:
    return FlatRow(
        building=doc["building"],
        unit=doc["unit"],
        flat=doc["flat"],
        area_hundredths=doc["area_hundredths"],
        owner_names=tuple(doc["owner_names"]),
        phones=tuple(doc["phones"]),
        owner_key=doc["owner_key"],
        occupancy=doc["occupancy"],
        developer_held=doc["developer_held"],
        row=doc.get("row", 0),
    )


# Reading ------------------------------------------------------------------------------------------
def masked(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A flat as lists show it: names and phones masked, everything else as stored."""
    return {
        "id": doc["_id"],
        "community": doc["community"],
        "building": doc["building"],
        "unit": doc["unit"],
        "flat": doc["flat"],
        "area": str(area_from_hundredths(doc["area_hundredths"])),
        "owner_names": [mask_name(name) for name in doc.get("owner_names", [])],
        "phones": [mask_phone(phone) for phone in doc.get("phones", [])],
        "owner_key": doc["owner_key"],
        "occupancy": doc["occupancy"],
        "developer_held": doc["developer_held"],
    }


def unmasked(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A flat in full (only after `view_flat` logged the view)."""
    return masked(doc) | {
        "owner_names": list(doc.get("owner_names", [])),
        "phones": list(doc.get("phones", [])),
    }


def list_flats(
    council: Council, community: str, staff: Staff, building: str | None = None
) -> list[dict[str, Any]]:
    """The community's flats this member of staff may list, masked, in building/unit/flat order."""
    require_view(staff, community)
    allowed = access.visible_buildings(staff, community)
    query: dict[str, Any] = {"community": community}
    if building:
        if allowed is not None and building not in allowed:
            return []
        query["building"] = building
    elif allowed is not None:
        query["building"] = {"$in": sorted(allowed)}
    docs = list(council.db.flats.find(query))
    docs.sort(key=lambda d: (natural_key(d["building"]), natural_key(d["unit"]), natural_key(d["flat"])))
    return [masked(doc) for doc in docs]


def buildings(council: Council, community: str, staff: Staff) -> list[str]:
    """The buildings of the community this member of staff may list."""
    require_view(staff, community)
    allowed = access.visible_buildings(staff, community)
    names = council.db.flats.distinct("building", {"community": community})
    return sorted((b for b in names if allowed is None or b in allowed), key=natural_key)


def _find(council: Council, community: str, flat_id: str, staff: Staff) -> dict[str, Any]:
    require_view(staff, community)
    doc = council.db.flats.find_one({"_id": flat_id, "community": community})
    allowed = access.visible_buildings(staff, community)
    if doc is None or (allowed is not None and doc["building"] not in allowed):
        raise NotFound(f"No flat {flat_id}.")
    return doc


def get_flat(council: Council, community: str, flat_id: str, staff: Staff) -> dict[str, Any]:
    """One flat, masked unless this member of staff keeps the register (then the view is logged)."""
    doc = _find(council, community, flat_id, staff)
    if not access.may_view_unmasked(staff, community):
        return masked(doc)
    return view_flat(council, doc, staff)


def view_flat(
    council: Council, doc: Mapping[str, Any], staff: Staff, via: str = "register"
) -> dict[str, Any]:
    """The flat in full, after recording who saw which personal fields of which flat, and when."""
    council.db.access_log.insert_one(
        {
            "_id": new_id(),
            "community": doc["community"],
            "flat_id": doc["_id"],
            "by": staff.user_id,
            "at": utcnow(),
            "fields": list(PERSONAL),
            "via": via,
        }
    )
    return unmasked(doc)


def access_log(council: Council, community: str, flat_id: str, staff: Staff, limit: int = 50) -> list[dict]:
    """Who saw this flat's personal data, newest first (for those who keep the register)."""
    require_edit(staff, community)
    _find(council, community, flat_id, staff)
    rows = council.db.access_log.find({"flat_id": flat_id}).sort("at", -1).limit(limit)
    return [{"by": row["by"], "at": row["at"], "fields": row["fields"]} for row in rows]


# Editing ------------------------------------------------------------------------------------------
def editable_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """A flat's editable fields as a form shows them (strings, several values joined)."""
    return {
        "building": doc["building"],
        "unit": doc["unit"],
        "flat": doc["flat"],
        "area": str(area_from_hundredths(doc["area_hundredths"])),
        "owner_names": "、".join(doc.get("owner_names", [])),
        "phones": ", ".join(doc.get("phones", [])),
        "owner_key": doc["owner_key"],
        "occupancy": doc["occupancy"],
        "developer_held": "yes" if doc["developer_held"] else "no",
    }


def update_flat(
    council: Council, community: str, flat_id: str, changes: Mapping[str, str], staff: Staff
) -> dict[str, Any]:
    """Change a flat's editable fields (strings as typed; absent ones stay). Refused lists every
    bad field and changes nothing. Which fields changed (never their values) is kept."""
    require_edit(staff, community)
    doc = _find(council, community, flat_id, staff)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Refused([RowError(0, name, "not_editable", {"field": name}) for name in unknown])
    values = editable_values(doc) | {name: str(value) for name, value in changes.items()}
    if not str(changes.get("owner_key", doc["owner_key"])).strip():
        values["owner_key"] = ""  # an emptied key falls back to the rule for a blank one
    row, errors = validate_flat(values)
    if row is None:
        raise Refused(errors)
    new = row_document(row)
    del new["row"]
    changed = sorted(name for name, value in new.items() if doc.get(name) != value)
    if not changed:
        return doc
    now = utcnow()

    def work(session: ClientSession) -> None:
        council.db.flats.update_one(
            {"_id": flat_id},
            {
                "$set": {
                    **{name: new[name] for name in changed},
                    "updated_at": now,
                    "updated_by": staff.user_id,
                }
            },
            session=session,
        )
        council.db.register_changes.insert_one(
            {"_id": new_id(), "flat_id": flat_id, "community": community, "fields": changed,
             "by": staff.user_id, "at": now},
            session=session,
        )  # fmt: skip

    in_transaction(council.db, work)
    updated = council.db.flats.find_one({"_id": flat_id})
    assert updated is not None
    return updated


# For the Art 278 count -----------------------------------------------------------------------------
def flats_for_counting(council: Council, community: str) -> list[CountedFlat]:
    """Every flat of the community as the vote count needs it (no names, no phones), in order."""
    check_community(community)
    docs = council.db.flats.find(
        {"community": community},
        {"building": 1, "unit": 1, "flat": 1, "area_hundredths": 1, "owner_key": 1, "developer_held": 1},
    ).sort([("building", ASCENDING), ("unit", ASCENDING), ("flat", ASCENDING)])
    return [
        CountedFlat(
            flat_id=doc["_id"],
            building=doc["building"],
            area_hundredths=doc["area_hundredths"],
            owner_key=doc["owner_key"],
            developer_held=bool(doc["developer_held"]),
        )
        for doc in docs
    ]
