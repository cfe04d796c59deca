"""The mediator desk's service layer on a real database: the lifecycle with its events, atomic
taking (many rounds of two mediators at once), deadlines paused and resumed, escalations claimed
once by concurrent job runs, sessions never double-booked, the untouched-case timeout."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.mediation import deadlines, desk, routing, sessions
from services.mediation.bootstrap import Mediation, bootstrap, ensure_indexes
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from services.mediation.registry import seed_registry
from services.mediation.staff_accounts import NewUser, create_user, seed_demo_users
from shared.config import Settings
from tests.integration.test_mediation_routing import WEDNESDAY_10AM, submitted

MEDIATOR = Actor("mediator", frozenset({"mediator"}), "zhihe")
ZHOU = Actor("zhou", frozenset({"mediator"}), "zhihe")
LEAD = Actor("lead", frozenset({"studio_lead"}), "zhihe")
OTHER = Actor("heping-1", frozenset({"mediator"}), "heping-rc")
T0 = WEDNESDAY_10AM


@pytest.fixture
def mediation(settings: Settings) -> Mediation:
    m = bootstrap(settings)
    ensure_indexes(m.db)
    seed_registry(m.db)
    seed_demo_users(m.db, settings)
    create_user(
        m.db, NewUser("zhou", "zhou-password-1", "mediator", "周平", studio="zhihe", email="zhou@x.cn")
    )
    create_user(m.db, NewUser("heping-1", "heping-password", "mediator", "赵强", studio="heping-rc"))
    return m


def accepted_case(m: Mediation, now: datetime = T0, **data: Any) -> str:
    """A routed case (zhihe) screened and accepted by the lead."""
    event = submitted(**data)
    routing.on_case_submitted(m, event, now=now)
    reference = event.data["reference"]
    desk.apply_action(m, reference, LEAD, lc.START_SCREENING, now=now)
    desk.apply_action(m, reference, LEAD, lc.ACCEPT, now=now)
    return reference


def events(m: Mediation, event_type: str, reference: str | None = None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"envelope.type": event_type}
    if reference:
        query["envelope.data.reference"] = reference
    return [row["envelope"]["data"] for row in m.db.outbox.find(query).sort("created_at")]


def test_routed_case_starts_received_with_its_studio(mediation) -> None:
    event = submitted()
    routing.on_case_submitted(mediation, event, now=T0)
    case = mediation.db.cases.find_one({"_id": event.data["reference"]})
    assert (case["status"], case["studio"], case["owner"]) == ("received", "zhihe", None)
    [assigned] = events(mediation, "case.assigned")
    assert assigned["studio"]["code"] == "zhihe" and assigned.get("mediator") is None


def test_lifecycle_writes_its_events_and_refuses_illegal_steps(mediation) -> None:
    reference = accepted_case(mediation)
    statuses = [e["status"] for e in events(mediation, "case.status_changed", reference)]
    assert statuses == ["screening", "accepted"]
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["deadline"]["accepted_at"] == T0 and case["due_at"] > T0
    # A mediator cannot accept (role), nor notify rights before anyone took the case (state).
    with pytest.raises(desk.Conflict):
        desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    done = desk.take(mediation, reference, MEDIATOR, now=T0)
    assert done.case["owner"] == "mediator" and done.case["status"] == "mediator_assigned"
    [taken] = [e for e in events(mediation, "case.assigned", reference) if e.get("mediator")]
    assert taken["mediator"]["user_id"] == "mediator"
    # Another mediator of the studio may not do casework on it; another studio does not see it.
    with pytest.raises(desk.Forbidden):
        desk.apply_action(mediation, reference, ZHOU, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    with pytest.raises(desk.NotFound):
        desk.apply_action(mediation, reference, OTHER, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    with pytest.raises(desk.Invalid) as bad:
        desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {})
    assert "acknowledged_by" in bad.value.errors
    before = mediation.db.cases.find_one({"_id": reference})
    outbox_before = mediation.db.outbox.count_documents({})
    for refused in (lc.AGREE_WRITTEN, lc.ARCHIVE, "nonsense"):
        with pytest.raises(desk.DeskError):
            desk.apply_action(mediation, reference, MEDIATOR, refused, {"agreement_number": "x"})
    assert mediation.db.cases.find_one({"_id": reference}) == before
    assert mediation.db.outbox.count_documents({}) == outbox_before
    # Double submit: the second finds the case moved on and changes nothing.
    payload = {"acknowledged_by": ["张三", "李四"]}
    desk.apply_action(
        mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, payload, expected_state="mediator_assigned"
    )
    with pytest.raises(desk.Conflict):
        desk.apply_action(
            mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, payload, expected_state="mediator_assigned"
        )
    assert [e["status"] for e in events(mediation, "case.status_changed", reference)][-1] == "rights_notified"
    assert len(events(mediation, "case.status_changed", reference)) == 4


def test_ending_closes_with_outcome_and_public_note(mediation) -> None:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    desk.apply_action(mediation, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    open_before = mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"]
    desk.apply_action(mediation, reference, MEDIATOR, lc.FAIL, {"note": "可向人民法院起诉"})
    [closed] = events(mediation, "case.closed", reference)
    assert closed["outcome"] == "failed" and closed["public_note"] == "可向人民法院起诉"
    last = events(mediation, "case.status_changed", reference)[-1]
    assert last["status"] == "failed" and last["closing"] is True
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["deadline"]["stopped_at"] is not None and case["due_at"] is None
    assert mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"] == open_before - 1


def test_two_mediators_taking_next_at_once_never_share_a_case(mediation) -> None:
    # Each round is an independent race at a barrier; 50 of them catch a shared case as surely as
    # 200 did on a quiet machine, and stay well inside the test timeout on a busy one (200 took
    # over 120 s at a load average of 15).
    rounds = 50
    references = [accepted_case(mediation) for _ in range(2)]
    taken_by: dict[str, list[str]] = {}
    for _ in range(rounds):
        # Both cases back in the pool, then both mediators press "take next" at the same instant.
        for reference in references:
            mediation.db.cases.update_one(
                {"_id": reference},
                {"$set": {"status": "accepted", "owner": None, "owner_name": None, "mediators": []}},
            )
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def press(actor: Actor, barrier: threading.Barrier = barrier, results: dict = results) -> None:
            barrier.wait()
            done = desk.take_next(mediation, actor)
            results[actor.user_id] = done.case["_id"] if done else None

        threads = [threading.Thread(target=press, args=(a,)) for a in (MEDIATOR, ZHOU)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert results["mediator"] and results["zhou"] and results["mediator"] != results["zhou"], results
        for who, reference in results.items():
            taken_by.setdefault(reference, []).append(who)
        for reference in references:
            case = mediation.db.cases.find_one({"_id": reference})
            assert case["status"] == "mediator_assigned"
            assert case["mediators"] == [case["owner"]] and case["owner"] in results
            assert results[case["owner"]] == reference  # exactly one owner, the one who took it
    assert sum(len(v) for v in taken_by.values()) == 2 * rounds


def test_take_next_prefers_red_then_the_earliest_due(mediation) -> None:
    plain_late = accepted_case(mediation, now=T0)
    plain_early = accepted_case(mediation, now=T0 - timedelta(days=10))
    red = accepted_case(mediation, now=T0, threat_of_violence=True)
    order = [desk.take_next(mediation, MEDIATOR).case["_id"] for _ in range(3)]
    assert order == [red, plain_early, plain_late]
    assert desk.take_next(mediation, MEDIATOR) is None


def test_take_next_follows_the_queue_pages_order_across_levels_and_due_windows(mediation) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # (risk level, due in days from now; None: no due date), in the order they must be taken.
    expected = [
        ("red", 30),
        ("yellow", 12),
        ("yellow", None),
        ("none", -3),
        ("none", 1),
        ("none", 5),
        ("none", 20),
        ("none", None),
    ]
    references = {}
    for index, (level, days) in enumerate(reversed(expected)):  # filed in the opposite order
        reference = accepted_case(mediation, now=T0 + timedelta(minutes=index))
        due = None if days is None else now + timedelta(days=days)
        rank = ["none", "yellow", "orange", "red"].index(level)
        mediation.db.cases.update_one(
            {"_id": reference}, {"$set": {"risk_level": level, "risk_rank": rank, "due_at": due}}
        )
        references[(level, days)] = reference
    in_order = [references[key] for key in expected]

    assert [c["_id"] for c in desk.queue(mediation.db, LEAD).pool] == in_order
    assert [desk.take_next(mediation, MEDIATOR).case["_id"] for _ in expected] == in_order
    assert desk.take_next(mediation, MEDIATOR) is None


def test_deadline_pauses_and_resumes_through_the_service(mediation) -> None:
    reference = accepted_case(mediation, now=T0)
    due = mediation.db.cases.find_one({"_id": reference})["due_at"]
    desk.take(mediation, reference, MEDIATOR, now=T0)
    desk.apply_action(
        mediation,
        reference,
        MEDIATOR,
        lc.WAIT_FOR_PARTY,
        {"waiting_for": "李四补交材料"},
        now=T0 + timedelta(days=1),
    )
    paused = mediation.db.cases.find_one({"_id": reference})
    assert paused["status"] == "waiting_for_party" and paused["due_at"] is None
    assert paused["deadline_status"] == "paused"
    desk.apply_action(mediation, reference, MEDIATOR, lc.RESUME, now=T0 + timedelta(days=3))
    resumed = mediation.db.cases.find_one({"_id": reference})
    assert resumed["status"] == "mediator_assigned"  # back where it paused from
    assert resumed["due_at"] == due + timedelta(days=2)
    # Overdue by the old date, not by the new one: no escalation at the old due moment.
    report = deadlines.run_once(mediation, now=due + timedelta(hours=1))
    assert report.escalated == 0


def test_escalation_job_run_twice_at_once_escalates_once(mediation) -> None:
    reference = accepted_case(mediation, now=T0)
    due = mediation.db.cases.find_one({"_id": reference})["due_at"]
    late = due + timedelta(hours=2)
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def run() -> None:
        barrier.wait()
        reports.append(deadlines.run_once(mediation, now=late))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(r.escalated for r in reports) == 1
    [escalated] = events(mediation, "case.escalated", reference)
    assert escalated["level"] == "studio_lead" and escalated["studio"]["lead_email"]
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["deadline_status"] == "overdue" and len(case["escalations"]) == 1
    # A week after the lead was told: the district admin, once.
    later = late + timedelta(days=8)
    assert deadlines.run_once(mediation, now=later).escalated == 1
    assert deadlines.run_once(mediation, now=later).escalated == 0
    admin = events(mediation, "case.escalated", reference)[-1]
    assert admin["level"] == "district_admin" and admin["admin_email"]


def test_untouched_taken_case_returns_to_the_pool(mediation) -> None:
    reference = accepted_case(mediation, now=T0)
    desk.take(mediation, reference, MEDIATOR, now=T0)
    deadlines.run_once(mediation, now=T0 + timedelta(hours=47))
    assert mediation.db.cases.find_one({"_id": reference})["owner"] == "mediator"
    deadlines.run_once(mediation, now=T0 + timedelta(hours=49))
    case = mediation.db.cases.find_one({"_id": reference})
    assert (case["status"], case["owner"], case["mediators"]) == ("accepted", None, [])
    assert case["timeline"][-1]["action"] == "release" and case["timeline"][-1]["by"] == "system:desk"


def test_hand_over_and_lead_reassign(mediation) -> None:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    with pytest.raises(desk.Forbidden):
        desk.hand_over(mediation, reference, ZHOU, "not mine")
    desk.hand_over(mediation, reference, MEDIATOR, "On leave next week; the applicant prefers mornings.")
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["owner"] is None and case["notes"][-1]["handover"] is True
    desk.take(mediation, reference, ZHOU)
    with pytest.raises(desk.Forbidden):
        desk.apply_action(mediation, reference, ZHOU, lc.REASSIGN, {"mediators": ["mediator"]})
    with pytest.raises(desk.Invalid):
        desk.apply_action(mediation, reference, LEAD, lc.REASSIGN, {"mediators": ["heping-1"]})
    desk.apply_action(mediation, reference, LEAD, lc.REASSIGN, {"mediators": ["mediator"]})
    case = mediation.db.cases.find_one({"_id": reference})
    assert case["owner"] == "mediator" and case["mediators"] == ["mediator"]
    assert events(mediation, "case.assigned", reference)[-1]["mediator"]["user_id"] == "mediator"


def test_notes_internal_stay_shared_are_published(mediation) -> None:
    reference = accepted_case(mediation)
    desk.take(mediation, reference, MEDIATOR)
    before = len(events(mediation, "case.status_changed", reference))
    desk.add_note(mediation, reference, MEDIATOR, "INTERNAL respondent is hostile", shared=False)
    assert len(events(mediation, "case.status_changed", reference)) == before
    desk.add_note(mediation, reference, MEDIATOR, "请于本周五前补交照片。", shared=True)
    shared = events(mediation, "case.status_changed", reference)[-1]
    assert shared["note"] == "请于本周五前补交照片。" and shared["public"] is True
    assert "INTERNAL" not in str(events(mediation, "case.status_changed", reference))
    with pytest.raises(desk.Forbidden):
        desk.add_note(mediation, reference, ZHOU, "not on the case", shared=False)


def _in_mediation(m: Mediation) -> str:
    reference = accepted_case(m)
    desk.take(m, reference, MEDIATOR)
    desk.apply_action(m, reference, MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    return reference


def test_sessions_refuse_the_past_and_double_booking_even_at_once(mediation) -> None:
    first, second = _in_mediation(mediation), _in_mediation(mediation)
    mediation.db.cases.update_one({"_id": second}, {"$set": {"mediators": ["mediator", "zhou"]}})
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    start = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    with pytest.raises(desk.Invalid):
        sessions.schedule(mediation, first, MEDIATOR, now - timedelta(hours=1), now, now=now)
    with pytest.raises(desk.Invalid):
        sessions.schedule(
            mediation, first, MEDIATOR, start + timedelta(minutes=7), start + timedelta(hours=1), now=now
        )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book(reference: str) -> None:
        barrier.wait()
        try:
            sessions.schedule(mediation, reference, MEDIATOR, start, start + timedelta(hours=1), now=now)
            outcomes.append("booked")
        except desk.Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=book, args=(r,)) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["booked", "refused"]
    assert mediation.db.sessions.count_documents({}) == 1
    assert len(events(mediation, "session.scheduled")) == 1
    # Overlapping by a quarter of an hour is refused too; back to back is fine.
    with pytest.raises(desk.Conflict):
        sessions.schedule(
            mediation, second, MEDIATOR, start + timedelta(minutes=45), start + timedelta(hours=2), now=now
        )
    sessions.schedule(
        mediation, second, MEDIATOR, start + timedelta(hours=1), start + timedelta(hours=2), now=now
    )
    scheduled = events(mediation, "session.scheduled")[-1]
    assert scheduled["place"]["name"] and scheduled["mediators"][0]["user_id"] == "mediator"


# Merging duplicates ---------------------------------------------------------------------------------
def _snapshot(m: Mediation) -> tuple[list[dict[str, Any]], int, int]:
    """Every case, the outbox size and the studio's load: what a refused merge must not change."""
    cases = list(m.db.cases.find({}, {"access": 0}).sort("_id"))
    return cases, m.db.outbox.count_documents({}), m.db.studios.find_one({"_id": "zhihe"})["open_cases"]


