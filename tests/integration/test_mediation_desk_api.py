# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The desk's API and pages on a real database and broker: permissions per role, another studio's
case, illegal transitions, sessions in the past or in a booked hall, uploads checked by content,
and notes reaching (shared) or not reaching (internal) intake's tracking page through real workers."""

from __future__ import annotations

import html
import re
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from flask.testing import FlaskClient

from services.mediation import desk
from services.mediation.app import create_app
from services.mediation.domain import lifecycle as lc
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.conftest import CASE
from tests.integration.notify_fakes import FakeProvider
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, accepted_case, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.support.stack import wait_for

S_MEDIATOR = Staff("mediator", "陈敏", frozenset({"mediator"}), studio="zhihe")
S_ZHOU = Staff("zhou", "周平", frozenset({"mediator"}), studio="zhihe")
S_LEAD = Staff("lead", "王立", frozenset({"studio_lead"}), studio="zhihe")
S_OTHER = Staff("heping-1", "赵强", frozenset({"mediator"}), studio="heping-rc")
S_PATROL = Staff("patrol", "马军", frozenset({"patrol_member"}), team="qinghe-patrol")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def client(settings: Settings, mediation) -> FlaskClient:
    return create_app(settings).test_client()


def login(client: FlaskClient, settings: Settings, staff: Staff) -> FlaskClient:
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_roles_and_studios(client, settings, mediation) -> None:
    reference = accepted_case(mediation)
    assert client.get("/api/v1/desk/queue").status_code == 401
    login(client, settings, S_PATROL)
    assert client.get("/api/v1/desk/queue").status_code == 403
    assert client.post("/api/v1/desk/take-next").status_code == 403
    login(client, settings, S_OTHER)
    # Another studio's case: not found, by URL and by API, nothing leaked.
    for path in (f"/api/v1/desk/cases/{reference}", f"/desk/cases/{reference}"):
        response = client.get(path)
        assert response.status_code == 404 and "张三" not in response.get_data(as_text=True)
    assert client.post(f"/api/v1/desk/cases/{reference}/take").status_code == 404
    assert client.get("/api/v1/desk/queue").json["pool"] == []
    login(client, settings, S_MEDIATOR)
    queue = client.get("/api/v1/desk/queue").json
    assert [c["reference"] for c in queue["pool"]] == [reference]
    assert "13800138000" not in str(queue) and "2-301" not in str(queue)
    # Not on the case yet: masked, no access logged.
    view = client.get(f"/api/v1/desk/cases/{reference}").json
    assert view["personal_data"] == "masked" and view["parties"][0]["phone"] == "138****8000"
    assert mediation.db.access_log.count_documents({}) == 0
    taken = client.post("/api/v1/desk/take-next")
    assert taken.status_code == 200 and taken.json["reference"] == reference
    assert client.post("/api/v1/desk/take-next").status_code == 204
    view = client.get(f"/api/v1/desk/cases/{reference}").json
    assert view["personal_data"] == "full" and view["parties"][0]["phone"] == "13800138000"
    [logged] = desk.access_log(mediation.db, reference)
    assert logged["by"] == "mediator"
    # A mediator may not take management decisions; another mediator may not do its casework.
    body = {"action": "archive"}
    assert client.post(f"/api/v1/desk/cases/{reference}/actions", json=body).status_code == 409
    login(client, settings, S_ZHOU)
    body = {"action": "notify_rights", "payload": {"acknowledged_by": ["张三"]}}
    assert client.post(f"/api/v1/desk/cases/{reference}/actions", json=body).status_code == 403
    assert client.post(f"/api/v1/desk/cases/{reference}/take").status_code == 409


