"""Council's household register on the real broker and a real MongoDB-wire server: the service's
frame (home page, login, worker), import with preview, edits, masking, the access log and roles."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from services.council import register
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from services.council.demo import seed_demo_register
from services.council.domain.register import parse_table
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database
from tests.support.stack import Workers, wait_for

COMMUNITY = "lianhua"
OTHER = "heping"


def committee(community: str = COMMUNITY) -> Staff:
    return Staff("wei", "魏芳", frozenset({"committee_member"}), community=community)


def leader(buildings: tuple[str, ...] = ("1",), community: str = COMMUNITY) -> Staff:
    return Staff("zhao", "赵强", frozenset({"building_leader"}), community=community, buildings=buildings)


def admin() -> Staff:
    return Staff("admin", "郑华", frozenset({"district_admin"}))


def mediator() -> Staff:
    return Staff("chen", "陈敏", frozenset({"mediator"}), studio="zhihe")


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


# --- the frame --------------------------------------------------------------------------------------


def test_anonymous_staff_are_sent_to_mediations_login(app: Flask, settings: Settings) -> None:
    page = client_as(app, settings, None).get("/?lang=en")
    assert page.status_code == 401
    assert f'href="{settings.mediation_public_url}/login"' in page.get_data(as_text=True)


def test_home_lists_the_communities_of_the_member_of_staff(app: Flask, settings: Settings) -> None:
    mine = client_as(app, settings, committee()).get("/?lang=en").get_data(as_text=True)
    assert "Lianhua Community" in mine and "Heping Community" not in mine
    everything = client_as(app, settings, admin()).get("/?lang=zh-CN").get_data(as_text=True)
    assert "莲花社区" in everything and "和平社区" in everything
    assert client_as(app, settings, mediator()).get("/").status_code == 403
    # A building leader is pointed to their buildings' mediation cases (intake's page); others not.
    cases = f'href="{settings.intake_public_url}/building"'
    assert cases in client_as(app, settings, leader()).get("/?lang=en").get_data(as_text=True)
    assert cases not in mine


def test_the_worker_starts_creates_the_indexes_and_stops_on_sigterm(settings: Settings, tmp_path) -> None:
    workers = Workers(settings, tmp_path)
    try:
        workers.start("council")
        flats = get_database(settings, "council").flats
        wait_for(lambda: "one_row_per_flat" in flats.index_information(), what="the flat index")
        time.sleep(0.5)
        assert workers.stop("council") == 0
        assert "worker started" in workers.log("council")
    finally:
        workers.kill_all()


# --- the register -------------------------------------------------------------------------------------

HEADER = "楼栋,单元,房号,专有部分面积,业主姓名,联系电话,业主编号,居住情况,开发商持有"
CLEAN = [
    "1,1,101,89.50,王芳,13800138000,W1,自住,否",
    "1,1,102,62.35,李强、孙丽,13900139000,L1,出租,否",
    "2,1,101,75.20,王芳,13800138000,W1,自住,否",
    "2,1,102,98.15,,,,空置,是",
]
BAD = [
    "1,1,101,89.50,王芳,13800138000,W1,自住,否",
    "1,1,102,-3,李强,13900139000,L1,出租,否",
    "1,1,103,70,赵六,12345,,自住,否",
    "1,1,101,88,钱七,,,自住,否",
    "1,1,104,70,孙七,,,借住,否",
]


def csv_file(rows: list[str], encoding: str = "utf-8-sig") -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode(encoding)


def upload(client: FlaskClient, path: str, data: bytes, name: str = "register.csv", token: str = "") -> Any:
    form: dict[str, Any] = {"file": (io.BytesIO(data), name)}
    if token:
        form["csrf_token"] = token
    return client.post(path, data=form, content_type="multipart/form-data")


def csrf_token(client: FlaskClient, page: str) -> str:
    """The form's CSRF token, as a browser would send it back (pages check it on every POST)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True))
    assert found is not None, f"no form on {page}"
    return found.group(1)


def api(community: str = COMMUNITY) -> str:
    return f"/api/v1/communities/{community}/register"


def flats(settings: Settings) -> Collection:
    return get_database(settings, "council").flats