def test_merge_closes_the_duplicate_through_the_lifecycle_and_the_outbox(mediation) -> None:
    primary = accepted_case(mediation)
    duplicate = accepted_case(
        mediation, parties=[{"role": "applicant", "name": "王五", "phone": "13700137000"}]
    )
    desk.take(mediation, primary, MEDIATOR)
    open_before = mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"]
    # Only the primary's mediators (or the lead) merge into it; another studio does not see it.
    with pytest.raises(desk.Forbidden):
        desk.merge(mediation, primary, duplicate, ZHOU)
    with pytest.raises(desk.NotFound):
        desk.merge(mediation, primary, duplicate, OTHER)
    done = desk.merge(mediation, primary, duplicate, MEDIATOR, now=T0 + timedelta(hours=1))
    assert (done.transition.from_state, done.transition.to_state) == ("accepted", "merged")

    dup = mediation.db.cases.find_one({"_id": duplicate})
    assert (dup["status"], dup["merged_into"]) == ("merged", primary)
    assert dup["deadline"]["stopped_at"] == T0 + timedelta(hours=1) and dup["due_at"] is None
    entry = dup["timeline"][-1]
    assert (entry["action"], entry["details"]["into"], entry["public"]) == ("merge", primary, True)
    main = mediation.db.cases.find_one({"_id": primary})
    assert main["merged"] == [duplicate] and main["status"] == "mediator_assigned"
    assert (main["timeline"][-1]["action"], main["timeline"][-1]["case"]) == ("merged", duplicate)
    assert main["timeline"][-1]["public"] is False  # the primary's parties never hear of it
    assert mediation.db.studios.find_one({"_id": "zhihe"})["open_cases"] == open_before - 1

    changed = events(mediation, "case.status_changed", duplicate)[-1]
    assert (changed["status"], changed["previous_status"]) == ("merged", "accepted")
    assert changed["closing"] is True and changed["public"] is True
    [merged] = events(mediation, "case.merged", duplicate)
    assert merged["merged_into"] == primary and merged["studio"]["code"] == "zhihe"
    assert events(mediation, "case.closed", duplicate) == []  # no mediation outcome to count
    assert events(mediation, "case.merged", primary) == []
    # Not in the queue any more; the primary's mediator sees the duplicate's contacts (they carry
    # its parties on), a colleague of the studio sees them masked.
    assert duplicate not in [c["_id"] for c in desk.queue(mediation.db, LEAD).pool]
    assert desk.case_view(mediation.db, dup, MEDIATOR)["personal_data"] == "full"
    masked = desk.case_view(mediation.db, dup, ZHOU)
    assert masked["personal_data"] == "masked" and masked["parties"][0]["phone"] == "137****7000"
    [listed] = desk.merged_cases(mediation.db, main)
    assert listed["_id"] == duplicate and listed["parties"][0]["name"] == "王五"


