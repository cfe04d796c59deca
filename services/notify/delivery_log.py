"""The delivery log (search, one delivery) and template previews, for the admin pages and API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import DESCENDING

from services.notify import digest
from services.notify.bootstrap import Notify
from services.notify.domain import rules
from services.notify.domain.audiences import Recipient, household_key
from services.notify.planning import render_content
from services.notify.rendering import has_template
from shared.auth import Staff
from shared.masking import mask_address
from shared.messaging.envelope import Envelope

ADMIN_ROLES = ("district_admin", "studio_lead")


def scope(staff: Staff) -> dict[str, Any]:
    """What a member of staff may see: everything (district admin) or their studio's deliveries."""
    if staff.has_role("district_admin"):
        return {}
    return {"studio": staff.studio or "\x00none"}


def search(notify: Notify, staff: Staff, filters: Mapping[str, Any]) -> dict[str, Any]:
    """One page of deliveries, newest first, with masked addresses."""
    query: dict[str, Any] = dict(scope(staff))
    if filters.get("reference"):
        # Case references are upper case (LC-2026-000042); council's consultation ids are not.
        value = filters["reference"].strip()
        query["reference"] = {"$in": sorted({value.upper(), value})}
    if filters.get("status"):
        query["status"] = filters["status"]
    if filters.get("channel"):
        query["channel"] = filters["channel"]
    if filters.get("recipient"):
        value = filters["recipient"].strip()
        query["recipient.address"] = {"$in": sorted({value, value.lower()})}
    page, per_page = int(filters.get("page") or 1), int(filters.get("per_page") or 50)
    total = notify.db.deliveries.count_documents(query)
    rows = (
        notify.db.deliveries.find(query, {"content": 0, "attempt_log": 0})
        .sort("created_at", DESCENDING)
        .skip((page - 1) * per_page)
        .limit(per_page)
    )
    items = [with_mask(row) for row in rows]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def with_mask(delivery: dict[str, Any]) -> dict[str, Any]:
    delivery["masked_address"] = mask_address(delivery["channel"], delivery["recipient"].get("address"))
    return delivery


def find(notify: Notify, staff: Staff, delivery_id: str) -> dict[str, Any] | None:
    """One delivery the member of staff may see, or None."""
    delivery = notify.db.deliveries.find_one({"_id": delivery_id, **scope(staff)})
    return with_mask(delivery) if delivery else None


