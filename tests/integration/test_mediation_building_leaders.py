"""The building's leaders ride on a case's session and closing events (issue 14.5), looked up when
each event is made: active leaders of that community's building only, never another's."""

from __future__ import annotations

from services.mediation import desk, sessions
from services.mediation.domain import lifecycle as lc
from services.mediation.staff_accounts import NewUser, create_user
from tests.integration.test_mediation_desk import MEDIATOR, events
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_sessions import HOUR, NOW, START, in_mediation


def leader(m, username: str, community: str, buildings: tuple[str, ...], active: bool = True) -> None:
    create_user(
        m.db,
        NewUser(
            username,
            f"{username}-password",
            "building_leader",
            username.title(),
            email=f"{username}@building.example",
            community=community,
            buildings=buildings,
        ),
    )
    m.db.users.update_one({"_id": username}, {"$set": {"active": active}})


def test_sessions_and_the_ending_name_the_buildings_leaders(mediation) -> None:
    reference = in_mediation(mediation)  # lianhua, building 3
    leader(mediation, "zhao", "lianhua", ("3", "4"))
    leader(mediation, "qian", "lianhua", ("5",))  # another building
    leader(mediation, "sun", "heping", ("3",))  # building 3 of another community
    leader(mediation, "gone", "lianhua", ("3",), active=False)
    booked = sessions.schedule(mediation, reference, MEDIATOR, START, START + HOUR, now=NOW)
    leader(mediation, "li", "lianhua", ("3",))  # a leader appointed after the booking hears of the move
    sessions.move(mediation, reference, booked["_id"], MEDIATOR, START + 2 * HOUR, START + 3 * HOUR, now=NOW)
    [scheduled] = events(mediation, "session.scheduled", reference)
    assert [p["user_id"] for p in scheduled["building_leaders"]] == ["zhao"]
    assert scheduled["building_leaders"][0]["email"] == "zhao@building.example"
    [moved] = events(mediation, "session.rescheduled", reference)
    assert sorted(p["user_id"] for p in moved["building_leaders"]) == ["li", "zhao"]
    desk.apply_action(mediation, reference, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉"})
    [closed] = events(mediation, "case.closed", reference)
    assert sorted(p["user_id"] for p in closed["building_leaders"]) == ["li", "zhao"]