def test_illegal_transitions_answer_clearly_and_change_nothing(client, settings, mediation) -> None:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    login(client, settings, S_MEDIATOR)
    before = mediation.db.cases.find_one({"_id": reference})
    wrong_state = client.post(
        f"/api/v1/desk/cases/{reference}/actions",
        json={"action": "agree_written", "payload": {"agreement_number": "1"}},
    )
    assert wrong_state.status_code == 409 and "agree_written" in wrong_state.json["message"]
    missing = client.post(f"/api/v1/desk/cases/{reference}/actions", json={"action": "notify_rights"})
    assert missing.status_code == 422 and "acknowledged_by" in missing.json["errors"]
    unknown = client.post(f"/api/v1/desk/cases/{reference}/actions", json={"action": "fly"})
    assert unknown.status_code == 422
    stale = client.post(
        f"/api/v1/desk/cases/{reference}/actions",
        json={
            "action": "notify_rights",
            "payload": {"acknowledged_by": ["张三"]},
            "expected_state": "accepted",
        },
    )
    assert stale.status_code == 409
    assert mediation.db.cases.find_one({"_id": reference}) == before
    # The page shows the refusal and changes nothing; CSRF is required.
    path = f"/desk/cases/{reference}"
    assert client.post(f"{path}/actions/notify_rights", data={"acknowledged_by": "张三"}).status_code == 400
    token = csrf(client, path)
    refused = client.post(
        f"{path}/actions/agree_written", data={"csrf_token": token, "agreement_number": "x"}
    )
    assert refused.status_code == 409 and 'id="refusal"' in refused.get_data(as_text=True)
    done = client.post(
        f"{path}/actions/notify_rights",
        data={"csrf_token": token, "acknowledged_by": "张三，李四", "expected_state": "mediator_assigned"},
    )
    assert done.status_code == 302
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["status"] == "rights_notified" and case["timeline"][-1]["details"]["acknowledged_by"] == [
        "张三",
        "李四",
    ]
    again = client.post(
        f"{path}/actions/notify_rights",
        data={"csrf_token": token, "acknowledged_by": "张三", "expected_state": "mediator_assigned"},
    )
    assert again.status_code == 409  # a double submit changes nothing


def test_sessions_past_and_booked_hall_through_the_api(client, settings, mediation) -> None:
    first, second = accepted_case(mediation), accepted_case(mediation)
    for reference in (first, second):
        desk.take(mediation, reference, MEDIATOR)
        desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    login(client, settings, S_MEDIATOR)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    past = {"starts_at": "2020-01-06T01:00:00+00:00", "ends_at": "2020-01-06T02:00:00+00:00"}
    response = client.post(f"/api/v1/desk/cases/{first}/sessions", json=past)
    assert response.status_code == 422 and "past" in response.json["message"]
    slot = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    assert client.post(f"/api/v1/desk/cases/{first}/sessions", json=slot).status_code == 201
    booked = client.post(f"/api/v1/desk/cases/{second}/sessions", json=slot)
    assert booked.status_code == 409 and "booked" in booked.json["message"]
    assert mediation.db.sessions.count_documents({}) == 1 and len(events(mediation, "session.scheduled")) == 1
    # Not before rights are notified.
    third = accepted_case(mediation)
    desk.take(mediation, third, MEDIATOR)
    later = {
        "starts_at": (start + timedelta(days=1)).isoformat(),
        "ends_at": (start + timedelta(days=1, hours=1)).isoformat(),
    }
    assert client.post(f"/api/v1/desk/cases/{third}/sessions", json=later).status_code == 409


