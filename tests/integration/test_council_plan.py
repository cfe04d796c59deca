"""Council's plan on the real broker and a real MongoDB-wire server: items from a passed vote, the
roll-up through the API, unsound plans refused whole, `plan.item_finished` through the outbox,
timeline photos checked by content and stripped of EXIF/GPS, the public page in zh-CN and en."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pymongo.database import Database

from services.council import plan
from services.council.app import create_app
from services.council.bootstrap import bootstrap
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import get_database
from tests.support.stack import wait_for

COMMUNITY = "lianhua"


def committee(user: str = "wei", community: str = COMMUNITY) -> Staff:
    return Staff(user, "魏芳", frozenset({"committee_member"}), community=community)


def leader() -> Staff:
    return Staff("zhao", "赵强", frozenset({"building_leader"}), community=COMMUNITY, buildings=("1",))


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings, "council")


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def seed(db: Database) -> None:
    """A passed and a failed vote (the shape `consultations.close` writes), two flats and a
    building group, so events have someone to tell."""
    closed = datetime(2026, 5, 6, 10, tzinfo=UTC)
    for cid, outcome in (("vote-gate", "passed"), ("vote-pool", "failed")):
        db.consultations.insert_one(
            {
                "_id": cid,
                "community": COMMUNITY,
                "kind": "vote",
                "status": "closed",
                "closed_at": closed,
                "title": {"zh-CN": "更换大门", "en": "Replace the gate"},
                "result": {"vote": {"outcome": outcome}},
            }
        )
    db.consultations.insert_one(
        {"_id": "open-vote", "community": COMMUNITY, "kind": "vote", "status": "open", "result": None}
    )
    for n, (building, phone) in enumerate((("1", "13800138000"), ("3", "13900139000"))):
        db.flats.insert_one(
            {
                "_id": f"f{n}",
                "community": COMMUNITY,
                "building": building,
                "unit": "1",
                "flat": "101",
                "area_hundredths": 8950,
                "owner_names": ["王芳"],
                "phones": [phone],
                "owner_key": f"k{n}",
                "occupancy": "owner_occupied",
                "developer_held": False,
            }
        )
    db.building_groups.insert_one(
        {"community": COMMUNITY, "building": "3", "webhook_url": "https://example.test/hook"}
    )


def api_items(community: str = COMMUNITY) -> str:
    return f"/api/v1/communities/{community}/plan/items"


def add(client: FlaskClient, **fields: str) -> Any:
    return client.post(api_items(), json=fields)


def public(client: FlaskClient) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/plan/{COMMUNITY}")
    assert response.status_code == 200
    return {item["title"]: item for item in response.get_json()}


def finished_events(db: Database) -> list[dict[str, Any]]:
    return [row["envelope"] for row in db.outbox.find({"envelope.type": "plan.item_finished"})]


# --- decisions, the tree and its roll-up ------------------------------------------------------------


def test_an_item_needs_a_passed_vote_of_its_community(app: Flask, settings: Settings, db: Database) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    for ref in ("vote-pool", "open-vote", "no-such-vote"):
        refused = add(client, title="修泳池", decision_kind="vote", decision_id=ref)
        assert refused.status_code == 422, ref
        assert refused.get_json()["errors"] == {"decision_id": ["not_a_decision"]}
    assert add(client, title="修泳池").get_json()["errors"] == {"decision_kind": ["required"]}
    other = client_as(app, settings, committee("liu", "heping"))
    assert other.post(
        api_items("heping"), json={"title": "x", "decision_kind": "vote", "decision_id": "vote-gate"}
    ).get_json()["errors"]["decision_id"] == [
        "not_a_decision"
    ]  # another community's vote is not this community's decision
    assert db.plan_items.count_documents({}) == 0
    made = add(
        client, title="更换大门", title_en="Replace the gate", decision_kind="vote", decision_id="vote-gate"
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["decision"] == {"kind": "vote", "id": "vote-gate", "title": "更换大门"}
    assert (body["status"], body["progress"]) == ("planned", "0.0")


def test_parent_progress_rolls_up_weighted_through_the_api(
    app: Flask, settings: Settings, db: Database
) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    parent = add(
        client, title="老旧小区改造", decision_kind="vote", decision_id="vote-gate", budget="100000.00"
    )
    parent_id = parent.get_json()["id"]
    gate = add(client, title="更换大门", parent_id=parent_id, weight="3", budget="75000.00").get_json()
    cracks = add(client, title="3号楼阳台裂缝", parent_id=parent_id, weight="1", budget="25000.10").get_json()
    assert gate["decision"]["id"] == "vote-gate"  # inherited from the parent
    assert (
        client.patch(
            f"{api_items()}/{gate['id']}", json={"status": "in_progress", "progress": "50"}
        ).status_code
        == 200
    )
    assert client.patch(f"{api_items()}/{cracks['id']}", json={"status": "done"}).status_code == 200
    plan = public(client_as(app, settings, None))
    # (3 x 50 + 1 x 100) / 4 = 62.5; the parent's own stored progress plays no part.
    assert plan["老旧小区改造"]["progress"] == "62.5"
    assert plan["老旧小区改造"]["status"] == "in_progress"
    assert plan["老旧小区改造"]["leaf"] is False
    assert plan["3号楼阳台裂缝"]["budget"] == "25000.10"  # exact, from integer fen
    assert db.plan_items.find_one({"_id": cracks["id"]})["budget_fen"] == 2500010
    assert [plan[t]["depth"] for t in ("老旧小区改造", "更换大门")] == [0, 1]


def test_an_unsound_plan_is_refused_whole_and_nothing_changes(
    app: Flask, settings: Settings, db: Database
) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    parent_id = add(client, title="改造", decision_kind="vote", decision_id="vote-gate").get_json()["id"]
    child = add(client, title="大门", parent_id=parent_id, weight="2").get_json()
    before = list(db.plan_items.find({}, {"updated_at": 0}))
    partial = add(client, title="路面", parent_id=parent_id)  # a sibling without a weight
    assert partial.status_code == 422 and partial.get_json()["errors"] == {"weight": ["partial_weights"]}
    cycle = client.patch(f"{api_items()}/{parent_id}", json={"parent_id": child["id"]})
    assert cycle.status_code == 422 and cycle.get_json()["errors"]["parent_id"] == ["cycle"]
    for bad, field in (
        ({"progress": "101"}, "progress"),
        ({"progress": "abc"}, "progress"),
        ({"status": "done", "progress": "60"}, "progress"),
        ({"start": "2026-05-09", "end": "2026-05-01"}, "end"),
        ({"budget": "12.345"}, "budget"),
        ({"budget": "1e3"}, "budget"),
        ({"weight": "0"}, "weight"),
        ({"colour": "red"}, "colour"),
    ):
        refused = client.patch(f"{api_items()}/{child['id']}", json=bad)
        assert refused.status_code == 422, bad
        assert field in refused.get_json()["errors"], (bad, refused.get_json())
    assert list(db.plan_items.find({}, {"updated_at": 0})) == before


def test_finishing_items_sends_plan_item_finished_once_through_the_outbox(
    app: Flask, settings: Settings, db: Database
) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    parent_id = add(
        client, title="改造", title_en="Renovation", decision_kind="vote", decision_id="vote-gate"
    ).get_json()["id"]
    a = add(client, title="大门", parent_id=parent_id).get_json()["id"]
    b = add(client, title="裂缝", parent_id=parent_id).get_json()["id"]
    assert finished_events(db) == []
    client.patch(f"{api_items()}/{a}", json={"status": "done"})
    assert [e["data"]["item_id"] for e in finished_events(db)] == [a]
    client.patch(f"{api_items()}/{a}", json={"title": "更换大门"})  # still done: no second event
    assert len(finished_events(db)) == 1
    client.patch(f"{api_items()}/{b}", json={"status": "done"})
    events = finished_events(db)
    assert sorted(e["data"]["item_id"] for e in events) == sorted([a, b, parent_id])  # the parent by roll-up
    parent_event = next(e for e in events if e["data"]["item_id"] == parent_id)
    data = parent_event["data"]
    assert data["title"] == {"zh-CN": "改造", "en": "Renovation"}
    assert data["url"] == f"{settings.council_public_url}/plan/{COMMUNITY}"
    assert [h["phones"] for h in data["households"]] == [["13800138000"], ["13900139000"]]
    assert data["building_groups"] == [{"building": "3", "webhook_url": "https://example.test/hook"}]
    assert db.plan_items.find_one({"_id": parent_id})["finished_at"] is not None
    # Published to the broker right after the commit (the relay would retry otherwise), and marked
    # sent by the process's batch within a quarter of the relay's grace period.
    finished = {"envelope.type": "plan.item_finished"}
    wait_for(
        lambda: {row["status"] for row in db.outbox.find(finished)} == {"sent"},
        timeout=5,
        what="the published events marked sent",
    )


def test_only_the_communitys_committee_changes_the_plan(app: Flask, settings: Settings, db: Database) -> None:
    seed(db)
    body = {"title": "大门", "decision_kind": "vote", "decision_id": "vote-gate"}
    assert client_as(app, settings, None).post(api_items(), json=body).status_code == 401
    assert client_as(app, settings, leader()).post(api_items(), json=body).status_code == 403
    assert (
        client_as(app, settings, committee("liu", "heping")).post(api_items(), json=body).status_code == 403
    )
    assert db.plan_items.count_documents({}) == 0


# --- photos ------------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    """A phone-like JPEG: EXIF with the camera, the time and GPS coordinates (Shanghai)."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0132] = "2026:05:06 10:00:00"  # DateTime
    exif[0x0112] = 6  # Orientation: rotate 90° to stand upright
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (Fraction(31), Fraction(14), Fraction(2_345, 100))
    gps[3], gps[4] = "E", (Fraction(121), Fraction(28), Fraction(1_234, 100))
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_timeline_photos_lose_their_exif_and_gps(app: Flask, settings: Settings, db: Database) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    item_id = add(client, title="大门", decision_kind="vote", decision_id="vote-gate").get_json()["id"]
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test photo does carry GPS
    response = client.post(
        f"{api_items()}/{item_id}/timeline",
        data={"text": "旧门拆除", "photos": [(io.BytesIO(original), "gate.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    photo_id = response.get_json()["photos"][0]
    served = client_as(app, settings, None).get(f"/plan/{COMMUNITY}/photos/{photo_id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    stored = served.get_data()
    image = Image.open(io.BytesIO(stored))
    assert dict(image.getexif()) == {}
    assert b"Exif" not in stored and b"PhoneMaker" not in stored and b"2026:05:06" not in stored
    assert image.size == (48, 64)  # the orientation was applied to the pixels before EXIF went
    assert public(client)["大门"]["timeline"][0]["photos"] == [photo_id]
    # Another community's page does not serve it.
    assert client.get(f"/plan/heping/photos/{photo_id}").status_code == 404


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_stored(
    app: Flask, settings: Settings, db: Database
) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    item_id = add(client, title="大门", decision_kind="vote", decision_id="vote-gate").get_json()["id"]
    for name, content in (
        ("gate.jpg", b"#!/bin/sh\necho hi\n" * 20),
        ("scan.pdf", b"%PDF-1.4\n" + b"0" * 200),
    ):
        refused = client.post(
            f"{api_items()}/{item_id}/timeline",
            data={"text": "照片", "photos": [(io.BytesIO(content), name)]},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422
        assert refused.get_json()["errors"]["photos"] == ["upload:Photos must be JPEG, PNG or WebP images."]
    assert db.plan_timeline.count_documents({}) == 0
    assert db["plan_photos.files"].count_documents({}) == 0


# --- pages -----------------------------------------------------------------------------------------------


def csrf_token(client: FlaskClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True))
    assert found is not None, f"no form on {page}"
    return found.group(1)


def test_the_committee_adds_and_edits_items_on_pages_and_the_public_reads_them(
    app: Flask, settings: Settings, db: Database
) -> None:
    seed(db)
    client = client_as(app, settings, committee())
    page = f"/communities/{COMMUNITY}/plan"
    token = csrf_token(client, page + "?lang=en")
    refused = client.post(
        page, data={"csrf_token": token, "title": "", "decision_kind": "vote", "decision_id": "vote-pool"}
    )
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "This is required." in text and "No such decision" in text and 'aria-invalid="true"' in text
    made = client.post(
        page,
        data={
            "csrf_token": token,
            "title": "更换大门",
            "title_en": "Replace the gate",
            "decision_kind": "vote",
            "decision_id": "vote-gate",
            "status": "in_progress",
            "progress": "40",
            "budget": "12800.00",
            "contractor": "莲花建筑公司",
            "start": "2026-05-10",
            "end": "2026-06-30",
        },
    )
    assert made.status_code == 302
    item_url = made.headers["Location"]
    token = csrf_token(client, item_url)
    form = {
        "csrf_token": token,
        "title": "更换大门",
        "title_en": "Replace the gate",
        "status": "in_progress",
        "budget": "12800.00",
        "contractor": "莲花建筑公司",
        "start": "2026-05-10",
        "end": "2026-06-30",
        "weight": "",
    }
    assert client.post(item_url, data={**form, "progress": "250"}).status_code == 422
    saved = client.post(item_url, data={**form, "progress": "75"})
    assert saved.status_code == 302
    anonymous = client_as(app, settings, None)
    zh = anonymous.get(f"/plan/{COMMUNITY}?lang=zh-CN").get_data(as_text=True)
    assert (
        "更换大门" in zh
        and "进行中" in zh
        and "¥12800.00" in zh
        and "莲花建筑公司" in zh
        and 'value="75.0"' in zh
    )
    en = anonymous.get(f"/plan/{COMMUNITY}?lang=en").get_data(as_text=True)
    assert "Replace the gate" in en and "In progress" in en and "75.0 % done" in en
    # Without the CSRF token the form is refused.
    assert client.post(item_url, data={"title": "x"}).status_code == 400


def test_two_edits_that_together_would_make_a_cycle_cannot_both_win(settings: Settings, db: Database) -> None:
    """Each edit alone is sound (a under b, or b under a); together they would be a cycle. The plan's
    revision counter makes the two transactions conflict, so the second sees the first."""
    seed(db)
    council = bootstrap(settings)
    wei = committee()
    a = plan.create_item(
        council, COMMUNITY, {"title": "a", "decision_kind": "vote", "decision_id": "vote-gate"}, wei
    )
    b = plan.create_item(
        council, COMMUNITY, {"title": "b", "decision_kind": "vote", "decision_id": "vote-gate"}, wei
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def move(item: str, under: str) -> None:
        barrier.wait()
        try:
            plan.update_item(council, COMMUNITY, item, {"parent_id": under}, wei)
            outcomes.append("moved")
        except plan.Refused as err:
            outcomes.append(",".join(err.errors.get("parent_id", [])))

    threads = [threading.Thread(target=move, args=pair) for pair in ((a["id"], b["id"]), (b["id"], a["id"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["cycle", "moved"]
    parents = {d["_id"]: d["parent_id"] for d in db.plan_items.find({})}
    assert sum(p is not None for p in parents.values()) == 1
