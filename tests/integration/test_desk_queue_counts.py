"""The desk's counts kept per studio stay equal to a recount of the cases after a mix of routing
(a message delivered twice included), taking (two mediators at once), handing over, a party's
request for another mediator, a change of risk, ending, merging and moving to another studio; and
the queue's first pages, read by risk level and due-date window, are the lists in the old order."""

from __future__ import annotations

import random
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.mediation import desk, routing
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import queue as dq
from tests.integration.test_mediation_desk import LEAD, MEDIATOR, T0, ZHOU, accepted_case
from tests.integration.test_mediation_desk import mediation as mediation
from tests.integration.test_mediation_routing import submitted

pytestmark = pytest.mark.integration


def _nonzero(counts: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    kept = {k: {r: n for r, n in (v or {}).items() if n} for k, v in (counts or {}).items()}
    return {k: v for k, v in kept.items() if v}


def stored_counts(m: Mediation, studio: str) -> dict[str, dict[str, int]]:
    return _nonzero((m.db.studios.find_one({"_id": studio}) or {}).get("queue_counts"))


def recounted(m: Mediation, studio: str) -> dict[str, dict[str, int]]:
    """The counts from the cases themselves, and every case's stored list checked on the way."""
    cases = list(m.db.cases.find({"studio": studio}))
    for case in cases:
        assert case.get("queue") == dq.list_of(case), (case["_id"], case.get("queue"), case["status"])
    return _nonzero(dq.tally(cases))


def routed(m: Mediation, now: datetime = T0, **data: Any) -> str:
    event = submitted(**data)
    routing.on_case_submitted(m, event, now=now)
    return event.data["reference"]


def test_counts_equal_a_recount_after_a_mix_of_changes(mediation) -> None:
    m = mediation
    redelivered = submitted()
    routing.on_case_submitted(m, redelivered, now=T0)
    routing.on_case_submitted(m, redelivered, now=T0)  # the same message again: one case, one count
    screening = [routed(m), routed(m, threat_of_violence=True), redelivered.data["reference"]]
    pool = [accepted_case(m) for _ in range(8)] + [accepted_case(m, threat_of_violence=True)]
    assert stored_counts(m, "zhihe") == recounted(m, "zhihe")

    # Two mediators press "take next" at the same instant, a few times over.
    for _ in range(3):
        barrier = threading.Barrier(2)

        def press(actor, barrier=barrier) -> None:
            barrier.wait()
            desk.take_next(m, actor)

        threads = [threading.Thread(target=press, args=(a,)) for a in (MEDIATOR, ZHOU)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    taken = [c["_id"] for c in m.db.cases.find({"owner": {"$in": ["mediator", "zhou"]}})]
    assert len(taken) == 6
    mine = [r for r in taken if m.db.cases.find_one({"_id": r})["owner"] == "mediator"]
    zhous = [r for r in taken if r not in mine]
    assert len(mine) == len(zhous) == 3  # never one case for two
    desk.hand_over(m, mine[0], MEDIATOR, "Back to the pool: I am away next week.")
    desk.apply_action(m, mine[1], MEDIATOR, lc.NOTIFY_RIGHTS, {"acknowledged_by": ["张三"]})
    desk.apply_action(m, mine[1], MEDIATOR, lc.REQUEST_OTHER_MEDIATOR, {"requested_by": "张三"})
    desk.apply_action(m, mine[2], MEDIATOR, lc.WITHDRAW, {"withdrawn_by": "张三"})
    desk.apply_action(m, screening[0], LEAD, lc.START_SCREENING)
    still_pooled = [r for r in pool if m.db.cases.find_one({"_id": r})["owner"] is None]
    routing.change_risk(m, still_pooled[0], "orange", "Threats reported by a neighbour.", LEAD)
    desk.merge(m, zhous[0], still_pooled[1], LEAD)  # a pooled duplicate into a taken case
    desk.merge(m, still_pooled[2], screening[1], LEAD)  # a case to screen into a pooled one
    routing.move_case(m, still_pooled[3], "heping-rc", "Closer to the parties.", LEAD)
    routing.move_case(m, zhous[0], "heping-rc", "The mediator moved studio.", LEAD)  # with its duplicate
    # A refused change changes no count: taking a case someone else holds.
    with pytest.raises(desk.DeskError):
        desk.take(m, zhous[1], MEDIATOR)

    for studio in ("zhihe", "heping-rc"):
        assert stored_counts(m, studio) == recounted(m, studio), studio
    # The recount agrees, and writes the same counts back.
    assert _nonzero(desk.recount_queue(m.db, "zhihe")) == stored_counts(m, "zhihe")


def test_concurrent_takes_and_hand_overs_keep_the_counts(mediation) -> None:
    m = mediation
    for _ in range(6):
        accepted_case(m)
    errors: list[BaseException] = []

    def work(actor, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(6):
                done = desk.take_next(m, actor)
                if done is not None and rng.random() < 0.7:
                    desk.hand_over(m, done.case["_id"], actor, "Handing back.")
        except BaseException as err:  # reported below: a thread's failure must fail the test
            errors.append(err)

    threads = [threading.Thread(target=work, args=(a, i)) for i, a in enumerate((MEDIATOR, ZHOU))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    counts = stored_counts(m, "zhihe")
    assert counts == recounted(m, "zhihe")
    assert dq.total(counts, dq.POOL) + dq.total(counts, dq.TAKEN) == 6


def test_first_pages_by_window_keep_the_order_and_page_on(mediation) -> None:
    m = mediation
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(3)
    references = []
    for index in range(70):
        reference = accepted_case(m, now=T0 + timedelta(minutes=index))
        references.append(reference)
    # Risk and due dates spread over every window, some without a due date (paused cases).
    for reference in references:
        level = rng.choice(["none"] * 6 + ["yellow"] * 3 + ["red"])
        days = rng.choice([None, -45, -10, -3, -1, 0.5, 1, 3, 5, 10, 20, 40, 90])
        m.db.cases.update_one(
            {"_id": reference},
            {
                "$set": {
                    "risk_level": level,
                    "risk_rank": ["none", "yellow", "orange", "red"].index(level),
                    "due_at": None if days is None else now + timedelta(days=days),
                }
            },
        )
    desk.recount_queue(m.db, "zhihe")  # the risk levels were edited by hand above
    # The old way: every open case, sorted.
    expected = sorted(m.db.cases.find({"studio": "zhihe", "queue": dq.POOL}), key=dq.list_key)
    expected_ids = [c["_id"] for c in expected]

    # Pages of 5: the long levels are read by due-date windows, the short ones whole.
    first = desk.queue(m.db, LEAD, limit=5, now=now)
    assert [c["_id"] for c in first.pool] == expected_ids[:5]
    assert first.counts["pool"] == 70
    pages = [c["_id"] for c in first.pool]
    while len(pages) < 70:
        page = desk.queue(m.db, LEAD, limit=5, after=("pool", pages[-1]), now=now)
        assert page.pool, "a page came back empty before the end of the pool"
        pages += [c["_id"] for c in page.pool]
    assert pages == expected_ids
    assert desk.queue(m.db, LEAD, limit=5, after=("pool", pages[-1]), now=now).pool == []
    # A filter reads the matching cases and keeps the same order.
    red = desk.queue(m.db, LEAD, desk.QueueFilters(risk="red"), limit=500, now=now)
    assert [c["_id"] for c in red.pool] == [c["_id"] for c in expected if c["risk_level"] == "red"]

    # A count that drifted (edited by hand) never hides a case: it only changes how a level is
    # read; nor do counts that are missing (a studio never counted).
    m.db.studios.update_one({"_id": "zhihe"}, {"$set": {"queue_counts.pool": {}}})
    assert [c["_id"] for c in desk.queue(m.db, LEAD, limit=30, now=now).pool] == expected_ids[:30]
    m.db.studios.update_one({"_id": "zhihe"}, {"$unset": {"queue_counts": ""}})
    assert [c["_id"] for c in desk.queue(m.db, LEAD, limit=30, now=now).pool] == expected_ids[:30]


def test_my_cases_come_first_and_leave_the_other_lists(mediation) -> None:
    m = mediation
    mine = accepted_case(m)
    desk.take(m, mine, MEDIATOR)
    colleague = accepted_case(m)
    desk.take(m, colleague, ZHOU)
    pooled = accepted_case(m)
    lists = desk.queue(m.db, MEDIATOR)
    assert [c["_id"] for c in lists.mine] == [mine]
    assert [c["_id"] for c in lists.others] == [colleague]
    assert [c["_id"] for c in lists.pool] == [pooled]
    assert lists.counts == {"mine": 1, "pool": 1, "screening": 0, "others": 1}


def test_the_queue_page_rows_link_and_date_as_url_for_and_babel_do(mediation, settings) -> None:
    """The page's rows are built with links and due days prepared once per page: they are what
    `url_for` and babel's `datetimeformat` (in the reader's time zone) give for each case."""
    from flask_babel import format_datetime

    from services.mediation.app import create_app
    from shared.auth import COOKIE_NAME, Staff, issue_token

    m = mediation
    reference = accepted_case(m)
    # Due at 20:30 UTC: already the next day in Asia/Shanghai, where the page shows it.
    due = datetime(2026, 5, 4, 20, 30, tzinfo=UTC)
    m.db.cases.update_one({"_id": reference}, {"$set": {"due_at": due, "risk_level": "red", "risk_rank": 3}})
    desk.recount_queue(m.db, "zhihe")
    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    staff = Staff(MEDIATOR.user_id, "陈敏", MEDIATOR.roles, studio="zhihe")
    client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    page = client.get("/desk")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.test_request_context("/desk", headers={"Accept-Language": "zh-CN"}):
        from flask import url_for

        case_link = url_for("desk.case_page", reference=reference)
        take_link = url_for("desk.take", reference=reference)
        shown_day = format_datetime(due, "yyyy-MM-dd")
    assert shown_day == "2026-05-05"
    assert f'<a href="{case_link}">{reference}</a>' in html
    assert f'action="{take_link}"' in html
    assert f'<time datetime="{due.isoformat()}">{shown_day}</time>' in html
    assert "红" in html  # the risk level's label in the reader's language
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
    assert len(tokens) == 1 and "" not in tokens  # one token, the same in every form


def test_the_screening_list_pages_in_order_when_its_levels_are_read_together(mediation) -> None:
    """The screening list has no due dates to window by: the level that fills the page is read in
    the same query as the levels before it, and the pages are still the full sort's."""
    m = mediation
    rng = random.Random(5)
    for _ in range(40):
        reference = routed(m, received_at=(T0 + timedelta(minutes=rng.randint(0, 500))).isoformat())
        level = rng.choice(["none"] * 5 + ["yellow"] * 3 + ["orange", "red"])
        rank_ = ["none", "yellow", "orange", "red"].index(level)
        m.db.cases.update_one({"_id": reference}, {"$set": {"risk_level": level, "risk_rank": rank_}})
    desk.recount_queue(m.db, "zhihe")
    expected = [
        c["_id"] for c in sorted(m.db.cases.find({"studio": "zhihe", "queue": dq.SCREENING}), key=dq.list_key)
    ]
    assert len(expected) == 40
    for limit in (1, 3, 7, 40):
        pages = [c["_id"] for c in desk.queue(m.db, LEAD, limit=limit).screening]
        assert pages == expected[:limit]
        while len(pages) < 40:
            page = desk.queue(m.db, LEAD, limit=limit, after=("screening", pages[-1])).screening
            assert page, "a page came back empty before the end of the list"
            pages += [c["_id"] for c in page]
        assert pages == expected