# Fictional data for previews: what a template looks like, with nobody's real details.
SAMPLE_STUDIO = {"code": "zhihe", "name": "至和调解工作室", "name_en": "Zhihe Mediation Studio"}
SAMPLE_HALL = {
    "code": "hall",
    "name": "莲花社区议事厅",
    "name_en": "Lianhua Council Hall",
    "address": "莲花路1号",
}
SAMPLE_CONSULTATION_TITLE = {"zh-CN": "小区大门更换", "en": "Replacing the compound gate"}
SAMPLES: dict[str, dict[str, Any]] = {
    "case.submitted": {"community": "lianhua", "filed_by": "building_leader"},
    "case.assigned": {"studio": SAMPLE_STUDIO, "rule": "area+category", "risk_level": "orange"},
    "case.status_changed": {"status": "in_mediation", "public": True},
    "session.scheduled": {
        "session_id": "preview",
        "starts_at": "2026-11-26T01:30:00+00:00",
        "ends_at": "2026-11-26T03:00:00+00:00",
        "place": SAMPLE_HALL,
        "studio": SAMPLE_STUDIO,
    },
    "session.rescheduled": {
        "session_id": "preview",
        "starts_at": "2026-12-06T01:30:00+00:00",
        "ends_at": "2026-12-06T03:00:00+00:00",
        "previous_starts_at": "2026-11-26T01:30:00+00:00",
        "previous_ends_at": "2026-11-26T03:00:00+00:00",
        "rescheduled_at": "2026-11-25T01:00:00+00:00",
        "sequence": 1,
        "place": SAMPLE_HALL,
        "studio": SAMPLE_STUDIO,
    },
    "session.cancelled": {
        "session_id": "preview",
        "starts_at": "2026-11-26T01:30:00+00:00",
        "ends_at": "2026-11-26T03:00:00+00:00",
        "reason": "议事厅临时维修",
        "cancelled_at": "2026-11-25T01:00:00+00:00",
        "sequence": 1,
        "place": SAMPLE_HALL,
        "studio": SAMPLE_STUDIO,
    },
    "case.escalated": {
        "level": "studio_lead",
        "reason": "No progress for 20 days",
        "due_at": "2026-11-28T09:00:00+00:00",
        "studio": SAMPLE_STUDIO,
    },
    "patrol.dispatched": {
        "team": {"code": "t1", "name": "莲花巡逻一队", "name_en": "Lianhua Patrol 1"},
        "risk_level": "red",
        "reason": "Threat of violence reported",
        "due_by": "2026-11-25T03:00:00+00:00",
        "community": "lianhua",
        "studio": SAMPLE_STUDIO,
    },
    "case.closed": {"outcome": "agreement_written", "public_note": "", "studio": SAMPLE_STUDIO},
    "case.merged": {"merged_into": "LC-2026-000002", "studio": SAMPLE_STUDIO},
    "agreement.confirmation_due": {
        "agreement_number": "ZHIHE-2026-0001",
        "signed_at": "2026-11-02T02:00:00+00:00",
        "deadline": "2026-12-02T16:00:00+00:00",
        "last_day": "2026-12-02",
        "reminder_day": 23,
        "final": False,
        "studio": SAMPLE_STUDIO,
    },
    **{
        event_type: {
            "consultation_id": "sample",
            "community": "lianhua",
            "kind": "vote" if event_type == "consultation.closed" else "questionnaire",
            "title": SAMPLE_CONSULTATION_TITLE,
            "vote_item": 7 if event_type == "consultation.closed" else None,
            "opens_at": "2026-11-20T00:00:00+00:00",
            "closes_at": "2026-11-30T12:00:00+00:00",
            "url": "https://council.example.cn/c/sample"
            + ("/result" if event_type == "consultation.closed" else ""),
            "answered": 412,
            "eligible": 520,
            "outcome": "passed",
            "reason": {
                "zh-CN": "通过：同意的专有部分面积占比80.2%，达到3/4；同意的人数占比79.1%，达到3/4。",  # noqa: RUF001
                "en": "passed: area in favour 80.2% ≥ 3/4; headcount in favour 79.1% ≥ 3/4",
            },
        }
        for event_type in ("consultation.opened", "consultation.reminder", "consultation.closed")
    },
    "consultation.code_requested": {
        "consultation_id": "sample",
        "community": "lianhua",
        "title": SAMPLE_CONSULTATION_TITLE,
        "flat_label": "3-2-401",
        "phone": "preview",
        # A preview never shows a code either: templates only ever get the placeholder.
        "code": "000000",
        "expires_at": "2026-11-25T01:15:00+00:00",
    },
}


SAMPLE_MEETING = {
    "meeting_id": "preview",
    "community": "lianhua",
    "title": "加装电梯",
    "starts_at": "2026-12-06T11:00:00+00:00",
    "ends_at": "2026-12-06T13:00:00+00:00",
    "place": {"code": "hall:lianhua", "name": "莲花小区议事厅", "name_en": "Lianhua Council Hall"},
    "agenda": ["加装电梯方案"],
    "url": "https://council.example/m/preview/check-in",
    "board_url": "https://council.example/board/lianhua",
}
SAMPLES.update(
    {
        "meeting.invited": SAMPLE_MEETING,
        "meeting.rescheduled": {
            **SAMPLE_MEETING,
            "previous_starts_at": "2026-12-05T11:00:00+00:00",
            "sequence": 1,
        },
        "meeting.cancelled": {**SAMPLE_MEETING, "reason": "议事厅临时维修", "sequence": 2},
        "minutes.published": {**SAMPLE_MEETING, "url": "https://council.example/m/preview/minutes"},
        # A tracking link's token and a code are shown as the delivery log shows them: never real.
        "case.tracking_link": {
            "url": "http://intake.example/track/LC-2026-000001",
            "code": "preview-token-000000",
            "expires_at": "2026-12-02T01:00:00+00:00",
        },
        "case.tracking_code_requested": {"code": "000000", "expires_at": "2026-11-25T01:15:00+00:00"},
        "case.settlement_survey": {
            "party": "applicant:0",
            "url": "http://intake.example/settled",
            "code": "preview-token-000000",
            "expires_at": "2026-12-02T01:00:00+00:00",
        },
        "case.not_settled": {
            "party": "applicant:0",
            "answered_at": "2026-11-25T01:00:00+00:00",
            "studio": SAMPLE_STUDIO,
        },
        "follow_up.renewed_conflict": {
            "task_id": "LC-2026-000001:visit:applicant-1",
            "party": "applicant-1",
            "level": "orange",
            "previous_level": "yellow",
            "reported_at": "2026-11-25T01:00:00+00:00",
            "reported_by": {"user_id": "preview", "name": "周平"},
            "studio": SAMPLE_STUDIO,
        },
        "follow_up.term_due": {
            "task_id": "LC-2026-000001:term:1",
            "agreement_number": "ZHIHE-2026-0001",
            "term": 1,
            "due": "2026-12-01",
            "studio": SAMPLE_STUDIO,
        },
        "case.party_request_handled": {
            "request": "other_mediator",
            "applied": True,
            "reason": "他与对方是亲戚。",
            "studio": SAMPLE_STUDIO,
        },
        "plan.item_finished": {
            "item_id": "preview",
            "community": "lianhua",
            "title": {"zh-CN": "更换小区大门", "en": "Replace the compound gate"},
            "finished_at": "2026-06-30T08:00:00+00:00",
            "url": "https://council.example.cn/plan/lianhua",
        },
    }
)


