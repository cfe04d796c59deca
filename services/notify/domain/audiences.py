"""Resolve a rule's audience to recipients, each with an address per channel. Pure: no I/O.

Staff-side addresses come from the event (StudioRef, TeamRef, StaffRef); residents' from the
contacts notify keeps from case.submitted; the duty group and webhook receivers from settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.notify.domain import rules as r


class ContactsNotYetKnown(Exception):
    """An event about a case overtook its case.submitted: retry once the contacts have arrived."""


@dataclass(frozen=True)
class Recipient:
    key: str  # stable within a case, e.g. "applicant:0", "studio:zhihe", "webhook:1"
    name: str
    language: str
    addresses: Mapping[str, str]  # channel → address
    resident: bool = False  # residents have preferences and an opt-out link
    # A household's preferences are its own, across events (community + flat), not per case.
    preference_key: str | None = None


def household_key(community: str, flat_id: str) -> str:
    """The preferences of one flat in one community, e.g. "household:lianhua:f11"."""
    return f"household:{community}:{flat_id}"


@dataclass(frozen=True)
class Directory:
    """Addresses that come from configuration rather than events."""

    duty_group_url: str = ""
    webhook_urls: tuple[str, ...] = ()
    default_language: str = "zh-CN"


def _addresses(**candidates: str | None) -> dict[str, str]:
    return {channel: value.strip() for channel, value in candidates.items() if value and value.strip()}


def _resident(key: str, person: Mapping[str, Any], fallback_language: str) -> Recipient:
    return Recipient(
        key=key,
        name=person.get("name") or "",
        language=person.get("language") or fallback_language,
        addresses=_addresses(email=person.get("email"), sms=person.get("phone")),
        resident=True,
    )


def _parties(role: str, contacts: Mapping[str, Any]) -> list[Recipient]:
    language = contacts.get("language") or "zh-CN"
    return [
        _resident(f"{role}:{i}", p, language)
        for i, p in enumerate(contacts.get("parties", []))
        if p.get("role") == role
    ]


def _staff(key_prefix: str, person: Mapping[str, Any] | None, language: str) -> list[Recipient]:
    if not person:
        return []
    return [
        Recipient(
            key=f"{key_prefix}:{person.get('user_id') or person.get('code')}",
            name=person.get("name") or "",
            language=person.get("language") or language,
            addresses=_addresses(email=person.get("email"), sms=person.get("phone")),
        )
    ]


def resolve(
    audience: str, data: Mapping[str, Any], contacts: Mapping[str, Any] | None, directory: Directory
) -> list[Recipient]:
    """The recipients of `audience` for an event's `data` (maybe none)."""
    staff_language = directory.default_language
    if audience == r.INVITEES:
        # A council meeting's event carries its invitees' contacts (council owns them).
        return [
            _resident(f"invitee:{person['key']}", person, person.get("language") or "zh-CN")
            for person in data.get("invitees") or []
        ]
    if audience == r.BUILDING_LEADERS:
        # Mediation looks up the case's building's leaders when it makes the event (they are staff).
        return [
            rec
            for person in data.get("building_leaders") or []
            for rec in _staff("building_leader", person, staff_language)
        ]
    if audience in (r.APPLICANTS, r.RESPONDENTS, r.FILER):
        if contacts is None:
            raise ContactsNotYetKnown(data.get("reference", "?"))
        if audience == r.FILER:
            filer = contacts.get("filer")
            return [_resident("filer", filer, contacts.get("language") or "zh-CN")] if filer else []
        return _parties("applicant" if audience == r.APPLICANTS else "respondent", contacts)
    if audience == r.MEDIATORS:
        people = list(data.get("mediators") or [])
        if data.get("mediator"):
            people.append(data["mediator"])
        return [rec for person in people for rec in _staff("mediator", person, staff_language)]
    if audience == r.STUDIO:
        studio = data.get("studio") or {}
        if not studio:
            return []
        return [
            Recipient(
                key=f"studio:{studio['code']}",
                name=studio.get("name") or studio["code"],
                language=staff_language,
                addresses=_addresses(email=studio.get("email"), wechat_work=studio.get("wechat_webhook")),
            )
        ]
    if audience == r.STUDIO_LEAD:
        studio = data.get("studio") or {}
        if not studio.get("lead_email"):
            return []
        return [
            Recipient(
                key=f"studio_lead:{studio['code']}",
                name=studio.get("name") or studio["code"],
                language=staff_language,
                addresses=_addresses(email=studio["lead_email"]),
            )
        ]
    if audience == r.PATROL_TEAM:
        team = data.get("team") or {}
        if not team:
            return []
        return [
            Recipient(
                key=f"team:{team['code']}",
                name=team.get("name") or team["code"],
                language=staff_language,
                addresses=_addresses(
                    email=team.get("email"), sms=team.get("phone"), wechat_work=team.get("wechat_webhook")
                ),
            )
        ]
    if audience == r.DUTY_GROUP:
        if not directory.duty_group_url:
            return []
        return [
            Recipient("duty_group", "duty group", staff_language, {"wechat_work": directory.duty_group_url})
        ]
    if audience == r.DISTRICT_ADMIN:
        email = data.get("admin_email")
        return [Recipient("district_admin", "", staff_language, _addresses(email=email))] if email else []
    if audience == r.HOUSEHOLDS:
        # One recipient per registered phone of each flat; a phone shared by several flats (one
        # owner) is texted once, as planning sends one message per channel and address. The
        # flat's phones share its preferences.
        community = str(data.get("community") or "")
        return [
            Recipient(
                key=f"household:{flat['flat_id']}:{i}",
                name=flat.get("label") or "",
                language=flat.get("language") or "zh-CN",
                addresses=_addresses(sms=phone),
                resident=True,
                preference_key=household_key(community, str(flat["flat_id"])),
            )
            for flat in data.get("households") or []
            for i, phone in enumerate(flat.get("phones") or [])
        ]
    if audience == r.BUILDING_GROUPS:
        return [
            Recipient(
                key=f"building_group:{group['building']}",
                name=group["building"],
                language=staff_language,
                addresses=_addresses(wechat_work=group.get("webhook_url")),
            )
            for group in data.get("building_groups") or []
        ]
    if audience == r.CODE_RECIPIENT:
        phone = data.get("phone")
        if not phone:
            return []
        return [
            Recipient(
                key=f"code:{data.get('flat_label') or ''}",
                name=data.get("flat_label") or "",
                language=data.get("language") or "zh-CN",
                addresses=_addresses(sms=phone),
            )
        ]
    if audience == r.LINK_RECIPIENT:
        person = data.get("recipient") or {}
        # The applicant's own place in the case when the event names it ("applicant:0"), so the
        # preferences they chose for their case's messages (an opt-out) apply here too.
        key = data.get("party") or "link"
        return [_resident(key, person, person.get("language") or "zh-CN")] if person else []
    if audience == r.SYSTEMS:
        return [
            Recipient(f"webhook:{i}", "", "en", {"webhook": url})
            for i, url in enumerate(directory.webhook_urls)
        ]
    raise ValueError(f"unknown audience {audience!r}")
