"""RabbitMQ delivers at least once: the same message twice has one effect."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from devtools.smtp_sink import CapturingHandler
from shared.config import Settings
from shared.messaging.envelope import Envelope, make_envelope
from shared.messaging.publisher import Publisher
from tests.integration.conftest import database
from tests.support.stack import Workers, wait_for


def submitted_event(reference: str = "LC-2026-000042") -> Envelope:
    return make_envelope(
        "case.submitted",
        {
            "reference": reference,
            "received_at": "2026-11-25T08:00:00+00:00",
            "category": "property_management",
            "community": "heping",
            "building": "7",
            "unit": "1-502",
            "description": "Parking fee doubled without notice.",
            "parties": [
                {"role": "applicant", "name": "王五", "phone": "13700137000", "email": "wang@example.com"},
                {"role": "respondent", "name": "物业公司"},
            ],
        },
        source="test",
    )


def test_same_case_submitted_twice_gives_one_assignment_and_one_email_each(
    stack_settings: Settings, workers: Workers, mailbox: CapturingHandler
) -> None:
    workers.start("mediation")
    workers.start("notify")
    publisher = Publisher(stack_settings)
    event = submitted_event()
    publisher.publish(event)
    publisher.publish(event)  # a redelivery: same message_id
    # The same case re-sent under a new message id (e.g. replayed by hand) is no second case.
    publisher.publish(replace(event, message_id=uuid.uuid4().hex))

    mediation = database(stack_settings, "mediation")
    notify = database(stack_settings, "notify")
    wait_for(lambda: len(mailbox.messages) >= 2, what="two emails")
    time.sleep(1.5)  # let any duplicate effect happen before counting

    assert mediation.cases.count_documents({}) == 1
    assert mediation.outbox.count_documents({"envelope.type": "case.assigned"}) == 1
    studio = mediation.cases.find_one({})["studio"]
    assert mediation.studios.find_one({"_id": studio})["open_cases"] == 1
    assert notify.deliveries.count_documents({}) == 2
    assert len(mailbox.messages) == 2

    # The notify side: a delivery command for a delivery already sent (the planning worker sent
    # it at once) sends nothing more.
    sent = notify.deliveries.find_one({"status": "sent"})
    publisher.publish(make_envelope("notify.delivery_due", {"delivery_id": sent["_id"]}, source="test"))
    time.sleep(1.0)
    assert len(mailbox.messages) == 2
    publisher.close()