def test_agreement_pdf_sign_and_scan_upload(client, settings, mediation) -> None:
    reference = accepted_case(mediation)
    mediation.db.cases.update_one(
        {"_id": reference},
        {"$push": {"parties": {"role": "respondent", "name": "李四", "phone": "13900139000"}}},
    )
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION)
    login(client, settings, S_MEDIATOR)
    draft = {
        "facts": "李四装修噪音扰民。",
        "issues": "施工时间。",
        "responsibility": "李四负主要责任。",
        "terms": ["每日20时后停止施工。"],
        "performance_method": "自觉履行",
        "performance_place": "莲花社区",
        "performance_deadline": "签订之日起",
    }
    assert (
        client.put(f"/api/v1/desk/cases/{reference}/agreement", json={**draft, "terms": []}).status_code
        == 422
    )
    saved = client.put(f"/api/v1/desk/cases/{reference}/agreement", json=draft)
    assert saved.status_code == 200 and saved.json["number"].startswith("ZHIHE-")
    pdf = client.get(f"/desk/cases/{reference}/agreement.pdf?language=zh-CN")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    english = client.get(f"/desk/cases/{reference}/agreement.pdf?language=en")
    assert english.data.startswith(b"%PDF")
    # The case's reference is printed beside the agreement's number, in both languages.
    for data, label in ((pdf.data, f"案件编号：{reference}"), (english.data, f"Case {reference}")):
        text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
        assert label in text.decode("utf-8"), label
    token = csrf(client, f"/desk/cases/{reference}")
    early = client.post(
        f"/desk/cases/{reference}/agreement/scan", data={"csrf_token": token, "scan": (BytesIO(PDF), "s.pdf")}
    )
    assert early.status_code == 409  # not signed yet
    signed = client.post(f"/api/v1/desk/cases/{reference}/agreement/sign")
    assert signed.status_code == 200 and signed.json["status"] == "agreement_written"
    [closed] = events(mediation, "case.closed", reference)
    assert closed["outcome"] == "agreement_written"
    bad = client.post(
        f"/desk/cases/{reference}/agreement/scan",
        data={"csrf_token": token, "scan": (BytesIO(b"<script>alert(1)</script>"), "scan.pdf")},
    )
    assert (
        bad.status_code == 422
        and "agreement" not in str(mediation.db.list_collection_names()).split("agreements.files")[0][-0:]
    )
    assert mediation.db["agreements.files"].count_documents({}) == 0
    good = client.post(
        f"/desk/cases/{reference}/agreement/scan",
        data={"csrf_token": token, "scan": (BytesIO(PDF), "scan.pdf")},
    )
    assert good.status_code == 302
    assert client.get(f"/desk/cases/{reference}/agreement/scan").data == PDF
    login(client, settings, S_ZHOU)  # a colleague not on the case
    assert client.get(f"/desk/cases/{reference}/agreement.pdf").status_code == 403


def test_shared_notes_reach_the_tracking_page_internal_never(
    stack_settings, workers, intake_client, mediation
) -> None:
    workers.start("intake")
    workers.start("mediation")
    created = intake_client.post("/api/v1/cases", json=CASE)
    reference, token = created.json["reference"], created.json["tracking_token"]

    def tracked() -> dict:
        return intake_client.get(f"/api/v1/cases/{reference}?token={token}").json

    wait_for(lambda: tracked()["status"] == "assigned", timeout=20, what="routing")
    desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
    desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.take(mediation, reference, MEDIATOR)
    desk.add_note(mediation, reference, MEDIATOR, "INTERNAL: the respondent sounded hostile", shared=False)
    desk.add_note(mediation, reference, MEDIATOR, "请于周五前补交噪音录音。", shared=True)
    wait_for(
        lambda: any(e.get("note") == "请于周五前补交噪音录音。" for e in tracked()["timeline"]),
        timeout=20,
        what="the shared note on the tracking page",
    )
    status = tracked()
    assert status["status"] == "mediator_assigned"
    assert "INTERNAL" not in str(status)
    assert [e["status"] for e in status["timeline"]][:4] == ["received", "assigned", "screening", "accepted"]


def test_long_pool_shows_its_most_urgent_rows_first_and_the_rest_on_request(
    client, settings, mediation
) -> None:
    from services.mediation.http.desk_pages import QUEUE_PAGE_ROWS

    for _ in range(QUEUE_PAGE_ROWS + 5):
        accepted_case(mediation)
    login(client, settings, S_MEDIATOR)
    page = client.get("/desk?lang=en").get_data(as_text=True)
    assert f"Showing {QUEUE_PAGE_ROWS} of {QUEUE_PAGE_ROWS + 5}." in page
    listed = set(re.findall(r"/desk/cases/(LC-\d{4}-\d{6})", page))
    assert len(listed) == QUEUE_PAGE_ROWS
    # "Show more" pages on through the pool: the five left, none shown twice, then no more link.
    more = re.search(r'href="([^"]*list=pool[^"]*)"', page)
    assert more is not None, "no link to the pool's next page"
    rest = client.get(html.unescape(more.group(1)) + "&lang=en").get_data(as_text=True)
    assert f"Showing 5 more of {QUEUE_PAGE_ROWS + 5}." in rest
    pool_rows = set(re.findall(r"/desk/cases/(LC-\d{4}-\d{6})/take", rest))
    assert len(pool_rows) == 5 and not pool_rows & listed
    assert "list=pool" not in rest.split("Showing 5 more")[1].split("</p>")[0]


