"""The register's page forms as data: posted fields to the use cases' values, and the use cases'
refusals to one list of translated messages per field id (for `web/forms.html`). No I/O here;
CSRF is checked for every POST by `shared.web` (the forms carry `csrf_token()`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
