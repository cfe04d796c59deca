"""Notify's use cases: remember who to contact per case, plan deliveries for an event, send one.

Planning and sending are separate steps joined by the outbox: the deliveries an event causes are
stored together with the mark that the event was processed, each with a `notify.delivery_due`
command; sending then happens (and is retried) per delivery, so one slow recipient never holds
up another and a redelivered event never plans a second copy.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.client_session import ClientSession

from services.notify.bootstrap import SERVICE, Notify
from services.notify.channels import Outgoing, PermanentDeliveryError, TransientDeliveryError
from services.notify.rules import RULES, Rule
from services.notify.templates import render
from shared.idempotency import process_once
from shared.messaging.consumer import PermanentError
from shared.messaging.envelope import Envelope, make_envelope, utcnow

log = logging.getLogger(__name__)

PENDING, SENDING, RETRYING, SENT, FAILED = "pending", "sending", "retrying", "sent", "failed"
# A delivery claimed by a worker that died is taken over after this long.
SENDING_LEASE = timedelta(seconds=30)


class ContactsNotYetKnown(Exception):
    """case.assigned overtook case.submitted: retry once the contacts have arrived."""


class DeliveryBusy(Exception):
    """Another worker is sending this delivery right now: look again later."""


def delivery_id(message_id: str, recipient_key: str, channel: str) -> str:
    """Deterministic, so the same event can never plan the same delivery twice."""
    return hashlib.sha256(f"{message_id}|{recipient_key}|{channel}".encode()).hexdigest()[:32]


def on_case_submitted(notify: Notify, envelope: Envelope) -> None:
    """Keep the contact details notify needs for this case (and nothing more)."""
    data = envelope.data
    contacts = {
        "_id": data["reference"],
        "language": data["language"],
        "parties": [
            {k: p.get(k) for k in ("role", "name", "email", "phone", "language")} for p in data["parties"]
        ],
    }

    def effect(session: ClientSession) -> None:
        notify.db.contacts.replace_one({"_id": data["reference"]}, contacts, upsert=True, session=session)

    process_once(notify.db, "notify.events", envelope, effect)


def _recipients(rule: Rule, envelope: Envelope, contacts: dict | None) -> list[dict[str, Any]]:
    data = envelope.data
    if rule.audience == "studio":
        studio = data["studio"]
        if not studio.get("email"):
            return []
        return [
            {
                "key": f"studio:{studio['code']}",
                "name": studio["name"],
                "address": studio["email"],
                "language": "zh-CN",
            }
        ]
    if rule.audience == "applicants":
        if contacts is None:
            raise ContactsNotYetKnown(data["reference"])
        return [
            {
                "key": f"applicant:{i}",
                "name": p["name"],
                "address": p["email"],
                "language": p.get("language") or contacts["language"],
            }
            for i, p in enumerate(contacts["parties"])
            if p["role"] == "applicant" and p.get(rule.channel)
        ]
    raise ValueError(f"unknown audience {rule.audience}")


def _context(envelope: Envelope, recipient: dict[str, Any]) -> dict[str, Any]:
    data = envelope.data
    studio = data.get("studio") or {}
    english = recipient["language"] == "en"
    return {
        "reference": data["reference"],
        "name": recipient["name"],
        "studio_name": (studio.get("name_en") if english else None) or studio.get("name", ""),
        "rule": data.get("rule", ""),
        "needs_manual_routing": data.get("needs_manual_routing", False),
        "risk_level": data.get("risk_level", "none"),
    }


def plan_deliveries(notify: Notify, envelope: Envelope) -> None:
    """Store one delivery per recipient and channel the rules name, with its send command."""
    rules = RULES.get(envelope.type, ())
    contacts = notify.db.contacts.find_one({"_id": envelope.data["reference"]})
    planned: list[dict[str, Any]] = []
    for rule in rules:
        for recipient in _recipients(rule, envelope, contacts):
            subject, body = render(rule.template, recipient["language"], _context(envelope, recipient))
            planned.append(
                {
                    "_id": delivery_id(envelope.message_id, recipient["key"], rule.channel),
                    "reference": envelope.data["reference"],
                    "event_type": envelope.type,
                    "event_id": envelope.message_id,
                    "correlation_id": envelope.correlation_id,
                    "channel": rule.channel,
                    "template": rule.template,
                    "recipient": {"key": recipient["key"], "address": recipient["address"]},
                    "language": recipient["language"],
                    "subject": subject,
                    "body": body,
                    "status": PENDING,
                    "attempts": 0,
                    "created_at": utcnow(),
                }
            )
    commands = [
        make_envelope(
            "notify.delivery_due",
            {"delivery_id": d["_id"]},
            source=SERVICE,
            correlation_id=envelope.correlation_id,
        )
        for d in planned
    ]
    stored = []

    def effect(session: ClientSession) -> None:
        if planned:
            notify.db.deliveries.insert_many(planned, session=session)
        stored.extend(notify.outbox.add(commands, session=session))

    if process_once(notify.db, "notify.events", envelope, effect):
        notify.outbox.flush(stored)


def send_delivery(notify: Notify, envelope: Envelope) -> None:
    """Send one planned delivery unless it was already sent (duplicates end here)."""
    did = envelope.data["delivery_id"]
    now = utcnow()
    delivery = notify.db.deliveries.find_one_and_update(
        {
            "_id": did,
            "$or": [
                {"status": {"$in": [PENDING, RETRYING]}},
                {"status": SENDING, "lease_until": {"$lt": now}},
            ],
        },
        {"$set": {"status": SENDING, "lease_until": now + SENDING_LEASE}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if delivery is None:
        current = notify.db.deliveries.find_one({"_id": did}, {"status": 1})
        if current is None:
            raise PermanentError(f"no delivery {did}")
        if current["status"] == SENDING:
            raise DeliveryBusy(did)
        return  # sent or failed already: a duplicate command has no second effect
    channel = notify.channels[delivery["channel"]]
    outgoing = Outgoing(did, delivery["recipient"]["address"], delivery["subject"], delivery["body"])
    try:
        response = channel.send(outgoing)
    except PermanentDeliveryError as err:
        _finish(notify, did, FAILED, error=str(err))
        raise PermanentError(str(err)) from err
    except TransientDeliveryError as err:
        _finish(notify, did, RETRYING, error=str(err))
        raise
    _finish(notify, did, SENT, response=response)
    log.info("notification sent", extra={"delivery_id": did, "channel": delivery["channel"]})


def _finish(
    notify: Notify, did: str, status: str, *, error: str | None = None, response: str | None = None
) -> None:
    update: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if status == SENT:
        update["sent_at"] = update["updated_at"]
        update["provider_response"] = response
    if error:
        update["last_error"] = error[:1000]
    notify.db.deliveries.update_one({"_id": did}, {"$set": update, "$unset": {"lease_until": ""}})


def on_delivery_dead(notify: Notify, envelope: Envelope | None, reason: str) -> None:
    """The last attempt failed: the delivery is marked failed, visible in the delivery log."""
    if envelope is None or envelope.type != "notify.delivery_due":
        return
    notify.db.deliveries.update_one(
        {"_id": envelope.data["delivery_id"], "status": {"$ne": SENT}},
        {
            "$set": {"status": FAILED, "last_error": reason[:1000], "updated_at": utcnow()},
            "$unset": {"lease_until": ""},
        },
    )
