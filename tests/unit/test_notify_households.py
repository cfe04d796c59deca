"""Council's households in notify (pure planning): their own preferences per community and flat, a
signed link in every SMS they get, community notices (meetings, minutes, plan items) opt-in,
consultation notices sent whatever they chose, building groups always told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.domain import rules as r
from services.notify.domain.audiences import Directory, household_key
from services.notify.planning import PlanConfig, plan
from services.notify.preferences import choose_channels, read_token
from services.notify.rendering import fit_sms_with_tail, sms_segments
from shared.messaging.envelope import make_envelope
from tests.support.notify_events import GATE_ROBOT, INVITEE, consultation_data, data_for

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SECRET = "k"
CONFIG = PlanConfig(
    enabled_channels=frozenset(r.CHANNELS),
    directory=Directory(),
    timezone="Asia/Shanghai",
    sms_max_segments=2,
    secret_key=SECRET,
    public_url="https://concord.example",
)
HOUSEHOLDS = [
    {"flat_id": "f1", "building": "1", "label": "1-1-101", "phones": ["13900139001"]},
    {"flat_id": "f2", "building": "1", "label": "1-1-102", "phones": ["13900139002"]},
    {"flat_id": "f3", "building": "2", "label": "2-1-101", "phones": ["13900139003"]},
]
GROUPS = [{"building": "1", "webhook_url": GATE_ROBOT}]
# f1 asked for community notices, f2 said no, f3 never chose.
PREFERENCES = {
    household_key("lianhua", "f1"): {"community_notices": True, "channels": ["sms"]},
    household_key("lianhua", "f2"): {"community_notices": False, "channels": ["sms"]},
}
COMMUNITY_EVENTS = ("meeting.invited", "meeting.rescheduled", "meeting.cancelled", "minutes.published")


def planned(
    event_type: str, preferences: dict[str, Any] | None = None, **changes: Any
) -> list[dict[str, Any]]:
    if event_type.startswith("consultation."):
        data = {**consultation_data(event_type), "households": HOUSEHOLDS, "building_groups": GROUPS}
    else:
        data = data_for(event_type, households=HOUSEHOLDS, building_groups=GROUPS)
    data.update(changes)
    envelope = make_envelope(event_type, data, source="council")
    lookup = (preferences if preferences is not None else PREFERENCES).get
    return plan(envelope, None, lookup, CONFIG, now=NOW)


def household_phones(found: list[dict[str, Any]]) -> set[str]:
    return {d["recipient"]["address"] for d in found if d["recipient"]["audience"] == r.HOUSEHOLDS}


@pytest.mark.parametrize("event_type", [*COMMUNITY_EVENTS, "plan.item_finished"])
def test_community_notices_reach_only_opted_in_households_and_always_the_groups(event_type: str) -> None:
    found = planned(event_type)
    assert household_phones(found) == {"13900139001"}
    groups = [d for d in found if d["recipient"]["audience"] == r.BUILDING_GROUPS]
    assert [(g["channel"], g["recipient"]["address"]) for g in groups] == [("wechat_work", GATE_ROBOT)]
    assert all(d["channel"] == "sms" for d in found if d["recipient"]["audience"] == r.HOUSEHOLDS)
    # Nobody opted in: no household, the group still.
    nobody = planned(event_type, preferences={})
    assert household_phones(nobody) == set()
    assert any(d["recipient"]["audience"] == r.BUILDING_GROUPS for d in nobody)


@pytest.mark.parametrize("event_type", COMMUNITY_EVENTS)
def test_the_invitees_are_still_told_as_before(event_type: str) -> None:
    invitees = [d for d in planned(event_type, preferences={}) if d["recipient"]["audience"] == r.INVITEES]
    assert {d["channel"] for d in invitees} == {"email", "sms"}
    assert {d["recipient"]["address"] for d in invitees} == {INVITEE["phone"], INVITEE["email"]}


def test_an_invitee_who_is_also_an_opted_in_household_gets_one_sms() -> None:
    households = [{**HOUSEHOLDS[0], "phones": [INVITEE["phone"]]}, *HOUSEHOLDS[1:]]
    found = planned("meeting.invited", households=households)
    texts = [d for d in found if d["channel"] == "sms" and d["recipient"]["address"] == INVITEE["phone"]]
    assert len(texts) == 1 and texts[0]["template"] == "meeting_invitation"


@pytest.mark.parametrize(
    "event_type", ["consultation.opened", "consultation.reminder", "consultation.closed"]
)
def test_consultation_notices_ignore_the_households_choice(event_type: str) -> None:
    everyone = {"13900139001", "13900139002", "13900139003"}
    assert household_phones(planned(event_type)) == everyone
    said_no = {k: {"community_notices": False, "channels": ["sms"]} for k in PREFERENCES}
    assert household_phones(planned(event_type, preferences=said_no)) == everyone
    # Even a household that unticked every channel still hears of its own vote.
    none = {household_key("lianhua", "f2"): {"community_notices": False, "channels": []}}
    assert household_phones(planned(event_type, preferences=none)) == everyone


@pytest.mark.parametrize("event_type", ["consultation.opened", "minutes.published", "plan.item_finished"])
def test_every_household_sms_carries_its_own_signed_preferences_link(event_type: str) -> None:
    found = [d for d in planned(event_type) if d["recipient"]["audience"] == r.HOUSEHOLDS]
    assert found
    for d in found:
        body = d["content"]["body"]
        token = body.rsplit("/preferences/", 1)[1].split()[0]
        flat = d["recipient"]["key"].split(":")[1]
        assert read_token(SECRET, token) == household_key("lianhua", flat)
        assert read_token("another-key", token) is None
        assert sms_segments(body) <= CONFIG.sms_max_segments + 2


def test_a_long_title_is_cut_but_never_the_link() -> None:
    title = "更换小区大门并同时硬化庭院、粉刷外墙和加装电梯的综合改造工程第一期" * 3
    [sms] = [
        d for d in planned("minutes.published", title=title) if d["recipient"]["audience"] == r.HOUSEHOLDS
    ]
    body = sms["content"]["body"]
    assert "…" in body and sms_segments(body) <= CONFIG.sms_max_segments + 2
    assert "https://council.example/m/m-1/minutes " in body  # the title is shortened, not the link
    token = body.rsplit("/preferences/", 1)[1]
    assert read_token(SECRET, token) == household_key("lianhua", "f1")


def test_households_of_another_community_keep_other_preferences() -> None:
    # The same flat id in another community is another household with its own (absent) choice.
    found = planned("minutes.published", community="heping")
    assert household_phones(found) == set()


def test_choose_channels_opt_in() -> None:
    wants = {"community_notices": True, "channels": ["sms"]}
    assert choose_channels(["sms"], ["sms"], wants, essential=False, opt_in=True) == ["sms"]
    assert choose_channels(["sms"], ["sms"], None, essential=False, opt_in=True) == []
    assert choose_channels(["sms"], ["sms"], {"community_notices": False}, essential=False, opt_in=True) == []
    # Essential wins over opt-in; rules without opt-in behave as before.
    assert choose_channels(["sms"], ["sms"], None, essential=True, opt_in=True) == ["sms"]
    assert choose_channels(["sms"], ["sms"], None, essential=False) == ["sms"]


def test_fit_sms_with_tail_keeps_the_tail_whole() -> None:
    tail = "设置社区通知 https://concord.example/preferences/abcdef"
    assert fit_sms_with_tail("短文本", tail, 2) == f"短文本 {tail}"
    long = fit_sms_with_tail("很长的文本" * 40, tail, 2)
    assert long.endswith(tail) and "…" in long and sms_segments(long) <= 2
    assert fit_sms_with_tail("x" * 500, "y" * 400, 1) == "y" * 400  # nothing of the text fits


def test_a_households_token_is_compact_signed_and_not_a_residents() -> None:
    from services.notify.preferences import make_token

    flat = "0123456789abcdef0123456789abcdef"
    token = make_token(SECRET, household_key("lianhua", flat))
    assert read_token(SECRET, token) == household_key("lianhua", flat)
    assert len(token) < len(make_token(SECRET, f"LC-2026-000001:applicant:{flat}"))
    assert read_token(SECRET, token.replace("lianhua", "heping")) is None  # another community: forged
    assert read_token("another-key", token) is None
    # A resident's token still names the case and the party, never a household.
    resident = "LC-2026-000001:applicant:0"
    assert read_token(SECRET, make_token(SECRET, resident)) == resident
