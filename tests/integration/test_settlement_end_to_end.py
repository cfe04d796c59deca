""" "Is it settled?" (issue 14.4) across the services, real workers, broker and SMTP: an ended case's
applicant is asked once after the studio's days (the clock moved by calling the desk job's step with
a later `now`); a withdrawn case and an applicant who opted out get nothing; the answer is stored by
opening the link, changed within the window and not after, a comment added; "not settled" gives the
lead a task and an email; the lead opens a linked case, routed as any filing, once. And misuse: a
wrong token, a repeated click, a comment without CSRF, a linked case refused."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from devtools.smtp_sink import CapturingHandler
from services.council.app import create_app as create_council_app
from services.intake import settlement as intake_settlement
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.mediation import desk, settlement
from services.mediation.app import create_app as create_mediation_app
from services.mediation.bootstrap import bootstrap as mediation_bootstrap
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.staff_accounts import NewUser, create_user
from services.notify.bootstrap import bootstrap as notify_bootstrap
from services.notify.delivery import save_preferences
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.envelope import utcnow
from tests.integration.conftest import CASE, database
from tests.support.stack import Workers, wait_for

pytestmark = pytest.mark.integration

LEAD = Actor("lead-zhihe", frozenset({"studio_lead"}), "zhihe")
MEDIATOR = Actor("qian", frozenset({"mediator"}), "zhihe")
LEAD_EMAIL = "zhihe-lead@studios.concord.local"


TOKENS: dict[str, str] = {}


def file(client: FlaskClient, name: str, email: str) -> str:
    applicant = {"name": name, "phone": "13800138000", "email": email}
    created = client.post("/api/v1/cases", json={**CASE, "applicants": [applicant], "language": "en"})
    assert created.status_code == 201, created.json
    TOKENS[created.json["reference"]] = created.json["tracking_token"]
    return created.json["reference"]


def end(m: Any, reference: str, action: str, payload: dict[str, Any]) -> None:
    wait_for(lambda: m.db.cases.find_one({"_id": reference}), timeout=20, what=f"{reference} routed")
    desk.apply_action(m, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(m, reference, LEAD, lc.ACCEPT)
    desk.apply_action(m, reference, LEAD, action, payload)


def surveys(mailbox: CapturingHandler, address: str) -> list[Any]:
    return [mail for mail in mailbox.to(address) if "is the dispute settled" in str(mail["Subject"])]


def answered_events(intake: Any) -> int:
    return intake.outbox.count_documents({"envelope.type": "case.settlement_answered"})


def client_as(settings: Settings, staff: Staff) -> FlaskClient:
    client = create_mediation_app(settings).test_client()
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_an_ended_case_is_asked_once_and_an_answer_not_settled_reaches_the_lead_and_a_linked_case(
    intake_client: FlaskClient, workers: Workers, stack_settings: Settings, mailbox: CapturingHandler
) -> None:
    for service in ("intake", "mediation", "notify", "council"):
        workers.start(service)
    m = mediation_bootstrap(stack_settings)
    wait_for(lambda: m.db.studios.find_one({"_id": "zhihe"}), timeout=60, what="the registry seeded")
    create_user(m.db, NewUser(LEAD.user_id, "password-12345", "studio_lead", "Lead", studio="zhihe"))
    create_user(m.db, NewUser(MEDIATOR.user_id, "password-12345", "mediator", "钱", studio="zhihe"))

    asked = file(intake_client, "张三", "zhang@example.com")
    withdrawn = file(intake_client, "王五", "wang@example.com")
    opted_out = file(intake_client, "赵六", "zhao@example.com")
    refer = {"target": "court", "target_name": "某区人民法院"}
    end(m, asked, lc.REFER, refer)
    end(m, withdrawn, lc.WITHDRAW, {"withdrawn_by": "王五"})
    end(m, opted_out, lc.REFER, refer)
    save_preferences(notify_bootstrap(stack_settings), f"{opted_out}:applicant:0", ["email", "sms"], True)

    # Not before the studio's 28 days; then once, whatever the number of passes.
    now = utcnow()
    assert settlement.run_checks(m, now + timedelta(days=27)) == 0
    assert settlement.run_checks(m, now + timedelta(days=29)) == 2
    assert settlement.run_checks(m, now + timedelta(days=30)) == 0
    assert m.db.cases.find_one({"_id": withdrawn}).get("settlement_check") is None

    intake = database(stack_settings, "intake")
    [mail] = wait_for(lambda: surveys(mailbox, "zhang@example.com"), timeout=30, what="the survey email")
    body = mail.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"/settled/settled\?token=([A-Za-z0-9_\-]+)", body).group(1)
    # The opted-out applicant's survey was planned to nobody; the withdrawn case was never asked.
    notify = database(stack_settings, "notify")
    [skipped] = wait_for(
        lambda: list(
            intake.outbox.find(
                {"envelope.type": "case.settlement_survey", "envelope.data.reference": opted_out}
            )
        ),
        what="the opted-out applicant's survey event",
    )
    wait_for(
        lambda: notify.processed.find_one(
            {"_id": {"$regex": re.escape(skipped["envelope"]["message_id"]) + "$"}}
        ),
        timeout=20,
        what="notify to handle it",
    )
    assert (
        notify.deliveries.count_documents({"reference": opted_out, "event_type": "case.settlement_survey"})
        == 0
    )
    assert (
        intake.outbox.count_documents(
            {"envelope.data.reference": withdrawn, "envelope.type": {"$regex": "^case.settlement"}}
        )
        == 0
    )
    # The token left the outbox's copy once it was published; only its hash is kept.
    wait_for(
        lambda: all(
            "code" not in row["envelope"]["data"]
            for row in intake.outbox.find({"envelope.type": "case.settlement_survey"})
        ),
        what="the published tokens dropped",
    )
    assert token not in str(list(intake.settlement_surveys.find({})))

    # A wrong token: a clear page, nothing stored.
    wrong = intake_client.get("/settled/settled?token=not-the-token&lang=en")
    assert wrong.status_code == 404 and "This link is not valid" in wrong.get_data(as_text=True)
    unknown = intake_client.get(f"/settled/perhaps?token={token}&lang=en")
    assert unknown.status_code == 404
    assert answered_events(intake) == 0

    # Opening the link stores the answer; a repeated click stores nothing new.
    first = intake_client.get(f"/settled/not_settled?token={token}&lang=en")
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "Your answer is saved: No, it is not settled" in html
    assert 'id="comment-form"' in html and 'id="settled-change"' in html
    again = intake_client.get(f"/settled/not_settled?token={token}&lang=en")
    assert again.status_code == 200 and 'id="settled-stored"' in again.get_data(as_text=True)
    assert answered_events(intake) == 1
    # Changed within the window (twice), then a comment (CSRF required).
    assert "Your answer is saved: Yes, it is settled" in intake_client.get(
        f"/settled/settled?token={token}&lang=en"
    ).get_data(as_text=True)
    intake_client.get(f"/settled/not_settled?token={token}&lang=en")
    no_csrf = intake_client.post("/settled/comment", data={"token": token, "comment": "x"})
    assert no_csrf.status_code == 400
    empty = intake_client.post(
        "/settled/comment?lang=en", data={"token": token, "comment": " ", "csrf_token": csrf(html)}
    )
    assert empty.status_code == 422 and "Please write your comment" in empty.get_data(as_text=True)
    commented = intake_client.post(
        "/settled/comment?lang=en",
        data={"token": token, "comment": "The noise started again last week.", "csrf_token": csrf(html)},
    )
    assert commented.status_code == 200 and "Your comment is saved" in commented.get_data(as_text=True)
    assert answered_events(intake) == 4
    # After the window the stored answer stands.
    late = intake_settlement.answer(
        intake_bootstrap(stack_settings), token, "settled", now=utcnow() + timedelta(hours=49)
    )
    assert late is not None and not late.changed and late.answer == "not_settled" and late.state == "fixed"
    assert answered_events(intake) == 4

    # Mediation keeps the latest answer; the lead has one task and one email.
    case = wait_for(
        lambda: m.db.cases.find_one(
            {"_id": asked, "settlement.answers.applicant:0.comment": "The noise started again last week."}
        ),
        timeout=20,
        what="mediation to keep the answer and comment",
    )
    assert case["settlement"]["answers"]["applicant:0"]["answer"] == "not_settled"
    [task] = list(m.db.follow_up_tasks.find({"case_id": asked, "kind": "not_settled"}))
    assert task["_id"] == f"{asked}:not_settled:applicant:0" and task["kind"] == "not_settled"
    assert task["assignee"] is None and task["assignee_role"] == "studio_lead" and task["done_at"] is None
    assert task["detail"]["comment"] == "The noise started again last week." and task["studio"] == "zhihe"
    wait_for(
        lambda: [
            mail
            for mail in mailbox.to(LEAD_EMAIL)
            if asked in str(mail["Subject"]) and "未化解" in str(mail["Subject"])
        ],
        timeout=20,
        what="the lead's email",
    )
    time.sleep(1.0)
    assert len([mail for mail in mailbox.to(LEAD_EMAIL) if "未化解" in str(mail["Subject"])]) == 1
    # Council counts it on the board (never who, never the comment).
    council = database(stack_settings, "council")
    fact = wait_for(
        lambda: council.settlement_facts.find_one({"answer": "not_settled"}),
        timeout=20,
        what="the board's fact",
    )
    assert fact["community"] == "lianhua" and "comment" not in fact and asked not in str(fact)

    # The linked case: a mediator may not; an unanswered case is refused; the lead's once.
    with pytest.raises(desk.Forbidden):
        settlement.request_reopen(m, asked, MEDIATOR, "applicant:0")
    with pytest.raises(desk.Conflict):
        settlement.request_reopen(m, opted_out, LEAD, "applicant:0")
    # The lead's case page shows the answer and the comment, and opens the linked case (once).
    lead = client_as(stack_settings, Staff(LEAD.user_id, "Lead", LEAD.roles, studio="zhihe"))
    page = lead.get(f"/desk/cases/{asked}?lang=en").get_data(as_text=True)
    assert 'id="settlement-answers"' in page and "The noise started again last week." in page
    assert 'id="reopen-applicant-0"' in page
    mediator_page = client_as(stack_settings, Staff(MEDIATOR.user_id, "钱", MEDIATOR.roles, studio="zhihe"))
    assert 'id="reopen-applicant-0"' not in mediator_page.get(f"/desk/cases/{asked}?lang=en").get_data(
        as_text=True
    )
    opened = lead.post(
        f"/desk/cases/{asked}/reopen?lang=en", data={"party": "applicant:0", "csrf_token": csrf(page)}
    )
    assert opened.status_code == 302
    twice = lead.post(
        f"/desk/cases/{asked}/reopen?lang=en", data={"party": "applicant:0", "csrf_token": csrf(page)}
    )
    assert twice.status_code == 409 and "already opened for this answer" in twice.get_data(as_text=True)
    with pytest.raises(desk.Conflict):
        settlement.request_reopen(m, asked, LEAD, "applicant:0")
    new = wait_for(
        lambda: m.db.cases.find_one({"linked_to": asked}), timeout=30, what="the linked case routed"
    )
    assert new["source"] == "follow_up" and new["studio"] == "zhihe" and new["status"] == lc.RECEIVED
    old = wait_for(
        lambda: m.db.cases.find_one({"_id": asked, "linked_cases": new["_id"]}),
        timeout=20,
        what="the old case's link",
    )
    assert old["settlement"]["reopen_requests"]["applicant:0"]["linked_case"] == new["_id"]
    assert intake.cases.count_documents({"linked_to": asked}) == 1
    assert new["_id"] in intake.cases.find_one({"_id": asked})["linked_cases"]
    assert new["_id"] in lead.get(f"/desk/cases/{asked}?lang=en").get_data(as_text=True)
    assert 'id="linked-to"' in lead.get(f"/desk/cases/{new['_id']}?lang=en").get_data(as_text=True)
    # The reports' extra figure below the MoJ table; the public board's table.
    report = lead.get("/reports?lang=en").get_data(as_text=True)
    assert re.search(r'id="settlement-not-settled">1<', report) and re.search(
        r'id="settlement-settled">0<', report
    )
    board = (
        create_council_app(stack_settings).test_client().get("/board/lianhua?lang=en").get_data(as_text=True)
    )
    assert 'id="board-settlement"' in board
    # The new case flows as any filing: the applicant gets its tracking link; both tracking pages
    # show the link between the cases.
    [link] = wait_for(
        lambda: [
            mail
            for mail in mailbox.to("zhang@example.com")
            if new["_id"] in str(mail["Subject"]) and "tracking link" in str(mail["Subject"])
        ],
        timeout=20,
        what="the new case's tracking link",
    )
    new_token = re.search(
        r"\?token=([A-Za-z0-9_\-]+)", link.get_body(preferencelist=("plain",)).get_content()
    ).group(1)
    followed = intake_client.get(f"/track/{new['_id']}?token={new_token}&lang=en").get_data(as_text=True)
    assert f"This case follows up case {asked}" in followed
    old_page = intake_client.get(f"/track/{asked}?token={TOKENS[asked]}&lang=en").get_data(as_text=True)
    assert f"The dispute was taken up again in case {new['_id']}" in old_page
