"""A dispute flows intake → mediation → notify over the real broker, and back to tracking."""

from __future__ import annotations

import time

from devtools.smtp_sink import CapturingHandler
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.stack import Workers, wait_for


def test_case_is_assigned_and_notified_within_seconds(
    intake_client, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    for service in ("intake", "mediation", "notify"):
        workers.start(service)
    started = time.monotonic()

    created = intake_client.post("/api/v1/cases", json=CASE)
    assert created.status_code == 201, created.json
    reference, token = created.json["reference"], created.json["tracking_token"]
    assert created.json["status"] == "received"

    def tracked_status() -> str:
        return intake_client.get(f"/api/v1/cases/{reference}?token={token}").json["status"]

    wait_for(lambda: tracked_status() == "assigned", timeout=15, what="tracking page to show 'assigned'")
    studio_mail = wait_for(lambda: mailbox.to("zhihe@studios.concord.local"), what="studio email")
    resident_mail = wait_for(lambda: mailbox.to("zhang@example.com"), what="resident email")
    elapsed = time.monotonic() - started
    assert elapsed < 15

    assert reference in studio_mail[0]["Subject"]
    assert reference in resident_mail[0].get_body(preferencelist=("plain",)).get_content()
    status = intake_client.get(f"/api/v1/cases/{reference}?token={token}").json
    assert [entry["status"] for entry in status["timeline"]] == ["received", "assigned"]

    mediation_case = database(stack_settings, "mediation").cases.find_one({"_id": reference})
    assert mediation_case["studio"] == "zhihe"
    assert mediation_case["routing"]["rule"] == "area+category"
    # One assignment and three emails (the studio's; the resident's: routed, and their own tracking
    # link), however long we wait.
    time.sleep(1.0)
    assert len(mailbox.messages) == 3
    subjects = sorted(str(m["Subject"]) for m in mailbox.to("zhang@example.com"))
    assert len(subjects) == 2 and any("tracking link" in s or "查询链接" in s for s in subjects)
    assert database(stack_settings, "mediation").studios.find_one({"_id": "zhihe"})["open_cases"] == 1
    assert workers.stop_all() == {"intake": 0, "mediation": 0, "notify": 0}
    # One correlation id follows the case from the HTTP request through every service's logs.
    correlation_id = created.headers["X-Correlation-ID"]
    for service in ("mediation", "notify", "intake"):
        assert f'"correlation_id": "{correlation_id}"' in workers.log(service), service
