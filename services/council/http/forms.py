"""The register's page forms as data: posted fields to the use cases' values, and the use cases'
refusals to one list of translated messages per field id (for `web/forms.html`). No I/O here;
CSRF is checked for every POST by `shared.web` (the forms carry `csrf_token()`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from services.council.domain.register import RowError
from services.council.http.register_text import reason

FLAT_FIELDS = ("area", "owner_names", "phones", "owner_key", "occupancy", "developer_held")
UPLOAD_FIELD = "file"
ALLOWED_SUFFIXES = (".csv", ".xlsx", ".txt")


def flat_values(form: Mapping[str, str]) -> dict[str, str]:
    """The edit form's fields; an unticked developer box means "no"."""
    values = {name: form.get(name, "") for name in FLAT_FIELDS if name != "developer_held"}
    values["developer_held"] = "yes" if form.get("developer_held") == "yes" else "no"
    return values


def errors_by_field(errors: Sequence[RowError]) -> dict[str, list[str]]:
    """Field id → its messages, in the reader's language."""
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(error.field or "file", []).append(reason(error))
    return out


# Meetings -----------------------------------------------------------------------------------------
LOCAL_TZ = "Asia/Shanghai"  # the district's time: forms take local dates and times


def meeting_times(form: Mapping[str, str]) -> tuple[datetime, datetime]:
    """The form's day (YYYY-MM-DD) and start/end (HH:MM, local time) as aware datetimes; ValueError
    names the field that cannot be read."""
    try:
        day = date.fromisoformat((form.get("day") or "").strip())
    except ValueError as err:
        raise ValueError("day") from err
    zone = ZoneInfo(LOCAL_TZ)
    out = []
    for name in ("starts_at", "ends_at"):
        try:
            at = time.fromisoformat((form.get(name) or "").strip())
        except ValueError as err:
            raise ValueError(name) from err
        out.append(datetime.combine(day, at, tzinfo=zone))
    return out[0], out[1]


def count(form: Mapping[str, str], name: str) -> int:
    """A vote count as typed; -1 (refused by the rules with a clear message) when not a number."""
    text = (form.get(name) or "").strip()
    return int(text) if text.isdigit() else -1
