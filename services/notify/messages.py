"""What a template may see about an event, for one recipient. Pure: no I/O.

The context is built from a whitelist: a template can never show an internal note (the `note` of
a status change), the case's description, or anyone's personal data but the recipient's own name.
Webhook payloads are whitelisted the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notify.rendering import language_of
from shared.taxonomy import communities

# A one-time answering code never enters a stored delivery: templates render this in its place, and
# the sender puts the code (kept apart, in `delivery_secrets`, until it expires) in just before sending.
CODE_PLACEHOLDER = "******"

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "zh-CN": {
        "status": {
            "received": "已收到",
            "awaiting_consent": "待您同意调解",
            "screening": "审查中",
            "accepted": "已受理",
            "not_accepted": "不予受理",
            "assigned": "已分派",
            "mediator_assigned": "已确定调解员",
            "agreement_written": "达成书面调解协议",
            "agreement_oral": "达成口头调解协议",
            "failed": "调解不成",
            "withdrawn": "当事人终止调解",
            "referred": "已引导至其他途径",
            "confirmation_applied": "已申请司法确认",
            "confirmation_confirmed": "司法确认有效",
            "confirmation_rejected": "司法确认被驳回",
            "rights_notified": "已告知权利义务",
            "investigating": "调查中",
            "in_mediation": "调解中",
            "waiting_for_party": "等待当事人",
            "closed": "已结案",
            "merged": "已并入其他案件",
            "follow_up": "回访中",
            "archived": "已归档",
        },
        "outcome": {
            "agreement_written": "达成书面调解协议",
            "agreement_oral": "达成口头调解协议",
            "failed": "调解不成",
            "withdrawn": "当事人撤回申请",
            "referred": "已转交法院、仲裁或有关部门",
            "not_accepted": "不予受理",
        },
        "risk": {"none": "无", "yellow": "黄色", "orange": "橙色", "red": "红色"},
        "level": {"studio_lead": "工作室负责人", "district_admin": "区级管理员"},
    },
    "en": {
        "status": {
            "received": "received",
            "awaiting_consent": "waiting for your consent to mediation (the studio will contact you)",
            "screening": "being screened",
            "accepted": "accepted",
            "not_accepted": "not accepted",
            "assigned": "assigned",
            "mediator_assigned": "mediator assigned",
            "agreement_written": "written agreement reached",
            "agreement_oral": "oral agreement reached",
            "failed": "mediation did not succeed",
            "withdrawn": "withdrawn",
            "referred": "referred elsewhere",
            "confirmation_applied": "judicial confirmation applied for",
            "confirmation_confirmed": "judicially confirmed",
            "confirmation_rejected": "judicial confirmation rejected",
            "rights_notified": "rights explained",
            "investigating": "being investigated",
            "in_mediation": "in mediation",
            "waiting_for_party": "waiting for a party",
            "closed": "closed",
            "merged": "merged into another case",
            "follow_up": "in follow-up",
            "archived": "archived",
        },
        "outcome": {
            "agreement_written": "a written mediation agreement was reached",
            "agreement_oral": "an oral mediation agreement was reached",
            "failed": "mediation did not succeed",
            "withdrawn": "the application was withdrawn",
            "referred": "referred to a court, arbitration or the competent agency",
            "not_accepted": "not accepted for mediation",
        },
        "risk": {"none": "none", "yellow": "yellow", "orange": "orange", "red": "red"},
        "level": {"studio_lead": "studio lead", "district_admin": "district administrator"},
    },
}


def label(language: str, kind: str, code: str | None) -> str:
    """The reader's word for a status, outcome, risk level or escalation level code."""
    if not code:
        return ""
    return LABELS[language_of(language)][kind].get(code, code.replace("_", " "))


def format_time(value: str | None, language: str, timezone: str) -> str:
    """An ISO time as people read it where the district is."""
    if not value:
        return ""
    local = datetime.fromisoformat(value).astimezone(ZoneInfo(timezone))
    if language_of(language) == "en":
        return local.strftime("%d %b %Y, %H:%M")
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def format_date(value: date | datetime, language: str) -> str:
    if language_of(language) == "en":
        return value.strftime("%d %b %Y")
    return f"{value.year}年{value.month}月{value.day}日"


def last_day(data: Mapping[str, Any], language: str, timezone: str) -> str:
    """The last day to apply for judicial confirmation, as people read it: from `last_day`, or for
    reminders sent before that field existed, the day before the (exclusive) `deadline`."""
    if data.get("last_day"):
        return format_date(date.fromisoformat(data["last_day"]), language)
    if data.get("deadline"):
        closes = datetime.fromisoformat(data["deadline"]).astimezone(ZoneInfo(timezone))
        return format_date((closes - timedelta(microseconds=1)).date(), language)
    return ""


def display_name(ref: Mapping[str, Any] | None, language: str) -> str:
    """A studio, team or place by its name in `language` (Chinese when it has no English one)."""
    if not ref:
        return ""
    english = language_of(language) == "en"
    return (ref.get("name_en") if english else None) or ref.get("name") or ref.get("code", "")


def _community(code: str | None, language: str) -> str:
    for community in communities():
        if community.code == code:
            return community.name(language_of(language))
    return code or ""