def test_queue_api_pages_each_list_with_its_total(client, settings, mediation) -> None:
    pooled = [accepted_case(mediation) for _ in range(7)]
    login(client, settings, S_MEDIATOR)
    first = client.get("/api/v1/desk/queue?limit=3").json
    assert first["counts"] == {"mine": 0, "pool": 7, "screening": 0, "others": 0}
    seen = [c["reference"] for c in first["pool"]]
    assert len(seen) == 3
    while len(seen) < 7:
        page = client.get(f"/api/v1/desk/queue?limit=3&list=pool&after={seen[-1]}").json
        assert page["pool"], "an empty page before the end"
        seen += [c["reference"] for c in page["pool"]]
    assert sorted(seen) == sorted(pooled) and len(set(seen)) == 7
    # Bad input: a clear 422, nothing read.
    for bad in ("limit=0", "limit=501", "limit=x", "list=everything&after=LC-2026-000001"):
        answer = client.get(f"/api/v1/desk/queue?{bad}")
        assert answer.status_code == 422, (bad, answer.status_code)


# Merging duplicates; the signed scan through the API -------------------------------------------------
def test_merge_through_the_api_and_the_page(client, settings, mediation) -> None:
    primary, first, second = accepted_case(mediation), accepted_case(mediation), accepted_case(mediation)
    mediation.db.cases.update_one({"_id": primary}, {"$set": {"possible_duplicates": [first, second]}})
    desk.take(mediation, primary, MEDIATOR)
    api = f"/api/v1/desk/cases/{primary}/merge"
    assert client.post(api, json={"duplicate": first}).status_code == 401
    login(client, settings, S_PATROL)
    assert client.post(api, json={"duplicate": first}).status_code == 403
    login(client, settings, S_OTHER)
    assert client.post(api, json={"duplicate": first}).status_code == 404  # another studio's case
    login(client, settings, S_MEDIATOR)
    before = mediation.db.cases.find_one({"_id": first})
    for body in ({}, {"duplicate": "first"}, {"duplicate": first, "into": primary}):
        refused = client.post(api, json=body)
        assert refused.status_code == 422 and refused.json["errors"], body
    itself = client.post(api, json={"duplicate": primary})
    assert itself.status_code == 422 and "itself" in itself.json["message"]
    merged = client.post(api, json={"duplicate": first})
    assert merged.status_code == 200, merged.json
    assert merged.json["reference"] == primary and merged.json["merged"] == [first]
    again = client.post(api, json={"duplicate": first})  # a repeated call changes nothing
    assert again.status_code == 409 and f"merged into {primary}" in again.json["message"]
    after = mediation.db.cases.find_one({"_id": first})
    assert after["status"] == "merged" and before["status"] == "accepted"
    assert len(events(mediation, "case.merged", first)) == 1

    # The pages link both ways and say what happened; the page's form needs its CSRF token.
    page = client.get(f"/desk/cases/{primary}?lang=en").get_data(as_text=True)
    assert f'href="/desk/cases/{first}"' in page and 'id="merged-title"' in page
    assert f'data-merge="{second}"' in page and f'data-merge="{first}"' not in page
    dup_page = client.get(f"/desk/cases/{first}?lang=en").get_data(as_text=True)
    assert 'id="merged-into"' in dup_page and f'href="/desk/cases/{primary}"' in dup_page
    assert "Merged into another case" in dup_page
    path = f"/desk/cases/{primary}"
    assert client.post(f"{path}/merge", data={"duplicate": second}).status_code == 400
    token = csrf(client, path)
    done = client.post(f"{path}/merge", data={"csrf_token": token, "duplicate": second})
    assert done.status_code == 302 and done.headers["Location"].endswith("#merged")
    twice = client.post(f"{path}/merge?lang=en", data={"csrf_token": token, "duplicate": second})
    assert twice.status_code == 409 and 'id="refusal"' in twice.get_data(as_text=True)
    assert mediation.db.cases.find_one({"_id": primary})["merged"] == [first, second]
    elsewhere = client.post(f"{path}/merge", data={"csrf_token": token, "duplicate": "LC-2026-999999"})
    assert elsewhere.status_code == 404 and 'id="refusal"' in elsewhere.get_data(as_text=True)
    # The newer filing lists the older case: it can be merged into it from its own page.
    newer = accepted_case(mediation)
    mediation.db.cases.update_one({"_id": newer}, {"$set": {"possible_duplicates": [primary]}})
    newer_page = client.get(f"/desk/cases/{newer}").get_data(as_text=True)
    assert f'data-merge-into="{primary}"' in newer_page and "data-merge=" not in newer_page
    into = client.post(f"{path}/merge", data={"csrf_token": token, "duplicate": newer})
    assert into.status_code == 302
    assert mediation.db.cases.find_one({"_id": newer})["merged_into"] == primary


