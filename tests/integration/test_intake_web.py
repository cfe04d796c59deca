"""The resident web form, confirmation and tracking pages against the real database and broker."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient

from shared.config import Settings
from tests.integration.conftest import database
from tests.support.images import plain
from tests.support.outbox import filed_events

pytestmark = pytest.mark.integration

PNG = plain("PNG")


def csrf_token(client: FlaskClient, path: str = "/?lang=en") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def valid_form(token: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "action": "submit",
        "applicants_count": "1",
        "respondents_count": "1",
        "filed_by": "resident",
        "applicants-0-name": "张三",
        "applicants-0-phone": "13800138000",
        "applicants-0-email": "",
        "respondents-0-name": "物业公司",
        "respondents-0-phone": "",
        "community": "lianhua",
        "building": "3",
        "unit": "2-301",
        "category": "property_management",
        "description": "Parking fee raised without a meeting.",
        "claims": "",
        "amount": "1200.50",
        "people_affected": "12",
        "threat_of_violence": "no",
        "danger_to_safety": "no",
        "language": "zh-CN",
        "agrees_to_mediation": "yes",
        "consent": "yes",
        "website": "",
    }
    form.update(overrides)
    return form


def test_filing_shows_reference_and_a_tracking_link_that_works(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    posted = intake_client.post("/", data=valid_form(token), headers={"Accept-Language": "en"})
    assert posted.status_code == 303
    confirmation = intake_client.get(posted.headers["Location"] + "?lang=en")
    page = confirmation.get_data(as_text=True)
    assert confirmation.status_code == 200
    assert confirmation.headers["Cache-Control"] == "no-store"
    reference = re.search(r'id="reference">([A-Z]{2}-\d{4}-\d{6})<', page).group(1)
    link = re.search(r'id="tracking-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "What happens next" in page

    case = database(stack_settings, "intake").cases.find_one({"_id": reference})
    assert case["channel"] == "web"
    assert case["amount"] == 1200.5 and case["people_affected"] == 12
    assert case["agrees_to_mediation"] is True
    assert [p["name"] for p in case["parties"]] == ["张三", "物业公司"]
    assert [e["data"]["reference"] for e in filed_events(database(stack_settings, "intake"))] == [reference]

    tracked = intake_client.get(link.removeprefix("http://localhost") + "&lang=zh-CN")
    assert tracked.status_code == 200
    text = tracked.get_data(as_text=True)
    assert reference in text and "已受理登记" in text
    assert "13800138000" not in text and "张三" not in text  # no personal data on the page

    # The confirmation is shown once; reloading it leads to the tracking form.
    assert intake_client.get("/submitted").status_code == 302


def test_errors_keep_every_value_and_are_explained_next_to_their_fields(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    form = valid_form(
        token,
        **{"applicants-0-phone": "not a phone", "building": "", "amount": "lots", "consent": ""},
        description="<script>alert(1)</script> noisy neighbours",
    )
    answer = intake_client.post("/?lang=en", data=form)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'class="error-summary"' in page
    for field in ("applicants-0-phone", "building", "amount", "consent"):
        assert f'href="#{field}"' in page  # the summary links to the field
        assert f'id="{field}-error"' in page  # and the message sits next to it
    assert "Please enter a phone number" in page
    assert 'value="not a phone"' in page and 'value="lots"' in page and 'value="2-301"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; noisy neighbours" in page  # kept, escaped
    assert "<script>alert(1)" not in page
    assert database(stack_settings, "intake").cases.count_documents({}) == 0
    assert database(stack_settings, "intake").outbox.count_documents({}) == 0


def test_errors_are_in_chinese_for_a_chinese_browser(intake_client: FlaskClient) -> None:
    token = csrf_token(intake_client, "/")
    answer = intake_client.post(
        "/", data=valid_form(token, building=""), headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "请检查以下问题" in page and "请填写此项。" in page and '<html lang="zh-CN">' in page


def test_add_party_rows_without_javascript_keeps_values(intake_client: FlaskClient) -> None:
    token = csrf_token(intake_client)
    form = valid_form(token, action="add_respondent")
    page = intake_client.post("/?lang=en", data=form).get_data(as_text=True)
    assert 'id="respondents-1-name"' in page and 'name="respondents_count" value="2"' in page
    assert 'value="物业公司"' in page


def test_several_parties_are_stored(intake_client: FlaskClient, stack_settings: Settings) -> None:
    token = csrf_token(intake_client)
    form = valid_form(
        token,
        applicants_count="2",
        respondents_count="3",
        **{
            "applicants-1-name": "王五",
            "applicants-1-phone": "13700137000",
            "respondents-1-name": "业委会",
            "respondents-2-name": "",  # an empty extra row is ignored
        },
    )
    assert intake_client.post("/", data=form).status_code == 303
    case = database(stack_settings, "intake").cases.find_one({})
    assert [(p["role"], p["name"]) for p in case["parties"]] == [
        ("applicant", "张三"),
        ("applicant", "王五"),
        ("respondent", "物业公司"),
        ("respondent", "业委会"),
    ]


def test_missing_csrf_token_is_refused_and_stores_nothing(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    intake_client.get("/")
    answer = intake_client.post("/?lang=en", data=valid_form(""))
    assert answer.status_code == 400
    assert "text/html" in answer.content_type and "expired" in answer.get_data(as_text=True)
    assert database(stack_settings, "intake").cases.count_documents({}) == 0


def test_honeypot_filled_by_a_bot_stores_nothing(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    answer = intake_client.post("/", data=valid_form(token, website="http://spam.example"))
    assert answer.status_code == 400
    assert database(stack_settings, "intake").cases.count_documents({}) == 0


def test_attachments_checked_by_content_and_stored_privately(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    fake = valid_form(token)
    fake["attachments"] = (io.BytesIO(b"#!/bin/sh\nrm -rf /\n"), "photo.jpg")
    answer = intake_client.post("/?lang=en", data=fake, content_type="multipart/form-data")
    assert answer.status_code == 422
    assert "Only photos (JPEG, PNG, WebP) and PDF" in answer.get_data(as_text=True)
    assert database(stack_settings, "intake").cases.count_documents({}) == 0

    token = csrf_token(intake_client)
    too_many = valid_form(token)
    too_many["attachments"] = [(io.BytesIO(PNG), f"p{i}.png") for i in range(4)]
    answer = intake_client.post("/?lang=en", data=too_many, content_type="multipart/form-data")
    assert answer.status_code == 422 and "Attach at most 3 files." in answer.get_data(as_text=True)

    token = csrf_token(intake_client)
    good = valid_form(token)
    good["attachments"] = [
        (io.BytesIO(PNG), "balcony.png"),
        (io.BytesIO(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj"), "a.pdf"),
    ]
    answer = intake_client.post("/", data=good, content_type="multipart/form-data")
    assert answer.status_code == 303
    db = database(stack_settings, "intake")
    case = db.cases.find_one({})
    assert [a["content_type"] for a in case["attachments"]] == ["image/jpeg", "application/pdf"]
    stored = list(db["attachments.files"].find({}))
    assert len(stored) == 2 and all(f["metadata"]["case"] == case["_id"] for f in stored)
    assert "balcony" not in str(stored)  # the resident's file name is not kept
    [event] = filed_events(db)
    assert len(event["data"]["attachments"]) == 2


def test_wrong_token_and_unknown_case_look_the_same(intake_client: FlaskClient) -> None:
    token = csrf_token(intake_client)
    intake_client.post("/", data=valid_form(token))
    page = intake_client.get("/submitted").get_data(as_text=True)
    reference = re.search(r'id="reference">([^<]+)<', page).group(1)
    wrong = intake_client.get(f"/track/{reference}?token=nope&lang=en")
    unknown = intake_client.get("/track/LC-2099-999999?token=nope&lang=en")
    assert wrong.status_code == unknown.status_code == 404
    strip = lambda body: body.replace(reference, "X").replace("LC-2099-999999", "X")  # noqa: E731
    assert strip(wrong.get_data(as_text=True)) == strip(unknown.get_data(as_text=True))


def test_pages_send_security_headers_and_language_cookie(intake_client: FlaskClient) -> None:
    answer = intake_client.get("/track?lang=en")
    csp = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "lang=en" in answer.headers["Set-Cookie"]
    # The cookie now chooses English over the browser's Chinese.
    page = intake_client.get("/track", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_rate_limit_per_client(stack_settings: Settings) -> None:
    from dataclasses import replace

    from services.intake.app import create_app

    app = create_app(replace(stack_settings, intake_rate_limit="2/600"))
    client = app.test_client()
    codes = []
    for _ in range(3):
        token = csrf_token(client)
        codes.append(client.post("/?lang=en", data=valid_form(token)).status_code)
    assert codes == [303, 303, 429]
    assert database(stack_settings, "intake").cases.count_documents({}) == 2


def test_duplicate_is_flagged_and_the_resident_told(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    intake_client.post("/", data=valid_form(token))
    first = intake_client.get("/submitted?lang=en").get_data(as_text=True)
    assert 'id="related-case"' not in first
    token = csrf_token(intake_client)
    intake_client.post("/", data=valid_form(token, description="Same fee again"))
    second = intake_client.get("/submitted?lang=en").get_data(as_text=True)
    assert 'id="related-case"' in second
    # Another building is not a duplicate.
    token = csrf_token(intake_client)
    intake_client.post("/", data=valid_form(token, building="9"))
    third = intake_client.get("/submitted?lang=en").get_data(as_text=True)
    assert "LC-" in third
    assert 'id="related-case"' not in third


def test_filer_fieldset_is_always_on_the_page_without_javascript(intake_client: FlaskClient) -> None:
    english = intake_client.get("/?lang=en").get_data(as_text=True)
    for field in ("filer-name", "filer-phone", "filer-email"):
        assert f'id="{field}"' in english and f'name="{field}"' in english
    assert "Only if you file on behalf of someone" in english
    chinese = intake_client.get("/?lang=zh-CN").get_data(as_text=True)
    assert "仅在代他人申请时填写" in chinese and "您的姓名" in chinese


def test_building_leader_files_with_their_contact(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    form = valid_form(
        token,
        filed_by="building_leader",
        language="en",
        **{"filer-name": " 王楼长 ", "filer-phone": "13600136000", "filer-email": "wang@example.com"},
    )
    posted = intake_client.post("/?lang=en", data=form)
    assert posted.status_code == 303
    db = database(stack_settings, "intake")
    case = db.cases.find_one({})
    assert case["filed_by"] == "building_leader"
    assert case["filer"] == {"name": "王楼长", "phone": "13600136000", "email": "wang@example.com"}
    event = filed_events(db)[0]["data"]
    assert event["filer"] == {**case["filer"], "language": "en"} and event["channel"] == "web"


def test_building_leader_without_contact_gets_errors_next_to_the_filer_fields(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client)
    answer = intake_client.post("/?lang=en", data=valid_form(token, filed_by="building_leader", building=""))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'href="#filer-name"' in page and 'id="filer-name-error"' in page
    assert 'href="#building"' in page  # reported together with every other problem
    assert "must give their own name and phone" in page

    half = valid_form(token, filed_by="building_leader", **{"filer-name": "王楼长", "filer-phone": "call me"})
    page = intake_client.post("/?lang=en", data=half).get_data(as_text=True)
    assert 'id="filer-phone-error"' in page and "Please enter a phone number" in page
    assert 'value="王楼长"' in page and 'value="call me"' in page  # kept as typed
    assert 'value="building_leader" checked' in page
    assert database(stack_settings, "intake").cases.count_documents({}) == 0
    assert database(stack_settings, "intake").outbox.count_documents({}) == 0


def test_resident_giving_a_filer_is_told_in_their_language(
    intake_client: FlaskClient, stack_settings: Settings
) -> None:
    token = csrf_token(intake_client, "/")
    form = valid_form(token, **{"filer-name": "王楼长", "filer-phone": "13600136000"})
    answer = intake_client.post("/", data=form, headers={"Accept-Language": "zh-CN"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="filer-name-error"' in page and "本人申请时请勿填写此栏" in page
    assert "代为申请" in page  # the summary names the field
    assert database(stack_settings, "intake").cases.count_documents({}) == 0


def test_clerk_may_leave_the_filer_empty(intake_client: FlaskClient, stack_settings: Settings) -> None:
    token = csrf_token(intake_client)
    assert intake_client.post("/?lang=en", data=valid_form(token, filed_by="clerk")).status_code == 303
    assert database(stack_settings, "intake").cases.find_one({})["filer"] is None