def build_context(
    data: Mapping[str, Any],
    *,
    recipient_name: str,
    language: str,
    timezone: str,
    preferences_url: str | None = None,
) -> dict[str, Any]:
    """Every variable a template may use, from the event data and the recipient."""
    lang = language_of(language)
    place = data.get("place") or {}
    return {
        "reference": data.get("reference", ""),
        "name": recipient_name,
        "studio_name": display_name(data.get("studio"), lang),
        "team_name": display_name(data.get("team"), lang),
        "community_name": _community(data.get("community"), lang),
        "rule": data.get("rule", ""),
        "needs_manual_routing": bool(data.get("needs_manual_routing", False)),
        # The applicant said "no" to mediation at intake: the studio contacts them first.
        "awaiting_consent": bool(data.get("awaiting_consent", False)),
        # A party's request from their tracking page: "withdraw" or "other_mediator".
        "request": data.get("request") or "",
        # A tracking link sent again after the resident proved their phone (the old one is void).
        "recovered": data.get("occasion") == "recovered",
        "risk_level": data.get("risk_level") or "none",
        "risk_label": label(lang, "risk", data.get("risk_level") or "none"),
        "status_label": label(lang, "status", data.get("status")),
        "outcome": data.get("outcome", ""),
        "outcome_label": label(lang, "outcome", data.get("outcome")),
        "public_note": data.get("public_note") or "",
        "level_label": label(lang, "level", data.get("level")),
        "reason": data.get("reason", ""),
        "starts_at": format_time(data.get("starts_at"), lang, timezone),
        "ends_at": format_time(data.get("ends_at"), lang, timezone),
        "previous_starts_at": format_time(data.get("previous_starts_at"), lang, timezone),
        "due": format_time(data.get("due_by") or data.get("due_at"), lang, timezone),
        "place_name": display_name(place, lang),
        "place_address": place.get("address") or "",
        "public_session": bool(data.get("public", False)),
        "agreement_number": data.get("agreement_number") or "",
        # A merged duplicate's parties learn the other case's reference: nothing else about it.
        "merged_into": data.get("merged_into") or "",
        "deadline": format_time(data.get("deadline"), lang, timezone),
        "last_day": last_day(data, lang, timezone),
        "final": bool(data.get("final", False)),  # the reminder sent on the window's last day
        "preferences_url": preferences_url,
        # Council: a meeting's or a consultation's title (a consultation's in both languages), the
        # meeting's agenda, and the public page (check-in, minutes, answering or result).
        "title": _localised(data.get("title"), lang),
        "agenda": list(data.get("agenda") or []),
        "url": data.get("url") or "",
        # Households and building groups hear of a meeting with the community's public board as link.
        "board_url": data.get("board_url") or data.get("url") or "",
        # Council's consultations.
        "flat_label": data.get("flat_label") or "",
        "closes_at": format_time(data.get("closes_at"), lang, timezone),
        "opens_at": format_time(data.get("opens_at"), lang, timezone),
        "expires_at": format_time(data.get("expires_at"), lang, timezone),
        "is_vote": data.get("kind") == "vote",
        "answered": data.get("answered") or 0,
        "eligible": data.get("eligible") or 0,
        "vote_outcome_label": VOTE_OUTCOMES[lang].get(data.get("outcome") or "", ""),
        "vote_reason": _localised(data["reason"], lang) if isinstance(data.get("reason"), Mapping) else "",
        "code": CODE_PLACEHOLDER if data.get("code") else "",
        # Follow-up after an ending: the risk a visit raised, which party (a key, never a name),
        # who visited (staff), and an agreement term's number and due day.
        "new_risk_label": label(lang, "risk", data.get("level"))
        if data.get("level") in LABELS[lang]["risk"]
        else "",
        "previous_risk_label": label(lang, "risk", data.get("previous_level")),
        "party_label": party_label(data.get("party"), lang),
        "reported_by": (data.get("reported_by") or {}).get("name") or "",
        "term": data.get("term") or "",
        "term_due": format_date(date.fromisoformat(data["due"]), lang)
        if isinstance(data.get("due"), str)
        else "",
    }


def party_label(key: str | None, language: str) -> str:
    """A party's stable key (`applicant-1`) as a reader says it: 申请人1 / applicant 1."""
    if not key or "-" not in key:
        return ""
    role, _, number = key.partition("-")
    words = {
        "zh-CN": {"applicant": "申请人", "respondent": "被申请人"},
        "en": {"applicant": "applicant ", "respondent": "respondent "},
    }
    return words[language_of(language)].get(role, role + " ") + number


VOTE_OUTCOMES = {
    "zh-CN": {"passed": "通过", "failed": "未通过", "no_quorum": "未达到法定参与比例"},
    "en": {"passed": "passed", "failed": "not passed", "no_quorum": "no quorum"},
}


def _localised(value: Any, language: str) -> str:
    """A {"zh-CN": ..., "en": ...} text in `language` (the other one when it is missing)."""
    if not isinstance(value, Mapping):
        return str(value or "")
    return str(value.get(language) or value.get("zh-CN") or value.get("en") or "")


# What other systems receive about an event: codes and times, never personal data or free text.
_WEBHOOK_FIELDS = (
    "reference",
    "status",
    "previous_status",
    "public",
    "risk_level",
    "outcome",
    "level",
    "category",
    "community",
    "filed_by",
    "session_id",
    "task_id",
    "received_at",
    "assigned_at",
    "changed_at",
    "dispatched_at",
    "due_by",
    "due_at",
    "escalated_at",
    "starts_at",
    "ends_at",
    "previous_starts_at",
    "previous_ends_at",
    "rescheduled_at",
    "cancelled_at",
    "sequence",
    "closed_at",
    "merged_into",
    "merged_at",
)


def webhook_payload(
    event_type: str, event_id: str, occurred_at: str, delivery_id: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of an outgoing webhook."""
    body: dict[str, Any] = {k: data[k] for k in _WEBHOOK_FIELDS if k in data and data[k] is not None}
    for ref in ("studio", "team", "place"):
        if data.get(ref):
            body[ref] = data[ref].get("code")
    return {
        "id": delivery_id,
        "event": event_type,
        "event_id": event_id,
        "occurred_at": occurred_at,
        "data": body,
    }
