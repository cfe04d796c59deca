"""Council's consultation events through the real broker into notify's real worker, with local HTTP
servers standing in for the SMS gateway and the building's WeChat Work robot: opening tells every
registered phone and the building groups, a code request texts the code while the delivery log never
holds it, a reminder reaches only the unanswered households, and a redelivered event sends nothing twice."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from services.council import answering, consultations, participation
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from services.council.domain import codes
from services.notify import delivery as notify_delivery
from services.notify.app import create_app
from services.notify.bootstrap import SERVICE as NOTIFY
from services.notify.bootstrap import bootstrap as notify_bootstrap
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import Envelope, utcnow
from shared.messaging.publisher import Publisher
from tests.integration.council_support import (
    COMMUNITY,
    committee,
    deliveries,
    leader,
    new_questionnaire,
    seed_register,
    settled,
)
from tests.integration.notify_fakes import FakeProvider, providers
from tests.support.stack import Workers

ADMIN = Staff("u-admin", "Admin", frozenset({"district_admin"}), language="en")


def open_now(council: Council) -> dict[str, Any]:
    """A questionnaire open around the real time (codes and their expiry are real-time)."""
    now = utcnow()
    doc = new_questionnaire(council, opens_at=now - timedelta(minutes=5), closes_at=now + timedelta(days=3))
    return consultations.open_(council, committee(), doc["_id"], now)


def test_opening_codes_reminders_and_redelivery_through_notify(
    workers: Workers, stack_settings: Settings
) -> None:
    council = bootstrap(stack_settings)
    ensure_indexes(council.db)
    flats = seed_register(council)
    with providers(sms=FakeProvider(ok_body={"ok": True}), group=FakeProvider()) as fake:
        council.db.building_groups.insert_one(
            {
                "_id": f"{COMMUNITY}:1",
                "community": COMMUNITY,
                "building": "1",
                "webhook_url": fake["group"].url,
            }
        )
        workers.start("notify", SMS_GATEWAY_URL=fake["sms"].url, CHANNEL_TIMEOUT="2")
        doc = open_now(council)

        # Opening: one SMS per registered phone of the community's flats, and building 1's group.
        phones = sorted(p for f in flats if f["community"] == COMMUNITY for p in f["phones"])
        opened = settled(stack_settings, len(phones) + 1, event_type="consultation.opened")
        assert {d["status"] for d in opened} == {"sent"}
        texts = [r.json() for r in fake["sms"].accepted()]
        assert sorted(t["to"] for t in texts) == phones
        assert all(doc["title"]["zh-CN"] in t["text"] and f"/c/{doc['_id']}" in t["text"] for t in texts)
        [group] = fake["group"].accepted()
        assert (
            group.json()["msgtype"] == "markdown"
            and doc["title"]["zh-CN"] in group.json()["markdown"]["content"]
        )

        # A code request: the SMS carries the code; notify's stored delivery never does.
        flat = next(f for f in flats if f["community"] == COMMUNITY and f["phones"])
        answering.request_sms_code(
            council, doc["_id"], flat["building"], flat["unit"], flat["flat"], "en", utcnow()
        )
        [coded] = settled(stack_settings, 1, event_type="consultation.code_requested")
        sms = [r.json() for r in fake["sms"].accepted() if "code for flat" in r.json()["text"]]
        assert len(sms) == 1 and sms[0]["to"] == flat["phones"][0]
        code = re.search(r"code for flat [\d-]+: (\S+),", sms[0]["text"]).group(1)
        assert council.db.answer_codes.find_one(
            {"_id": codes.code_hash(stack_settings.secret_key, doc["_id"], code)}
        ), "the texted code is the one council stored (hashed)"
        stored = repr(get_database(stack_settings, NOTIFY).deliveries.find_one({"_id": coded["_id"]}))
        assert code not in stored and "******" in coded["content"]["body"]
        # The delivery log (API and page) finds it by the consultation and shows no code.
        log = create_app(stack_settings).test_client()
        headers = {"Authorization": f"Bearer {issue_token(stack_settings, ADMIN)}"}
        found = log.get(f"/api/v1/deliveries?reference={doc['_id']}", headers=headers).get_json()
        assert coded["_id"] in {d["id"] if "id" in d else d.get("_id") for d in found["items"]}
        one = log.get(f"/api/v1/deliveries/{coded['_id']}", headers=headers).get_data(as_text=True)
        assert code not in one and "******" in one
        log.set_cookie(COOKIE_NAME, issue_token(stack_settings, ADMIN))
        page = log.get(f"/admin/deliveries/{coded['_id']}?lang=en").get_data(as_text=True)
        assert code not in page and "******" in page

        # Resending it (the admin's button) sends the same code again while it is valid, still unstored.
        copy = notify_delivery.resend(notify_bootstrap(stack_settings), coded["_id"], requested_by="u-admin")
        settled(stack_settings, 1, _id=copy["_id"])
        again = [r.json()["text"] for r in fake["sms"].accepted() if "code for flat" in r.json()["text"]]
        assert len(again) == 2 and again[1] == sms[0]["text"]
        assert code not in repr(
            get_database(stack_settings, NOTIFY).deliveries.find_one({"_id": copy["_id"]})
        )

        # A reminder of building 1: only its households without a ballot, and its group.
        council.db.ballots.insert_one(
            {"_id": f"{doc['_id']}:f11", "consultation_id": doc["_id"], "flat_id": "f11", "building": "1"}
        )
        participation.send_reminder(council, doc["_id"], leader(("1",)), "1")
        reminded = settled(stack_settings, 2, event_type="consultation.reminder")
        sms_to = sorted(d["recipient"]["address"] for d in reminded if d["channel"] == "sms")
        unanswered_phones = [f["phones"][0] for f in flats if f["_id"] in ("f12", "f13") and f["phones"]]
        assert sms_to == sorted(unanswered_phones)
        assert len(fake["group"].accepted()) == 2

        # The reminder event delivered again (a broker redelivery, a relay republishing): no second message.
        row = council.db.outbox.find_one({"envelope.type": "consultation.reminder"})
        sent_before = len(fake["sms"].accepted())
        publisher = Publisher(stack_settings)
        try:
            publisher.publish(Envelope(**row["envelope"]))
            publisher.publish(Envelope(**row["envelope"]))
        finally:
            publisher.close()
        time.sleep(2.0)
        assert len(deliveries(stack_settings, event_type="consultation.reminder")) == 2
        assert len(fake["sms"].accepted()) == sent_before and len(fake["group"].accepted()) == 2