def test_refused_merges_say_why_and_change_nothing(mediation) -> None:
    primary, first, second, taken, other_studio = (accepted_case(mediation) for _ in range(5))
    desk.take(mediation, primary, MEDIATOR)
    desk.take(mediation, taken, ZHOU)
    mediation.db.cases.update_one({"_id": other_studio}, {"$set": {"studio": "heping-rc"}})
    closed = accepted_case(mediation)
    desk.apply_action(mediation, closed, LEAD, lc.WITHDRAW, {"withdrawn_by": "张三"})
    desk.merge(mediation, primary, first, MEDIATOR)
    before = _snapshot(mediation)
    refusals: list[tuple[str, str, type[desk.DeskError], str]] = [
        (primary, primary, desk.Invalid, "itself"),
        (primary, first, desk.Conflict, "merged into"),  # a double submit
        (primary, closed, desk.Conflict, "closed already"),
        (primary, taken, desk.Conflict, "no mediator has taken up"),
        (primary, other_studio, desk.NotFound, "no case"),
        (primary, "LC-2026-999999", desk.NotFound, "no case"),
        (closed, second, desk.Conflict, "is closed"),  # into a closed case
        (first, second, desk.Conflict, "itself merged"),  # a chain: into a merged case
        (second, primary, desk.Conflict, "no chains"),  # a chain: cases were merged into primary
    ]
    for into, dup, error, words in refusals:
        with pytest.raises(error) as refused:
            desk.merge(mediation, into, dup, LEAD)
        assert words in str(refused.value).lower(), (into, dup, str(refused.value))
        assert _snapshot(mediation) == before, (into, dup)
    # The lifecycle's generic action is the same use case (and names the target case).
    with pytest.raises(desk.Invalid) as missing:
        desk.apply_action(mediation, second, LEAD, lc.MERGE, {})
    assert "into" in missing.value.errors
    assert _snapshot(mediation) == before
    desk.apply_action(mediation, second, LEAD, lc.MERGE, {"into": primary}, expected_state="accepted")
    assert mediation.db.cases.find_one({"_id": primary})["merged"] == [first, second]


def test_crossing_merges_at_once_merge_only_one_way(mediation) -> None:
    for _ in range(10):
        a, b = accepted_case(mediation), accepted_case(mediation)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def merge(
            into: str, dup: str, barrier: threading.Barrier = barrier, outcomes: list = outcomes
        ) -> None:
            barrier.wait()
            try:
                desk.merge(mediation, into, dup, LEAD)
                outcomes.append("merged")
            except desk.Conflict:
                outcomes.append("refused")

        threads = [threading.Thread(target=merge, args=pair) for pair in ((a, b), (b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes) == ["merged", "refused"]
        statuses = sorted(mediation.db.cases.find_one({"_id": r})["status"] for r in (a, b))
        assert statuses == ["accepted", "merged"]
        assert len(events(mediation, "case.merged", a)) + len(events(mediation, "case.merged", b)) == 1
