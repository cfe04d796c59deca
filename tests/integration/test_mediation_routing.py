"""Routing, risk and dispatch against the real database (use cases called directly), and through
the real worker: duplicates, dead-lettered cases shown to admins."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu import Connection

from services.mediation import registry, routing
from services.mediation.bootstrap import Mediation, bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.routing import (
    DUPLICATE_CANDIDATE_FIELDS,
    DUPLICATE_LIMIT,
    duplicate_candidates_query,
    possible_duplicates,
)
from services.mediation.registry import seed_registry
from shared.config import Settings
from shared.messaging.consumer import PermanentError
from shared.messaging.envelope import Envelope, make_envelope, new_id
from shared.messaging.publisher import Publisher
from shared.messaging.topology import MEDIATION_INTAKE, Topology
from tests.integration.conftest import database
from tests.support.stack import Workers, wait_for

_numbers = itertools.count(1)
# 2026-11-25 is a Wednesday: 10:00 in Shanghai is inside the Qinghe street team's shift.
WEDNESDAY_10AM = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
WEDNESDAY_11PM = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def submitted(reference: str | None = None, **data: Any) -> Envelope:
    """A valid case.submitted event (lianhua, neighbours, no risk unless given)."""
    body = {
        "reference": reference or f"LC-2026-{next(_numbers):06d}",
        "received_at": "2026-11-25T02:00:00+00:00",
        "category": "neighbours",
        "community": "lianhua",
        "building": "3",
        "unit": "2-301",
        "description": "Loud music every night.",
        "parties": [{"role": "applicant", "name": "张三", "phone": "13800138000"}],
        **data,
    }
    return make_envelope("case.submitted", body, source="test")


@pytest.fixture
def mediation(settings: Settings) -> Mediation:
    m = bootstrap(settings)
    ensure_indexes(m.db)
    seed_registry(m.db)
    return m


def outbox_events(m: Mediation, event_type: str) -> list[dict[str, Any]]:
    return [row["envelope"] for row in m.db.outbox.find({"envelope.type": event_type})]


def test_red_case_dispatches_the_team_on_shift_and_alerts_the_lead(mediation: Mediation) -> None:
    event = submitted(threat_of_violence=True)
    routing.on_case_submitted(mediation, event, now=WEDNESDAY_10AM)

    case = mediation.db.cases.find_one({"_id": event.data["reference"]})
    assert case["studio"] == "zhihe" and case["risk_level"] == "red"
    [task] = mediation.db.patrol_tasks.find({"reference": case["_id"]})
    assert (task["kind"], task["team"], task["status"]) == ("dispatch", "qinghe-patrol", "open")
    [dispatched] = outbox_events(mediation, "patrol.dispatched")
    assert dispatched["data"]["task_id"] == task["_id"]
    assert dispatched["data"]["team"]["email"] == "qinghe-patrol@patrol.concord.local"
    assert dispatched["data"]["team"]["phone"] == "13800000001"
    assert dispatched["data"]["studio"]["lead_email"] == "zhihe-lead@studios.concord.local"
    [escalated] = outbox_events(mediation, "case.escalated")
    assert escalated["data"]["level"] == "studio_lead"
    actions = [entry["action"] for entry in case["timeline"]]
    assert actions == ["received", "assigned", "patrol_dispatch", "lead_alerted"]


def test_red_case_at_night_goes_to_the_on_call_team(mediation: Mediation) -> None:
    event = submitted(threat_of_violence=True)
    routing.on_case_submitted(mediation, event, now=WEDNESDAY_11PM)
    [task] = mediation.db.patrol_tasks.find({})
    assert task["team"] == "district-oncall" and task["team_rule"].startswith("district on-call")


def test_orange_case_gets_a_task_due_the_same_day_and_no_alert(mediation: Mediation) -> None:
    routing.on_case_submitted(mediation, submitted(danger_to_safety=True), now=WEDNESDAY_10AM)
    [task] = mediation.db.patrol_tasks.find({})
    assert task["kind"] == "same_day"
    due_local = task["due_by"].astimezone(registry.timezone(mediation.db))
    assert (due_local.date().isoformat(), due_local.hour) == ("2026-11-25", 23)
    assert len(outbox_events(mediation, "patrol.dispatched")) == 1
    assert outbox_events(mediation, "case.escalated") == []


def test_no_risk_no_patrol(mediation: Mediation) -> None:
    routing.on_case_submitted(mediation, submitted(people_affected=3), now=WEDNESDAY_10AM)
    assert mediation.db.patrol_tasks.count_documents({}) == 0
    assert outbox_events(mediation, "patrol.dispatched") == []


def test_duplicates_never_assign_or_dispatch_twice(mediation: Mediation) -> None:
    event = submitted(threat_of_violence=True)
    for again in (event, event, replace(event, message_id=new_id())):
        routing.on_case_submitted(mediation, again, now=WEDNESDAY_10AM)
    assert mediation.db.cases.count_documents({}) == 1
    assert mediation.db.patrol_tasks.count_documents({}) == 1
    assert len(outbox_events(mediation, "case.assigned")) == 1
    assert len(outbox_events(mediation, "patrol.dispatched")) == 1
    assert mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"] == 1


def test_a_routed_case_names_the_open_cases_of_its_place_and_category(mediation: Mediation) -> None:
    first = submitted(received_at="2026-11-20T02:00:00+00:00")
    routing.on_case_submitted(mediation, first, now=WEDNESDAY_10AM)
    for other in (submitted(building="4"), submitted(category="housing"), submitted(community="heping")):
        routing.on_case_submitted(mediation, other, now=WEDNESDAY_10AM)
    second = submitted()
    routing.on_case_submitted(mediation, second, now=WEDNESDAY_10AM)

    def named(event: Envelope) -> list[str]:
        return mediation.db.cases.find_one({"_id": event.data["reference"]})["possible_duplicates"]

    assert named(second) == [first.data["reference"]]
    assert named(first) == []
    # Closed, it is no longer named; a case filed later names the second.
    mediation.db.cases.update_one({"_id": first.data["reference"]}, {"$set": {"status": lc.WITHDRAWN}})
    third = submitted(received_at="2026-11-25T03:00:00+00:00")
    routing.on_case_submitted(mediation, third, now=WEDNESDAY_10AM)
    assert named(third) == [second.data["reference"]]


def test_possible_duplicates_are_the_cases_the_whole_filter_finds(mediation: Mediation) -> None:
    """The indexed lookup and `possible_duplicates` name what one filter of the whole rule (open,
    same community, building and category, filed in the 30 days before, not the case itself)
    finds, on a varied set of cases; and SecantusDB answers the lookup from its index."""
    rng = random.Random(17)
    received = datetime(2026, 11, 25, 2, tzinfo=UTC)
    rows = []
    for i in range(400):
        row: dict[str, Any] = {
            "_id": f"LC-2026-{i:06d}",
            "community": rng.choice(["lianhua", "heping"]),
            "category": rng.choice(["neighbours", "housing"]),
            "status": rng.choice(lc.STATES),
            "received_at": (received - timedelta(days=rng.uniform(-5, 40))).isoformat(),
        }
        building = rng.choice(["3", "4", None, "absent"])
        if building != "absent":
            row["building"] = building
        rows.append(row)
    mediation.db.cases.insert_many(rows)
    sizes = []
    for community, building, category in itertools.product(
        ["lianhua", "heping"], ["3", "4", None], ["neighbours", "housing"]
    ):
        place = {"community": community, "building": building, "category": category}
        # One of the cases it may duplicate is itself (a redelivery): never named.
        itself = next(r["_id"] for r in rows if all(r.get(k) == v for k, v in place.items()))
        data = {**place, "reference": itself, "received_at": received.isoformat()}
        whole = {
            **place,
            "status": {"$nin": list(lc.CLOSED_STATES)},
            "received_at": {"$gte": (received - timedelta(days=30)).isoformat(), "$lt": received.isoformat()},
            "_id": {"$ne": itself},
        }
        found = sorted((r["received_at"], r["_id"]) for r in mediation.db.cases.find(whole))
        sizes.append(len(found))
        query = duplicate_candidates_query(data, received)
        named = possible_duplicates(data, mediation.db.cases.find(query, DUPLICATE_CANDIDATE_FIELDS))
        assert named == sorted((reference for _, reference in found[:DUPLICATE_LIMIT]), reverse=True)
        plan = mediation.db.cases.find(query).explain()["queryPlanner"]["winningPlan"]
        assert plan["inputStage"]["indexName"] == "community_1_building_1_category_1_received_at_1"
    # The set is varied: places with none, with a few and with more than the limit.
    assert min(sizes) < DUPLICATE_LIMIT < max(sizes)


def test_routing_checks_its_copy_of_the_registry_when_it_writes(mediation: Mediation) -> None:
    """Routing decides on its in-process copy of the registry (`registry.routing_view`); another
    process's routing or closing, unseen by the copy, is caught by the conditional writes and the
    case routed again on a fresh read: loads and cursors stay exact."""
    routing.on_case_submitted(mediation, submitted(community="binhe"), now=WEDNESDAY_10AM)
    first = mediation.db.cases.find_one({})["studio"]
    other = "nanhu-b" if first == "nanhu-a" else "nanhu-a"
    # Another replica routed a binhe case to the other studio meanwhile (cursor and load moved).
    mediation.db.studios.update_one({"_id": other}, {"$inc": {"open_cases": 1}})
    mediation.db.routing_cursors.update_one({"_id": "rr:nanhu-a,nanhu-b"}, {"$set": {"last": other}})
    routing.on_case_submitted(mediation, submitted(community="binhe"), now=WEDNESDAY_10AM)
    # Loads 1 and 1 again, the turn after `other`: `first`, counted on the real load.
    assert mediation.db.cases.find_one({}, sort=[("_id", -1)])["studio"] == first
    assert mediation.db.studios.find_one({"_id": first})["open_cases"] == 2
    # A case of `first` closed by another process (its load lowered, unseen by the copy): the next
    # decision is made on the copy (here the same as on fresh data: `other`, by load on the copy,
    # by turn on the real loads), and its count lands on the real value.
    mediation.db.studios.update_one({"_id": first}, {"$inc": {"open_cases": -1}})
    routing.on_case_submitted(mediation, submitted(community="binhe"), now=WEDNESDAY_10AM)
    assert mediation.db.cases.find_one({}, sort=[("_id", -1)])["studio"] == other
    counts = {s["_id"]: s["open_cases"] for s in mediation.db.studios.find({"_id": {"$in": [first, other]}})}
    assert counts == {first: 1, other: 2}
    assert len(outbox_events(mediation, "case.assigned")) == 3


def test_no_eligible_studio_goes_to_the_default_flagged(mediation: Mediation) -> None:
    routing.on_case_submitted(mediation, submitted(category="medical"), now=WEDNESDAY_10AM)
    case = mediation.db.cases.find_one({})
    assert case["studio"] == "district-centre"
    assert case["routing"]["needs_manual_routing"] is True
    assert outbox_events(mediation, "case.assigned")[0]["data"]["needs_manual_routing"] is True


def test_capacity_and_leave_changes_steer_the_next_decisions(mediation: Mediation) -> None:
    # binhe (Nanhu street) is covered by nanhu-a and nanhu-b, equal capacity: they alternate.
    first, second = submitted(community="binhe"), submitted(community="binhe")
    routing.on_case_submitted(mediation, first, now=WEDNESDAY_10AM)
    routing.on_case_submitted(mediation, second, now=WEDNESDAY_10AM)
    studios = {mediation.db.cases.find_one({"_id": e.data["reference"]})["studio"] for e in (first, second)}
    assert studios == {"nanhu-a", "nanhu-b"}

    registry.update(mediation.db, "studio", "nanhu-a", {"capacity": 0}, "admin")
    for _ in range(3):
        routing.on_case_submitted(mediation, submitted(community="binhe"), now=WEDNESDAY_10AM)
    assert mediation.db.studios.find_one({"_id": "nanhu-a"})["open_cases"] == 1
    last = mediation.db.cases.find_one({}, sort=[("_id", -1)])
    assert last["routing"]["excluded"] == {"nanhu-a": "no capacity (capacity 0 or every member on leave)"}

    registry.update(mediation.db, "studio", "nanhu-a", {"capacity": 15}, "admin")
    leave = [
        {
            "username": "nanhu-b-lead",
            "name": "吴刚",
            "role": "lead",
            "leave": [{"start": "2026-11-20", "end": "2026-12-05"}],
        }
    ]
    registry.update(mediation.db, "studio", "nanhu-b", {"members": leave}, "admin")
    routing.on_case_submitted(mediation, submitted(community="binhe"), now=WEDNESDAY_10AM)
    assert mediation.db.cases.find_one({}, sort=[("_id", -1)])["studio"] == "nanhu-a"
    assert mediation.db.audit.count_documents({"entity": "studio"}) == 3


def test_unknown_community_is_a_permanent_error(mediation: Mediation) -> None:
    with pytest.raises(PermanentError, match="unknown community"):
        routing.on_case_submitted(mediation, submitted(community="atlantis"))
    assert mediation.db.cases.count_documents({}) == 0


def test_seeding_twice_changes_nothing(mediation: Mediation) -> None:
    mediation.db.studios.update_one({"_id": "zhihe"}, {"$set": {"open_cases": 7, "capacity": 41}})
    before = {
        name: list(mediation.db[name].find({}).sort("_id"))
        for name in ("studios", "patrol_teams", "communities", "registry_settings")
    }
    seed_registry(mediation.db)
    after = {name: list(mediation.db[name].find({}).sort("_id")) for name in before}
    assert after == before
    assert len(before["studios"]) == 6 and len(before["patrol_teams"]) == 5


# Through the real worker ------------------------------------------------------------------------
def dead_letters(settings: Settings) -> int:
    with Connection(settings.broker_url) as conn:
        name = Topology(settings).dead_queue_name(MEDIATION_INTAKE)
        return conn.default_channel.queue_declare(name, passive=True).message_count


def test_a_case_that_cannot_be_routed_is_dead_lettered_and_listed(
    stack_settings: Settings, workers: Workers
) -> None:
    workers.start("mediation")
    publisher = Publisher(stack_settings)
    bad = submitted(community="atlantis")
    good = submitted(threat_of_violence=True)
    publisher.publish(bad)
    publisher.publish(good)
    publisher.publish(good)  # a redelivery
    db = database(stack_settings, "mediation")
    failure = wait_for(lambda: db.routing_failures.find_one({}), what="routing failure recorded")
    assert failure["reference"] == bad.data["reference"]
    assert "unknown community" in failure["reason"]
    assert "parties" not in failure and "description" not in failure  # no personal data kept
    wait_for(lambda: db.cases.find_one({"_id": good.data["reference"]}), what="good case routed")
    wait_for(lambda: dead_letters(stack_settings) == 1, what="the bad case in the dead-letter queue")
    time.sleep(1.0)
    assert db.patrol_tasks.count_documents({}) == 1
    assert db.outbox.count_documents({"envelope.type": "patrol.dispatched"}) == 1
    publisher.close()
