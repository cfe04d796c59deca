"""The household register's pages: the community's flats (masked), one flat (in full for those
who keep the register, logged) with its edit form, and the import in two steps: upload → preview
(every bad row with its row number and reason, or the rows to be added) → confirm.

Plain HTML forms with CSRF tokens: everything works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext

from services.council import access, register
from services.council.domain.register import RegisterFileError
from services.council.http.context import current_council, current_staff
from services.council.http.forms import UPLOAD_FIELD, errors_by_field, flat_values
from services.council.http.register_text import (
    FIELD_LABELS,
    field_label,
    file_problem,
    occupancy_label,
    reason,
)
from services.council.spreadsheets import read_table
from shared.auth import requires_role

bp = Blueprint("register_pages", __name__, url_prefix="/communities/<community>/register")
T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store"}  # pages with names and phones stay out of caches


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except register.NotAllowed:
        abort(403)
    except register.NotFound:
        abort(404)


@bp.app_context_processor
def register_globals() -> dict[str, Any]:
    return {
        "field_label": field_label,
        "occupancy_label": occupancy_label,
        "row_reason": reason,
        "field_labels": {name: str(label) for name, label in FIELD_LABELS.items()},
    }


@bp.get("")
@requires_role(*access.COUNCIL_ROLES)
def flats(community: str) -> Any:
    """The community's flats, names and phones masked; a building leader sees their buildings."""
    council, staff = current_council(), current_staff()
    building = request.args.get("building", "").strip() or None
    rows = _call(lambda: register.list_flats(council, community, staff, building))
    return (
        render_template(
            "council/register_flats.html",
            community=community,
            flats=rows,
            buildings=register.buildings(council, community, staff),
            building=building or "",
            may_edit=access.may_edit_register(staff, community),
        ),
        200,
        NO_STORE,
    )


@bp.get("/flats/<flat_id>")
@requires_role(*access.COUNCIL_ROLES)
def flat(community: str, flat_id: str) -> Any:
    """One flat: in full with its edit form for those who keep the register (the view is logged)."""
    council, staff = current_council(), current_staff()
    doc = _call(lambda: register.get_flat(council, community, flat_id, staff))
    return _flat_page(community, doc, {}, None)


def _flat_page(community: str, doc: dict[str, Any], errors: dict[str, list[str]], values: Any) -> Any:
    council, staff = current_council(), current_staff()
    may_edit = access.may_edit_register(staff, community)
    if values is None:
        values = {
            "area": doc["area"],
            "owner_names": "、".join(doc["owner_names"]),
            "phones": ", ".join(doc["phones"]),
            "owner_key": doc["owner_key"],
            "occupancy": doc["occupancy"],
            "developer_held": "yes" if doc["developer_held"] else "no",
        }
    history = register.access_log(council, community, doc["id"], staff) if may_edit else []
    page = render_template(
        "council/register_flat.html",
        community=community,
        flat=doc,
        values=values,
        errors=errors,
        may_edit=may_edit,
        history=history,
    )
    return page, (422 if errors else 200), NO_STORE


@bp.post("/flats/<flat_id>")
@requires_role(*access.REGISTER_EDITORS)
def edit_flat(community: str, flat_id: str) -> Any:
    """Save the edit form; on a bad field the form comes back with the error at the field."""
    council, staff = current_council(), current_staff()
    values = flat_values(request.form)
    try:
        _call(lambda: register.update_flat(council, community, flat_id, values, staff))
    except register.Refused as err:
        doc = _call(lambda: register.get_flat(council, community, flat_id, staff))
        return _flat_page(community, doc, errors_by_field(err.errors), values)
    flash(gettext("The flat was saved."))
    return redirect(url_for("register_pages.flat", community=community, flat_id=flat_id))


@bp.get("/import")
@requires_role(*access.REGISTER_EDITORS)
def import_form(community: str) -> Any:
    """Step 1: choose the CSV or XLSX file."""
    _call(lambda: register.require_edit(current_staff(), community))
    return render_template("council/register_import.html", community=community, errors={})


@bp.post("/import")
@requires_role(*access.REGISTER_EDITORS)
def import_preview(community: str) -> Any:
    """Step 2: the preview: every bad row with its reason (nothing imported), or the rows to add."""
    council, staff = current_council(), current_staff()
    _call(lambda: register.require_edit(staff, community))
    upload = request.files.get(UPLOAD_FIELD)
    if upload is None or not upload.filename:
        errors = {"file": [gettext("Choose a CSV or XLSX file.")]}
        return render_template("council/register_import.html", community=community, errors=errors), 422
    try:
        table = read_table(upload.filename, upload.read())
        preview = _call(lambda: register.preview(council, community, table, staff))
    except RegisterFileError as err:
        errors = {"file": [file_problem(err)]}
        return render_template("council/register_import.html", community=community, errors=errors), 422
    return (
        render_template(
            "council/register_preview.html",
            community=community,
            preview=preview,
            filename=upload.filename,
        ),
        (200 if preview.clean else 422),
        NO_STORE,
    )


@bp.post("/import/<import_id>")
@requires_role(*access.REGISTER_EDITORS)
def import_confirm(community: str, import_id: str) -> Any:
    """Step 3: import the previewed rows, all or none."""
    council, staff = current_council(), current_staff()
    try:
        count = _call(lambda: register.confirm(council, community, import_id, staff))
    except register.Refused as err:
        # Another import took some of these flats after the preview: nothing of this one was stored.
        return render_template("council/register_refused.html", community=community, errors=err.errors), 409
    flash(
        ngettext(
            "%(num)d flat was added to the register.", "%(num)d flats were added to the register.", count
        )
    )
    return redirect(url_for("register_pages.flats", community=community))
