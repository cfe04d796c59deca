# Chinese text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Council's community notices through the real broker into notify's real worker (SecantusDB, local
HTTP servers for the SMS gateway and the building's WeChat Work robot): every household SMS carries
the flat's signed preferences link; a household opts in to community notices on that page (no
JavaScript, CSRF), another says no; a consultation still reaches both (essential), published minutes
reach only the one that asked, the building group and the invitee; a redelivered event sends nothing
twice."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from services.council import consultations, meetings, minutes
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from services.notify.app import create_app
from services.notify.bootstrap import SERVICE as NOTIFY
from services.notify.domain.audiences import household_key
from shared.config import Settings
from shared.db import get_database
from shared.messaging.envelope import Envelope, make_envelope, utcnow
from shared.messaging.publisher import Publisher
from tests.integration.council_support import (
    COMMUNITY,
    committee,
    deliveries,
    new_questionnaire,
    seed_register,
    settled,
)
from tests.integration.notify_fakes import FakeProvider, providers
from tests.support.stack import Workers

CLERK = committee()
INVITEE_PHONE = "13700137000"


def texts_to(fake: FakeProvider, phone: str) -> list[str]:
    return [r.json()["text"] for r in fake.accepted() if r.json()["to"] == phone]


def published_minutes(council: Council) -> str:
    """A meeting (its hall confirmed by mediation's answer), one invitee, minutes adopted and published."""
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    made = meetings.create_meeting(
        council, COMMUNITY, CLERK, title="加装电梯议事会", starts_at=start, ends_at=start + timedelta(hours=2)
    )
    hall = f"hall:{COMMUNITY}"
    answer = {
        "meeting_id": made["_id"],
        "request": 1,
        "room": hall,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "confirmed_at": utcnow().isoformat(),
        "place": {"code": hall, "name": "莲花小区议事厅"},
    }
    meetings.on_hall_answer(council, make_envelope("hall.booking_confirmed", answer, source="mediation"))
    meetings.add_invitee(
        council, COMMUNITY, made["_id"], CLERK, kind="representative", name="王建国", phone=INVITEE_PHONE
    )
    minutes.save_draft(council, COMMUNITY, made["_id"], CLERK, "会议决定：加装电梯。")
    ends = minutes.circulate(council, COMMUNITY, made["_id"], CLERK)
    minutes.adopt(council, COMMUNITY, made["_id"], CLERK, now=ends)
    return minutes.publish(council, COMMUNITY, made["_id"], CLERK)


def test_households_choose_community_notices_on_their_signed_page(
    workers: Workers, stack_settings: Settings
) -> None:
    council = bootstrap(stack_settings)
    ensure_indexes(council.db)
    flats = seed_register(council)
    phone_of = {f["_id"]: f["phones"][0] for f in flats if f["community"] == COMMUNITY and f["phones"]}
    yes, no = "f11", "f13"  # f21 and f23 never choose
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

        # A consultation opens: every registered phone is texted, each with its flat's own link.
        now = utcnow()
        doc = new_questionnaire(
            council, opens_at=now - timedelta(minutes=5), closes_at=now + timedelta(days=3)
        )
        consultations.open_(council, CLERK, doc["_id"], now)
        settled(stack_settings, len(phone_of) + 1, event_type="consultation.opened")
        links = {}
        for flat, phone in phone_of.items():
            [text] = texts_to(fake["sms"], phone)
            links[flat] = re.search(r"https?://\S+(/preferences/\S+)", text).group(1)
        assert len(set(links.values())) == len(links), "one link per flat"

        # Two households answer on their page (without JavaScript: a form, its CSRF token, a redirect).
        client = create_app(stack_settings).test_client()
        for flat, wanted in ((yes, "1"), (no, "0")):
            page = client.get(f"{links[flat]}?lang=en")
            assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
            html = page.get_data(as_text=True)
            assert "Community notices" in html and phone_of[flat] not in html
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
            # A forged form (no CSRF token) and a form without a choice change nothing.
            assert (
                client.post(links[flat], data={"community_notices": "1", "channels": "sms"}).status_code
                == 400
            )
            assert client.post(links[flat], data={"csrf_token": token, "channels": "sms"}).status_code == 422
            assert (
                get_database(stack_settings, NOTIFY).preferences.find_one(
                    {"_id": household_key(COMMUNITY, flat)}
                )
                is None
            )
            saved = client.post(
                links[flat], data={"csrf_token": token, "community_notices": wanted, "channels": "sms"}
            )
            assert saved.status_code == 303
            assert "saved=1" in saved.headers["Location"]
        zh = client.get(f"{links[yes]}?lang=zh-CN").get_data(as_text=True)
        assert "社区事务通知" in zh and 'id="notices-yes" name="community_notices" value="1" checked' in zh
        assert client.get("/preferences/not-a-signed-token").status_code == 404

        # The minutes are published: the invitee, the household that asked, the group; nobody else.
        sms_before = {flat: len(texts_to(fake["sms"], phone)) for flat, phone in phone_of.items()}
        url = published_minutes(council)
        found = settled(stack_settings, 3, event_type="minutes.published")
        assert {d["status"] for d in found} == {"sent"}
        assert sorted(d["recipient"]["address"] for d in found if d["channel"] == "sms") == sorted(
            [INVITEE_PHONE, phone_of[yes]]
        )
        [household_text] = texts_to(fake["sms"], phone_of[yes])[sms_before[yes] :]
        assert url in household_text and links[yes] in household_text
        for flat in phone_of:
            if flat != yes:
                assert len(texts_to(fake["sms"], phone_of[flat])) == sms_before[flat]
        groups = [r.json() for r in fake["group"].accepted()]
        assert len(groups) == 2 and url in groups[-1]["markdown"]["content"]

        # The event delivered again (a broker redelivery, a relay republishing): no second message.
        row = council.db.outbox.find_one({"envelope.type": "minutes.published"})
        sent_before = len(fake["sms"].accepted())
        publisher = Publisher(stack_settings)
        try:
            publisher.publish(Envelope(**row["envelope"]))
            publisher.publish(Envelope(**row["envelope"]))
        finally:
            publisher.close()
        time.sleep(2.0)
        assert len(deliveries(stack_settings, event_type="minutes.published")) == 3
        assert len(fake["sms"].accepted()) == sent_before and len(fake["group"].accepted()) == 2
