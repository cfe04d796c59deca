"""The delivery log (API and pages), resending, previews, preferences and digests, on the real
database and broker."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from devtools.smtp_sink import CapturingHandler
from services.notify import delivery
from services.notify.app import create_app
from services.notify.bootstrap import Notify
from services.notify.planning import preferences_url
from services.notify.preferences import preference_key
from shared.auth import Staff, issue_token
from shared.config import Settings
from tests.support.notify_events import REFERENCE, STUDIO, event
from tests.support.stack import Workers, wait_for

ADMIN = Staff("u-admin", "Admin", frozenset({"district_admin"}))
LEAD_OTHER = Staff("u-lead", "Lead", frozenset({"studio_lead"}), studio="dongfeng-rc")
MEDIATOR = Staff("u-med", "Mediator", frozenset({"mediator"}), studio="zhihe")


@pytest.fixture
def client(stack_settings: Settings) -> FlaskClient:
    return create_app(stack_settings).test_client()


@pytest.fixture
def notify(client: FlaskClient) -> Notify:
    return client.application.extensions["notify"]


def auth(settings: Settings, staff: Staff) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, staff)}"}


def planned(notify: Notify) -> list[dict]:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    delivery.handle_event(notify, event("case.assigned"))
    delivery.handle_event(notify, event("case.status_changed", reference="LC-2026-000043"))  # no contacts
    return list(notify.db.deliveries.find())


def test_api_searches_by_case_recipient_and_status_with_masked_addresses(
    client: FlaskClient, notify: Notify, stack_settings: Settings
) -> None:
    with pytest.raises(Exception, match="LC-2026-000043"):
        planned(notify)  # the last event waits for its contacts; the first two are planned
    headers = auth(stack_settings, ADMIN)
    everything = client.get("/api/v1/deliveries", headers=headers)
    assert everything.status_code == 200 and everything.json["total"] == 2
    assert {i["recipient"] for i in everything.json["items"]} == {"z***@studios.example", "z***@example.com"}
    assert "zhang@example.com" not in everything.get_data(as_text=True)

    by_recipient = client.get("/api/v1/deliveries?recipient=zhang@example.com", headers=headers).json
    assert [i["audience"] for i in by_recipient["items"]] == ["applicants"]
    # Sent at once by the planning worker (the stack's SMTP sink accepts them): none waits.
    assert (
        client.get(f"/api/v1/deliveries?reference={REFERENCE}&status=sent", headers=headers).json["total"]
        == 2
    )
    assert client.get("/api/v1/deliveries?status=pending", headers=headers).json["total"] == 0

    bad = client.get("/api/v1/deliveries?status=lost&page=0", headers=headers)
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"status", "page"}


def test_only_admins_and_their_own_studio_see_the_log(
    client: FlaskClient, notify: Notify, stack_settings
) -> None:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    delivery.handle_event(notify, event("case.assigned"))
    assert client.get("/api/v1/deliveries").status_code == 401
    assert client.get("/api/v1/deliveries", headers=auth(stack_settings, MEDIATOR)).status_code == 403
    other = client.get("/api/v1/deliveries", headers=auth(stack_settings, LEAD_OTHER))
    assert other.status_code == 200 and other.json["total"] == 0
    own = Staff("u-l2", "Lead", frozenset({"studio_lead"}), studio="zhihe")
    assert client.get("/api/v1/deliveries", headers=auth(stack_settings, own)).json["total"] == 2
    some_id = notify.db.deliveries.find_one()["_id"]
    assert (
        client.get(f"/api/v1/deliveries/{some_id}", headers=auth(stack_settings, LEAD_OTHER)).status_code
        == 404
    )
    assert client.get("/admin/deliveries").status_code == 401
    page = client.get("/admin/deliveries", headers=auth(stack_settings, ADMIN))
    assert page.status_code == 200 and "z***@example.com" in page.get_data(as_text=True)


def test_resend_from_the_page_sends_a_new_copy_once(
    client: FlaskClient, notify: Notify, stack_settings: Settings, workers: Workers, mailbox: CapturingHandler
) -> None:
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    delivery.handle_event(notify, event("case.assigned"))
    workers.start("notify")
    wait_for(lambda: len(mailbox.messages) == 2, what="first two emails")
    original = notify.db.deliveries.find_one({"recipient.audience": "applicants"})
    client.set_cookie("concord_staff", issue_token(stack_settings, ADMIN))
    detail = client.get(f"/admin/deliveries/{original['_id']}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "250 accepted" in html
    no_csrf = client.post(f"/admin/deliveries/{original['_id']}/resend")
    assert no_csrf.status_code == 400 and notify.db.deliveries.count_documents({}) == 2
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    answer = client.post(f"/admin/deliveries/{original['_id']}/resend", data={"csrf_token": token})
    assert answer.status_code == 303
    wait_for(lambda: len(mailbox.to("zhang@example.com")) == 2, what="the resent email")
    copy = wait_for(lambda: notify.db.deliveries.find_one({"resend_of": original["_id"], "status": "sent"}))
    assert copy["requested_by"] == "u-admin" and copy["content"]["subject"] == original["content"]["subject"]
    api_copy = client.post(f"/api/v1/deliveries/{copy['_id']}/resend", headers=auth(stack_settings, ADMIN))
    assert api_copy.status_code == 202 and api_copy.json["resend_of"] == copy["_id"]
    wait_for(lambda: len(mailbox.to("zhang@example.com")) == 3, what="the API resend")
    assert len(mailbox.messages) == 4


def test_preview_renders_each_template_in_both_languages(
    client: FlaskClient, stack_settings: Settings
) -> None:
    headers = auth(stack_settings, ADMIN)
    zh = client.get("/api/v1/templates/preview?template=session_invitation&language=zh-CN", headers=headers)
    en = client.get(
        "/api/v1/templates/preview?template=session_invitation&language=en&channel=sms", headers=headers
    )
    assert (
        zh.status_code == 200 and "调解会" in zh.json["subject"] and zh.json["html"].startswith("<!DOCTYPE")
    )
    assert en.status_code == 200 and en.json["body"].startswith("Concord:")
    from services.notify.delivery_log import templates

    for template in templates():  # every one has fictional data to preview with
        for language in ("zh-CN", "en"):
            shown = client.get(
                f"/api/v1/templates/preview?template={template}&language={language}", headers=headers
            )
            assert shown.status_code == 200 and shown.json["subject"], (template, language)
    assert client.get("/api/v1/templates/preview?template=nope", headers=headers).status_code == 404
    assert (
        client.get(
            "/api/v1/templates/preview?template=case_escalated&channel=sms", headers=headers
        ).status_code
        == 404
    )
    page = client.get("/admin/templates?template=studio_digest&language=en", headers=headers)
    assert page.status_code == 200 and "daily summary" in page.get_data(as_text=True)
    html = client.get("/admin/templates/email.html?template=case_closed&language=en", headers=headers)
    assert html.status_code == 200 and "sandbox" in html.headers["Content-Security-Policy"]


def test_preferences_link_lets_a_resident_opt_out_but_legal_notices_still_go(
    stack_settings: Settings,
) -> None:
    # SMS on (the gateway is never called here: only planning is looked at).
    client = create_app(replace(stack_settings, sms_gateway_url="http://127.0.0.1:9/sms")).test_client()
    notify = client.application.extensions["notify"]
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    url = preferences_url(notify.plan_config, preference_key(REFERENCE, "applicant:0"))
    path = url.split("127.0.0.1:8003", 1)[1]
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "z***@example.com" in html and "138****8000" in html
    assert "13800138000" not in html and "李四" not in html
    assert client.get(path[:-3] + "abc").status_code == 404  # a forged link shows nothing
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    empty = client.post(path, data={"csrf_token": token, "opt_out": "1"})
    assert empty.status_code == 422 and notify.db.preferences.count_documents({}) == 0
    saved = client.post(path, data={"csrf_token": token, "channels": ["sms"], "opt_out": "1"})
    assert saved.status_code == 303
    assert notify.db.preferences.find_one()["channels"] == ["sms"]

    delivery.handle_event(notify, event("case.status_changed"))  # not essential: nothing for them
    delivery.handle_event(notify, event("case.closed"))  # essential: by the chosen channel only
    to_applicant = list(notify.db.deliveries.find({"recipient.key": "applicant:0"}))
    assert [(d["event_type"], d["channel"]) for d in to_applicant] == [("case.closed", "sms")]


def test_daily_digest_goes_once_per_studio_and_day_even_with_two_replicas(
    notify: Notify, stack_settings: Settings
) -> None:
    assigned_long_ago = (datetime.now(UTC) - timedelta(days=29, hours=12)).isoformat()
    delivery.handle_event(notify, event("case.submitted", filer=None, filed_by="resident"))
    delivery.handle_event(notify, event("case.assigned", assigned_at=assigned_long_ago))
    delivery.handle_event(
        notify, event("case.submitted", reference="LC-2026-000050", filer=None, filed_by="resident")
    )
    delivery.handle_event(
        notify, event("case.assigned", reference="LC-2026-000050", assigned_at="2026-01-01T00:00:00+00:00")
    )
    delivery.handle_event(
        notify, event("case.submitted", reference="LC-2026-000051", filer=None, filed_by="resident")
    )
    delivery.handle_event(notify, event("case.assigned", reference="LC-2026-000051"))
    delivery.handle_event(notify, event("case.closed", reference="LC-2026-000051"))
    other_replica = Notify(stack_settings)

    early = datetime.now(UTC).replace(hour=23, minute=0)  # 07:00 in Shanghai, before 08:00
    assert delivery.plan_digests(notify, early - timedelta(days=1)) == 0
    now = datetime.now(UTC).replace(hour=2)  # 10:00 in Shanghai
    assert delivery.plan_digests(notify, now) + delivery.plan_digests(other_replica, now) == 1
    assert delivery.plan_digests(other_replica, now + timedelta(hours=3)) == 0
    digest = notify.db.deliveries.find_one({"event_type": "digest.daily"})
    assert digest["recipient"]["address"] == STUDIO["lead_email"]
    body = digest["content"]["body"]
    assert "在办案件 2 件" in body and "LC-2026-000050" in body and REFERENCE in body
    assert "LC-2026-000051" not in body
    assert notify.db.outbox.count_documents({"envelope.data.delivery_id": digest["_id"]}) == 1
    assert delivery.plan_digests(notify, now + timedelta(days=1)) == 1  # the next day, a new one
