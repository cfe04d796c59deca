"""Records for the public board's sections, made through council's own use cases: representatives'
meetings with minutes at each stage, a plan with roll-up, approved and unapproved accounts entries.
Invitees, a contractor and a private counterparty carry personal data, so tests can check none of it
reaches the board."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from services.council import accounts, meetings, minutes, plan
from services.council.bootstrap import Council
from shared.auth import Staff
from shared.messaging.envelope import make_envelope
from shared.uploads import Upload

WEI = Staff("wei", "魏芳", frozenset({"committee_member"}), community="lianhua")
LIU = Staff("liu", "刘洋", frozenset({"committee_member"}), community="lianhua")
HEPING = Staff("sun", "孙丽", frozenset({"committee_member"}), community="heping")
INVITEE = ("王建国", "13800138000")
PRIVATE_COUNTERPARTY = "李秀英"


def meeting(council: Council, community: str, clerk: Staff, title: str, start: datetime) -> str:
    """A meeting whose hall mediation confirmed (the answer as a real event), with one invitee."""
    made = meetings.create_meeting(
        council, community, clerk, title=title, starts_at=start, ends_at=start + timedelta(hours=1)
    )
    answer = make_envelope(
        "hall.booking_confirmed",
        {"meeting_id": made["_id"], "request": 1, "room": f"hall:{community}", "starts_at": start.isoformat(),
         "ends_at": (start + timedelta(hours=1)).isoformat(), "confirmed_at": datetime.now(UTC).isoformat(),
         "place": {"code": f"hall:{community}", "name": "议事厅", "address": "社区服务中心二楼"}},
        source="mediation",
    )  # fmt: skip
    meetings.on_hall_answer(council, answer)
    meetings.add_invitee(
        council, community, made["_id"], clerk, kind="representative", name=INVITEE[0], phone=INVITEE[1]
    )
    return made["_id"]


def minutes_to(council: Council, community: str, clerk: Staff, meeting_id: str, stage: str) -> None:
    """Take a meeting's minutes to `stage`: "draft", "adopted" or "published"."""
    minutes.save_draft(council, community, meeting_id, clerk, f"纪要 {INVITEE[0]} 发言。")
    if stage == "draft":
        return
    now = datetime.now(UTC)
    ends = minutes.circulate(council, community, meeting_id, clerk, now=now)
    minutes.adopt(council, community, meeting_id, clerk, now=ends)
    if stage == "published":
        minutes.publish(council, community, meeting_id, clerk)


def png() -> Upload:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 90, 0)).save(out, format="PNG")
    return Upload("scan.png", out.getvalue())


def entry(council: Council, day: str, kind: str, amount: str, approve: bool, **extra: str) -> str:
    made = accounts.create_entry(
        council,
        "lianhua",
        {"day": day, "kind": kind, "category": "parking" if kind == "income" else "maintenance",
         "amount": amount, "counterparty": "莲花物业公司", **extra},
        png(),
        WEI,
    )  # fmt: skip
    if approve:
        accounts.approve(council, "lianhua", made["id"], LIU)
    return made["id"]


def fill(council: Council) -> dict[str, Any]:
    """Lianhua with 7 published minutes, one adopted only, one draft; a plan; approved and
    unapproved entries. Heping has published minutes and a plan of its own. Xinyuan has nothing."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    published = []
    for n in range(7):
        mid = meeting(council, "lianhua", WEI, f"第{n + 1}次议事会", base + timedelta(days=n, hours=1))
        minutes_to(council, "lianhua", WEI, mid, "published")
        published.append(mid)
    adopted = meeting(council, "lianhua", WEI, "尚未公布的议事会", base + timedelta(days=10))
    minutes_to(council, "lianhua", WEI, adopted, "adopted")
    draft = meeting(council, "lianhua", WEI, "草稿中的议事会", base + timedelta(days=11))
    minutes_to(council, "lianhua", WEI, draft, "draft")
    other = meeting(council, "heping", HEPING, "和平社区议事会", base + timedelta(days=12))
    minutes_to(council, "heping", HEPING, other, "published")

    for community in ("lianhua", "heping"):
        council.db.consultations.insert_one(
            {"_id": f"vote-{community}", "community": community, "kind": "vote", "status": "closed",
             "closed_at": datetime(2026, 5, 6, tzinfo=UTC),
             "title": {"zh-CN": "更换大门", "en": "Replace the gate"},
             "result": {"vote": {"outcome": "passed"}}}
        )  # fmt: skip
    parent = plan.create_item(
        council, "lianhua",
        {"title": "老旧小区改造", "title_en": "Renovating the old estate", "decision_kind": "vote",
         "decision_id": "vote-lianhua", "budget": "100000.00", "contractor": "张三装修队"},
        WEI,
    )  # fmt: skip
    gate = plan.create_item(
        council, "lianhua", {"title": "更换大门", "parent_id": parent["id"], "weight": "3"}, WEI
    )
    cracks = plan.create_item(
        council, "lianhua", {"title": "3号楼阳台裂缝", "parent_id": parent["id"], "weight": "1"}, WEI
    )
    plan.update_item(council, "lianhua", gate["id"], {"status": "in_progress", "progress": "50"}, WEI)
    plan.update_item(council, "lianhua", cracks["id"], {"status": "done"}, WEI)
    lights = plan.create_item(
        council, "lianhua", {"title": "路灯", "decision_kind": "vote", "decision_id": "vote-lianhua"}, WEI
    )
    plan.create_item(
        council,
        "heping",
        {"title": "和平路灯", "decision_kind": "vote", "decision_id": "vote-heping"},
        HEPING,
    )

    today = accounts.beijing_today(datetime.now(UTC))
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    entry(council, last_month.isoformat(), "income", "500.00", approve=True)
    entry(council, this_month.isoformat(), "income", "1000.10", approve=True)
    entry(
        council, this_month.isoformat(), "spending", "250.00", approve=True,
        counterparty=PRIVATE_COUNTERPARTY, counterparty_private="1",
    )  # fmt: skip
    entry(council, this_month.isoformat(), "spending", "9999.99", approve=False)
    return {
        "published": published,
        "hidden": [adopted, draft],
        "heping": other,
        "parent": parent["id"],
        "lights": lights["id"],
        "children": [gate["id"], cracks["id"]],
        "month": f"{this_month.year:04d}-{this_month.month:02d}",
    }