def imported(app: Flask, settings: Settings, rows: list[str] = CLEAN) -> FlaskClient:
    client = client_as(app, settings, committee())
    assert upload(client, f"{api()}/import", csv_file(rows)).status_code == 201
    return client


def test_a_preview_lists_every_bad_row_and_imports_nothing(app: Flask, settings: Settings) -> None:
    client = client_as(app, settings, committee())
    response = upload(client, f"{api()}/preview", csv_file(BAD))
    assert response.status_code == 200
    body = response.json
    assert body["clean"] is False
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (3, "area", "area_not_positive"),
        (4, "phones", "bad_phone"),
        (5, "flat", "duplicate_in_file"),
        (6, "occupancy", "bad_occupancy"),
    ]
    assert flats(settings).count_documents({}) == 0
    refused = upload(client, f"{api()}/import", csv_file(BAD))
    assert refused.status_code == 422
    assert refused.json["errors"]["rows.3.area"] == ["the area must be more than 0 m²"]
    assert set(refused.json["errors"]) == {"rows.3.area", "rows.4.phones", "rows.5.flat", "rows.6.occupancy"}
    assert flats(settings).count_documents({}) == 0


def test_a_clean_file_is_imported_exactly(app: Flask, settings: Settings) -> None:
    client = client_as(app, settings, committee())
    assert upload(client, f"{api()}/preview", csv_file(CLEAN)).json == {
        "clean": True,
        "rows": 4,
        "errors": [],
    }
    assert flats(settings).count_documents({}) == 0  # a preview stores nothing
    response = upload(client, f"{api()}/import", csv_file(CLEAN, "gb18030"), "登记表.csv")
    assert response.status_code == 201 and response.json == {"imported": 4}
    stored = {(d["building"], d["flat"]): d for d in flats(settings).find({"community": COMMUNITY})}
    assert stored[("1", "101")]["area_hundredths"] == 8950
    assert stored[("1", "102")]["owner_names"] == ["李强", "孙丽"]
    assert stored[("2", "102")]["developer_held"] is True and stored[("2", "102")]["owner_key"] == "developer"
    counted = register.flats_for_counting(council_of(settings), COMMUNITY)
    assert [(f.building, f.area, f.owner_key, f.developer_held) for f in counted] == [
        ("1", Decimal("89.50"), "W1", False),
        ("1", Decimal("62.35"), "L1", False),
        ("2", Decimal("75.20"), "W1", False),
        ("2", Decimal("98.15"), "developer", True),
    ]
    assert sum(f.area_hundredths for f in counted) == 32520


def test_a_flat_already_in_the_register_refuses_the_whole_file(app: Flask, settings: Settings) -> None:
    client = imported(app, settings)
    again = ["3,1,101,70,新业主,,,自住,否", "1,1,102,62.35,李强,,,出租,否"]
    preview = upload(client, f"{api()}/preview", csv_file(again)).json
    assert [(e["row"], e["code"]) for e in preview["errors"]] == [(3, "in_register")]
    assert upload(client, f"{api()}/import", csv_file(again)).status_code == 422
    assert flats(settings).count_documents({"building": "3"}) == 0
    assert flats(settings).count_documents({}) == len(CLEAN)


def test_the_database_refuses_a_second_row_for_one_flat(settings: Settings, app: Flask) -> None:
    imported(app, settings)
    doc = flats(settings).find_one({"building": "1", "flat": "101"})
    assert doc is not None
    doc["_id"] = "another"
    with pytest.raises(DuplicateKeyError):
        flats(settings).insert_one(doc)


