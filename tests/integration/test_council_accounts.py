# Residents write Chinese punctuation.
# ruff: noqa: RUF001
"""Council's public accounts on a real MongoDB-wire server (and the real broker behind the app):
entries with vouchers checked by content, approval by a second committee member, statements that
add up across months without unapproved entries, the 15-day question window, resident codes
(hashed, wrong codes refused and limited), public answers, and the pages."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pymongo.database import Database

from services.council import accounts
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap
from services.council.domain.accounts import check_statement
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database

COMMUNITY = "lianhua"
WEI = Staff("wei", "魏芳", frozenset({"committee_member"}), community=COMMUNITY)
LIU = Staff("liu", "刘洋", frozenset({"committee_member"}), community=COMMUNITY)
OTHER = Staff("sun", "孙丽", frozenset({"committee_member"}), community="heping")
LEADER = Staff("zhao", "赵强", frozenset({"building_leader"}), community=COMMUNITY, buildings=("1",))
ADMIN = Staff("admin", "郑华", frozenset({"district_admin"}))


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def db(settings: Settings) -> Database:
    database = get_database(settings, "council")
    for n, building in enumerate(("1", "2")):
        database.flats.insert_one(
            {
                "_id": f"f{n}",
                "community": COMMUNITY,
                "building": building,
                "unit": "1",
                "flat": "101",
                "area_hundredths": 8950,
                "owner_names": ["王芳"],
                "phones": ["13800138000"],
                "owner_key": f"k{n}",
                "occupancy": "owner_occupied",
                "developer_held": False,
            }
        )
    return database


@pytest.fixture
def council(settings: Settings) -> Council:
    return bootstrap(settings)


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 90, 0)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
STAFF_API = f"/api/v1/communities/{COMMUNITY}/accounts"
PUBLIC_API = f"/api/v1/accounts/{COMMUNITY}"


def enter(
    client: FlaskClient, voucher: tuple[bytes, str] | None = (PDF, "receipt.pdf"), **fields: str
) -> Any:
    form: dict[str, Any] = {
        "day": "2026-09-05",
        "kind": "income",
        "category": "parking",
        "amount": "1000.10",
        "counterparty": "莲花物业公司",
        **fields,
    }
    if voucher is not None:
        form["voucher"] = (io.BytesIO(voucher[0]), voucher[1])
    return client.post(f"{STAFF_API}/entries", data=form, content_type="multipart/form-data")


def approve(client: FlaskClient, entry_id: str) -> Any:
    return client.post(f"{STAFF_API}/entries/{entry_id}/approve")


def test_an_entry_is_published_only_after_a_second_member_approves_it(
    app: Flask, settings: Settings, db: Database
) -> None:
    wei, liu = client_as(app, settings, WEI), client_as(app, settings, LIU)
    made = enter(wei, (png(), "scan.png"))
    assert made.status_code == 201, made.get_json()
    entry = made.get_json()
    assert (entry["amount"], entry["approved"], entry["entered_by"]) == ("1000.10", False, "wei")
    assert db.account_entries.find_one({"_id": entry["id"]})["amount_fen"] == 100010
    anonymous = client_as(app, settings, None)
    assert anonymous.get(PUBLIC_API).get_json()["entries"] == []
    assert (
        anonymous.get(f"/accounts/{COMMUNITY}/entries/{entry['id']}/voucher").status_code == 404
    )  # not yet public
    own = approve(wei, entry["id"])
    assert own.status_code == 409 and own.get_json()["errors"] == {"entry": ["self_approval"]}
    assert db.account_entries.find_one({"_id": entry["id"]})["approved_by"] is None
    assert (
        client_as(app, settings, OTHER)
        .post(f"/api/v1/communities/heping/accounts/entries/{entry['id']}/approve")
        .status_code
        == 404
    )
    assert (
        client_as(app, settings, LEADER).post(f"{STAFF_API}/entries/{entry['id']}/approve").status_code == 403
    )
    assert (
        client_as(app, settings, ADMIN).post(f"{STAFF_API}/entries/{entry['id']}/approve").status_code == 403
    )
    ok = approve(liu, entry["id"])
    assert ok.status_code == 200 and ok.get_json()["approved_by"] == "liu"
    again = approve(liu, entry["id"])
    assert again.status_code == 409 and again.get_json()["errors"] == {"entry": ["already_approved"]}
    published = anonymous.get(PUBLIC_API).get_json()["entries"]
    assert [(e["id"], e["amount"]) for e in published] == [(entry["id"], "1000.10")]
    assert "entered_by" not in published[0] and "approved_by" not in published[0]
    voucher = anonymous.get(f"/accounts/{COMMUNITY}/entries/{entry['id']}/voucher")
    assert voucher.status_code == 200 and voucher.mimetype == "image/jpeg"  # a scan re-encoded, metadata gone
    # District admins oversee: they read the committee's list.
    assert len(client_as(app, settings, ADMIN).get(f"{STAFF_API}/entries").get_json()) == 1


def test_bad_entries_and_vouchers_are_refused_and_nothing_is_stored(
    app: Flask, settings: Settings, db: Database
) -> None:
    wei = client_as(app, settings, WEI)
    cases = [
        ({"amount": "10.005"}, (PDF, "r.pdf"), "amount", "bad_amount"),
        ({"amount": "-5"}, (PDF, "r.pdf"), "amount", "bad_amount"),
        ({"amount": "1e3"}, (PDF, "r.pdf"), "amount", "bad_amount"),
        ({"category": "maintenance"}, (PDF, "r.pdf"), "category", "bad_category"),  # a spending category
        ({"kind": "gift"}, (PDF, "r.pdf"), "kind", "bad_kind"),
        ({"counterparty": " "}, (PDF, "r.pdf"), "counterparty", "no_counterparty"),
        ({"day": "2099-01-01"}, (PDF, "r.pdf"), "day", "future_date"),
        ({"day": "05/09/2026"}, (PDF, "r.pdf"), "day", "bad_date"),
        ({}, None, "voucher", "required"),
        (
            {},
            (b"MZ\x90\x00 an exe" * 30, "receipt.pdf"),
            "voucher",
            "upload:A voucher must be a PDF, JPEG or PNG file.",
        ),
        ({}, (PDF, "receipt.png"), "voucher", "upload:A voucher must be a PDF, JPEG or PNG file."),
    ]
    for fields, voucher, field, code in cases:
        refused = enter(wei, voucher, **fields)
        assert refused.status_code == 422, fields
        assert code in refused.get_json()["errors"][field], (fields, refused.get_json())
    assert db.account_entries.count_documents({}) == 0
    assert db["account_vouchers.files"].count_documents({}) == 0


def test_monthly_statements_add_up_across_months_and_leave_out_unapproved_entries(
    app: Flask, settings: Settings, db: Database
) -> None:
    wei, liu = client_as(app, settings, WEI), client_as(app, settings, LIU)
    approved = [
        dict(day="2026-09-05", kind="income", category="parking", amount="1000.10"),
        dict(day="2026-09-20", kind="income", category="advertising", amount="200.05"),
        dict(day="2026-09-30", kind="spending", category="maintenance", amount="300.00"),
        dict(day="2026-10-02", kind="spending", category="cleaning_greening", amount="99.99"),
        dict(day="2026-10-31", kind="income", category="parking", amount="0.01"),
    ]
    for fields in approved:
        entry_id = enter(wei, **fields).get_json()["id"]
        assert approve(liu, entry_id).status_code == 200
    enter(wei, day="2026-10-15", kind="income", category="venue_rent", amount="5000.00")  # never approved
    statements = client_as(app, settings, None).get(PUBLIC_API).get_json()["statements"]
    by_month = {s["month"]: s for s in statements}
    assert by_month["2026-09"] | {"income_by_category": None, "spending_by_category": None} == {
        "month": "2026-09", "opening": "0.00", "income": "1200.15", "spending": "300.00", "closing": "900.15",
        "income_by_category": None, "spending_by_category": None, "entries": 3,
    }  # fmt: skip
    assert by_month["2026-09"]["income_by_category"] == [["advertising", "200.05"], ["parking", "1000.10"]]
    october = by_month["2026-10"]
    assert (october["opening"], october["income"], october["spending"], october["closing"]) == (
        "900.15", "0.01", "99.99", "800.17",
    )  # fmt: skip
    months = [s["month"] for s in statements]
    assert months[0] == "2026-09" and months == sorted(months)
    for earlier, later in pairwise(statements):
        assert later["opening"] == earlier["closing"]  # each month opens where the last closed
    for s in statements:
        assert Decimal(s["opening"]) + Decimal(s["income"]) - Decimal(s["spending"]) == Decimal(s["closing"])
    # The use case's statements pass the domain's own check too.
    assert all(check_statement(s) for s in accounts.monthly_statements(bootstrap(settings), COMMUNITY))
    page = client_as(app, settings, None).get(f"/accounts/{COMMUNITY}?lang=en").get_data(as_text=True)
    assert "800.17" in page and "900.15" in page and "5000.00" not in page


def codes_for(app: Flask, settings: Settings) -> dict[str, str]:
    issued = client_as(app, settings, WEI).post(f"{STAFF_API}/codes", json={})
    assert issued.status_code == 201
    return {row["flat"]: row["code"] for row in issued.get_json()}


def published_entry(app: Flask, settings: Settings) -> str:
    entry_id = enter(client_as(app, settings, WEI)).get_json()["id"]
    assert approve(client_as(app, settings, LIU), entry_id).status_code == 200
    return entry_id


def ask(
    client: FlaskClient, entry_id: str, code: str, building: str = "1", text: str = "停车费为何少了？"
) -> Any:
    body = {"building": building, "unit": "1", "flat": "101", "code": code, "text": text}
    return client.post(f"{PUBLIC_API}/entries/{entry_id}/questions", json=body)


def test_resident_codes_are_stored_hashed_and_a_wrong_code_asks_nothing(
    app: Flask, settings: Settings, db: Database
) -> None:
    codes = codes_for(app, settings)
    assert set(codes) == {"1-1-101", "2-1-101"}
    assert all(re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}", c) for c in codes.values())
    stored = db.resident_codes.find_one({"_id": "f0"})
    plain = codes["1-1-101"].replace("-", "")
    assert plain not in str(stored) and len(stored["hash"]) == 64
    assert codes_for(app, settings) == {}  # codes are made once; a lost one is re-issued per flat
    entry_id = published_entry(app, settings)
    anonymous = client_as(app, settings, None)
    wrong = ask(anonymous, entry_id, "ACDEF-GHJKM")
    assert wrong.status_code == 422 and wrong.get_json()["errors"] == {"code": ["wrong_code"]}
    other_flats_code = ask(anonymous, entry_id, codes["2-1-101"])  # building 1 with building 2's code
    assert other_flats_code.status_code == 422
    no_such_flat = ask(anonymous, entry_id, codes["1-1-101"], building="9")
    assert no_such_flat.get_json()["errors"] == {"code": ["wrong_code"]}  # the same answer as a wrong code
    assert db.account_questions.count_documents({}) == 0
    typed = codes["1-1-101"].lower().replace("-", " ")  # as a resident may type it
    asked = ask(anonymous, entry_id, typed)
    assert asked.status_code == 201, asked.get_json()
    question = db.account_questions.find_one({})
    assert question["flat_id"] == "f0" and question["text"] == "停车费为何少了？"


def test_a_flat_has_a_limited_number_of_code_checks_per_hour(
    app: Flask, settings: Settings, db: Database, council: Council
) -> None:
    codes = codes_for(app, settings)
    entry_id = published_entry(app, settings)
    now = datetime.now(UTC)
    flat = ("1", "1", "101")
    for _ in range(accounts.FLAT_TRIES.limit):
        with pytest.raises(accounts.Refused):
            accounts.ask(council, COMMUNITY, entry_id, flat, "ACDEFGHJKM", "?", now)
    # Over the limit even the right code is not checked: a guesser learns nothing more this hour.
    with pytest.raises(accounts.TooManyTries):
        accounts.ask(council, COMMUNITY, entry_id, flat, codes["1-1-101"], "?", now)
    assert ask(client_as(app, settings, None), entry_id, codes["1-1-101"]).status_code == 429
    assert db.account_questions.count_documents({}) == 0
    # Another flat is not affected.
    assert accounts.ask(council, COMMUNITY, entry_id, ("2", "1", "101"), codes["2-1-101"], "?", now)["id"]


def test_questions_are_taken_for_15_beijing_days_after_publication(
    app: Flask, settings: Settings, db: Database, council: Council
) -> None:
    codes = codes_for(app, settings)
    entry_id = enter(client_as(app, settings, WEI)).get_json()["id"]
    published_at = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # 18:00 in Beijing on 1 November
    accounts.approve(council, COMMUNITY, entry_id, LIU, now=published_at)
    deadline = datetime(2026, 11, 16, 16, 0, tzinfo=UTC)  # the end of 16 November, Beijing time
    flat = ("1", "1", "101")
    with pytest.raises(accounts.Refused) as early:
        accounts.ask(
            council, COMMUNITY, entry_id, flat, codes["1-1-101"], "?", published_at - timedelta(seconds=1)
        )
    assert early.value.errors == {"entry": ["not_published"]}
    shown = accounts.public_view(db.account_entries.find_one({"_id": entry_id}))
    assert shown["questions_last_day"] == "2026-11-16"  # what the page tells residents
    last = accounts.ask(
        council, COMMUNITY, entry_id, flat, codes["1-1-101"], "最后一天", deadline - timedelta(seconds=1)
    )
    assert last["id"]
    with pytest.raises(accounts.Refused) as late:
        accounts.ask(council, COMMUNITY, entry_id, flat, codes["1-1-101"], "太晚了", deadline)
    assert late.value.errors == {"entry": ["question_window_closed"]} and late.value.status == 409
    assert [q["text"] for q in db.account_questions.find({})] == ["最后一天"]
    # Through the API today (long after 16 November) the window is closed.
    closed = ask(client_as(app, settings, None), entry_id, codes["1-1-101"])
    assert closed.status_code == 409 and closed.get_json()["errors"] == {"entry": ["question_window_closed"]}


def test_the_committee_answers_publicly_without_the_flat_or_personal_data(
    app: Flask, settings: Settings, db: Database
) -> None:
    codes = codes_for(app, settings)
    entry_id = published_entry(app, settings)
    anonymous = client_as(app, settings, None)
    assert (
        ask(anonymous, entry_id, codes["1-1-101"], text="我是王芳13800138000，停车费为何少了？").status_code
        == 201
    )
    waiting = client_as(app, settings, LIU).get(f"{STAFF_API}/questions").get_json()
    assert len(waiting) == 1 and "flat_id" not in waiting[0]
    assert anonymous.get(PUBLIC_API).get_json()["entries"][0]["questions"] == []  # not before the answer
    empty = client_as(app, settings, LIU).post(
        f"{STAFF_API}/questions/{waiting[0]['id']}/answer", json={"answer": " "}
    )
    assert empty.status_code == 422
    answered = client_as(app, settings, LIU).post(
        f"{STAFF_API}/questions/{waiting[0]['id']}/answer",
        json={"answer": "九月有两个车位维修，停收一周。", "public_text": "停车费为何少了？"},
    )
    assert answered.status_code == 200
    shown = anonymous.get(PUBLIC_API).get_json()["entries"][0]["questions"]
    assert [(q["question"], q["answer"]) for q in shown] == [
        ("停车费为何少了？", "九月有两个车位维修，停收一周。")
    ]
    page = anonymous.get(f"/accounts/{COMMUNITY}/entries/{entry_id}").get_data(as_text=True)
    assert "九月有两个车位维修" in page and "13800138000" not in page and "王芳" not in page


def csrf_token(client: FlaskClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True))
    assert found is not None, f"no form on {page}"
    return found.group(1)


def test_pages_enter_approve_ask_and_answer(app: Flask, settings: Settings, db: Database) -> None:
    wei, liu = client_as(app, settings, WEI), client_as(app, settings, LIU)
    staff_page = f"/communities/{COMMUNITY}/accounts"
    token = csrf_token(wei, staff_page + "?lang=en")
    form = {"csrf_token": token, "day": "2026-09-05", "category": "income:venue_rent", "amount": "abc",
            "counterparty": "李强", "counterparty_private": "yes"}  # fmt: skip
    refused = wei.post(staff_page, data=form, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "The amount must be above 0 with at most two decimals." in refused.get_data(as_text=True)
    made = wei.post(
        staff_page,
        data={**form, "amount": "800.00", "voucher": (io.BytesIO(PDF), "r.pdf")},
        content_type="multipart/form-data",
    )
    assert made.status_code == 302
    entry_id = db.account_entries.find_one({})["_id"]
    assert "Approve and publish" not in wei.get(staff_page + "?lang=en").get_data(
        as_text=True
    )  # not one's own
    liu_token = csrf_token(liu, staff_page)
    assert (
        liu.post(f"{staff_page}/entries/{entry_id}/approve", data={"csrf_token": liu_token}).status_code
        == 302
    )
    codes_page = liu.post(f"{staff_page}/codes", data={"csrf_token": liu_token})
    code = re.search(r"<code>([A-Z0-9-]+)</code>", codes_page.get_data(as_text=True)).group(1)
    resident = client_as(app, settings, None)
    entry_page = f"/accounts/{COMMUNITY}/entries/{entry_id}"
    public_text = resident.get(entry_page + "?lang=zh-CN").get_data(as_text=True)
    assert "李*" in public_text and "李强" not in public_text  # a private person is masked in public
    token = csrf_token(resident, entry_page)
    ask_form = {"csrf_token": token, "building": "1", "unit": "1", "flat": "101", "text": "租金给了谁？"}
    wrong = resident.post(entry_page + "?lang=zh-CN", data={**ask_form, "code": "WRONG-CODE1"})
    assert wrong.status_code == 422 and "楼栋、单元、房号或住户码不对。" in wrong.get_data(as_text=True)
    assert resident.post(entry_page, data={**ask_form, "code": code}).status_code == 302
    question_id = db.account_questions.find_one({})["_id"]
    answered = liu.post(
        f"{staff_page}/questions/{question_id}/answer",
        data={"csrf_token": liu_token, "public_text": "租金给了谁？", "answer": "用于公共设施维修。"},
    )
    assert answered.status_code == 302
    assert "用于公共设施维修。" in resident.get(entry_page).get_data(as_text=True)


def test_two_members_approving_at_once_publish_the_entry_once(
    app: Flask, settings: Settings, db: Database, council: Council
) -> None:
    entry_id = enter(client_as(app, settings, WEI)).get_json()["id"]
    third = Staff("qian", "钱进", frozenset({"committee_member"}), community=COMMUNITY)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve_as(staff: Staff) -> None:
        barrier.wait()
        try:
            accounts.approve(council, COMMUNITY, entry_id, staff)
            outcomes.append("approved")
        except accounts.Refused as err:
            outcomes.append(err.errors["entry"][0])

    threads = [threading.Thread(target=approve_as, args=(s,)) for s in (LIU, third)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_approved", "approved"]
    assert db.account_entries.find_one({"_id": entry_id})["approved_by"] in {"liu", "qian"}