def _signed_case(mediation) -> str:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, reference, MEDIATOR, lc.START_MEDIATION)
    from services.mediation import agreements

    draft = {
        "facts": "李四装修噪音扰民。",
        "issues": "施工时间。",
        "responsibility": "李四负主要责任。",
        "terms": "每日20时后停止施工。",
        "performance_method": "自觉履行",
        "performance_place": "莲花社区",
        "performance_deadline": "签订之日起",
    }
    mediation.db.cases.update_one(
        {"_id": reference}, {"$push": {"parties": {"role": "respondent", "name": "李四"}}}
    )
    agreements.save_draft(mediation, reference, MEDIATOR, draft)
    return reference


def test_signed_scan_upload_through_the_api(client, settings, mediation) -> None:
    reference = _signed_case(mediation)
    api = f"/api/v1/desk/cases/{reference}/agreement/scan"

    def bearer(staff: Staff) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(settings, staff)}"}

    def upload(content: bytes, name: str = "scan.pdf", staff: Staff = S_MEDIATOR):
        return client.post(api, data={"scan": (BytesIO(content), name)}, headers=bearer(staff))

    assert client.post(api, data={"scan": (BytesIO(PDF), "s.pdf")}).status_code == 401
    assert upload(PDF, staff=S_PATROL).status_code == 403
    assert upload(PDF, staff=S_OTHER).status_code == 404
    early = upload(PDF)
    assert early.status_code == 409 and "signed" in early.json["message"]
    from services.mediation import agreements

    agreements.sign(mediation, reference, MEDIATOR)
    # A login cookie is not enough here: a forged multipart form could carry it (no CSRF on /api/).
    login(client, settings, S_MEDIATOR)
    cookie_only = client.post(api, data={"scan": (BytesIO(PDF), "scan.pdf")})
    assert cookie_only.status_code == 401 and "Bearer" in cookie_only.json["message"]
    client.delete_cookie(COOKIE_NAME)
    assert upload(PDF, staff=S_ZHOU).status_code == 403  # a colleague not on the case
    missing = client.post(api, data={}, headers=bearer(S_MEDIATOR))
    assert missing.status_code == 422 and "scan" in missing.json["errors"]
    script = upload(b"<script>alert(1)</script>")
    assert script.status_code == 422 and script.json["errors"]["scan"]
    renamed = upload(PDF, name="scan.exe")
    assert renamed.status_code == 422
    large = upload(b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024))
    assert large.status_code == 422 and "10 MB" in large.json["message"]
    huge = upload(b"%PDF-1.4\n" + b"0" * (17 * 1024 * 1024))
    assert huge.status_code == 413 and huge.json["code"] == 413
    assert mediation.db["agreements.files"].count_documents({}) == 0
    stored = upload(PDF)
    assert stored.status_code == 201, stored.json
    assert stored.json["content_type"] == "application/pdf" and stored.json["size"] == len(PDF)
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["agreement"]["scan"]["id"] == stored.json["id"]
    assert case["timeline"][-1]["action"] == "agreement_scan"
    login(client, settings, S_MEDIATOR)
    assert client.get(f"/desk/cases/{reference}/agreement/scan").data == PDF

    # Two uploads at once (a client's retry): never a server error, one scan kept, no orphan file.
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        own = client.application.test_client()
        barrier.wait()
        response = own.post(api, data={"scan": (BytesIO(PDF), "again.pdf")}, headers=bearer(S_MEDIATOR))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert 201 in statuses and set(statuses) <= {201, 409}, statuses
    kept = mediation.db.cases.find_one({"_id": reference})["agreement"]["scan"]["id"]
    files = [str(f["_id"]) for f in mediation.db["agreements.files"].find()]
    assert files == [kept]


