"""Helpers shared by council's consultation and answering tests: a register, staff, a consultation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.council import consultations
from services.council.bootstrap import Council, ensure_indexes
from services.notify.bootstrap import SERVICE as NOTIFY
from shared.auth import Staff
from shared.config import Settings
from shared.db import get_database
from tests.support.stack import wait_for

COMMUNITY = "lianhua"
OTHER = "heping"
NOW = datetime(2026, 5, 6, 9, 0, tzinfo=UTC)


def committee(community: str = COMMUNITY) -> Staff:
    return Staff("wei", "魏芳", frozenset({"committee_member"}), community=community)


def leader(buildings: tuple[str, ...] = ("1",), community: str = COMMUNITY) -> Staff:
    return Staff("zhao", "赵强", frozenset({"building_leader"}), community=community, buildings=buildings)


def admin() -> Staff:
    return Staff("admin", "郑华", frozenset({"district_admin"}))


def seed_register(council: Council, buildings: int = 2, flats_per_building: int = 3) -> list[dict[str, Any]]:
    """A small register: flats "b-1-10n", every other flat with a phone; one owner with two flats."""
    ensure_indexes(council.db)
    rows = []
    for b in range(1, buildings + 1):
        for n in range(1, flats_per_building + 1):
            rows.append(
                {
                    "_id": f"f{b}{n}",
                    "community": COMMUNITY,
                    "building": str(b),
                    "unit": "1",
                    "flat": f"10{n}",
                    "area_hundredths": 8000 + 100 * n,
                    "owner_names": [f"业主{b}{n}"],
                    "phones": [f"1380000{b}{n:03d}"] if n % 2 else [],
                    "owner_key": "owner-x" if (b, n) in ((1, 1), (2, 1)) else f"o{b}{n}",
                    "occupancy": "owner",
                    "developer_held": False,
                }
            )
    rows.append({**rows[0], "_id": "other1", "community": OTHER})
    council.db.flats.insert_many(rows)
    return rows


QUESTIONS = [
    {
        "key": "gate",
        "kind": "single",
        "prompt": "是否同意更换小区大门",
        "mandatory": True,
        "options": [{"key": "yes", "label": "同意"}, {"key": "no", "label": "不同意"}],
    },
    {
        "key": "works",
        "kind": "multiple",
        "prompt": "最需要的改造项目",
        "options": [
            {"key": "paint", "label": "粉刷外墙"},
            {"key": "pave", "label": "硬化庭院"},
            {"key": "heat", "label": "集中供暖"},
        ],
    },
    {"key": "remarks", "kind": "long_text", "prompt": "其他意见"},
]


def new_questionnaire(council: Council, staff: Staff | None = None, **extra: Any) -> dict[str, Any]:
    data = {
        "community": COMMUNITY,
        "kind": "questionnaire",
        "title": {"zh-CN": "老旧小区改造意见征询", "en": "Renovation of the old compound"},
        "description": {"zh-CN": "请每户答复一次。", "en": "One answer per flat."},
        "questions": QUESTIONS,
        "opens_at": NOW - timedelta(hours=1),
        "closes_at": NOW + timedelta(days=7),
        **extra,
    }
    return consultations.create(council, staff or committee(), data, NOW - timedelta(hours=2))


def opened(council: Council, **extra: Any) -> dict[str, Any]:
    doc = new_questionnaire(council, **extra)
    return consultations.open_(council, committee(), doc["_id"], NOW)


# Notify's side of council's notices, read from notify's own database (tests only).
def deliveries(settings: Settings, **query: Any) -> list[dict[str, Any]]:
    """Notify's stored deliveries matching `query`."""
    return list(get_database(settings, NOTIFY).deliveries.find(query))


def settled(settings: Settings, count: int, **query: Any) -> list[dict[str, Any]]:
    """Wait until exactly `count` deliveries match and each is sent or failed; return them."""

    def done() -> list[dict[str, Any]] | None:
        found = deliveries(settings, **query)
        if len(found) == count and all(d["status"] in ("sent", "failed") for d in found):
            return found
        return None

    return wait_for(done, timeout=25, what=f"{count} deliveries settled")
