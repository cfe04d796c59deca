"""Council's household register on the real broker and a real MongoDB-wire server: the service's
frame (home page, login, worker), import with preview, edits, masking, the access log and roles."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.council.app import create_app
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
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


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
