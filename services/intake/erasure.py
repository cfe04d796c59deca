"""Retention in intake (PIPL Art 19): when mediation erases an archived case's personal data at the
end of its retention period (`case.personal_data_erased`), intake erases its own copy: the parties'
and the filer's names, phones and e-mail addresses, the building and flat, the free texts (the
description and claims name people), the attached files, and the filing's event it carries. What
the resident's tracking page and the statistics need stays: reference, category, community, dates,
status and timeline.

The files are deleted before the transaction that erases the case and records the message as
processed, so a worker dying in between leaves no file behind: the redelivered message deletes
what is left (deleting twice is harmless) and then finds the case erased once.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo.client_session import ClientSession

from services.intake.attachments import BUCKET
from services.intake.bootstrap import Intake
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope
from shared.outbox import EVENTS_FIELD, PENDING_AT_FIELD

CONSUMER = "intake.tracking"


def erased_changes(case: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The `$set` erasing the personal data of intake's case document."""
    return {
        "parties": [{"role": p.get("role"), "erased": True} for p in case.get("parties") or []],
        "filer": {"erased": True} if case.get("filer") else None,
        "building": "",
        "unit": "",
        "description": "",
        "claims": "",
        "attachments": [],
        "personal_data_erased_at": at,
    }


def on_personal_data_erased(intake: Intake, envelope: Envelope) -> None:
    """Erase intake's copy of the case's personal data, once, however often the event arrives."""
    reference = envelope.data["reference"]
    at = datetime.fromisoformat(envelope.data["erased_at"])
    case = intake.db.cases.find_one({"_id": reference}, {"attachments": 1})
    if case is None:
        raise LookupError(f"event for unknown case {reference}")
    bucket = GridFSBucket(intake.db, bucket_name=BUCKET)
    for item in case.get("attachments") or []:
        with contextlib.suppress(NoFile):
            bucket.delete(ObjectId(item["id"]))

    def effect(session: ClientSession) -> None:
        current = intake.db.cases.find_one({"_id": reference}, session=session)
        if current is None or current.get("personal_data_erased_at"):
            return
        update: dict[str, Any] = {"$set": erased_changes(current, at)}
        if not current.get(PENDING_AT_FIELD):
            # The filing's `case.submitted`, carried in the case (`Outbox.embed`), holds the parties'
            # data too; published long ago, it goes (one still unpublished is left to the relay).
            update["$unset"] = {EVENTS_FIELD: ""}
        intake.db.cases.update_one({"_id": reference}, update, session=session)
        # "Is it settled?" comments are free text: they go too (the answers stay, as counts do).
        intake.db.settlement_surveys.update_many(
            {"reference": reference}, {"$set": {"comment": ""}}, session=session
        )

    retry_transient(lambda: process_once(intake.db, CONSUMER, envelope, effect))
