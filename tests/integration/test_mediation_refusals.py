# Chinese page text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Desk refusals in the reader's language: a refused action, note or merge raised in a Chinese
request is said in Chinese on the page and in the API's error body (its field errors too), in
English for an English one; an API client that asks for no language gets the English text as
before, and the error's machine-readable parts (status code, `code`, `status`, field names) never
change."""

from __future__ import annotations

import re

import pytest

from services.mediation import desk
from services.mediation.domain import lifecycle as lc
from tests.integration.test_mediation_desk import MEDIATOR, accepted_case
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_desk_api import S_MEDIATOR, client, csrf, login

pytestmark = pytest.mark.integration
__all__ = ["client", "mediation"]  # fixtures


def _refusal(page: str) -> str:
    found = re.search(r'id="refusal"[^>]*>(.*?)</', page, re.S)
    assert found is not None, "the page shows no refusal"
    return found.group(1).strip()


def test_a_refused_action_in_the_api_speaks_the_language_asked_for(client, settings, mediation) -> None:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    login(client, settings, S_MEDIATOR)
    path = f"/api/v1/desk/cases/{reference}/actions"
    body = {"action": "agree_written", "payload": {"agreement_number": "1"}}
    chinese = client.post(path, json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = client.post(path, json=body, headers={"Accept-Language": "en-GB"})
    unstated = client.post(path, json=body)
    for answer in (chinese, english, unstated):
        assert answer.status_code == 409
        assert (answer.json["code"], answer.json["status"]) == (409, "Conflict")
    state = lc.label(lc.ASSIGNED, "zh-CN")
    assert chinese.json["message"] == f"案件处于“{state}”时不能进行此操作。"
    assert english.json["message"] == (
        f"This cannot be done while the case is {lc.label(lc.ASSIGNED, 'en')}."
    )
    assert "agree_written" in unstated.json["message"]  # the rule's own wording, as before

    missing = client.post(path, json={"action": "notify_rights"}, headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 422
    assert missing.json["message"] == "有信息缺失或无效：请查看标出的栏目。"
    assert missing.json["errors"] == {"acknowledged_by": ["必填：至少一项。"]}
    assert mediation.db.cases.find_one({"_id": reference})["status"] == lc.ASSIGNED


def test_refusals_on_the_desk_pages_are_in_chinese_on_a_chinese_page(client, settings, mediation) -> None:
    primary, duplicate = accepted_case(mediation), accepted_case(mediation)
    desk.take(mediation, primary, MEDIATOR)
    login(client, settings, S_MEDIATOR)
    page = f"/desk/cases/{primary}"
    token = csrf(client, page)

    itself = client.post(f"{page}/merge?lang=zh-CN", data={"csrf_token": token, "duplicate": primary})
    assert itself.status_code == 422 and _refusal(itself.get_data(as_text=True)) == "案件不能并入自身。"

    desk.merge(mediation, primary, duplicate, MEDIATOR)
    twice = client.post(f"{page}/merge?lang=zh-CN", data={"csrf_token": token, "duplicate": duplicate})
    assert twice.status_code == 409
    assert _refusal(twice.get_data(as_text=True)) == f"{duplicate} 已并入 {primary}，未作任何更改。"
    in_english = client.post(f"{page}/merge?lang=en", data={"csrf_token": token, "duplicate": duplicate})
    assert _refusal(in_english.get_data(as_text=True)) == (
        f"{duplicate} is merged into {primary} already; nothing was changed."
    )

    empty = client.post(f"{page}/notes?lang=zh-CN", data={"csrf_token": token, "text": " "})
    text = empty.get_data(as_text=True)
    assert empty.status_code == 422 and _refusal(text) == "请先填写备注内容。"
    assert "Write the note first" not in text and "Required." not in text
    assert mediation.db.cases.find_one({"_id": primary}).get("notes", []) == []