def test_concurrent_imports_of_the_same_flats_store_one_file_whole(app: Flask, settings: Settings) -> None:
    council = council_of(settings)
    first = parse_table([HEADER.split(","), *[row.split(",") for row in CLEAN]]).rows
    # The second file shares one flat (1-1-102) with the first and has 30 of its own.
    own = [f"5,1,{n},70,业主{n},,,自住,否".split(",") for n in range(100, 130)]
    second = parse_table(
        [HEADER.split(","), *own, ["1", "1", "102", "50", "别人", "", "", "自住", "否"]]
    ).rows
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def run(name: str, rows: list) -> None:
        barrier.wait()
        try:
            outcomes[name] = register.insert_rows(council, COMMUNITY, rows, committee(), None)
        except register.Refused as err:
            outcomes[name] = err

    threads = [threading.Thread(target=run, args=(n, r)) for n, r in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [name for name, outcome in outcomes.items() if isinstance(outcome, int)]
    assert len(winners) == 1, outcomes
    loser = "b" if winners == ["a"] else "a"
    assert isinstance(outcomes[loser], register.Refused)
    assert [e.code for e in outcomes[loser].errors] == ["in_register"]
    expected = len(first) if winners == ["a"] else len(second)
    assert flats(settings).count_documents({}) == expected  # nothing of the loser's file
    assert flats(settings).count_documents({"building": "1", "flat": "102"}) == 1


def test_lists_mask_names_and_phones(app: Flask, settings: Settings) -> None:
    client = imported(app, settings)
    listed = client.get(f"{api()}/flats").json
    assert [f["owner_names"] for f in listed][:2] == [["王*"], ["李*", "孙*"]]
    assert listed[0]["phones"] == ["138****8000"] and listed[0]["area"] == "89.50"
    page = client.get(f"/communities/{COMMUNITY}/register?lang=zh-CN").get_data(as_text=True)
    assert "王*" in page and "138****8000" in page
    assert "王芳" not in page and "13800138000" not in page and "孙丽" not in page
    assert get_database(settings, "council").access_log.count_documents({}) == 0  # lists are not views


def test_viewing_a_flat_in_full_is_logged_never_in_the_application_log(
    app: Flask, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = imported(app, settings)
    doc = flats(settings).find_one({"building": "1", "flat": "101"})
    assert doc is not None
    caplog.set_level(logging.DEBUG)
    full = client.get(f"{api()}/flats/{doc['_id']}").json
    assert full["owner_names"] == ["王芳"] and full["phones"] == ["13800138000"]
    page = client.get(f"/communities/{COMMUNITY}/register/flats/{doc['_id']}?lang=en").get_data(as_text=True)
    assert 'value="13800138000"' in page
    entries = list(get_database(settings, "council").access_log.find({"flat_id": doc["_id"]}))
    assert [(e["by"], e["fields"], e["community"]) for e in entries] == [
        ("wei", ["owner_names", "phones"], COMMUNITY)
    ] * 2
    assert all(e["at"] for e in entries)
    history = client.get(f"{api()}/flats/{doc['_id']}/access-log").json
    assert [h["by"] for h in history] == ["wei", "wei"]
    text = caplog.text
    assert "13800138000" not in text and "王芳" not in text


def test_building_leaders_see_their_buildings_masked_and_change_nothing(
    app: Flask, settings: Settings
) -> None:
    imported(app, settings)
    client = client_as(app, settings, leader(("1",)))
    listed = client.get(f"{api()}/flats").json
    assert {f["building"] for f in listed} == {"1"} and len(listed) == 2
    assert client.get(f"{api()}/flats?building=2").json == []
    mine = flats(settings).find_one({"building": "1", "flat": "101"})
    other = flats(settings).find_one({"building": "2", "flat": "101"})
    assert mine is not None and other is not None
    one = client.get(f"{api()}/flats/{mine['_id']}").json
    assert one["owner_names"] == ["王*"] and one["phones"] == ["138****8000"]
    assert client.get(f"{api()}/flats/{other['_id']}").status_code == 404
    assert client.patch(f"{api()}/flats/{mine['_id']}", json={"area": "1"}).status_code == 403
    assert upload(client, f"{api()}/import", csv_file(["9,1,1,70,某,,,自住,否"])).status_code == 403
    assert get_database(settings, "council").access_log.count_documents({}) == 0
    assert flats(settings).find_one({"_id": mine["_id"]})["area_hundredths"] == 8950


def test_who_may_do_what(app: Flask, settings: Settings) -> None:
    imported(app, settings)
    doc = flats(settings).find_one({})
    assert doc is not None
    anonymous = client_as(app, settings, None)
    assert anonymous.get(f"{api()}/flats").status_code == 401
    assert anonymous.get(f"{api()}/flats").json["code"] == 401
    assert anonymous.get(f"/communities/{COMMUNITY}/register").status_code == 401
    assert client_as(app, settings, mediator()).get(f"{api()}/flats").status_code == 403
    stranger = client_as(app, settings, committee(OTHER))
    assert stranger.get(f"{api()}/flats").status_code == 403
    assert stranger.get(f"{api()}/flats/{doc['_id']}").status_code == 403
    assert upload(stranger, f"{api()}/import", csv_file(["9,1,1,70,某,,,自住,否"])).status_code == 403
    assert client_as(app, settings, admin()).get(f"{api()}/flats").status_code == 200
    assert client_as(app, settings, admin()).get(f"{api('nowhere')}/flats").status_code == 404
    assert flats(settings).count_documents({"building": "9"}) == 0


def test_editing_a_flat_checks_every_field_and_changes_nothing_on_error(
    app: Flask, settings: Settings
) -> None:
    client = imported(app, settings)
    doc = flats(settings).find_one({"building": "1", "flat": "101"})
    assert doc is not None
    path = f"{api()}/flats/{doc['_id']}"
    bad = client.patch(path, json={"area": "-1", "phones": "123", "occupancy": "自住"})
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"area", "phones"}
    assert flats(settings).find_one({"_id": doc["_id"]}) == doc
    assert client.patch(path, json={"building": "9"}).status_code == 422  # identity is not editable
    good = client.patch(
        path, json={"area": "90.05", "phones": "13700137000, 010-62345678", "occupancy": "let"}
    )
    assert good.status_code == 200
    assert good.json["area"] == "90.05" and good.json["phones"] == ["13700137000", "01062345678"]
    after = flats(settings).find_one({"_id": doc["_id"]})
    assert after["area_hundredths"] == 9005 and after["occupancy"] == "let" and after["updated_by"] == "wei"
    (change,) = get_database(settings, "council").register_changes.find({"flat_id": doc["_id"]})
    assert change["fields"] == ["area_hundredths", "occupancy", "phones"]
    assert "13700137000" not in str(change)


def test_the_pages_upload_preview_and_confirm(app: Flask, settings: Settings) -> None:
    client = client_as(app, settings, committee())
    base = f"/communities/{COMMUNITY}/register"
    assert client.get(f"{base}/import?lang=en").status_code == 200
    assert upload(client, f"{base}/import?lang=en", csv_file(CLEAN)).status_code == 400  # no CSRF token
    token = csrf_token(client, f"{base}/import")
    bad = upload(client, f"{base}/import?lang=en", csv_file(BAD), token=token)
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Row 3" in text and "The area must be more than 0 m²." in text and "Row 6" in text
    assert "Import these flats" not in text
    chinese = upload(client, f"{base}/import?lang=zh-CN", csv_file(BAD), token=token).get_data(as_text=True)
    assert "第 3 行" in chinese and "面积必须大于 0 平方米" in chinese
    assert flats(settings).count_documents({}) == 0
    good = upload(client, f"{base}/import?lang=en", csv_file(CLEAN, "gb18030"), token=token)
    assert good.status_code == 200
    action = re.search(r'action="([^"]+/import/[^"]+)"', good.get_data(as_text=True))
    assert action is not None
    assert flats(settings).count_documents({}) == 0  # not before the confirmation
    done = client.post(action.group(1), data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith(base)
    assert flats(settings).count_documents({}) == len(CLEAN)
    assert client.post(action.group(1), data={"csrf_token": token}).status_code == 404  # imported once
    assert flats(settings).count_documents({}) == len(CLEAN)


def test_the_edit_page_shows_the_error_at_the_field(app: Flask, settings: Settings) -> None:
    client = imported(app, settings)
    doc = flats(settings).find_one({"building": "1", "flat": "101"})
    assert doc is not None
    path = f"/communities/{COMMUNITY}/register/flats/{doc['_id']}?lang=en"
    token = csrf_token(client, path)
    form = {
        "csrf_token": token,
        "area": "abc",
        "owner_names": "王芳",
        "phones": "13800138000",
        "owner_key": "W1",
        "occupancy": "owner_occupied",
    }
    page = client.post(path, data=form)
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert 'id="area-error"' in text and "is not a number" in text and 'aria-invalid="true"' in text
    assert flats(settings).find_one({"_id": doc["_id"]}) == doc
    saved = client.post(path, data=form | {"area": "91", "developer_held": "yes"})
    assert saved.status_code == 302
    after = flats(settings).find_one({"_id": doc["_id"]})
    assert after["area_hundredths"] == 9100 and after["developer_held"] is True


def test_the_demo_register_loads_once(settings: Settings) -> None:
    council = council_of(settings)
    ensure_indexes(council.db)
    assert seed_demo_register(council) == 60
    assert seed_demo_register(council) == 0
    counted = register.flats_for_counting(council, "lianhua")
    keys = [f.owner_key for f in counted]
    assert len(counted) == 60
    assert sum(1 for f in counted if f.developer_held) == 4
    assert len([k for k in set(keys) if keys.count(k) > 1 and k != "developer"]) >= 3  # owners of two flats


def council_of(settings: Settings) -> Council:
    return bootstrap(settings)


def test_metrics_count_flats_and_the_openapi_document_names_the_register(
    app: Flask, settings: Settings
) -> None:
    imported(app, settings)
    client = client_as(app, settings, None)
    metrics = client.get("/metrics", base_url=f"http://localhost:{settings.metrics_port}").get_data(
        as_text=True
    )
    assert f'concord_register_flats{{community="{COMMUNITY}"}} {float(len(CLEAN))}' in metrics
    assert 'concord_outbox_pending{service="council"} 0.0' in metrics
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/communities/{community}/register/import" in paths
    assert "patch" in paths["/api/v1/communities/{community}/register/flats/{flat_id}"]


def test_a_file_that_is_no_register_is_explained_in_the_readers_language(
    app: Flask, settings: Settings
) -> None:
    client = client_as(app, settings, committee())
    base = f"/communities/{COMMUNITY}/register/import"
    token = csrf_token(client, base)
    no_area = "楼栋,单元,房号,业主姓名,居住情况\r\n1,1,101,王芳,自住\r\n".encode()
    page = upload(client, f"{base}?lang=zh-CN", no_area, token=token)
    assert page.status_code == 422
    # Full-width colon and brackets, as the Chinese catalog writes them.
    assert "表头缺少以下列\uff1a专有部分面积\uff08平方米\uff09。" in page.get_data(as_text=True)
    english = upload(client, f"{base}?lang=en", b"PK\x03\x04broken", "register.xlsx", token=token)
    assert "The file is not a readable XLSX workbook." in english.get_data(as_text=True)
    api_answer = upload(client, f"{api()}/import", no_area)
    assert api_answer.status_code == 422 and api_answer.json["errors"]["file"] == [
        "the header row lacks the columns: area"
    ]
    assert flats(settings).count_documents({}) == 0


def test_council_staff_log_in_at_mediation_and_their_token_opens_councils_pages(
    app: Flask, settings: Settings
) -> None:
    from services.mediation.bootstrap import bootstrap as mediation_bootstrap
    from services.mediation.registry import seed_registry
    from services.mediation.staff_accounts import (
        DEMO_USERS,
        NewUser,
        UserError,
        authenticate,
        create_user,
        seed_demo_users,
    )

    db = mediation_bootstrap(settings).db
    seed_registry(db)
    seed_demo_users(db, settings)
    leader_demo = next(u for u in DEMO_USERS if u["role"] == "building_leader")
    staff = authenticate(
        db, leader_demo["username"], leader_demo["password"], "127.0.0.1", settings.secret_key
    )
    assert staff is not None
    assert (staff.community, staff.buildings, staff.roles) == (
        "lianhua",
        ("1", "2"),
        frozenset({"building_leader"}),
    )
    imported(app, settings)
    listed = client_as(app, settings, staff).get(f"{api()}/flats").json
    assert {f["building"] for f in listed} == {"1", "2"}
    with pytest.raises(UserError):  # a council role needs a known community
        create_user(db, NewUser("nowhere", "long-enough-pw", "committee_member", community="atlantis"))
    with pytest.raises(UserError):  # a building leader needs buildings
        create_user(db, NewUser("nobuild", "long-enough-pw", "building_leader", community="lianhua"))
