"""Sample case events for notify's tests: one valid `data` per event type notify consumes."""

from __future__ import annotations

from typing import Any

from shared.messaging.envelope import Envelope, make_envelope

REFERENCE = "LC-2026-000042"
STUDIO = {
    "code": "zhihe",
    "name": "至和调解工作室",
    "name_en": "Zhihe Mediation Studio",
    "email": "zhihe@studios.example",
    "lead_email": "lead@studios.example",
}
TEAM = {"code": "lianhua-1", "name": "莲花巡逻一队", "name_en": "Lianhua Patrol 1", "phone": "13700137000"}
APPLICANT = {"role": "applicant", "name": "张三", "phone": "13800138000", "email": "zhang@example.com"}
RESPONDENT = {"role": "respondent", "name": "李四", "phone": "13900139000", "email": "li@example.com"}
FILER = {"name": "王楼长", "phone": "13600136000", "email": "wang@example.com"}


# Council meetings carry their invitees' contacts (the meeting's `reference` is filled in below).
INVITEE = {"key": "inv-1", "name": "王建国", "phone": "13500135000", "email": "wang.jg@example.com"}
_MEETING = {
    "meeting_id": "m-1",
    "community": "lianhua",
    "title": "加装电梯",
    "starts_at": "2026-12-06T11:00:00+00:00",
    "ends_at": "2026-12-06T13:00:00+00:00",
    "place": {"code": "hall:lianhua", "name": "莲花小区议事厅", "name_en": "Lianhua Council Hall"},
    "invitees": [INVITEE],
    "agenda": ["加装电梯方案", "维修资金使用"],
    "url": "https://council.example/m/m-1/check-in",
}
MEETINGS: dict[str, dict[str, Any]] = {
    "meeting.invited": _MEETING,
    "meeting.rescheduled": {**_MEETING, "previous_starts_at": "2026-12-05T11:00:00+00:00", "sequence": 1},
    "meeting.cancelled": {**_MEETING, "reason": "议事厅临时维修", "sequence": 2},
    "minutes.published": {
        **{k: _MEETING[k] for k in ("meeting_id", "community", "title", "starts_at", "invitees")},
        "url": "https://council.example/m/m-1/minutes",
        "published_at": "2026-12-10T02:00:00+00:00",
    },
}
CONSULTATION_EVENTS = (
    "consultation.opened",
    "consultation.closed",
    "consultation.reminder",
    "consultation.code_requested",
)
GATE_ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=building-1"


def consultation_data(event_type: str, consultation_id: str = "cons-1") -> dict[str, Any]:
    """Valid data of a council consultation event: two flats of building 1 (one owner's two phones)."""
    if event_type == "consultation.code_requested":
        return {
            "consultation_id": consultation_id,
            "community": "lianhua",
            "title": {"zh-CN": "大门更换", "en": "New gate"},
            "flat_label": "1-1-101",
            "phone": "13500135000",
            "language": "zh-CN",
            "code": "K7Q2M9",
            "expires_at": "2026-11-25T01:15:00+00:00",
        }
    data: dict[str, Any] = {
        "consultation_id": consultation_id,
        "community": "lianhua",
        "kind": "vote" if event_type == "consultation.closed" else "questionnaire",
        "title": {"zh-CN": "大门更换", "en": "New gate"},
        "vote_item": 7 if event_type == "consultation.closed" else None,
        "closes_at": "2026-11-30T12:00:00+00:00",
        "url": f"http://council.example/c/{consultation_id}",
        "households": [
            {"flat_id": "f1", "building": "1", "label": "1-1-101", "phones": ["13500135000", "13500135001"]},
            {"flat_id": "f2", "building": "1", "label": "1-1-102", "phones": ["13500135002"]},
        ],
        "building_groups": [{"building": "1", "webhook_url": GATE_ROBOT}],
    }
    if event_type == "consultation.opened":
        data["opens_at"] = "2026-11-20T00:00:00+00:00"
    if event_type == "consultation.closed":
        data.update(answered=2, eligible=2, outcome="passed", reason={"zh-CN": "通过。", "en": "passed"})
    return data


