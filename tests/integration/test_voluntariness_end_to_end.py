"""Issue 14 item 2 across the services (intake → mediation → notify, real workers, broker, SMTP): a
party withdraws or asks for another mediator on their tracking page; an applicant who said "no" is
contacted first. And the page's misuse: no CSRF, a filer's copy of the link, a repeated click, a
request on an ended case, each a clear answer with nothing changed."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from devtools.smtp_sink import CapturingHandler
from services.mediation import desk
from services.mediation.bootstrap import bootstrap as mediation_bootstrap
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.staff_accounts import NewUser, create_user
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

LEAD = Actor("lead-zhihe", frozenset({"studio_lead"}), "zhihe")
FIRST = Actor("qian", frozenset({"mediator"}), "zhihe")
SECOND = Actor("sun", frozenset({"mediator"}), "zhihe")


def page(client: FlaskClient, reference: str, token: str) -> str:
    return client.get(f"/track/{reference}?token={token}&lang=en").get_data(as_text=True)


def post(client: FlaskClient, reference: str, token: str, **form: str) -> Any:
    html = client.get("/track/recover").get_data(as_text=True)  # any form of the session's
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    data = {"token": token, **form}
    if csrf:
        data.setdefault("csrf_token", csrf.group(1))
    return client.post(f"/track/{reference}/request?lang=en", data=data)


def intake_status(stack_settings: Settings, reference: str) -> str:
    return database(stack_settings, "intake").cases.find_one({"_id": reference})["status"]


def test_a_party_asks_for_another_mediator_then_withdraws_from_the_tracking_page(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    for service in ("intake", "mediation", "notify"):
        workers.start(service)
    m = mediation_bootstrap(stack_settings)
    wait_for(lambda: m.db.studios.find_one({"_id": "zhihe"}), what="the registry seeded")
    for user, email in ((LEAD, None), (FIRST, "qian@studios.example"), (SECOND, "sun@studios.example")):
        role = next(iter(user.roles))
        create_user(
            m.db, NewUser(user.user_id, "password-12345", role, user.user_id, studio="zhihe", email=email)
        )
    body = {**CASE, "filed_by": "building_leader", "filer": {"name": "王楼长", "phone": "13600136000"}}
    created = intake_client.post("/api/v1/cases", json={**body, "language": "en"})
    reference, filers_token = created.json["reference"], created.json["tracking_token"]
    [link] = wait_for(
        lambda: [m for m in mailbox.to("zhang@example.com") if "tracking link" in str(m["Subject"])],
        timeout=20,
        what="the applicant's link",
    )
    token = re.search(
        r"\?token=([A-Za-z0-9_\-]+)", link.get_body(preferencelist=("plain",)).get_content()
    ).group(1)
    wait_for(lambda: m.db.cases.find_one({"_id": reference}), what="the case routed")

    # Before any mediator: withdrawing is offered, another mediator is not (and is refused).
    html = page(intake_client, reference, token)
    assert 'id="withdraw-form"' in html and 'id="other-mediator-form"' not in html
    refused = post(intake_client, reference, token, request="other_mediator", reason="x")
    assert refused.status_code == 409 and "nobody to replace" in refused.get_data(as_text=True)
    # The building leader's copy of the link shows the case but may not speak for the applicant.
    assert 'id="withdraw-form"' not in page(intake_client, reference, filers_token)
    not_party = post(intake_client, reference, filers_token, request="withdraw", confirm="yes")
    assert not_party.status_code == 403 and "applicants themselves" in not_party.get_data(as_text=True)
    # No CSRF token: refused.
    no_csrf = intake_client.post(
        f"/track/{reference}/request", data={"token": token, "request": "withdraw", "confirm": "yes"}
    )
    assert no_csrf.status_code == 400
    intake = database(stack_settings, "intake")
    assert intake.outbox.count_documents({"envelope.type": "case.party_requested"}) == 0

    desk.apply_action(m, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(m, reference, LEAD, lc.ACCEPT)
    desk.take(m, reference, FIRST)
    wait_for(lambda: intake_status(stack_settings, reference) == "mediator_assigned", what="the page updated")

    # The reason is required; then the request goes through, once.
    empty = post(intake_client, reference, token, request="other_mediator", reason="  ")
    assert empty.status_code == 422 and "Please say why" in empty.get_data(as_text=True)
    asked = post(
        intake_client, reference, token, request="other_mediator", reason="He is my landlord's cousin."
    )
    assert asked.status_code == 303
    done = intake_client.get(asked.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "You asked for another mediator." in done and 'id="other-pending"' in done
    again = post(intake_client, reference, token, request="other_mediator", reason="again")
    assert again.status_code == 409 and "already asked for another mediator" in again.get_data(as_text=True)
    assert intake.outbox.count_documents({"envelope.type": "case.party_requested"}) == 1

    case = wait_for(
        lambda: m.db.cases.find_one({"_id": reference, "status": "accepted", "owner": None}),
        timeout=20,
        what="mediation to send the case back to the pool",
    )
    assert case["excluded_mediators"] == ["qian"]
    wait_for(
        lambda: [m for m in mailbox.to("qian@studios.example") if "要求更换调解员" in str(m["Subject"])],
        timeout=20,
        what="the replaced mediator told (staff read Chinese)",
    )
    lead_mail = wait_for(
        lambda: [
            mail
            for mail in mailbox.to("zhihe-lead@studios.concord.local")
            if "要求更换调解员" in str(mail["Subject"])
        ],
        what="the lead told, with the reason",
    )
    assert "He is my landlord's cousin." in lead_mail[0].get_body(preferencelist=("plain",)).get_content()
    assert desk.take_next(m, FIRST) is None  # the replaced mediator cannot take it back
    desk.take_next(m, SECOND)
    wait_for(
        lambda: (
            not (intake.cases.find_one({"_id": reference}).get("pending_requests") or {}).get(
                "other_mediator"
            )
        ),
        what="intake to see the new mediator",
    )

    # Withdrawing: confirmation required; then the case ends as withdrawn, the mediator is told.
    unconfirmed = post(intake_client, reference, token, request="withdraw")
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.get_data(as_text=True)
    assert post(intake_client, reference, token, request="withdraw", confirm="yes").status_code == 303
    repeated = post(intake_client, reference, token, request="withdraw", confirm="yes")
    assert repeated.status_code == 409 and "already asked to withdraw" in repeated.get_data(as_text=True)
    wait_for(lambda: m.db.cases.find_one({"_id": reference})["status"] == "withdrawn", what="withdrawn")
    wait_for(
        lambda: [mail for mail in mailbox.to("sun@studios.example") if "终止调解" in str(mail["Subject"])],
        timeout=20,
        what="the mediator told of the withdrawal",
    )
    wait_for(lambda: intake_status(stack_settings, reference) == "closed", what="the page shows the ending")
    html = page(intake_client, reference, token)
    assert "Withdrawn" in html and 'id="withdraw-form"' not in html
    # A withdrawal of the ended case: a clear error, nothing sent.
    ended = post(intake_client, reference, token, request="withdraw", confirm="yes")
    assert ended.status_code == 409 and "This case has ended" in ended.get_data(as_text=True)
    time.sleep(0.5)
    assert intake.outbox.count_documents({"envelope.type": "case.party_requested"}) == 2
    closed = [mail for mail in mailbox.to("zhang@example.com") if "closed" in str(mail["Subject"]).lower()]
    assert len(closed) == 1  # the applicant hears of the ending once


def test_an_applicant_who_said_no_is_contacted_first_and_waits_for_their_consent(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    for service in ("intake", "mediation", "notify"):
        workers.start(service)
    created = intake_client.post(
        "/api/v1/cases", json={**CASE, "agrees_to_mediation": False, "language": "en"}
    )
    reference, token = created.json["reference"], created.json["tracking_token"]
    studio = wait_for(
        lambda: mailbox.to("zhihe@studios.concord.local"), timeout=20, what="the studio's email"
    )
    assert "申请人表示不同意调解" in studio[0].get_body(preferencelist=("plain",)).get_content()
    wait_for(lambda: intake_status(stack_settings, reference) == "awaiting_consent", what="the page updated")
    assert "Waiting for your consent" in page(intake_client, reference, token)
    m = mediation_bootstrap(stack_settings)
    create_user(m.db, NewUser("qian", "password-12345", "mediator", "钱", studio="zhihe"))
    with pytest.raises(desk.Conflict):
        desk.apply_action(m, reference, FIRST, lc.START_SCREENING)
    desk.apply_action(m, reference, FIRST, lc.RECORD_CONSENT, {"consent_by": "张三, by phone on 1 Dec"})
    wait_for(lambda: intake_status(stack_settings, reference) == "screening", what="the page updated")
