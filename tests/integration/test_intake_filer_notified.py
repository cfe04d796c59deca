"""Issue 6 item 1: the building leader who filed for a resident is told the case was received,
from intake's form through the broker to notify's real worker and an SMTP server."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from devtools.smtp_sink import CapturingHandler
from services.notify.bootstrap import SERVICE as NOTIFY
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

FILER = {"name": "王楼长", "phone": "13600136000", "email": "wang@example.com"}


def test_building_leader_who_filed_gets_the_case_received_email(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    workers.start("intake")
    workers.start("notify")
    body = {**CASE, "filed_by": "building_leader", "filer": FILER, "language": "en"}
    created = intake_client.post("/api/v1/cases", json=body)
    assert created.status_code == 201, created.json
    reference = created.json["reference"]

    mail = wait_for(lambda: mailbox.to("wang@example.com"), timeout=20, what="the filer's email")
    assert reference in str(mail[0]["Subject"]) and "received" in str(mail[0]["Subject"])
    text = mail[0].get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Dear 王楼长") and "on behalf of residents" in text  # the case's language

    # The SMTP server accepts the mail a moment before notify records it sent.
    delivery = wait_for(
        lambda: database(stack_settings, NOTIFY).deliveries.find_one(
            {"recipient.audience": "filer", "status": "sent"}
        ),
        what="the filer's delivery marked sent",
    )
    assert delivery["channel"] == "email"
    time.sleep(1.0)  # once; and the applicant gets their own tracking link (mediation is not running)
    assert len(mailbox.to("wang@example.com")) == 1 and len(mailbox.messages) == 2
    assert [str(m["Subject"]) for m in mailbox.to("zhang@example.com")] == [
        f"Your mediation case {reference}: your tracking link"
    ]


def test_resident_filing_for_themselves_tells_no_filer(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    workers.start("notify")
    created = intake_client.post("/api/v1/cases", json=CASE)
    assert created.status_code == 201
    notify = database(stack_settings, NOTIFY)
    # case.submitted leaves no processed record (its effect, the contacts, is its own marker).
    wait_for(
        lambda: notify.contacts.count_documents({"_id": created.json["reference"]}) > 0,
        timeout=20,
        what="notify to handle case.submitted",
    )
    wait_for(lambda: mailbox.to("zhang@example.com"), timeout=20, what="the applicant's tracking link")
    time.sleep(0.5)
    # Only the applicant's own tracking link: no filer to tell.
    assert [d["recipient"]["audience"] for d in notify.deliveries.find({})] == ["link_recipient"]
    assert len(mailbox.messages) == 1
