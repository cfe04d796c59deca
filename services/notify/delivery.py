"""Notify's use cases: plan deliveries for an event, send one, resend one, plan the daily digests.

Planning and sending are separate steps joined by the outbox: the deliveries an event causes are
stored together with the mark that the event was processed (and, for case.submitted, the contacts
notify keeps), each with a `notify.delivery_due` command; sending then happens (and is retried
through the broker's retry tiers) per delivery, so one slow recipient never holds up another and a
redelivered event never plans a second copy. A delivery is claimed with a lease before it is
sent, and one already sent is never sent again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from services.notify import digest, secrets
from services.notify.bootstrap import SERVICE, Notify
from services.notify.channels import (
    Attachment,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.notify.domain import rules
from services.notify.domain.audiences import ContactsNotYetKnown, household_key
from services.notify.messages import CODE_PLACEHOLDER
from services.notify.planning import PENDING, PlanConfig, delivery_id, plan, reference_of
from shared.db import transaction
from shared.idempotency import process_once
from shared.masking import mask_address
from shared.messaging.consumer import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    ROUTING_KEY_HEADER,
    Overtaken,
    PermanentError,
    RetryLater,
)
from shared.messaging.envelope import Envelope, make_envelope, new_id, utcnow
from shared.messaging.publisher import PublishError
from shared.messaging.topology import NOTIFY_DELIVERIES

log = logging.getLogger(__name__)

SENDING, RETRYING, SENT, FAILED = "sending", "retrying", "sent", "failed"
STATUSES = (PENDING, SENDING, RETRYING, SENT, FAILED)
# A delivery claimed by a worker that died is taken over after `Settings.notify_sending_lease`,
# plus a grace counted from the moment another worker first finds the lease run out (at most
# `TAKEOVER_GRACE` seconds, never more than the lease): a sender still alive, waiting for the
# database to record what the provider accepted (`_record_sent`), records it within the grace, so
# an outage longer than the lease does not make a second worker send the delivery again.
TAKEOVER_GRACE = 5.0
# How often a sender whose provider accepted a message tries again to record it as sent while the
# database does not answer (seconds, doubling from the first to the last).
RECORD_RETRY_FIRST, RECORD_RETRY_LAST = 0.1, 1.0

__all__ = ["FAILED", "PENDING", "SENT", "ContactsNotYetKnown", "delivery_id"]


class DeliveryBusy(RetryLater):
    """Another worker is sending this delivery right now, or died doing so: look again once its
    lease has run out. Waiting uses none of the command's attempts, so a delivery whose sender
    was killed is taken over, never failed for having waited."""


def _contacts_from(data: dict[str, Any]) -> dict[str, Any]:
    """Only what notify needs to reach the people of a case: names, phones, emails, languages."""
    filer = data.get("filer")
    return {
        "_id": data["reference"],
        "language": data.get("language") or "zh-CN",
        "filed_by": data.get("filed_by") or "resident",
        "parties": [
            {k: p.get(k) for k in ("role", "name", "email", "phone", "language")} for p in data["parties"]
        ],
        "filer": {k: filer.get(k) for k in ("name", "email", "phone", "language")} if filer else None,
    }


def household_keys(data: dict[str, Any]) -> list[str]:
    """The preference keys of the households a council event names (none for other events)."""
    community = str(data.get("community") or "")
    flats = {str(h["flat_id"]) for h in data.get("households") or [] if h.get("flat_id")}
    return sorted(household_key(community, flat) for flat in flats)


def _commands(deliveries: list[dict[str, Any]], correlation_id: str) -> list[Envelope]:
    return [
        make_envelope(
            "notify.delivery_due", {"delivery_id": d["_id"]}, source=SERVICE, correlation_id=correlation_id
        )
        for d in deliveries
    ]


def handle_event(notify: Notify, envelope: Envelope) -> None:
    """Plan the deliveries a case event causes, once, whatever the broker redelivers.

    An event that came before its case's case.submitted had stored the contacts raises
    `Overtaken` (having changed nothing): the worker handles it again right after that
    case.submitted if it is at hand, else through the retry tiers.
    """
    try:
        if envelope.type in SEND_AT_ONCE:
            plan_and_send(notify, envelope)
            return
        _plan_in_transaction(notify, envelope)
    except ContactsNotYetKnown as err:
        raise Overtaken(f"the contacts of {err} are not stored yet") from err


def _plan_in_transaction(notify: Notify, envelope: Envelope) -> None:
    """Every other event: its projection, deliveries and their commands in one transaction with
    the processed marker (`process_once`); sending happens per `notify.delivery_due` command."""
    # No look for the processed marker first: duplicates are rare, and process_once drops them (a
    # round trip per event saved against some rendering per duplicate).
    data = envelope.data
    reference = reference_of(data)
    is_case = not envelope.type.startswith(rules.COUNCIL_EVENT_PREFIXES)
    if envelope.type == "case.submitted":
        contacts: dict[str, Any] | None = _contacts_from(data)
    else:
        contacts = notify.db.contacts.find_one({"_id": reference}) if is_case else None
    studio_code = (data.get("studio") or {}).get("code")
    if studio_code is None and is_case:
        known = notify.db.studio_cases.find_one({"_id": reference}, {"studio.code": 1})
        studio_code = ((known or {}).get("studio") or {}).get("code")
    preferences = {
        p["_id"]: p for p in notify.db.preferences.find({"_id": {"$regex": f"^{re.escape(reference)}:"}})
    }
    households = household_keys(data)
    if households:  # council's households keep their choices per community and flat, not per event
        preferences.update({p["_id"]: p for p in notify.db.preferences.find({"_id": {"$in": households}})})
    planned = plan(
        envelope,
        contacts,
        preferences.get,
        notify.plan_config,
        studio_code=studio_code,
        now=utcnow(),
    )
    commands = _commands(planned, envelope.correlation_id)
    stored: list[Envelope] = []

    def effect(session: ClientSession) -> None:
        if envelope.type == "case.submitted":
            notify.db.contacts.replace_one({"_id": reference}, contacts, upsert=True, session=session)
        if is_case:
            digest.apply_event(notify.db, envelope, session)
        if planned:
            notify.db.deliveries.insert_many(planned, session=session)
            codes = [_secret(d["_id"], data) for d in planned if d.get("has_secret")]
            if codes:
                notify.db.delivery_secrets.insert_many(codes, session=session)
        stored.extend(notify.outbox.add(commands, session=session))

    if process_once(notify.db, "notify.events", envelope, effect):
        notify.outbox.flush(stored)
        if planned:
            log.info(
                "deliveries planned",
                extra={"reference": reference, "event": envelope.type, "count": len(planned)},
            )


# The events every case brings (filed, routed, the applicants' links and codes) are planned without
# a processed marker or a transaction, and their deliveries sent by the planning worker at once
# (`plan_and_send`): their effects are safe to repeat, and this is where a case's round trips go.
SEND_AT_ONCE = frozenset(
    {"case.submitted", "case.assigned", "case.tracking_link", "case.tracking_code_requested"}
)
# An event planning more deliveries than this sends them through `notify.delivery_due` commands
# instead, one by one, so one slow recipient never holds up many others (and no lease runs out
# while the worker is still busy with the others).
SEND_AT_ONCE_LIMIT = 8


def plan_and_send(notify: Notify, envelope: Envelope) -> None:
    """Plan an event's deliveries and send them now, in as few database round trips as it can.

    1. What planning needs (contacts, preferences, the case's studio), read in one round trip, and
       only what the event's rules can use (`_read_context`).
    2. The event's own effect, repeatable: case.submitted stores the contacts (an upsert), and
       case.assigned opens the case in the digest's projection unless the same or a later
       assignment is there already (`digest.apply_assignment`).
    3. The deliveries inserted in one `insert_many(ordered=False)` with ids derived from the
       event, recipient and channel: a duplicate key means "planned already" (this is the marker
       that a redelivered event plans nothing twice), so there is no processed record. They are
       inserted already claimed by this worker (status `sending`, its lease), so sending them
       needs no find and no claim.
    4. Each sent at once and, once the provider accepted it, recorded "sent" before the next is
       sent (`_record_sent`: retried until the database answers; the event is acked after);
       a delivery that failed gets its outcome recorded and, when it may succeed later, a
       `notify.delivery_due` command in the first retry queue, as its second attempt.

    A delivery found already planned (the event came again: its first handling died or was
    duplicated) is handed to that usual path too: the command claims it once its lease has run
    out, or finds it sent and does nothing. A `kill -9` anywhere before the ack leaves the event
    to be redelivered; between the provider's acceptance and the "sent" record it is the one
    documented gap (README, "Notifications").
    """
    data = envelope.data
    reference = reference_of(data)
    rules_here = [rule for rule in rules.RULES.get(envelope.type, ()) if rules.applies(rule, data)]
    reachable = [rule for rule in rules_here if _may_reach(rule.audience, notify.plan_config)]
    contacts_from_event = _contacts_from(data) if envelope.type == "case.submitted" else None
    studio_code = (data.get("studio") or {}).get("code")
    if envelope.type in FIRST_MESSAGES and data.get("occasion", "filed") == "filed":
        # The filing's own link is the first message to its applicant: the case is being routed
        # (it has no studio yet: the link is filed under none, whatever the race with routing)
        # and the applicant has had no preferences link yet (it comes in this message), so there
        # is nothing to read. (Another applicant's link of the same filing may have been answered
        # already; those choices are not this applicant's.)
        reachable = []
    contacts, preferences, known_studio = _read_context(
        notify,
        reference,
        contacts=bool(
            contacts_from_event is None and any(r_.audience in CONTACT_AUDIENCES for r_ in reachable)
        ),
        preferences=any(r_.audience in rules.RESIDENT_AUDIENCES for r_ in reachable),
        studio=bool(reachable and studio_code is None),
    )
    if contacts_from_event is not None:
        contacts = contacts_from_event
    now = utcnow()
    planned = plan(
        envelope,
        contacts,
        preferences.get,
        notify.plan_config,
        studio_code=studio_code or known_studio,
        now=now,
    )
    if contacts_from_event is not None:
        # An upsert of the same fields: a repeated case.submitted writes the same contacts again.
        fields = {k: v for k, v in contacts_from_event.items() if k != "_id"}
        notify.db.contacts.update_one({"_id": reference}, {"$set": fields}, upsert=True)
    if envelope.type == "case.assigned":
        digest.apply_assignment(notify.db, envelope)
    if not planned:
        return
    at_once = len(planned) <= SEND_AT_ONCE_LIMIT
    lease = notify.settings.notify_sending_lease
    if at_once:
        for d in planned:
            d.update(status=SENDING, attempts=1, lease_until=now + timedelta(seconds=lease))
    fresh, known = _insert_new(notify, planned)
    log.info(
        "deliveries planned",
        extra={"reference": reference, "event": envelope.type, "count": len(fresh), "known": len(known)},
    )
    later = known if at_once else planned
    if later:  # planned before (a redelivery), or too many to send here: one command each
        _send_later(notify, envelope, later, fresh_ids={d["_id"] for d in fresh} if not at_once else set())
    if at_once and fresh:
        _send_now(notify, envelope, fresh, lease)


# Events whose message is, at filing, the first to its recipient (see `plan_and_send`).
FIRST_MESSAGES = frozenset({"case.tracking_link"})
# Audiences whose addresses come from the contacts notify keeps (the others' come with the event).
CONTACT_AUDIENCES = frozenset({rules.APPLICANTS, rules.RESPONDENTS, rules.FILER})


def _may_reach(audience: str, config: PlanConfig) -> bool:
    """False when an audience can have no recipient here (other systems, with no webhook set)."""
    if audience == rules.SYSTEMS:
        return bool(config.directory.webhook_urls) and "webhook" in config.enabled_channels
    return True


def _read_context(
    notify: Notify, reference: str, *, contacts: bool, preferences: bool, studio: bool
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], str | None]:
    """The case's contacts, its residents' preferences and its studio's code, each only if asked
    for: one round trip for all three (an aggregation of `$lookup`s on one made-up document),
    none when nothing is asked."""
    prefs_match = {"_id": {"$regex": f"^{re.escape(reference)}:"}}
    lookups = [
        (contacts, "contacts", {"_id": reference}),
        (preferences, "preferences", prefs_match),
        (studio, "studio_cases", {"_id": reference}),
    ]
    wanted = [(name, match) for asked, name, match in lookups if asked]
    if not wanted:
        return None, {}, None
    pipeline: list[dict[str, Any]] = [{"$documents": [{"_id": 0}]}]
    for name, match in wanted:
        pipeline.append({"$lookup": {"from": name, "pipeline": [{"$match": match}], "as": name}})
    row = next(iter(notify.db.aggregate(pipeline)), {})
    found_contacts = (row.get("contacts") or [None])[0]
    prefs = {p["_id"]: p for p in row.get("preferences") or []}
    studio_doc = (row.get("studio_cases") or [None])[0] or {}
    return found_contacts, prefs, (studio_doc.get("studio") or {}).get("code")


def _insert_new(
    notify: Notify, planned: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Insert the planned deliveries; return (inserted now, planned before). One round trip."""
    try:
        notify.db.deliveries.insert_many(planned, ordered=False)
    except BulkWriteError as err:
        errors = err.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        known_at = {e["index"] for e in errors}
        return (
            [d for i, d in enumerate(planned) if i not in known_at],
            [d for i, d in enumerate(planned) if i in known_at],
        )
    return planned, []


def _send_later(
    notify: Notify, envelope: Envelope, deliveries: list[dict[str, Any]], fresh_ids: set[str]
) -> None:
    """A `notify.delivery_due` command per delivery (with its code stored first, for the sender)."""
    codes = [_secret(d["_id"], envelope.data) for d in deliveries if d.get("has_secret")]
    secrets.store_now(notify.db.delivery_secrets, codes)
    stored = notify.outbox.add(_commands(deliveries, envelope.correlation_id))
    notify.outbox.flush(stored)
    if len(deliveries) > len(fresh_ids):
        log.info(
            "deliveries planned before, handed to their commands",
            extra={"event": envelope.type, "count": len(deliveries) - len(fresh_ids)},
        )


def _send_now(notify: Notify, envelope: Envelope, deliveries: list[dict[str, Any]], lease: float) -> None:
    """Send deliveries this worker inserted claimed, each recorded "sent" as soon as the provider
    accepted it (before the next is sent: a worker killed while sending one never leaves another,
    accepted earlier, unrecorded)."""
    code = envelope.data.get("code") or None
    began = time.monotonic()
    kept: list[dict[str, Any]] = []
    failed_once: list[dict[str, Any]] = []
    released: list[dict[str, Any]] = []
    for d in deliveries:
        if time.monotonic() - began > lease / 2:  # the lease must outlast the sending
            _release(notify, d["_id"])
            released.append(d)
            continue
        outcome = _send_one(notify, d, code if d.get("has_secret") else None)
        if outcome is _RETRY:
            failed_once.append(d)
        elif outcome is not _FAILED:
            _record_sent(notify, d["_id"], 1, outcome[0], outcome[1])
            if d.get("has_secret"):
                kept.append(secrets.secret_document(d["_id"], envelope.data))
    secrets.SECRETS.add(notify.db.delivery_secrets, kept)  # only a later resend needs them
    if failed_once:
        _retry_after_first_attempt(notify, envelope, failed_once)
    if released:
        _send_later(notify, envelope, released, fresh_ids={d["_id"] for d in released})


def _retry_after_first_attempt(notify: Notify, envelope: Envelope, deliveries: list[dict[str, Any]]) -> None:
    """Commands for deliveries whose first attempt (here) failed, put straight into the first
    retry queue as their second attempt: a delivery gets the same attempts and delays
    (`RETRY_DELAYS`) as one sent through its command from the start. The event is not acked
    yet: if this fails, the event comes back, finds the deliveries planned and hands them on."""
    codes = [_secret(d["_id"], envelope.data) for d in deliveries if d.get("has_secret")]
    secrets.store_now(notify.db.delivery_secrets, codes)
    publisher = notify.publisher
    topology = publisher.topology
    if not topology.is_amqp:  # no broker-side delays: the usual command, at once
        _send_later(notify, envelope, deliveries, fresh_ids={d["_id"] for d in deliveries})
        return
    queue = topology.retry_queue(NOTIFY_DELIVERIES, 0)
    for command in _commands(deliveries, envelope.correlation_id):
        try:
            publisher.publish_raw(
                command.to_dict(),
                exchange=topology.default_exchange,
                routing_key=queue.name,
                message_id=command.message_id,
                correlation_id=command.correlation_id,
                headers={
                    ATTEMPT_HEADER: 1,
                    ERROR_HEADER: "the first attempt, by the planning worker, failed",
                    ROUTING_KEY_HEADER: command.type,
                },
                declare=[queue],
            )
        except PublishError as err:
            raise RetryLater(f"could not hand a failed delivery on: {err}") from err


_RETRY, _FAILED = object(), object()


def _send_one(notify: Notify, delivery: dict[str, Any], code: str | None) -> Any:
    """Send one delivery claimed by this worker: (started, provider's answer) when accepted,
    `_RETRY` (outcome recorded, to be sent again) or `_FAILED` (outcome recorded, final)."""
    did = delivery["_id"]
    channel = notify.channels.get(delivery["channel"])
    if channel is None:
        _finish(notify, did, FAILED, 1, 0.0, error="channel not configured")
        return _FAILED
    address = delivery["recipient"]["address"]
    body = delivery["content"].get("body", "")
    if code:
        body = body.replace(CODE_PLACEHOLDER, code)
    started = time.monotonic()
    try:
        response = channel.send(_outgoing(delivery, body, code))
    except PermanentDeliveryError as err:
        error = _redact(str(err), address, delivery["channel"], code)
        _finish(notify, did, FAILED, 1, started, error=error)
        log.warning(
            "delivery failed", extra={"delivery_id": did, "channel": delivery["channel"], "error": error}
        )
        return _FAILED
    except TransientDeliveryError as err:
        error = _redact(str(err), address, delivery["channel"], code)
        _finish(notify, did, RETRYING, 1, started, error=error)
        # As the consumer logs a failed command's error (masked: no address, no code).
        log.warning(
            "delivery attempt failed, retried later",
            extra={"delivery_id": did, "channel": delivery["channel"], "error": error},
        )
        return _RETRY
    if code:  # a provider may echo the message: the code never reaches the delivery log
        response = _redact(response or "", address, delivery["channel"], code)
    log.info(
        "notification sent",
        extra={"delivery_id": did, "channel": delivery["channel"], "reference": delivery["reference"]},
    )
    return started, response


def _release(notify: Notify, did: str) -> None:
    """Give back a delivery claimed at planning but not sent here (its command sends it)."""
    notify.db.deliveries.update_one(
        {"_id": did, "status": SENDING},
        {"$set": {"status": PENDING, "attempts": 0}, "$unset": {"lease_until": ""}},
    )


def _secret(did: str, data: dict[str, Any]) -> dict[str, Any]:
    """A one-time code kept apart from its delivery (see `services.notify.secrets`)."""
    return secrets.secret_document(did, data)


def _with_secret(notify: Notify, delivery: dict[str, Any]) -> tuple[str, str | None]:
    """The body to send and the code in it: the stored body, with the code put in where the
    template left its placeholder (no code: the body as stored)."""
    body = delivery["content"].get("body", "")
    if not delivery.get("has_secret"):
        return body, None
    secret = notify.db.delivery_secrets.find_one({"_id": delivery.get("secret_id") or delivery["_id"]})
    if secret is None:
        raise PermanentError("the one-time code has expired; a new one must be requested")
    return body.replace(CODE_PLACEHOLDER, secret["code"]), secret["code"]


def _outgoing(delivery: dict[str, Any], body: str | None = None, code: str | None = None) -> Outgoing:
    content = delivery["content"]
    html = content.get("html")
    if code and html:  # an email's HTML part carries the code (a tracking link's token) too
        html = html.replace(CODE_PLACEHOLDER, code)
    return Outgoing(
        delivery_id=delivery["_id"],
        address=delivery["recipient"]["address"],
        subject=content.get("subject", ""),
        body=content.get("body", "") if body is None else body,
        html=html,
        markdown=content.get("markdown"),
        attachments=tuple(Attachment(**a) for a in content.get("attachments", [])),
        payload=content.get("payload"),
    )


def send_delivery(notify: Notify, envelope: Envelope) -> None:
    """Send one planned delivery unless it was already sent (duplicates end here)."""
    did = envelope.data["delivery_id"]
    now = utcnow()
    delivery = _claim(notify, did, now)
    if delivery is None:
        return
    channel = notify.channels.get(delivery["channel"])
    if channel is None:  # the channel was switched off after planning
        _finish(notify, did, FAILED, delivery["attempts"], 0.0, error="channel not configured")
        raise PermanentError(f"channel {delivery['channel']} is not configured")
    started = time.monotonic()
    address = delivery["recipient"]["address"]
    try:
        body, code = _with_secret(notify, delivery)
    except PermanentError as err:
        _finish(notify, did, FAILED, delivery["attempts"], 0.0, error=str(err))
        raise
    try:
        response = channel.send(_outgoing(delivery, body, code))
    except PermanentDeliveryError as err:
        error = _redact(str(err), address, delivery["channel"], code)
        _finish(notify, did, FAILED, delivery["attempts"], started, error=error)
        raise PermanentError(error) from None  # the consumer logs it: no address in logs
    except TransientDeliveryError as err:
        error = _redact(str(err), address, delivery["channel"], code)
        _finish(notify, did, RETRYING, delivery["attempts"], started, error=error)
        raise TransientDeliveryError(error) from None
    if code:  # a provider may echo the message: the code never reaches the delivery log
        response = _redact(response or "", address, delivery["channel"], code)
    _record_sent(notify, did, delivery["attempts"], started, response)
    log.info(
        "notification sent",
        extra={"delivery_id": did, "channel": delivery["channel"], "reference": delivery["reference"]},
    )


def _claim(notify: Notify, did: str, now: datetime) -> dict[str, Any] | None:
    """Lease a delivery for sending; None when it is already done. Raises when it is busy
    elsewhere (`DeliveryBusy`) or unknown (`PermanentError`).

    A point read then an update conditional on the state just read, both by `_id`: one claim
    wins. (A single find_one_and_update with this filter would do, but SecantusDB scans the
    whole collection for it; these two stay O(1) on every server.)
    """
    current = notify.db.deliveries.find_one({"_id": did})
    if current is None:
        raise PermanentError(f"no delivery {did}")
    status, lease_until = current["status"], current.get("lease_until")
    if status == SENDING and lease_until is not None and lease_until >= now:
        raise DeliveryBusy(did, delay=max(0.0, (lease_until - now).total_seconds()))
    if status not in (PENDING, RETRYING, SENDING):
        return None  # sent or failed already: a duplicate command has no second effect
    if status == SENDING:
        _await_takeover(notify, current, now)  # raises DeliveryBusy until the grace has passed
    claimed = notify.db.deliveries.update_one(
        {"_id": did, "status": status, "lease_until": lease_until},
        {
            "$set": {
                "status": SENDING,
                "lease_until": now + timedelta(seconds=notify.settings.notify_sending_lease),
            },
            "$inc": {"attempts": 1},
            "$unset": {"takeover_after": ""},
        },
    )
    if claimed.modified_count == 0:  # another worker claimed it between the read and the update
        raise DeliveryBusy(did, delay=notify.settings.notify_sending_lease)
    current.update(status=SENDING, attempts=current.get("attempts", 0) + 1)
    return current


def takeover_grace(lease: float) -> float:
    """Seconds a takeover waits after first finding a lease run out (see `TAKEOVER_GRACE`)."""
    return min(TAKEOVER_GRACE, lease)


def _await_takeover(notify: Notify, current: dict[str, Any], now: datetime) -> None:
    """Let a delivery whose lease ran out be taken over only once the grace has passed.

    The first worker to find the lease run out notes when the grace ends and waits; a sender that
    outlived its lease only because the database was away records "sent" meanwhile, and the
    takeover then finds the delivery done. Only a sender that really died is taken over.
    """
    after = current.get("takeover_after")
    if after is None:
        grace = takeover_grace(notify.settings.notify_sending_lease)
        notify.db.deliveries.update_one(
            {
                "_id": current["_id"],
                "status": SENDING,
                "lease_until": current.get("lease_until"),
                "takeover_after": None,
            },
            {"$set": {"takeover_after": now + timedelta(seconds=grace)}},
        )
        raise DeliveryBusy(current["_id"], delay=grace)
    if after > now:
        raise DeliveryBusy(current["_id"], delay=(after - now).total_seconds())


def _record_sent(notify: Notify, did: str, attempt: int, started: float, response: str | None) -> None:
    """Record that the provider accepted the delivery, however long the database takes to answer.

    The provider has the message: giving up here (raising, so the command comes back later)
    would let this or another worker send it a second time once the lease ran out. So the worker
    keeps the delivery and tries again until the write succeeds; meanwhile a takeover waits for
    its grace (`_await_takeover`). Only a crash of this process before the write leaves the
    delivery to be sent again (README, "Notifications").
    """
    _retry_until_recorded(
        lambda: _finish(notify, did, SENT, attempt, started, response=response, unless_sent=True), [did]
    )


def _retry_until_recorded(write: Callable[[], object], dids: list[str]) -> None:
    """Run `write` (recording "sent") again and again until the database takes it."""
    delay = RECORD_RETRY_FIRST
    failures = 0
    while True:
        try:
            write()
            if failures:
                log.info("sent delivery recorded", extra={"delivery_ids": dids, "failures": failures})
            return
        except PyMongoError as err:
            failures += 1
            if failures == 1 or failures % 20 == 0:
                log.warning(
                    "sent delivery not recorded yet, retrying",
                    extra={"delivery_ids": dids, "failures": failures, "error": type(err).__name__},
                )
        time.sleep(delay)
        delay = min(delay * 2, RECORD_RETRY_LAST)


def _redact(text: str, address: str, channel: str, code: str | None = None) -> str:
    """A provider's answer may quote the address (e.g. "550 <a@b.cn>: no such user") or the message
    with its one-time code: mask both."""
    if code:
        text = text.replace(code, CODE_PLACEHOLDER)
    return text.replace(address, mask_address(channel, address)) if address else text


def _finish(
    notify: Notify,
    did: str,
    status: str,
    attempt: int,
    started: float,
    *,
    error: str | None = None,
    response: str | None = None,
    unless_sent: bool = False,
) -> None:
    """Store an attempt's outcome; `unless_sent` makes it a no-op once the delivery is sent (a
    retried "sent" record whose first write reached the database logs the attempt once)."""
    query: dict[str, Any] = {"_id": did, "status": {"$ne": SENT}} if unless_sent else {"_id": did}
    notify.db.deliveries.update_one(
        query, _outcome_update(status, attempt, started, error=error, response=response)
    )


def _outcome_update(
    status: str, attempt: int, started: float, *, error: str | None = None, response: str | None = None
) -> dict[str, Any]:
    """The update that records an attempt's outcome (status, the attempt's log entry, no lease)."""
    now = utcnow()
    update: dict[str, Any] = {"status": status, "updated_at": now}
    entry: dict[str, Any] = {
        "attempt": attempt,
        "at": now,
        "outcome": status,
        "duration_ms": round((time.monotonic() - started) * 1000) if started else 0,
    }
    if status == SENT:
        update["sent_at"] = now
        update["provider_response"] = (response or "")[:1000]
        entry["response"] = (response or "")[:500]
    if error:
        update["last_error"] = error[:1000]
        entry["error"] = error[:500]
    return {
        "$set": update,
        "$unset": {"lease_until": "", "takeover_after": ""},
        "$push": {"attempt_log": entry},
    }


def on_delivery_dead(notify: Notify, envelope: Envelope | None, reason: str) -> None:
    """The last attempt failed: the delivery is marked failed, visible in the delivery log."""
    if envelope is None or envelope.type != "notify.delivery_due":
        return
    notify.db.deliveries.update_one(
        {"_id": envelope.data["delivery_id"], "status": {"$ne": SENT}},
        {
            "$set": {
                "status": FAILED,
                "dead_lettered": True,
                "last_error": reason[:1000],
                "updated_at": utcnow(),
            },
            "$unset": {"lease_until": ""},
        },
    )


def resend(notify: Notify, did: str, requested_by: str) -> dict[str, Any] | None:
    """Plan a new copy of a delivery (same content, new id) and send it; None if unknown."""
    original = notify.db.deliveries.find_one({"_id": did})
    if original is None:
        return None
    now = utcnow()
    copy_id = new_id()
    content = dict(original["content"])
    if content.get("payload"):
        # A new id, so a receiver that drops repeats by id accepts the deliberate resend.
        content["payload"] = {**content["payload"], "id": copy_id}
    copy = {
        **{k: v for k, v in original.items() if k not in {"attempt_log", "last_error", "provider_response"}},
        "_id": copy_id,
        "content": content,
        "status": PENDING,
        "attempts": 0,
        "attempt_log": [],
        "resend_of": did,
        "requested_by": requested_by,
        "created_at": now,
        "updated_at": now,
    }
    for key in ("sent_at", "lease_until", "dead_lettered"):
        copy.pop(key, None)
    if original.get("has_secret"):
        copy["secret_id"] = original.get("secret_id") or did  # the same code, while it is valid
    commands = _commands([copy], original.get("correlation_id") or new_id())
    with transaction(notify.db) as session:
        notify.db.deliveries.insert_one(copy, session=session)
        stored = notify.outbox.add(commands, session=session)
    notify.outbox.flush(stored)
    log.info("delivery resent", extra={"delivery_id": copy_id, "resend_of": did})
    return copy


def save_preferences(notify: Notify, key: str, channels: list[str], opt_out: bool) -> None:
    """Store a resident's choices; they apply to every message planned from now on."""
    notify.db.preferences.replace_one(
        {"_id": key},
        {"_id": key, "channels": sorted(set(channels)), "opt_out": opt_out, "updated_at": utcnow()},
        upsert=True,
    )


def save_household_preferences(
    notify: Notify, key: str, community_notices: bool, channels: list[str]
) -> None:
    """Store a household's choices (community notices yes/no, channels); they apply to every message
    planned from now on. Consultation notices ignore them but for the channel: they are essential."""
    notify.db.preferences.replace_one(
        {"_id": key},
        {
            "_id": key,
            "community_notices": community_notices,
            "channels": sorted(set(channels)),
            "updated_at": utcnow(),
        },
        upsert=True,
    )


def plan_digests(notify: Notify, now: datetime | None = None) -> int:
    """Plan today's digest for every studio lead, unless done; safe on several replicas.

    Returns how many digests this call planned.
    """
    settings = notify.settings
    now = now or utcnow()
    day, hour = digest.local_day(now, settings.notify_timezone)
    if hour < settings.digest_hour:
        return 0
    cases_by_studio: dict[str, list[dict[str, Any]]] = {}
    studios: dict[str, dict[str, Any]] = {}
    for case in notify.db.studio_cases.find({"open": True}):
        studio = case.get("studio") or {}
        if not studio.get("code"):
            continue
        cases_by_studio.setdefault(studio["code"], []).append(case)
        if studio.get("lead_email") or studio["code"] not in studios:
            studios[studio["code"]] = studio
    planned = 0
    for code, cases in cases_by_studio.items():
        studio = studios[code]
        did = digest.digest_id(code, day)
        if not studio.get("lead_email") or notify.db.deliveries.find_one({"_id": did}, {"_id": 1}):
            continue
        summary = digest.summarise(cases, now, settings.digest_due_soon_days)
        language = "zh-CN"
        content = digest.digest_content(
            studio, summary, day, language, settings.notify_timezone, settings.digest_due_soon_days
        )
        delivery = {
            "_id": did,
            "reference": None,
            "studio": code,
            "event_type": "digest.daily",
            "event_id": did,
            "correlation_id": new_id(),
            "channel": "email",
            "template": "studio_digest",
            "essential": True,
            "recipient": {
                "key": f"studio_lead:{code}",
                "audience": "studio_lead",
                "address": studio["lead_email"],
            },
            "language": language,
            "content": content,
            "status": PENDING,
            "attempts": 0,
            "attempt_log": [],
            "created_at": now,
            "updated_at": now,
        }
        try:
            with transaction(notify.db) as session:
                notify.db.deliveries.insert_one(delivery, session=session)
                stored = notify.outbox.add(_commands([delivery], delivery["correlation_id"]), session=session)
        except (DuplicateKeyError, OperationFailure) as err:
            conflict = isinstance(err, DuplicateKeyError) or err.has_error_label("TransientTransactionError")
            if not conflict:
                raise
            # Another replica planned this studio's digest first (or is doing so right now).
            log.info("digest already planned elsewhere", extra={"studio": code, "error": type(err).__name__})
            continue
        notify.outbox.flush(stored)
        planned += 1
    if planned:
        log.info("digests planned", extra={"count": planned, "day": day.isoformat()})
    return planned
