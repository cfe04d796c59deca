"""Retention in notify (PIPL Art 19): when mediation erases an archived case's personal data at the
end of its retention period (`case.personal_data_erased`), notify erases what it keeps of the case:
the parties' contacts, the residents' preferences for the case, and in each delivery of the case its
recipient's address, its rendered content (it names the parties) and any one-time code. The delivery
log keeps the rest (when, which channel, which template, the outcome) as the anonymous record.
"""

from __future__ import annotations

import re
from datetime import datetime

from pymongo.client_session import ClientSession

from services.notify.bootstrap import Notify
from shared.db import retry_transient
from shared.idempotency import process_once
from shared.messaging.envelope import Envelope

CONSUMER = "notify.retention"


def on_personal_data_erased(notify: Notify, envelope: Envelope) -> None:
    """Erase notify's copies of the case's personal data, once, however often the event arrives."""
    reference = envelope.data["reference"]
    at = datetime.fromisoformat(envelope.data["erased_at"])
    db = notify.db

    def effect(session: ClientSession) -> None:
        db.contacts.delete_one({"_id": reference}, session=session)
        db.preferences.delete_many({"_id": {"$regex": f"^{re.escape(reference)}:"}}, session=session)
        ids = [d["_id"] for d in db.deliveries.find({"reference": reference}, {"_id": 1}, session=session)]
        if not ids:
            return
        db.delivery_secrets.delete_many({"_id": {"$in": ids}}, session=session)
        db.deliveries.update_many(
            {"_id": {"$in": ids}},
            {
                "$set": {"recipient.address": None, "personal_data_erased_at": at},
                # A provider's answer may quote the number or address it was sent to.
                "$unset": {"content": "", "attempt_log": "", "provider_response": "", "last_error": ""},
            },
            session=session,
        )

    retry_transient(lambda: process_once(db, CONSUMER, envelope, effect))
