""" "Is it settled?" (issue 14.4), mediation's side on a real database: the studio's days, one claim
per case when two job passes run at once, and the answers kept once whatever the redeliveries and
their order (the lead's task and email once)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from services.mediation import desk, settlement
from services.mediation.bootstrap import Mediation
from services.mediation.domain import lifecycle as lc
from services.mediation.domain.actor import Actor
from shared.messaging.envelope import make_envelope
from tests.integration.test_mediation_desk import LEAD, T0, accepted_case
from tests.integration.test_mediation_desk import mediation as mediation  # the fixture

pytestmark = pytest.mark.integration

REFER = {"target": "court", "target_name": "某区人民法院"}


def ended(m: Mediation, action: str = lc.REFER, payload: dict[str, Any] | None = None) -> str:
    reference = accepted_case(m)
    desk.apply_action(m, reference, LEAD, action, payload or REFER, now=T0)
    return reference


def checks(m: Mediation, reference: str | None = None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"envelope.type": "case.settlement_check_due"}
    if reference:
        query["envelope.data.reference"] = reference
    return [row["envelope"]["data"] for row in m.db.outbox.find(query)]


def test_the_studio_s_days_decide_and_each_case_is_claimed_once(mediation: Mediation) -> None:
    asked, withdrawn = ended(mediation), ended(mediation, lc.WITHDRAW, {"withdrawn_by": "张三"})
    case = mediation.db.cases.find_one({"_id": asked})
    assert case["ended_at"] == T0 and case["outcome"] == "referred"
    mediation.db.studios.update_one({"_id": "zhihe"}, {"$set": {"settlement_check_days": 14}})
    assert settlement.run_checks(mediation, T0 + timedelta(days=13)) == 0
    # Two passes at once (two replicas): one claim, one event.
    counts: list[int] = []
    passes = [
        threading.Thread(
            target=lambda: counts.append(settlement.run_checks(mediation, T0 + timedelta(days=15)))
        )
        for _ in range(2)
    ]
    for t in passes:
        t.start()
    for t in passes:
        t.join()
    assert sum(counts) == 1
    [check] = checks(mediation, asked)
    assert check["outcome"] == "referred" and check["language"] == "zh-CN"
    assert checks(mediation, withdrawn) == []
    assert mediation.db.cases.find_one({"_id": asked})["settlement_check"]["days"] == 14


def answered(reference: str, answer: str, minutes: int, comment: str = "") -> Any:
    at = T0 + timedelta(days=30, minutes=minutes)
    return make_envelope(
        "case.settlement_answered",
        {
            "reference": reference,
            "party": "applicant:0",
            "answer": answer,
            "answered_at": at.isoformat(),
            "first_answered_at": (T0 + timedelta(days=30)).isoformat(),
            "commented": bool(comment),
            "comment": comment,
            "community": "lianhua",
        },
        source="intake",
    )


def test_answers_are_kept_once_the_latest_winning_and_the_lead_is_told_once(mediation: Mediation) -> None:
    reference = ended(mediation)
    first = answered(reference, "not_settled", 0)
    settlement.on_settlement_answered(mediation, first)
    settlement.on_settlement_answered(mediation, first)  # redelivered
    newer = answered(reference, "not_settled", 5, comment="又吵起来了")
    older = answered(reference, "settled", 2)
    settlement.on_settlement_answered(mediation, newer)
    settlement.on_settlement_answered(mediation, older)  # overtaken: no effect
    case = mediation.db.cases.find_one({"_id": reference})
    kept = case["settlement"]["answers"]["applicant:0"]
    assert kept["answer"] == "not_settled" and kept["comment"] == "又吵起来了"
    assert [e["action"] for e in case["timeline"]].count("settlement_answered") == 2
    [task] = list(mediation.db.follow_up_tasks.find({"case_id": reference, "kind": "not_settled"}))
    assert task["detail"]["comment"] == "又吵起来了" and task["kind"] == "not_settled"
    leads = [
        row["envelope"]["data"] for row in mediation.db.outbox.find({"envelope.type": "case.not_settled"})
    ]
    assert len(leads) == 1 and leads[0]["studio"]["lead_email"]
    # Another studio's lead cannot open a linked case for it (the case is not theirs to see).
    other = Actor("lead-heping", frozenset({"studio_lead"}), "heping-rc")
    with pytest.raises(desk.NotFound):
        settlement.request_reopen(mediation, reference, other, "applicant:0")
    assert "reopen_requests" not in (mediation.db.cases.find_one({"_id": reference})["settlement"])
