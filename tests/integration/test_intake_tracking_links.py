"""Issue 14 item 1: each applicant gets the reference and their own tracking link by SMS and email,
whoever filed, through notify's real worker (a local SMS gateway, a real SMTP server); a resident
who lost it gets a new one with an SMS code. The link's secret is never stored in the clear where it
does not have to be, and never logged."""

from __future__ import annotations

import json
import re
import time

import pytest
from flask.testing import FlaskClient

from devtools.smtp_sink import CapturingHandler
from services.intake import recovery
from services.intake.bootstrap import bootstrap
from services.notify.bootstrap import SERVICE as NOTIFY
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.integration.notify_fakes import FakeProvider, providers
from tests.support.outbox import carried_events, pending_events
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

LINK = re.compile(r"http://127\.0\.0\.1:8001/track/(LC-\d{4}-\d{6})\?token=([A-Za-z0-9_\-]+)")
PAGE_LINK = re.compile(r'href="[^"]*/track/(LC-\d{4}-\d{6})\?token=([A-Za-z0-9_\-]+)"')
SECOND = {"name": "王五", "phone": "13700137001", "email": "wangwu@example.com"}
CLERK = {"name": "刘文员", "phone": "13600136001", "email": "clerk@example.com"}


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def texts_to(sms: FakeProvider, phone: str) -> list[str]:
    return [r.json()["text"] for r in sms.accepted() if r.json()["to"] == phone]


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_each_applicant_gets_their_own_link_by_sms_and_email_once_whoever_filed(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    with providers(sms=FakeProvider()) as fake:
        workers.start("notify", SMS_GATEWAY_URL=fake["sms"].url)
        body = {
            **CASE,
            "applicants": [*CASE["applicants"], SECOND],
            "filed_by": "clerk",
            "filer": CLERK,
            "language": "en",
        }
        created = intake_client.post("/api/v1/cases", json=body)
        assert created.status_code == 201, created.json
        reference, clerks_token = created.json["reference"], created.json["tracking_token"]

        tokens = {}
        for person in (CASE["applicants"][0], SECOND):
            [mail] = wait_for(lambda p=person: mailbox.to(p["email"]), timeout=20, what="the link by email")
            assert str(mail["Subject"]) == f"Your mediation case {reference}: your tracking link"
            assert plain(mail).startswith(f"Dear {person['name']},")
            [(ref, token)] = LINK.findall(plain(mail))
            html = mail.get_body(preferencelist=("html",)).get_content()
            assert ref == reference and token in html and "******" not in html
            [text] = wait_for(lambda p=person: texts_to(fake["sms"], p["phone"]), what="the link by SMS")
            assert LINK.findall(text) == [(reference, token)]  # the whole link, never cut
            tokens[person["name"]] = token
        # Each applicant's own link, neither the other's nor the clerk's copy; every one works.
        assert len({*tokens.values(), clerks_token}) == 3
        for token in (*tokens.values(), clerks_token):
            assert intake_client.get(f"/track/{reference}?token={token}").status_code == 200
        assert intake_client.get(f"/track/{reference}?token=not-{clerks_token}").status_code == 404

        time.sleep(1.0)  # sent once; the clerk gets no link of theirs (they hold the API's answer)
        notify = database(stack_settings, NOTIFY)
        assert len(mailbox.to("zhang@example.com")) == 1 and len(mailbox.to(SECOND["email"])) == 1
        assert all("tracking link" not in str(m["Subject"]) for m in mailbox.to(CLERK["email"]))
        assert notify.deliveries.count_documents({"template": "tracking_link"}) == 4
        # The secret: not in notify's deliveries (the delivery log), not in intake's stored copies
        # of the events once sent, not in the case, not in any worker's log.
        intake = database(stack_settings, "intake")
        # The case carries the links' events: once they are marked sent their tokens are gone.
        carried = [e for e in carried_events(intake, _id=reference) if e["type"] == "case.tracking_link"]
        assert len(carried) == 2
        wait_for(lambda: pending_events(intake, ("cases",)) == 0, what="the link events marked sent")
        stored = [
            json.dumps(list(notify.deliveries.find({})), default=str),
            json.dumps(list(intake.outbox.find({})), default=str),
            json.dumps(list(intake.cases.find({})), default=str),
            workers.log("notify"),
        ]
        for token in tokens.values():
            assert not any(token in text for text in stored)


def test_a_lost_link_is_found_again_with_an_sms_code_and_the_same_answer_for_anyone(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    with providers(sms=FakeProvider()) as fake:
        workers.start("notify", SMS_GATEWAY_URL=fake["sms"].url)
        created = intake_client.post("/api/v1/cases", json={**CASE, "language": "en"})
        reference, old_token = created.json["reference"], created.json["tracking_token"]
        wait_for(lambda: texts_to(fake["sms"], "13800138000"), what="the link by SMS at filing")
        intake = database(stack_settings, "intake")
        form = intake_client.get("/track?lang=en").get_data(as_text=True)
        assert 'href="/track/recover"' in form

        def ask(phone: str, ref: str = reference) -> tuple[int, str]:
            token = csrf(intake_client, "/track/recover?lang=en")
            answer = intake_client.post(
                "/track/recover", data={"csrf_token": token, "reference": ref, "phone": phone}
            )
            page = intake_client.get("/track/recover/code?lang=en").get_data(as_text=True)
            page = re.sub(r'name="csrf_token" value="[^"]+"', "", page)  # signed afresh each time
            return answer.status_code, re.sub(re.escape(ref), "REF", page)

        # No CSRF: refused, nothing sent. Bad input: said at the field, nothing sent.
        assert (
            intake_client.post("/track/recover", data={"reference": reference, "phone": "1"}).status_code
            == 400
        )
        token = csrf(intake_client, "/track/recover?lang=en")
        bad = intake_client.post("/track/recover", data={"csrf_token": token, "reference": "x", "phone": "?"})
        assert bad.status_code == 422 and "Please enter a case reference" in bad.get_data(as_text=True)

        # A pair that does not belong together and an unknown reference: the very same answer.
        other = ask("13900000000")
        unknown = ask("13800138000", "LC-2026-999999")
        mine = ask("138 0013 8000")  # as typed, with spaces
        assert other == unknown == mine and mine[0] == 303
        assert "we have sent a code to it by text message" in mine[1]
        code_texts = wait_for(
            lambda: [t for t in texts_to(fake["sms"], "13800138000") if "code for case" in t], what="the code"
        )
        time.sleep(0.5)
        assert len(code_texts) == 1 and texts_to(fake["sms"], "13900000000") == []
        code = re.search(r"code for case \S+ (\d{6})", code_texts[0]).group(1)
        assert intake.recovery_codes.count_documents({}) == 1
        assert code not in json.dumps(list(intake.recovery_codes.find({})), default=str)

        # A wrong code: a clear error, nothing changed (the old link still works).
        post_token = csrf(intake_client, "/track/recover/code?lang=en")
        wrong = "000000" if code != "000000" else "111111"
        refused = intake_client.post("/track/recover/code", data={"csrf_token": post_token, "code": wrong})
        assert refused.status_code == 422 and "wrong or has expired" in refused.get_data(as_text=True)
        assert intake_client.get(f"/track/{reference}?token={old_token}").status_code == 200

        # The right code: a new link, shown once; the old one stops working.
        right = intake_client.post("/track/recover/code", data={"csrf_token": post_token, "code": code})
        assert right.status_code == 303
        done = intake_client.get("/track/recover/done?lang=en")
        [(ref, new_token)] = set(PAGE_LINK.findall(done.get_data(as_text=True)))
        assert ref == reference and new_token != old_token
        assert intake_client.get("/track/recover/done").status_code == 302  # shown once
        assert intake_client.get(f"/track/{reference}?token={old_token}").status_code == 404
        assert intake_client.get(f"/track/{reference}?token={new_token}").status_code == 200
        # It also reaches their phone and email, marked as the new one.
        wait_for(
            lambda: [m for m in mailbox.to("zhang@example.com") if new_token in plain(m)], what="the new link"
        )
        # The used code cannot be used again.
        ask("13800138000")  # a new code request for the same pair (the second of three this hour)
        again = intake_client.post(
            "/track/recover/code",
            data={"csrf_token": csrf(intake_client, "/track/recover/code"), "code": code},
        )
        assert again.status_code == 422


def test_codes_per_phone_are_limited_and_wrong_tries_too(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings
) -> None:
    intake_context = bootstrap(stack_settings)
    with providers(sms=FakeProvider()) as fake:
        workers.start("notify", SMS_GATEWAY_URL=fake["sms"].url)
        reference = intake_client.post("/api/v1/cases", json=CASE).json["reference"]
        for _ in range(5):  # three texts per phone and hour, whoever asks
            recovery.request_code(intake_context, reference, "13800138000", client="10.0.0.1")
        assert database(stack_settings, "intake").recovery_codes.count_documents({}) == 3
        wait_for(lambda: len([t for t in texts_to(fake["sms"], "13800138000") if "验证码" in t]) == 3)
        # Five wrong tries per phone per quarter hour; then even the right code must wait.
        for _ in range(5):
            assert (
                recovery.verify_code(intake_context, reference, "13800138000", "99999x", client="c") is None
            )
        with pytest.raises(recovery.TooManyTries):
            recovery.verify_code(intake_context, reference, "13800138000", "123456", client="c")