def data_for(event_type: str, reference: str = REFERENCE, **extra: Any) -> dict[str, Any]:
    """Valid event data of `event_type` about case `reference`."""
    base: dict[str, dict[str, Any]] = {
        "case.submitted": {
            "received_at": "2026-11-20T01:00:00+00:00",
            "category": "neighbours",
            "community": "lianhua",
            "building": "3",
            "unit": "2-301",
            "description": "Noise at night, private details here.",
            "language": "zh-CN",
            "filed_by": "building_leader",
            "filer": FILER,
            "parties": [APPLICANT, RESPONDENT],
        },
        "case.assigned": {
            "studio": STUDIO,
            "assigned_at": "2026-11-20T01:05:00+00:00",
            "rule": "area+category",
            "risk_level": "none",
        },
        "case.status_changed": {
            "status": "investigating",
            "previous_status": "assigned",
            "changed_at": "2026-11-21T02:00:00+00:00",
            "public": True,
            "note": "INTERNAL-NOTE respondent seems hostile",
        },
        "session.scheduled": {
            "session_id": "s-1",
            "starts_at": "2026-11-26T01:30:00+00:00",
            "ends_at": "2026-11-26T03:00:00+00:00",
            "place": {
                "code": "hall",
                "name": "莲花社区议事厅",
                "name_en": "Lianhua Council Hall",
                "address": "莲花路1号",
            },
            "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
            "studio": STUDIO,
        },
        "session.rescheduled": {
            "session_id": "s-1",
            "starts_at": "2026-12-06T01:30:00+00:00",
            "ends_at": "2026-12-06T03:00:00+00:00",
            "previous_starts_at": "2026-11-26T01:30:00+00:00",
            "previous_ends_at": "2026-11-26T03:00:00+00:00",
            "rescheduled_at": "2026-11-24T02:00:00+00:00",
            "sequence": 1,
            "place": {
                "code": "hall",
                "name": "莲花社区议事厅",
                "name_en": "Lianhua Council Hall",
                "address": "莲花路1号",
            },
            "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
            "studio": STUDIO,
        },
        "session.cancelled": {
            "session_id": "s-1",
            "starts_at": "2026-11-26T01:30:00+00:00",
            "ends_at": "2026-11-26T03:00:00+00:00",
            "reason": "The hall is closed for repairs that day.",
            "cancelled_at": "2026-11-24T02:00:00+00:00",
            "sequence": 2,
            "place": {
                "code": "hall",
                "name": "莲花社区议事厅",
                "name_en": "Lianhua Council Hall",
                "address": "莲花路1号",
            },
            "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
            "studio": STUDIO,
        },
        "case.escalated": {
            "level": "studio_lead",
            "reason": "No progress for 20 days",
            "escalated_at": "2026-11-22T02:00:00+00:00",
            "studio": {**STUDIO, "wechat_webhook": None},
        },
        "patrol.dispatched": {
            "task_id": "task-1",
            "team": TEAM,
            "risk_level": "red",
            "reason": "Threat of violence reported",
            "dispatched_at": "2026-11-20T01:06:00+00:00",
            "due_by": "2026-11-20T02:06:00+00:00",
            "community": "lianhua",
        },
        "case.closed": {
            "outcome": "agreement_written",
            "closed_at": "2026-12-01T02:00:00+00:00",
            "public_note": "Both parties signed the agreement.",
            "studio": STUDIO,
        },
        "case.merged": {
            "merged_into": "LC-2026-000041",
            "merged_at": "2026-11-21T02:00:00+00:00",
            "studio": STUDIO,
        },
        "agreement.confirmation_due": {
            "agreement_number": "ZH-2026-0007",
            "signed_at": "2026-12-01T02:00:00+00:00",
            "deadline": "2026-12-31T16:00:00+00:00",
            "last_day": "2026-12-31",
            "reminder_day": 23,
            "final": False,
            "studio": STUDIO,
            "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
        },
        **{event_type: consultation_data(event_type) for event_type in CONSULTATION_EVENTS},
        "plan.item_finished": {
            "item_id": "item-1",
            "community": "lianhua",
            "title": {"zh-CN": "更换小区大门", "en": "Replace the gate"},
            "finished_at": "2026-06-30T08:00:00+00:00",
            "url": "http://council.example/plan/lianhua",
            "households": consultation_data("consultation.opened")["households"],
            "building_groups": [{"building": "1", "webhook_url": GATE_ROBOT}],
        },
    }
    base.update(MEETINGS)
    base.update(
        {
            "case.tracking_link": {
                "recipient": {"name": "张三", "phone": "13800138000", "email": "zhang@example.com"},
                "url": f"http://intake.example/track/{reference}",
                "code": "tok-EXAMPLE-0123456789abcdef",
                "expires_at": "2026-11-27T01:00:00+00:00",
                "occasion": "filed",
            },
            "case.tracking_code_requested": {
                "phone": "13800138000",
                "language": "zh-CN",
                "code": "482913",
                "expires_at": "2026-11-20T01:15:00+00:00",
            },
            "case.settlement_survey": {
                "party": "applicant:0",
                "recipient": {"name": "张三", "phone": "13800138000", "email": "zhang@example.com"},
                "url": "http://intake.example/settled",
                "code": "tok-EXAMPLE-0123456789abcdef",
                "expires_at": "2026-11-27T01:00:00+00:00",
            },
            "case.not_settled": {
                "party": "applicant:0",
                "answered_at": "2026-11-22T02:00:00+00:00",
                "studio": STUDIO,
            },
            "case.party_request_handled": {
                "request_id": "req-1",
                "request": "other_mediator",
                "applied": True,
                "reason": "He knows the other party well.",
                "handled_at": "2026-11-22T02:00:00+00:00",
                "studio": STUDIO,
                "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
            },
            "follow_up.renewed_conflict": {
                "task_id": f"{reference}:visit:applicant-1",
                "party": "applicant-1",
                "level": "orange",
                "previous_level": "yellow",
                "reported_at": "2026-11-22T02:00:00+00:00",
                "reported_by": {"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"},
                "studio": STUDIO,
            },
            "follow_up.term_due": {
                "task_id": f"{reference}:term:1",
                "agreement_number": "ZHIHE-2026-0001",
                "term": 1,
                "due": "2026-12-01",
                "studio": STUDIO,
                "mediators": [{"user_id": "m1", "name": "赵调解", "email": "zhao@studios.example"}],
            },
        }
    )
    return {"reference": reference, **base[event_type], **extra}


def event(event_type: str, reference: str = REFERENCE, **extra: Any) -> Envelope:
    """A validated envelope of `event_type`."""
    return make_envelope(event_type, data_for(event_type, reference, **extra), source="test")
