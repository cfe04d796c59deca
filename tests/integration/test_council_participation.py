"""Council's live participation on a real MongoDB-wire server and the real broker: counts by building
per role, a building leader's list of flats that have not answered (their buildings only), reminders
(one per building and day, also under two concurrent clicks) and the building groups page."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council import building_groups, participation
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.messaging.events import validate_data
from tests.integration.council_data import ballot, committee, consultation, flat, leader, seed

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0123456789abcdef"


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def council(settings: Settings) -> Council:
    return bootstrap(settings)


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def compound(council: Council, status: str = "open") -> None:
    """Building 1: four flats, 101 and 102 answered; building 2: two flats, 201 answered."""
    flats = [flat("1", "1", n, phone=f"1380000{n}00") for n in ("101", "102", "103", "104")]
    flats += [flat("2", "1", "201"), flat("2", "1", "202", phone="13900000202")]
    answered = [f for f in flats if f["flat"] in ("101", "102", "201")]
    ballots = [ballot("c1", f, {"gate": "yes"}) for f in answered]
    seed(council.db, flats, consultation("c1", status=status), ballots)
    council.db.building_groups.insert_one(
        {"_id": "lianhua:1", "community": "lianhua", "building": "1", "webhook_url": ROBOT}
    )


def reminders_in_outbox(council: Council) -> list[dict[str, Any]]:
    return [row["envelope"] for row in council.db.outbox.find({"envelope.type": "consultation.reminder"})]


def test_counts_by_building_for_the_committee_and_own_buildings_for_a_leader(
    app: Flask, settings: Settings, council: Council
) -> None:
    compound(council)
    everything = participation.counts(council, "c1", committee())
    assert [(r.building, r.answered, r.eligible) for r in everything] == [("1", 2, 4), ("2", 1, 2)]
    mine = participation.counts(council, "c1", leader(("2",)))
    assert [(r.building, r.answered, r.eligible) for r in mine] == [("2", 1, 2)]
    page = client_as(app, settings, leader(("1",))).get("/consultations/c1/participation?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Building 1" in html and "Building 2" not in html
    assert "2 of 4 flats have answered" in html
    api = client_as(app, settings, committee()).get("/api/v1/consultations/c1/participation").get_json()
    assert api["buildings"] == [
        {"building": "1", "eligible": 4, "answered": 2, "missing": 2},
        {"building": "2", "eligible": 2, "answered": 1, "missing": 1},
    ]
    assert (
        client_as(app, settings, committee("heping")).get("/consultations/c1/participation").status_code
        == 403
    )
    assert (
        client_as(app, settings, leader(())).get("/api/v1/consultations/c1/participation").status_code == 403
    )


def test_a_leader_sees_the_unanswered_flats_of_their_own_buildings_only(
    app: Flask, settings: Settings, council: Council
) -> None:
    compound(council)
    leader1 = client_as(app, settings, leader(("1",)))
    html = leader1.get("/consultations/c1/participation/1?lang=en").get_data(as_text=True)
    assert "1-1-103" in html and "1-1-104" in html
    assert "1-1-101" not in html and "1-1-102" not in html  # answered: not listed
    assert leader1.get("/consultations/c1/participation/2").status_code == 403
    api = leader1.get("/api/v1/consultations/c1/participation/1").get_json()
    assert api == {"building": "1", "flats": ["1-1-103", "1-1-104"]}
    assert leader1.get("/api/v1/consultations/c1/participation/2").status_code == 403


def test_reminder_tells_the_unanswered_households_and_the_group_once_a_day(
    app: Flask, settings: Settings, council: Council
) -> None:
    compound(council)
    leader1 = client_as(app, settings, leader(("1",)))
    page = leader1.get("/consultations/c1/participation/1?lang=en").get_data(as_text=True)
    sent = leader1.post("/consultations/c1/participation/1/reminder?lang=en", data={"csrf_token": csrf(page)})
    assert sent.status_code == 303
    assert "Reminder sent to 2 households" in leader1.get(sent.location).get_data(as_text=True)
    [event] = reminders_in_outbox(council)
    data = validate_data(event["type"], event["schema_version"], event["data"])
    assert [h["label"] for h in data["households"]] == ["1-1-103", "1-1-104"]
    assert {p for h in data["households"] for p in h["phones"]} == {"138000010300", "138000010400"}
    assert data["building_groups"] == [{"building": "1", "webhook_url": ROBOT}]
    assert data["url"].endswith("/c/c1") and data["community"] == "lianhua"
    again = leader1.post(
        "/consultations/c1/participation/1/reminder?lang=en", data={"csrf_token": csrf(page)}
    )
    assert "already reminded today" in leader1.get(again.location).get_data(as_text=True)
    assert len(reminders_in_outbox(council)) == 1
    api = leader1.post("/api/v1/consultations/c1/participation/1/reminders")
    assert api.status_code == 409 and api.get_json()["code"] == 409
    # Another building is a separate reminder; the next local day allows another one.
    participation.send_reminder(council, "c1", committee(), "2")
    participation.send_reminder(council, "c1", leader(("1",)), "1", now=datetime(2099, 1, 1, tzinfo=UTC))
    assert len(reminders_in_outbox(council)) == 3
    with pytest.raises(participation.Forbidden):
        participation.send_reminder(council, "c1", leader(("1",)), "2")


def test_two_concurrent_clicks_send_one_reminder(app: Flask, settings: Settings, council: Council) -> None:
    compound(council)
    # Two leaders of building 1 (or one leader's two taps) press the button at the same moment.
    clients = [client_as(app, settings, leader(("1",))) for _ in range(2)]
    tokens = [csrf(c.get("/consultations/c1/participation/1").get_data(as_text=True)) for c in clients]
    statuses: list[str] = []
    barrier = threading.Barrier(2)

    def click(client: FlaskClient, token: str) -> None:
        barrier.wait()
        response = client.post(
            "/consultations/c1/participation/1/reminder?lang=en", data={"csrf_token": token}
        )
        statuses.append(client.get(response.location).get_data(as_text=True))

    threads = [threading.Thread(target=click, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted("already reminded today" in page for page in statuses) == [False, True]
    assert sum("Reminder sent to 2 households" in page for page in statuses) == 1
    assert council.db.reminders.count_documents({"consultation_id": "c1"}) == 1
    assert len(reminders_in_outbox(council)) == 1


def test_no_reminder_when_closed_or_everyone_answered(council: Council) -> None:
    compound(council, status="closed")
    with pytest.raises(participation.NotOpen):
        participation.send_reminder(council, "c1", committee(), "1")
    council.db.consultations.update_one({"_id": "c1"}, {"$set": {"status": "open"}})
    council.db.ballots.insert_one(ballot("c1", flat("2", "1", "202"), {"gate": "no"}))
    with pytest.raises(participation.NothingToRemind):
        participation.send_reminder(council, "c1", committee(), "2")
    assert council.db.reminders.count_documents({}) == 0 and reminders_in_outbox(council) == []


def test_building_groups_page_keeps_robot_urls_masked_and_refuses_a_bad_one(
    app: Flask, settings: Settings, council: Council
) -> None:
    compound(council)
    member = client_as(app, settings, committee())
    page = member.get("/communities/lianhua/building-groups?lang=en").get_data(as_text=True)
    assert "0123456789abcdef" not in page and "…cdef" in page
    robot2 = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=building-two-key"
    bad = member.post(
        "/communities/lianhua/building-groups?lang=en",
        data={"csrf_token": csrf(page), "webhook-2": robot2, "webhook-1": "not a url"},
    )
    assert bad.status_code == 422 and "Nothing was saved" in bad.get_data(as_text=True)
    assert council.db.building_groups.count_documents({}) == 1
    good = member.post(
        "/communities/lianhua/building-groups", data={"csrf_token": csrf(page), "webhook-2": robot2}
    )
    assert good.status_code == 303
    assert building_groups.group_refs(council, "lianhua") == [
        {"building": "1", "webhook_url": ROBOT},
        {"building": "2", "webhook_url": robot2},
    ]
    cleared = member.post(
        "/communities/lianhua/building-groups",
        data={"csrf_token": csrf(page), "webhook-1": "", "clear-1": "1"},
    )
    assert cleared.status_code == 303
    assert [g["building"] for g in building_groups.group_refs(council, "lianhua")] == ["2"]
    assert client_as(app, settings, leader()).get("/communities/lianhua/building-groups").status_code == 403


def test_the_consultation_page_links_to_participation_and_results_as_the_role_allows(
    app: Flask, settings: Settings, council: Council
) -> None:
    compound(council)
    member = client_as(app, settings, committee()).get("/consultations/c1?lang=en").get_data(as_text=True)
    assert "/consultations/c1/participation" in member and "/communities/lianhua/building-groups" in member
    assert "/consultations/c1/results" not in member  # still open: no result yet
    mine = client_as(app, settings, leader(("1",))).get("/consultations/c1?lang=en").get_data(as_text=True)
    assert "/consultations/c1/participation" in mine and "building-groups" not in mine
    council.db.consultations.update_one(
        {"_id": "c1"}, {"$set": {"status": "closed", "result": {"answered": 3, "eligible": 6, "vote": None}}}
    )
    closed = client_as(app, settings, committee()).get("/consultations/c1?lang=en").get_data(as_text=True)
    assert "/consultations/c1/results/review" in closed and "/c/c1/result" in closed
    back = client_as(app, settings, committee()).get("/consultations/c1/participation?lang=en")
    assert 'href="/consultations/c1"' in back.get_data(as_text=True)