def templates() -> list[str]:
    """Every template a rule uses (and the digest), in a stable order."""
    names = {rule.template for rs in rules.RULES.values() for rule in rs} - {rules.WEBHOOK_TEMPLATE}
    return sorted(names | {rules.DIGEST_TEMPLATE})


def _event_for(template: str) -> str:
    for event_type, rs in rules.RULES.items():
        if any(rule.template == template for rule in rs):
            return event_type
    raise KeyError(template)


def preview(notify: Notify, template: str, language: str, channel: str) -> dict[str, Any] | None:
    """`template` rendered for fictional data, as one channel would send it; None if unknown."""
    if template not in templates():
        return None
    if channel == "sms" and not has_template(template, language, "sms.txt"):
        return None  # this message is never sent by SMS
    if template == rules.DIGEST_TEMPLATE:
        now = datetime.now(UTC)
        cases = [
            {
                "_id": "LC-2026-000101",
                "open": True,
                "status": "investigating",
                "due_at": now - timedelta(days=2),
            },
            {
                "_id": "LC-2026-000102",
                "open": True,
                "status": "in_mediation",
                "due_at": now + timedelta(days=1),
            },
        ]
        summary = digest.summarise(cases, now, notify.settings.digest_due_soon_days)
        content = digest.digest_content(
            SAMPLE_STUDIO,
            summary,
            date.today(),
            language,
            notify.settings.notify_timezone,
            notify.settings.digest_due_soon_days,
        )
        return {
            "template": template,
            "language": language,
            "channel": "email",
            "event_type": "digest",
            **content,
        }
    event_type = _event_for(template)
    data = {"reference": "LC-2026-000001", **SAMPLES[event_type]}
    envelope = Envelope("preview", event_type, "2026-11-25T01:00:00+00:00", "preview", "preview", 1, data)
    audiences = {rule.audience for rs in rules.RULES.values() for rule in rs if rule.template == template}
    if channel == "sms" and rules.HOUSEHOLDS in audiences:
        # A household's SMS, with the link to its own preferences (a fictional flat).
        recipient = Recipient(
            "household:preview:0",
            "1-1-101",
            language,
            {channel: "preview"},
            resident=True,
            preference_key=household_key(str(data.get("community") or "lianhua"), "preview"),
        )
    else:
        staff = {
            "case_assigned_studio",
            "case_escalated",
            "patrol_dispatched",
            "red_alert",
            "party_request_mediator",
            "party_request_lead",
            "follow_up_renewed_conflict",
            "follow_up_term_due",
        }
        # Building groups and a code's phone have no preferences.
        council = {rules.HOUSEHOLDS, rules.BUILDING_GROUPS, rules.CODE_RECIPIENT}
        resident = template not in staff and not (audiences & council)
        name = ("Zhang San" if language == "en" else "张三") if resident else ""
        recipient = Recipient("applicant:0", name, language, {channel: "preview"}, resident=resident)
    content = render_content(channel, template, recipient, envelope, "preview", notify.plan_config)
    return {
        "template": template,
        "language": language,
        "channel": channel,
        "event_type": event_type,
        **content,
    }
