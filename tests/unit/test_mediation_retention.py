"""The retention rules (PIPL Art 19), pure: when a case's period ends, what of it is erased and what
stays for the statistics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.mediation.domain import retention as r

ARCHIVED = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)


def test_the_period_runs_five_years_from_archiving_by_default_and_is_configurable() -> None:
    assert r.retention_ends(ARCHIVED) == datetime(2031, 3, 6, 8, 0, tzinfo=UTC)
    assert r.retention_ends(ARCHIVED, 1) == datetime(2027, 3, 6, 8, 0, tzinfo=UTC)
    assert not r.due(ARCHIVED, datetime(2031, 3, 6, 7, 59, tzinfo=UTC))
    assert r.due(ARCHIVED, datetime(2031, 3, 6, 8, 0, tzinfo=UTC))
    assert r.due(ARCHIVED, ARCHIVED, years=0)
    assert not r.due(None, datetime(2099, 1, 1, tzinfo=UTC))  # never archived: never due
    # A leap day has no anniversary in a common year: the day after it.
    assert r.retention_ends(datetime(2028, 2, 29, tzinfo=UTC), 5) == datetime(2033, 3, 1, tzinfo=UTC)
    assert r.retention_ends(datetime(2028, 2, 29, tzinfo=UTC), 4) == datetime(2032, 2, 29, tzinfo=UTC)
    with pytest.raises(ValueError):
        r.retention_ends(ARCHIVED, -1)


def test_names_phones_addresses_and_personal_texts_go_the_anonymous_record_stays() -> None:
    case = {
        "_id": "LC-2026-000001",
        "category": "neighbours",
        "community": "lianhua",
        "building": "3",
        "unit": "2-301",
        "description": "张三 says 李四 is loud",
        "claims": "李四 to stop",
        "amount": 1200.0,
        "source": "application",
        "parties": [
            {"role": "applicant", "name": "张三", "phone": "13800138000", "email": "z@example.com"},
            {"role": "respondent", "name": "李四", "phone": "13900139000"},
        ],
        "filer": {"name": "楼长王", "phone": "13700137000"},
        "mediators": ["mediator"],
        "notes": [{"id": "n1", "at": ARCHIVED, "by": "mediator", "text": "张三 called", "shared": False}],
        "timeline": [
            {
                "at": ARCHIVED,
                "action": "notify_rights",
                "by": "mediator",
                "details": {"acknowledged_by": ["张三"]},
            },
            {
                "at": ARCHIVED,
                "action": "refer",
                "by": "mediator",
                "details": {"target": "court", "target_name": "某区人民法院"},
            },
            {"at": ARCHIVED, "action": "patrol_reported", "by": "patrol", "findings": "张三家门口争吵"},
        ],
        "agreement": {
            "number": "ZHIHE-2026-0001",
            "facts": "张三…",
            "terms": ["李四 pays"],
            "signed_at": ARCHIVED,
            "scan": {"id": "x"},
        },
        "prevention": {"criminal_prevented_persons": 2},
    }
    changes = r.case_changes(case, ARCHIVED)
    flat = repr(changes)
    for personal in ("张三", "李四", "138", "139", "137", "z@example.com", "楼长王", "2-301"):
        assert personal not in flat, personal
    assert changes["parties"] == [
        {"role": "applicant", "erased": True},
        {"role": "respondent", "erased": True},
    ]
    assert changes["building"] == "" and changes["unit"] == "" and changes["filer"] == {"erased": True}
    assert changes["notes"] == [{"id": "n1", "at": ARCHIVED, "by": "mediator", "shared": False}]
    refer = changes["timeline"][1]["details"]
    assert refer == {"target": "court", "target_name": "某区人民法院"}  # codes and institutions stay
    assert changes["agreement"] == {"number": "ZHIHE-2026-0001", "signed_at": ARCHIVED}
    assert changes["personal_data_erased_at"] == ARCHIVED
    # Not touched: what the statistics count.
    for kept in ("category", "community", "amount", "source", "mediators", "prevention"):
        assert kept not in changes


def test_an_is_it_settled_comment_goes_with_the_personal_data_the_answer_stays() -> None:
    answer = {"answer": "not_settled", "answered_at": ARCHIVED, "comment": "张三家又吵了"}
    case = {"parties": [], "settlement": {"answers": {"applicant:0": answer}, "reopen_requests": {}}}
    changes = r.case_changes(case, ARCHIVED)
    kept = changes["settlement"]["answers"]["applicant:0"]
    assert kept["comment"] == "" and kept["answer"] == "not_settled"
    assert changes["settlement"]["reopen_requests"] == {}
    assert "settlement" not in r.case_changes({"parties": []}, ARCHIVED)
