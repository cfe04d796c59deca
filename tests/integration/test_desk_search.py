"""Issue 15 items 1, 2 and 6 on a real database: the desk's search (service, API, page), the lists
of ended cases waiting for something, and the access log viewer with its CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.mediation import access_log, desk, follow_up, routing, search
from services.mediation.app import create_app
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, T0, ZHOU, accepted_case
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_routing import submitted

pytestmark = pytest.mark.integration

ADMIN = Actor("admin", frozenset({"district_admin"}), None)
DONGFENG = Actor("dongfeng-1", frozenset({"mediator"}), "dongfeng-rc")
S_MEDIATOR = Staff("mediator", "陈敏", frozenset({"mediator"}), studio="zhihe")
S_LEAD = Staff("lead", "王立", frozenset({"studio_lead"}), studio="zhihe")
S_DONGFENG_LEAD = Staff("dongfeng-lead", "刘红", frozenset({"studio_lead"}), studio="dongfeng-rc")
S_ADMIN = Staff("admin", "Admin", frozenset({"district_admin"}))
S_PATROL = Staff("patrol", "马军", frozenset({"patrol_member"}), team="qinghe-patrol")


def route(m: Mediation, **data: Any) -> str:
    event = submitted(**data)
    routing.on_case_submitted(m, event, now=T0)
    return event.data["reference"]


def secret(m: Mediation) -> str:
    return m.settings.secret_key


def find(m: Mediation, actor: Actor, **criteria: Any) -> list[str]:
    return [c["_id"] for c in search.search(m.db, actor, search.Criteria(**criteria), secret(m)).cases]


@pytest.fixture
def cases(mediation: Mediation) -> dict[str, str]:
    """Four zhihe cases and one of dongfeng-rc, with names, phones, places and dates of their own."""
    return {
        "zhang": route(
            mediation,
            parties=[
                {"role": "applicant", "name": "张三", "phone": "13800138000"},
                {"role": "respondent", "name": "李四", "phone": "13900001234"},
            ],
            received_at="2026-03-02T01:00:00+00:00",
        ),
        "wang": route(
            mediation,
            parties=[{"role": "applicant", "name": "王五", "phone": "13700008000"}],
            building="7",
            category="property_management",
            received_at="2026-05-20T03:00:00+00:00",
        ),
        "zhao": route(
            mediation,
            parties=[{"role": "applicant", "name": "Zhao Liu", "phone": "+86 136 1111 2222"}],
            community="xinyuan",
            received_at="2026-06-01T16:30:00+00:00",  # 2026-06-02 00:30 in Beijing
        ),
        "filer": route(
            mediation,
            parties=[{"role": "applicant", "name": "孙七"}],
            filer={"name": "楼长周", "phone": "13512345678"},
            received_at="2026-06-02T01:00:00+00:00",
        ),
        "dongfeng": route(
            mediation,
            community="chaoyang",
            parties=[{"role": "applicant", "name": "张三", "phone": "13800138000"}],
            received_at="2026-03-03T01:00:00+00:00",
        ),
    }


# The search: the service --------------------------------------------------------------------------
def test_search_by_reference_phone_last_four_name_place_category_and_dates(
    mediation: Mediation, cases: dict[str, str]
) -> None:
    db = mediation.db
    assert db.cases.find_one({"_id": cases["dongfeng"]})["studio"] == "dongfeng-rc"
    assert find(mediation, MEDIATOR, q=cases["wang"].lower()) == [cases["wang"]]
    # A full phone, however it is written; the filer's phone too.
    assert find(mediation, MEDIATOR, q="+86 138-0013-8000") == [cases["zhang"]]
    assert find(mediation, MEDIATOR, q="13512345678") == [cases["filer"]]
    # Last four digits: a party's, any party of the case.
    assert sorted(find(mediation, MEDIATOR, q="8000")) == sorted([cases["zhang"], cases["wang"]])
    assert find(mediation, MEDIATOR, q="1234") == [cases["zhang"]]  # the respondent's phone
    # A name matches whole, whatever its spacing or case; a part of a name does not.
    assert find(mediation, MEDIATOR, q="李四") == [cases["zhang"]]
    assert find(mediation, MEDIATOR, q="zhao  liu") == [cases["zhao"]]
    assert find(mediation, MEDIATOR, q="张") == []
    # Place, category; combined with the box.
    assert find(mediation, MEDIATOR, community="xinyuan") == [cases["zhao"]]
    assert find(mediation, MEDIATOR, community="lianhua", building="7") == [cases["wang"]]
    assert find(mediation, MEDIATOR, category="property_management") == [cases["wang"]]
    assert find(mediation, MEDIATOR, q="8000", category="neighbours") == [cases["zhang"]]
    # Received dates are local (Beijing) days, inclusive; newest first.
    june = find(mediation, MEDIATOR, received_from=datetime(2026, 6, 2).date())
    assert june == [cases["filer"], cases["zhao"]]  # 2026-06-01T16:30Z is June 2nd in Beijing
    may = find(
        mediation,
        MEDIATOR,
        received_from=datetime(2026, 5, 1).date(),
        received_to=datetime(2026, 6, 1).date(),
    )
    assert may == [cases["wang"]]


def test_search_stays_within_the_studio_and_admins_see_all(
    mediation: Mediation, cases: dict[str, str]
) -> None:
    assert find(mediation, MEDIATOR, q="13800138000") == [cases["zhang"]]
    assert find(mediation, DONGFENG, q="13800138000") == [cases["dongfeng"]]
    assert find(mediation, DONGFENG, q=cases["zhang"]) == []  # another studio's case: not even by reference
    assert sorted(find(mediation, ADMIN, q="13800138000")) == sorted([cases["zhang"], cases["dongfeng"]])
    assert find(mediation, ADMIN, q="13800138000", studio="dongfeng-rc") == [cases["dongfeng"]]


def test_search_by_state_finds_ended_and_archived_cases(mediation: Mediation) -> None:
    open_ref = accepted_case(mediation)
    ended_ref = accepted_case(mediation)
    desk.take(mediation, ended_ref, MEDIATOR)
    desk.apply_action(mediation, ended_ref, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(mediation, ended_ref, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉"})
    archived_ref = accepted_case(mediation)
    desk.apply_action(mediation, archived_ref, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    desk.apply_action(mediation, archived_ref, LEAD, lc.ARCHIVE)
    assert find(mediation, MEDIATOR, state="open") == [open_ref]
    assert find(mediation, MEDIATOR, state="ended") == [ended_ref]
    assert find(mediation, MEDIATOR, state="archived") == [archived_ref]
    assert len(find(mediation, MEDIATOR, q="13800138000")) == 3  # a closed case is found like an open one


def test_results_carry_no_personal_data_and_phone_or_name_searches_are_logged(
    mediation: Mediation, cases: dict[str, str]
) -> None:
    db = mediation.db
    result = search.search(db, MEDIATOR, search.Criteria(q="8000"), secret(mediation))
    assert result.matched_on == "phone_last4"
    for row in result.cases:
        assert "parties" not in row and "filer" not in row and "unit" not in row and "search_keys" not in row
    logged = list(db.access_log.find({"what": "search"}))
    assert sorted(r["reference"] for r in logged) == sorted([cases["zhang"], cases["wang"]])
    assert {(r["by"], r["matched_on"], r["studio"]) for r in logged} == {("mediator", "phone_last4", "zhihe")}
    # Nothing of what was typed: only who, when, on what kind of data, and the case found.
    assert all(set(r) == {"_id", "reference", "studio", "by", "at", "what", "matched_on"} for r in logged)
    search.search(db, MEDIATOR, search.Criteria(q="王五"), secret(mediation))
    assert db.access_log.count_documents({"what": "search", "matched_on": "name"}) == 1
    # A search by reference, by place, or one that found nothing, is no look-up of a person.
    before = db.access_log.count_documents({})
    search.search(db, MEDIATOR, search.Criteria(q=cases["wang"]), secret(mediation))
    search.search(db, MEDIATOR, search.Criteria(community="xinyuan"), secret(mediation))
    search.search(db, MEDIATOR, search.Criteria(q="0000"), secret(mediation))
    assert db.access_log.count_documents({}) == before


def test_cases_routed_before_the_search_get_their_keys_from_the_backfill(
    mediation: Mediation, cases: dict[str, str]
) -> None:
    db = mediation.db
    stored = db.cases.find_one({"_id": cases["zhang"]})
    assert "13800138000" not in str(stored["search_keys"]) and "张三" not in str(stored["search_keys"])
    db.cases.update_many({}, {"$unset": {"search_keys": "", "search_kid": ""}})
    assert find(mediation, MEDIATOR, q="13800138000") == []
    assert search.backfill(db, secret(mediation), batch=2) == 5
    assert search.backfill(db, secret(mediation)) == 0  # idempotent
    assert find(mediation, MEDIATOR, q="13800138000") == [cases["zhang"]]
    # A rotated secret re-indexes every case.
    rotated = "a-rotated-secret-of-enough-length-9999"
    assert search.backfill(db, rotated) == 5
    hits = search.search(db, MEDIATOR, search.Criteria(q="李四"), rotated).cases
    assert [c["_id"] for c in hits] == [cases["zhang"]]


# The search: API and page --------------------------------------------------------------------------
@pytest.fixture
def client(settings: Settings, mediation: Mediation) -> FlaskClient:
    return create_app(settings).test_client()


def login(client: FlaskClient, settings: Settings, staff: Staff) -> FlaskClient:
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def test_search_api(client: FlaskClient, settings: Settings, cases: dict[str, str]) -> None:
    assert client.get("/api/v1/desk/search?q=8000").status_code == 401
    assert login(client, settings, S_PATROL).get("/api/v1/desk/search?q=8000").status_code == 403
    login(client, settings, S_MEDIATOR)
    answer = client.get("/api/v1/desk/search", query_string={"q": "138 0013 8000"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["matched_on"] == "phone" and body["truncated"] is False
    assert [c["reference"] for c in body["cases"]] == [cases["zhang"]]
    assert set(body["cases"][0]) <= {
        "reference", "status", "category", "community", "building", "risk_level", "owner", "due_at",
        "deadline_status",
    }  # fmt: skip
    assert "13800138000" not in answer.get_data(as_text=True) and "张三" not in answer.get_data(as_text=True)
    # Empty fields (a form's untouched selects and dates) count as not given.
    state = client.get("/api/v1/desk/search?state=open&community=xinyuan&category=&received_from=").get_json()
    assert [c["reference"] for c in state["cases"]] == [cases["zhao"]]
    for bad in ("state=closed", "received_from=2026-06-02&received_to=2026-06-01", "received_from=soon"):
        refused = client.get(f"/api/v1/desk/search?{bad}")
        assert refused.status_code == 422, bad
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/desk/search" in spec["paths"] and "/api/v1/desk/ended" in spec["paths"]


def test_search_page_without_javascript_in_both_languages(
    client: FlaskClient, settings: Settings, cases: dict[str, str]
) -> None:
    login(client, settings, S_MEDIATOR)
    empty = client.get("/desk/search?lang=en").get_data(as_text=True)
    assert '<form method="get"' in empty and 'name="q"' in empty and "Cases found" not in empty
    page = client.get(
        "/desk/search",
        query_string={
            "q": "李四",
            "lang": "en",
            "community": "",
            "category": "",
            "state": "",
            "received_to": "",
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and cases["zhang"] in html and cases["wang"] not in html
    assert (
        "Matched on: a party&#39;s name." in html and "李四" in html.split("Cases found")[0]
    )  # kept in the box
    assert "13800138000" not in html and "138****8000" not in html
    zh = client.get("/desk/search", query_string={"q": "8000", "lang": "zh-CN"}).get_data(as_text=True)
    assert "查到的案件" in zh and "电话后四位" in zh and cases["wang"] in zh
    bad = client.get("/desk/search?received_from=2026-13-01&lang=en")
    assert bad.status_code == 422 and "Not a valid date." in bad.get_data(as_text=True)
    # The desk's navigation links the new pages.
    nav = client.get("/desk?lang=en").get_data(as_text=True)
    assert 'href="/desk/search"' in nav and 'href="/desk/ended"' in nav and 'href="/access-log"' not in nav


# Ended cases -----------------------------------------------------------------------------------------
def _end(m: Mediation, reference: str, actor: Actor, action: str, payload: dict[str, Any]) -> None:
    desk.take(m, reference, actor)
    desk.apply_action(m, reference, actor, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    if action == lc.AGREE_ORAL:
        desk.apply_action(m, reference, actor, lc.START_MEDIATION)
    desk.apply_action(m, reference, actor, action, payload)


def test_ended_lists_mine_and_my_studios_with_the_next_step(
    mediation: Mediation, client: FlaskClient, settings: Settings
) -> None:
    failed = accepted_case(mediation)
    _end(mediation, failed, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉"})
    oral = accepted_case(mediation)
    _end(mediation, oral, ZHOU, lc.AGREE_ORAL, {"content": "晚上十点后不放音乐"})
    archived = accepted_case(mediation)
    _end(mediation, archived, MEDIATOR, lc.FAIL, {"note": "x"})
    desk.apply_action(mediation, archived, LEAD, lc.ARCHIVE)
    accepted_case(mediation)  # open: in no list

    mine = follow_up.ended(mediation.db, MEDIATOR, follow_up.MINE)
    assert [c["_id"] for c in mine.groups["archiving"]] == [failed]
    assert mine.groups["follow_up"] == [] and mine.groups["confirmation"] == []
    assert mine.groups["archiving"][0]["next_steps"] == [lc.ARCHIVE]
    studio = follow_up.ended(mediation.db, MEDIATOR, follow_up.STUDIO)
    assert [c["_id"] for c in studio.groups["follow_up"]] == [oral]
    assert studio.groups["follow_up"][0]["next_steps"] == [
        lc.RECORD_PERFORMED,
        lc.RECORD_BREACHED,
        lc.ARCHIVE,
    ]
    assert studio.total == 2  # the archived case waits for nothing
    assert follow_up.ended(mediation.db, DONGFENG, follow_up.STUDIO).total == 0

    login(client, settings, S_MEDIATOR)
    api = client.get("/api/v1/desk/ended?scope=studio").get_json()
    assert [c["reference"] for c in api["follow_up"]] == [oral]
    assert api["archiving"][0]["waiting_for"] == "archiving" and api["archiving"][0]["ended_at"]
    assert client.get("/api/v1/desk/ended?scope=everyone").status_code == 422
    page = client.get("/desk/ended?scope=studio&lang=en").get_data(as_text=True)
    assert oral in page and failed in page and archived not in page
    assert "Waiting for the follow-up of the agreement" in page and "Follow-up: performed" in page
    zh = client.get("/desk/ended?lang=zh-CN").get_data(as_text=True)
    assert failed in zh and oral not in zh and "待归档" in zh and "归档" in zh


# The access log viewer ----------------------------------------------------------------------------
@pytest.fixture
def logged(mediation: Mediation, cases: dict[str, str]) -> dict[str, str]:
    """Views and searches in two studios, written by the real use cases."""
    db = mediation.db
    desk.case_view(db, db.cases.find_one({"_id": cases["zhang"]}), LEAD)  # the lead views the contacts
    search.search(db, MEDIATOR, search.Criteria(q="王五"), secret(mediation))
    search.search(db, DONGFENG, search.Criteria(q="13800138000"), secret(mediation))
    # An older view (before this month), for the date filter.
    db.access_log.update_one(
        {"what": "personal_data"}, {"$set": {"at": datetime(2026, 1, 15, 4, 0, tzinfo=UTC)}}
    )
    return cases


def test_access_log_viewer_roles_and_studios(client: FlaskClient, settings: Settings, logged: dict) -> None:
    assert client.get("/access-log").status_code == 302  # to the login page
    assert login(client, settings, S_MEDIATOR).get("/access-log").status_code == 403
    assert client.get("/access-log.csv").status_code == 403
    assert login(client, settings, S_PATROL).get("/access-log").status_code == 403
    lead = login(client, settings, S_LEAD).get("/access-log?lang=en").get_data(as_text=True)
    assert logged["zhang"] in lead and logged["wang"] in lead and logged["dongfeng"] not in lead
    assert (
        "Viewed personal data" in lead and "Searched by a phone or name" in lead and "dongfeng-1" not in lead
    )
    other = login(client, settings, S_DONGFENG_LEAD).get("/access-log?lang=en").get_data(as_text=True)
    assert logged["dongfeng"] in other and logged["zhang"] not in other
    admin = login(client, settings, S_ADMIN).get("/access-log?lang=zh-CN").get_data(as_text=True)
    assert logged["dongfeng"] in admin and logged["zhang"] in admin and "访问日志" in admin


def test_access_log_filters_and_csv(
    client: FlaskClient, settings: Settings, mediation: Mediation, logged: dict
) -> None:
    login(client, settings, S_LEAD)
    by_person = client.get("/access-log?by=mediator&lang=en").get_data(as_text=True)
    assert logged["wang"] in by_person and f">{logged['zhang']}<" not in by_person
    by_case = client.get(f"/access-log?reference={logged['zhang'].lower()}&lang=en").get_data(as_text=True)
    assert f">{logged['zhang']}<" in by_case and logged["wang"] not in by_case
    january = client.get("/access-log?since=2026-01-01&until=2026-01-31&lang=en").get_data(as_text=True)
    assert f">{logged['zhang']}<" in january and logged["wang"] not in january
    assert client.get("/access-log?since=2026-02-01&until=2026-01-01").status_code == 422
    assert client.get("/access-log?since=yesterday").status_code == 422

    export = client.get("/access-log.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"] == 'attachment; filename="access-log.csv"'
    text = export.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert {(r["by"], r["what"], r["reference"]) for r in rows} == {
        ("lead", "personal_data", logged["zhang"]),
        ("mediator", "search", logged["wang"]),
    }
    assert all(r["studio"] == "zhihe" for r in rows)
    assert "13800138000" not in text and "王五" not in text
    only_searches = client.get("/access-log.csv?what=search").get_data().decode("utf-8")
    [row] = csv.DictReader(io.StringIO(only_searches[1:]))
    assert row["matched_on"] == "name" and row["reference"] == logged["wang"]


def test_csv_cells_never_start_a_formula(mediation: Mediation) -> None:
    text = access_log.to_csv([{"at": datetime(2026, 1, 1), "by": "=HYPERLINK(1)", "what": "search"}])
    assert "'=HYPERLINK(1)" in text


def test_only_leads_and_admins_read_the_log(mediation: Mediation) -> None:
    with pytest.raises(access_log.Refused):
        access_log.rows(mediation.db, MEDIATOR, access_log.Filters())
    assert access_log.rows(mediation.db, ADMIN, access_log.Filters()) == []


def test_old_rows_get_their_studio(mediation: Mediation, cases: dict[str, str]) -> None:
    mediation.db.access_log.insert_one(
        {"_id": "old", "reference": cases["zhang"], "by": "lead", "at": T0, "what": "personal_data"}
    )
    assert access_log.backfill_studios(mediation.db) == 1
    assert mediation.db.access_log.find_one({"_id": "old"})["studio"] == "zhihe"
    assert access_log.backfill_studios(mediation.db) == 0