def test_merged_case_on_the_tracking_page_and_told_to_its_parties(
    stack_settings, workers, intake_client, mediation, mailbox
) -> None:
    sms = FakeProvider(ok_body={"ok": True}).start()
    try:
        _merge_with_workers(workers, intake_client, mediation, mailbox, sms)
    finally:
        sms.stop()


def _merge_with_workers(workers, intake_client, mediation, mailbox, sms: FakeProvider) -> None:
    workers.start("intake")
    workers.start("mediation")
    workers.start("notify", SMS_GATEWAY_URL=sms.url, SMS_GATEWAY_TOKEN="sms-token")
    other = {
        **CASE,
        "applicants": [{"name": "王五", "phone": "13700137000", "email": "wangwu@example.com"}],
        "respondents": [{"name": "赵六", "phone": "13600136001"}],
    }
    filed = [intake_client.post("/api/v1/cases", json=body).json for body in (CASE, other)]
    (primary, _), (duplicate, token) = ((f["reference"], f["tracking_token"]) for f in filed)

    def tracked() -> dict:
        return intake_client.get(f"/api/v1/cases/{duplicate}?token={token}").json

    wait_for(lambda: mediation.db.cases.count_documents({}) == 2, timeout=20, what="both cases routed")
    for reference in (primary, duplicate):
        desk.apply_action(mediation, reference, LEAD, lc.START_SCREENING)
        desk.apply_action(mediation, reference, LEAD, lc.ACCEPT)
    desk.take(mediation, primary, MEDIATOR)
    desk.merge(mediation, primary, duplicate, MEDIATOR)

    status = wait_for(
        lambda: (found := tracked())["status"] == "merged" and found, timeout=20, what="merged on tracking"
    )
    assert status["merged_into"] == primary
    assert status["timeline"][-1]["status"] == "merged" and status["timeline"][-1]["merged_into"] == primary
    page = intake_client.get(f"/track/{duplicate}?token={token}&lang=zh-CN").get_data(as_text=True)
    assert 'id="merged-into"' in page and primary in page and "已并入其他案件" in page
    for leak in ("张三", "李四", "13800138000", "Loud renovation"):  # nothing of the other case
        assert leak not in str(status) and leak not in page

    # Both parties of the duplicate are told where their dispute went, once; nobody of the primary.
    mail = wait_for(
        lambda: [m for m in mailbox.to("wangwu@example.com") if "并入" in str(m["Subject"])],
        timeout=20,
        what="the merge notice to the applicant",
    )
    assert len(mail) == 1 and primary in str(mail[0]["Subject"])
    text = mail[0].get_body(preferencelist=("plain",)).get_content()
    assert primary in text and "张三" not in text

    def texts_to(phone: str) -> list[str]:
        return [r.json()["text"] for r in sms.accepted() if r.json()["to"] == phone]

    wait_for(
        lambda: [t for t in texts_to("13600136001") if primary in t], timeout=20, what="the respondent's SMS"
    )
    time.sleep(1.0)  # anything sent twice or to the wrong people would have arrived by now
    assert len([t for t in texts_to("13600136001") if primary in t]) == 1
    assert len([m for m in mailbox.to("wangwu@example.com") if "并入" in str(m["Subject"])]) == 1
    assert not [m for m in mailbox.to("zhang@example.com") if duplicate in str(m["Subject"])]
    assert not [t for t in texts_to("13800138000") + texts_to("13900139000") if duplicate in t]
