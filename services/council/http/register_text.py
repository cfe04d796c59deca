"""What the register's pages say in the reader's language: row problems, field names, occupancy."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext, lazy_gettext

from services.council.domain.register import RegisterFileError, RowError

FIELD_LABELS: Mapping[str, object] = {
    "building": lazy_gettext("Building"),
    "unit": lazy_gettext("Unit"),
    "flat": lazy_gettext("Flat"),
    "area": lazy_gettext("Exclusive area (m²)"),
    "owner_names": lazy_gettext("Owner names"),
    "phones": lazy_gettext("Phones"),
    "owner_key": lazy_gettext("Owner key"),
    "owner key": lazy_gettext("Owner key"),
    "occupancy": lazy_gettext("Occupancy"),
    "developer_held": lazy_gettext("Held by the developer"),
}

OCCUPANCY_LABELS: Mapping[str, object] = {
    "owner_occupied": lazy_gettext("Owner-occupied"),
    "let": lazy_gettext("Let"),
    "vacant": lazy_gettext("Vacant"),
}

# The same codes as services/council/domain/register.py MESSAGES, in the page's language.
REASONS: Mapping[str, object] = {
    "missing": lazy_gettext("%(field)s is missing."),
    "too_long": lazy_gettext("%(field)s is longer than %(limit)s characters."),
    "area_not_number": lazy_gettext("The area %(value)s is not a number."),
    "area_not_positive": lazy_gettext("The area must be more than 0 m²."),
    "area_too_large": lazy_gettext("The area must be less than %(limit)s m²."),
    "area_decimals": lazy_gettext("The area has more than two decimal places."),
    "not_yes_no": lazy_gettext("%(value)s is not yes or no."),
    "owner_missing": lazy_gettext("The owner's name is missing."),
    "too_many_owners": lazy_gettext("More than %(limit)s owners in one flat."),
    "name_too_long": lazy_gettext("A name is longer than %(limit)s characters."),
    "too_many_phones": lazy_gettext("More than %(limit)s phones in one flat."),
    "bad_phone": lazy_gettext("%(value)s is not a mobile or landline number."),
    "bad_occupancy": lazy_gettext(
        "Unknown occupancy %(value)s: write owner-occupied (自住), let (出租) or vacant (空置)."
    ),
    "duplicate_in_file": lazy_gettext("The same flat as row %(first)s."),
    "in_register": lazy_gettext("This flat is already in the register (edit it there instead)."),
    "no_rows": lazy_gettext("The file has no rows under its header."),
    "not_editable": lazy_gettext("%(field)s cannot be changed here."),
}


def field_label(name: str | None) -> str:
    return str(FIELD_LABELS.get(name or "", name or ""))


def reason(error: RowError) -> str:
    """One problem as the reader's language says it."""
    params = dict(error.params)
    if "field" in params:
        params["field"] = field_label(params["field"])
    template = REASONS.get(error.code)
    if template is None:
        return error.reason
    return str(template) % params


def occupancy_label(value: str) -> str:
    return str(OCCUPANCY_LABELS.get(value, value))


FILE_REASONS: Mapping[str, object] = {
    "empty": lazy_gettext("The file is empty."),
    "xls": lazy_gettext("Old .xls files cannot be read: save the sheet as .xlsx or CSV."),
    "encoding": lazy_gettext("The file is neither UTF-8 nor GB18030 text."),
    "not_csv": lazy_gettext("The file is not a CSV table."),
    "not_xlsx": lazy_gettext("The file is not a readable XLSX workbook."),
    "columns": lazy_gettext("The header row lacks the columns: %(columns)s."),
    "too_many_rows": lazy_gettext("The file has more than %(limit)s rows: split it by building."),
}


def file_problem(error: RegisterFileError) -> str:
    """Why a whole file cannot be read, in the reader's language (column names as the header
    row would name them in that language)."""
    params = dict(error.params)
    if "columns" in params:
        params["columns"] = "、".join(field_label(name) for name in params["columns"].split(", "))
    template = FILE_REASONS.get(error.code)
    detail = str(template) % params if template is not None else str(error)
    return gettext("This file cannot be read as a register: %(detail)s", detail=detail)
