# Chinese test data uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Test data for council's results and participation: the register's flats, consultations and ballots
written in the shape `consultations` and `answering` write them in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database

from shared.auth import Staff

COMMUNITY = "lianhua"
OPENED = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


def committee(community: str = COMMUNITY) -> Staff:
    return Staff("wei", "魏芳", frozenset({"committee_member"}), community=community)


def leader(buildings: tuple[str, ...] = ("1",), community: str = COMMUNITY) -> Staff:
    return Staff("zhao", "赵强", frozenset({"building_leader"}), community=community, buildings=buildings)


def flat(
    building: str,
    unit: str,
    number: str,
    area: str = "100",
    owner: str | None = None,
    developer: bool = False,
    phone: str | None = "13800000000",
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """A register row (area in m², kept as hundredths like the register does)."""
    fid = f"f-{building}-{unit}-{number}"
    return {
        "_id": fid,
        "community": COMMUNITY,
        "building": building,
        "unit": unit,
        "flat": number,
        "area_hundredths": round(float(area) * 100),
        "owner_names": [f"业主{fid}"],
        "phones": [phone] if phone else [],
        "owner_key": owner or fid,
        "occupancy": "owner",
        "developer_held": developer,
        "created_at": created_at or OPENED - timedelta(days=30),
    }


QUESTIONS = [
    {
        "key": "gate",
        "kind": "single",
        "prompt": {"zh-CN": "是否更换大门？", "en": "Replace the gate?"},
        "mandatory": True,
        "options": [
            {"key": "yes", "label": {"zh-CN": "同意", "en": "Yes"}},
            {"key": "no", "label": {"zh-CN": "不同意", "en": "No"}},
        ],
    },
    {
        "key": "works",
        "kind": "multiple",
        "prompt": {"zh-CN": "优先做哪些？", "en": "Which works first?"},
        "options": [
            {"key": "paint", "label": {"zh-CN": "粉刷", "en": "Paint"}},
            {"key": "heat", "label": {"zh-CN": "供暖", "en": "Heating"}},
            {"key": "cctv", "label": {"zh-CN": "监控", "en": "CCTV"}},
        ],
    },
    {
        "key": "order",
        "kind": "ranking",
        "prompt": {"zh-CN": "排序", "en": "Rank them"},
        "options": [
            {"key": "a", "label": {"zh-CN": "甲", "en": "A"}},
            {"key": "b", "label": {"zh-CN": "乙", "en": "B"}},
        ],
    },
    {
        "key": "remarks",
        "kind": "long_text",
        "prompt": {"zh-CN": "其他意见", "en": "Other remarks"},
    },
]


def consultation(
    cid: str = "c1",
    kind: str = "questionnaire",
    status: str = "open",
    buildings: tuple[str, ...] = ("1", "2"),
    vote_item: int | None = None,
) -> dict[str, Any]:
    """A consultation as the answering side stores it."""
    questions = QUESTIONS
    if kind == "vote":
        questions = [
            {
                "key": "vote",
                "kind": "single",
                "prompt": {"zh-CN": "是否同意更换物业公司？", "en": "Replace the property company?"},
                "mandatory": True,
                "options": [
                    {"key": "for", "label": {"zh-CN": "同意", "en": "For"}},
                    {"key": "against", "label": {"zh-CN": "反对", "en": "Against"}},
                    {"key": "abstain", "label": {"zh-CN": "弃权", "en": "Abstain"}},
                ],
            }
        ]
    title = {"zh-CN": "小区改造意见征集", "en": "Renovation questionnaire"}
    if kind == "vote":
        title = {"zh-CN": "更换小区大门表决", "en": "Vote on replacing the gate"}
    return {
        "_id": cid,
        "community": COMMUNITY,
        "kind": kind,
        "title": title,
        "description": {"zh-CN": "", "en": ""},
        "questions": questions,
        "vote_item": vote_item,
        "opens_at": OPENED,
        "closes_at": OPENED + timedelta(days=60),
        "status": status,
        "locked": True,
        "created_by": "wei",
        "opened_at": OPENED,
        "buildings": list(buildings),
        "eligible": 0,
    }


def ballot(cid: str, flat_doc: dict[str, Any], answers: dict[str, Any], version: int = 1) -> dict[str, Any]:
    """A flat's ballot (the latest web version of its answers)."""
    now = OPENED + timedelta(days=1)
    return {
        "_id": f"{cid}:{flat_doc['_id']}",
        "consultation_id": cid,
        "flat_id": flat_doc["_id"],
        "building": flat_doc["building"],
        "channel": "slip",
        "answers": answers,
        "version": version,
        "versions": [{"answers": answers, "at": now, "channel": "slip"}],
        "first_at": now,
        "updated_at": now,
    }


def seed(
    db: Database, flats: list[dict[str, Any]], cons: dict[str, Any], ballots: list[dict[str, Any]]
) -> None:
    """Write the register, the consultation (with its eligible count) and the ballots."""
    if flats:
        db.flats.insert_many(flats)
    electorate = [f for f in flats if f["created_at"] <= cons["opened_at"]]
    cons["eligible"] = len(electorate)
    db.consultations.insert_one(cons)
    # The electorate as `consultations.open_` snapshots it at opening.
    snapshot = [
        {
            "flat_id": f["_id"],
            "building": f["building"],
            "unit": f["unit"],
            "flat": f["flat"],
            "label": f"{f['building']}-{f['unit']}-{f['flat']}",
            "area_hundredths": f["area_hundredths"],
            "owner_key": f["owner_key"],
            "developer_held": f["developer_held"],
            "slip_number": f"{i:05d}",
        }
        for i, f in enumerate(electorate, start=1)
    ]
    db.electorates.insert_one({"_id": cons["_id"], "community": cons["community"], "flats": snapshot})
    if ballots:
        db.ballots.insert_many(ballots)
