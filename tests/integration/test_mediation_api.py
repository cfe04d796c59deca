"""Mediation's staff API and pages on a real database: registry changes (validated, audited),
lead actions (risk, move), the patrol task flow, sweeps, login with throttling, the users command."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from services.mediation import patrol, routing
from services.mediation.app import create_app
from services.mediation.bootstrap import Mediation, bootstrap, ensure_indexes
from services.mediation.domain.actor import Actor
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import DEMO_USERS, seed_demo_users
from shared.auth import COOKIE_NAME, Staff, issue_token, read_token
from shared.config import Settings
from tests.integration.test_mediation_routing import WEDNESDAY_10AM, submitted
from tests.support.images import assert_no_metadata, carries_gps, jpeg_with_gps, plain
from tests.support.stack import ROOT, service_env

ADMIN = Staff("admin", "Admin", frozenset({"district_admin"}))
LEAD = Staff("lead", "Lead", frozenset({"studio_lead"}), studio="zhihe")
OTHER_LEAD = Staff("heping-lead", "Other", frozenset({"studio_lead"}), studio="heping-rc")
PATROL = Staff("patrol", "Patrol", frozenset({"patrol_member"}), team="qinghe-patrol")
OTHER_PATROL = Staff("dongfeng-p1", "Other", frozenset({"patrol_member"}), team="dongfeng-patrol")
JPEG = plain("JPEG")


@pytest.fixture
def app(settings: Settings, mediation: Mediation):  # `mediation` seeds the registry
    return create_app(settings)


@pytest.fixture
def mediation(settings: Settings) -> Mediation:
    m = bootstrap(settings)
    ensure_indexes(m.db)
    seed_registry(m.db)
    return m


def as_staff(client: FlaskClient, settings: Settings, staff: Staff) -> FlaskClient:
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


# Registry ------------------------------------------------------------------------------------------
def test_registry_needs_staff_and_admin_for_changes(client, settings) -> None:
    assert client.get("/api/v1/studios").status_code == 401
    as_staff(client, settings, LEAD)
    assert client.get("/api/v1/studios").status_code == 200
    assert client.patch("/api/v1/studios/zhihe", json={"capacity": 1}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [({"capacity": -5}, "capacity"), ({"communities": ["atlantis"]}, "communities"), ({"code": "x"}, "code")],
)
def test_bad_registry_change_is_refused_and_changes_nothing(client, settings, mediation, body, field) -> None:
    before = mediation.db.studios.find_one({"_id": "zhihe"})
    as_staff(client, settings, ADMIN)
    response = client.patch("/api/v1/studios/zhihe", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert mediation.db.studios.find_one({"_id": "zhihe"}) == before
    assert mediation.db.audit.count_documents({}) == 0


def test_registry_change_is_audited(client, settings, mediation) -> None:
    as_staff(client, settings, ADMIN)
    response = client.patch("/api/v1/studios/zhihe", json={"capacity": 12, "working_days": ["mon"]})
    assert response.status_code == 200 and response.json["capacity"] == 12
    [entry] = client.get("/api/v1/audit?entity=studio&key=zhihe").json
    assert entry["actor"] == "admin"
    assert entry["changes"]["capacity"] == {"before": 40, "after": 12}
    # The same values again: no change, no audit entry.
    client.patch("/api/v1/studios/zhihe", json={"capacity": 12})
    assert mediation.db.audit.count_documents({}) == 1


def test_new_studio_and_team_and_duplicates(client, settings) -> None:
    as_staff(client, settings, ADMIN)
    studio = {
        "code": "new-one",
        "name": {"zh-CN": "新", "en": "New"},
        "communities": ["jinxiu"],
        "capacity": 3,
    }
    assert client.post("/api/v1/studios", json=studio).status_code == 201
    assert client.post("/api/v1/studios", json=studio).status_code == 409
    team = {
        "code": "jinxiu-patrol",
        "name": {"zh-CN": "锦绣巡逻队", "en": "Jinxiu Patrol"},
        "communities": ["jinxiu"],
        "shifts": [{"days": ["mon"], "start": "08:00", "end": "12:00"}],
    }
    assert client.post("/api/v1/patrol-teams", json=team).status_code == 201


def test_community_hall_and_reception_days(client, settings) -> None:
    as_staff(client, settings, ADMIN)
    lianhua = client.get("/api/v1/communities/lianhua").json
    assert lianhua["reception_days"] == [6, 26]  # the district default
    assert lianhua["hall"]["name"]["en"] == "Lianhua Council Hall"
    changed = client.patch("/api/v1/communities/lianhua", json={"reception_days": [6, 16, 26]})
    assert changed.json["reception_days"] == [6, 16, 26]
    assert client.patch("/api/v1/communities/lianhua", json={"reception_days": [40]}).status_code == 422


# Lead actions ---------------------------------------------------------------------------------------
def _case(mediation: Mediation, **data: Any) -> str:
    event = submitted(**data)
    routing.on_case_submitted(mediation, event, now=WEDNESDAY_10AM)
    return event.data["reference"]


def test_lead_sees_routing_reasons_of_own_studio_only(client, settings, mediation) -> None:
    reference = _case(mediation)
    as_staff(client, settings, LEAD)
    routing = client.get(f"/api/v1/cases/{reference}").json["routing"]
    assert routing["candidates"] == ["zhihe"] and routing["loads"] == {"zhihe": 0.0}
    assert routing["decided_by"] == "only eligible studio"
    page = client.get(f"/lead/cases/{reference}?lang=en").get_data(as_text=True)
    assert "the only eligible studio" in page
    assert "唯一符合条件的工作室" in client.get(f"/lead/cases/{reference}?lang=zh-CN").get_data(as_text=True)
    as_staff(client, settings, OTHER_LEAD)
    assert client.get(f"/api/v1/cases/{reference}").status_code == 403


def test_raising_risk_dispatches_and_lowering_does_not(client, settings, mediation) -> None:
    reference = _case(mediation)
    as_staff(client, settings, LEAD)
    assert client.post(f"/api/v1/cases/{reference}/risk", json={"level": "red"}).status_code == 422
    raised = client.post(f"/api/v1/cases/{reference}/risk", json={"level": "red", "reason": "Threats heard"})
    assert raised.status_code == 200 and raised.json["risk_level"] == "red"
    assert mediation.db.patrol_tasks.count_documents({"reference": reference, "kind": "dispatch"}) == 1
    assert mediation.db.outbox.count_documents({"envelope.type": "patrol.dispatched"}) == 1
    assert mediation.db.outbox.count_documents({"envelope.type": "case.escalated"}) == 1
    lowered = client.post(f"/api/v1/cases/{reference}/risk", json={"level": "yellow", "reason": "Calmer"})
    assert lowered.status_code == 200
    assert mediation.db.patrol_tasks.count_documents({}) == 1
    changes = [
        e["envelope"]["data"] for e in mediation.db.outbox.find({"envelope.type": "case.risk_changed"})
    ]
    assert [(c["previous_level"], c["level"]) for c in changes] == [("none", "red"), ("red", "yellow")]
    as_staff(client, settings, OTHER_LEAD)
    assert (
        client.post(f"/api/v1/cases/{reference}/risk", json={"level": "red", "reason": "x"}).status_code
        == 403
    )


def test_move_case_rebalances(client, settings, mediation) -> None:
    reference = _case(mediation)
    as_staff(client, settings, LEAD)
    refused = client.post(f"/api/v1/cases/{reference}/move", json={"studio": "nowhere", "reason": "x"})
    assert refused.status_code == 409
    assert mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"] == 1
    moved = client.post(f"/api/v1/cases/{reference}/move", json={"studio": "heping-rc", "reason": "Workload"})
    assert moved.status_code == 200 and moved.json["studio"] == "heping-rc"
    assert mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"] == 0
    assert mediation.db.studios.find_one({"_id": "heping-rc"})["open_cases"] == 1
    assigned = [e["envelope"]["data"] for e in mediation.db.outbox.find({"envelope.type": "case.assigned"})]
    assert [a["studio"]["code"] for a in assigned] == ["zhihe", "heping-rc"]
    assert assigned[1]["rule"] == "moved by lead"
    # It is no longer the zhihe lead's case.
    assert (
        client.post(f"/api/v1/cases/{reference}/move", json={"studio": "zhihe", "reason": "x"}).status_code
        == 403
    )


# Patrol ------------------------------------------------------------------------------------------
def test_patrol_task_flow_through_api_and_report_page(client, settings, mediation) -> None:
    reference = _case(mediation, threat_of_violence=True)
    as_staff(client, settings, OTHER_PATROL)
    assert client.get("/api/v1/patrol/tasks").json == []
    as_staff(client, settings, PATROL)
    [task] = client.get("/api/v1/patrol/tasks").json
    assert task["reference"] == reference and task["kind"] == "dispatch"
    as_staff(client, settings, OTHER_PATROL)
    assert client.post(f"/api/v1/patrol/tasks/{task['id']}/accept").status_code == 403
    as_staff(client, settings, PATROL)
    assert client.post(f"/api/v1/patrol/tasks/{task['id']}/close").status_code == 409
    assert client.post(f"/api/v1/patrol/tasks/{task['id']}/accept").json["status"] == "accepted"

    token = csrf(client, f"/patrol/tasks/{task['id']}")
    bad = client.post(
        f"/patrol/tasks/{task['id']}/report",
        data={"csrf_token": token, "findings": "", "calmed": "maybe"},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert mediation.db.patrol_tasks.find_one({"_id": task["id"]})["status"] == "accepted"
    sent = client.post(
        f"/patrol/tasks/{task['id']}/report",
        data={
            "csrf_token": token,
            "findings": "Both sides talked; music off by 22:00.",
            "people_met": "张三, 李四",
            "calmed": "yes",
            "photos": (io.BytesIO(JPEG), "scene.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    reported = mediation.db.outbox.find_one({"envelope.type": "patrol.reported"})["envelope"]["data"]
    assert reported["calmed"] is True and reported["people_met_count"] == 2 and reported["photos"] == 1
    assert "张三" not in str(reported)  # names of people met stay in mediation
    photo = client.get(f"/patrol/tasks/{task['id']}/photos/0")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(photo.data)).size == Image.open(io.BytesIO(JPEG)).size  # re-encoded
    timeline = mediation.db.cases.find_one({"_id": reference})["timeline"]
    assert timeline[-1]["action"] == "patrol_reported" and timeline[-1]["calmed"] is True
    assert client.post(f"/api/v1/patrol/tasks/{task['id']}/close").json["status"] == "closed"
    assert client.get("/api/v1/patrol/tasks").json == []


def test_report_refuses_a_file_that_is_no_image(client, settings, mediation) -> None:
    _case(mediation, threat_of_violence=True)
    as_staff(client, settings, PATROL)
    [task] = client.get("/api/v1/patrol/tasks").json
    client.post(f"/api/v1/patrol/tasks/{task['id']}/accept")
    response = client.post(
        f"/patrol/tasks/{task['id']}/report",
        data={
            "csrf_token": csrf(client, f"/patrol/tasks/{task['id']}"),
            "findings": "ok",
            "calmed": "no",
            "photos": (io.BytesIO(b"MZ\x90\x00 not an image"), "x.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert mediation.db.task_photos.count_documents({}) == 0
    assert mediation.db.patrol_tasks.find_one({"_id": task["id"]})["status"] == "accepted"


def test_a_visit_photo_with_gps_is_stored_without_its_exif(client, settings, mediation) -> None:
    """Issue 15 item 8: the patrol's phone photo is re-encoded before it is stored, no GPS."""
    _case(mediation, threat_of_violence=True)
    as_staff(client, settings, PATROL)
    [task] = client.get("/api/v1/patrol/tasks").json
    client.post(f"/api/v1/patrol/tasks/{task['id']}/accept")
    original = jpeg_with_gps()
    assert carries_gps(original)
    response = client.post(
        f"/patrol/tasks/{task['id']}/report",
        data={
            "csrf_token": csrf(client, f"/patrol/tasks/{task['id']}"),
            "findings": "Talked to both.",
            "calmed": "yes",
            "photos": (io.BytesIO(original), "IMG_0001.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    [stored] = mediation.db.task_photos.find({"task_id": task["id"]})
    assert stored["content_type"] == "image/jpeg" and stored["size"] == len(stored["data"])
    assert_no_metadata(bytes(stored["data"]))
    assert client.get(f"/patrol/tasks/{task['id']}/photos/0").data == bytes(stored["data"])


def test_hot_spots_and_periodic_sweep(client, settings, mediation) -> None:
    for _ in range(3):
        _case(mediation, community="xinyuan")
    as_staff(client, settings, LEAD)
    assert client.get("/api/v1/patrol/hot-spots").json == [{"community": "xinyuan", "open_cases": 3}]
    sweep = client.post(
        "/api/v1/patrol/sweeps", json={"community": "xinyuan", "team": "qinghe-patrol", "every_days": 7}
    )
    assert sweep.status_code == 201 and sweep.json["kind"] == "sweep"
    assert client.post("/api/v1/patrol/sweeps", json={"community": "atlantis"}).status_code == 422
    as_staff(client, settings, PATROL)
    task_id = sweep.json["id"]
    client.post(f"/api/v1/patrol/tasks/{task_id}/accept")
    patrol.report(
        mediation,
        task_id,
        Actor("patrol", frozenset({"patrol_member"})),
        "qinghe-patrol",
        "Quiet",
        "",
        True,
    )
    client.post(f"/api/v1/patrol/tasks/{task_id}/close")
    [following] = client.get("/api/v1/patrol/tasks").json
    assert following["kind"] == "sweep" and following["id"] != task_id and following["every_days"] == 7


# Login -------------------------------------------------------------------------------------------
def test_login_sets_the_staff_cookie_and_throttles(client, settings, mediation) -> None:
    seed_demo_users(mediation.db, settings)
    patrol = next(u for u in DEMO_USERS if u["role"] == "patrol_member")
    token = csrf(client, "/login")
    for _ in range(5):
        wrong = client.post(
            "/login", data={"csrf_token": token, "username": "patrol", "password": "nope-nope"}
        )
        assert wrong.status_code == 401
    locked = client.post(
        "/login", data={"csrf_token": token, "username": "patrol", "password": patrol["password"]}
    )
    assert locked.status_code == 429 and client.get_cookie(COOKIE_NAME) is None
    # Another username from the same address is not locked.
    lead = next(u for u in DEMO_USERS if u["role"] == "studio_lead")
    ok = client.post("/login", data={"csrf_token": token, "username": "lead", "password": lead["password"]})
    assert ok.status_code == 302 and ok.headers["Location"] == "/lead"
    staff = read_token(settings, client.get_cookie(COOKIE_NAME).value)
    assert staff.roles == {"studio_lead"} and staff.studio == "zhihe"
    logged_out = client.post("/logout", data={"csrf_token": csrf(client, "/lead")})
    assert logged_out.status_code == 302 and client.get_cookie(COOKIE_NAME) is None


def test_login_form_needs_csrf_and_never_redirects_off_site(client, settings, mediation) -> None:
    seed_demo_users(mediation.db, settings)
    assert client.post("/login", data={"username": "admin", "password": "admin-demo-1234"}).status_code == 400
    token = csrf(client, "/login")
    response = client.post(
        "/login?next=//evil.example/x",
        data={"csrf_token": token, "username": "admin", "password": "admin-demo-1234"},
    )
    assert response.headers["Location"] == "/admin"


def test_users_command_creates_an_account(settings, mediation) -> None:
    command = [
        sys.executable,
        "-m",
        "services.mediation.staff_accounts",
        "create",
        "--username",
        "Zhou",
        "--role",
        "mediator",
        "--studio",
        "zhihe",
    ]
    created = subprocess.run(
        command,
        cwd=ROOT,
        env=service_env(settings),
        input="a-long-password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    user = mediation.db.users.find_one({"_id": "zhou"})
    assert user["password_hash"].startswith("$argon2") and "a-long-password" not in str(user)
    weak = subprocess.run(
        [*command[:-4], "--username", "li", "--role", "mediator", "--studio", "zhihe"],
        cwd=ROOT,
        env=service_env(settings),
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode == 2 and "at least" in weak.stderr
    assert mediation.db.users.find_one({"_id": "li"}) is None


def test_lead_pages_change_risk_and_move_without_javascript(client, settings, mediation) -> None:
    reference = _case(mediation)
    as_staff(client, settings, LEAD)
    token = csrf(client, f"/lead/cases/{reference}")
    missing = client.post(f"/lead/cases/{reference}/move", data={"csrf_token": token, "studio": "heping-rc"})
    assert missing.status_code == 422 and 'id="move_reason-error"' in missing.get_data(as_text=True)
    assert mediation.db.cases.find_one({"_id": reference})["studio"] == "zhihe"
    raised = client.post(
        f"/lead/cases/{reference}/risk", data={"csrf_token": token, "level": "orange", "reason": "Leak"}
    )
    assert raised.status_code == 302
    assert mediation.db.patrol_tasks.find_one({"reference": reference})["kind"] == "same_day"
    moved = client.post(
        f"/lead/cases/{reference}/move",
        data={"csrf_token": token, "studio": "heping-rc", "move_reason": "Closer to the parties"},
    )
    assert moved.status_code == 302 and moved.headers["Location"] == "/lead"
    assert mediation.db.cases.find_one({"_id": reference})["studio"] == "heping-rc"


def test_council_staff_land_on_council_after_logging_in(client, settings, mediation) -> None:
    seed_demo_users(mediation.db, settings)
    token = csrf(client, "/login")
    for role in ("committee_member", "building_leader"):
        demo = next(u for u in DEMO_USERS if u["role"] == role)
        ok = client.post(
            "/login", data={"csrf_token": token, "username": demo["username"], "password": demo["password"]}
        )
        assert ok.status_code == 302
        assert ok.headers["Location"] == settings.council_public_url.rstrip("/") + "/"
