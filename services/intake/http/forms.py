"""The resident web form as data: flat HTML field names to the API's case payload and back.

The form is validated by the same `CaseCreateSchema` as the JSON API (one place for the rules);
this module only translates shapes: `applicants-0-phone` ↔ `{"applicants": [{"phone": ...}]}`,
checkboxes and yes/no radios to booleans, blank optional fields to None, and marshmallow's
nested error dict to one list of messages per HTML field id. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_APPLICANTS = 20
MAX_RESPONDENTS = 50
PARTY_FIELDS = {"applicants": ("name", "phone", "email"), "respondents": ("name", "phone")}
TEXT_FIELDS = ("category", "community", "building", "unit", "description", "claims", "filed_by", "language")
# Whoever files on behalf of someone (a building leader, a clerk): `filer-name` ↔ `{"filer": {"name"}}`.
FILER_FIELDS = ("name", "phone", "email")
YES_NO_FIELDS = ("threat_of_violence", "danger_to_safety", "agrees_to_mediation")
HONEYPOT = "website"


def party_count(form: Mapping[str, str], group: str, minimum: int = 1) -> int:
    """How many party rows of `group` the form shows (hidden counter, bounded)."""
    limit = MAX_APPLICANTS if group == "applicants" else MAX_RESPONDENTS
    try:
        count = int(form.get(f"{group}_count", minimum))
    except (TypeError, ValueError):
        count = minimum
    return max(minimum, min(count, limit))


def _yes_no(value: str | None) -> bool | str | None:
    if value in (None, ""):
        return None
    if value == "yes":
        return True
    if value == "no":
        return False
    return value  # anything else is left for the schema to reject


def _number(value: str | None, kind: type) -> Any:
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip())
    except ValueError:
        return value  # the schema says "Not a valid number." next to the field


def form_to_payload(form: Mapping[str, str]) -> dict[str, Any]:
    """The case payload of a submitted form, ready for `CaseCreateSchema().load`."""
    payload: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.get(name)
        if value is not None and value != "":
            payload[name] = value
    for name in YES_NO_FIELDS:
        value = _yes_no(form.get(name))
        if value is not None:
            payload[name] = value
    amount = _number(form.get("amount"), float)
    if amount is not None:
        payload["amount"] = amount
    people = _number(form.get("people_affected"), int)
    if people is not None:
        payload["people_affected"] = people
    payload["consent"] = form.get("consent") == "yes"
    for group, names in PARTY_FIELDS.items():
        rows = []
        for index in range(party_count(form, group)):
            row = {name: (form.get(f"{group}-{index}-{name}") or "").strip() for name in names}
            if index > 0 and not any(row.values()):
                continue  # an extra row left empty is not a party
            # Blank means "not given": required ones then read "Missing data", optional ones pass.
            rows.append({k: v for k, v in row.items() if v})
        payload[group] = rows
    # The filer's fields are always on the page (no JavaScript); left blank they are not given.
    filer = {name: (form.get(f"filer-{name}") or "").strip() for name in FILER_FIELDS}
    if any(filer.values()):
        payload["filer"] = {k: v for k, v in filer.items() if v}
    return payload


def flatten_errors(errors: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors → `{html_field_id: [message, ...]}`.

    `{"applicants": {"0": {"phone": ["Not a phone number."]}}}` → `{"applicants-0-phone": [...]}`;
    errors about a whole list (e.g. too many rows) land on the list's first field.
    """
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        name = f"{prefix}-{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_errors(value, name))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            if name in PARTY_FIELDS:
                target = f"{name}-0-name"
            elif name == "filer":
                target = "filer-name"  # a rule about the whole filer sits by its first field
            else:
                target = name
            flat.setdefault(target, []).extend(value)
        else:
            flat.setdefault(name, []).append(str(value))
    return flat


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    """What the resident typed, to show the form again unchanged (never the honeypot)."""
    return {key: value for key, value in form.items() if key not in {HONEYPOT, "csrf_token"}}
