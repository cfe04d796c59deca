"""The plan's pages: the public plan of a community (no login, phone-first) with its photos, and
the committee's pages to add items, change them and add timeline entries with photos.

    GET  /plan/<community>                              public: the tree, progress, timeline, photos
    GET  /plan/<community>/photos/<photo_id>            public: one photo (already stripped of EXIF)
    GET  /communities/<community>/plan                  committee: the items and the form for a new one
    POST /communities/<community>/plan                  committee: add an item
    GET  /communities/<community>/plan/items/<item_id>  committee: edit form and timeline form
    POST /communities/<community>/plan/items/<item_id>  committee: save the edit
    POST /communities/<community>/plan/items/<item_id>/timeline   committee: a note with photos

Plain HTML forms with CSRF tokens: everything works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from services.council import plan
from services.council.domain.accounts import BEIJING
from services.council.domain.plan import STATUSES
from services.council.http.context import current_council, current_staff
from services.council.http.records_text import localised_title, reasons, status_label
from services.council.photos import read
from shared.auth import requires_role
from shared.uploads import Upload

bp = Blueprint("plan_pages", __name__)
T = TypeVar("T")
FORM_FIELDS = ("title", "title_en", "status", "progress", "budget", "contractor", "start", "end", "weight")


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except plan.NotAllowed:
        abort(403)
    except plan.NotFound:
        abort(404)


@bp.app_context_processor
def plan_globals() -> dict[str, Any]:
    return {
        "status_label": status_label,
        "item_title": localised_title,
        "plan_option_statuses": lambda: [(s, status_label(s)) for s in STATUSES],
        "local_day": local_day,
    }


def local_day(at: datetime) -> str:
    """A stored UTC time as its Beijing calendar day (how residents date things)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).date().isoformat()


@bp.get("/plan/<community>")
def public_plan(community: str) -> Any:
    """The community's plan for everyone: items, progress rolled up, budget, contractor, dates, timeline."""
    items = _call(lambda: plan.plan_tree(current_council(), community))
    return render_template("council/plan_public.html", community=community, items=items)


@bp.get("/plan/<community>/photos/<photo_id>")
def photo(community: str, photo_id: str) -> Any:
    """One timeline photo (re-encoded without metadata when it was uploaded)."""
    found = read(current_council(), plan.BUCKET, photo_id, community)
    if found is None:
        abort(404)
    content, content_type = found
    return Response(content, mimetype=content_type, headers={"Cache-Control": "public, max-age=86400"})


def _staff_page(
    community: str, errors: dict[str, list[str]], values: dict[str, str], status: int = 200
) -> Any:
    items = _call(lambda: plan.plan_tree(current_council(), community))
    return (
        render_template(
            "council/plan_staff.html",
            community=community,
            items=items,
            errors=errors,
            values=values,
            field_labels=field_labels(),
        ),
        status,
    )


def field_labels() -> dict[str, str]:
    return {
        "title": gettext("Title"),
        "title_en": gettext("Title in English"),
        "decision_kind": gettext("Decided by"),
        "decision_id": gettext("Decision number"),
        "parent_id": gettext("Part of"),
        "weight": gettext("Weight"),
        "status": gettext("Status"),
        "progress": gettext("Progress (%)"),
        "budget": gettext("Budget (yuan)"),
        "contractor": gettext("Contractor"),
        "start": gettext("Start date"),
        "end": gettext("End date"),
        "text": gettext("What happened"),
        "photos": gettext("Photos"),
        "plan": gettext("The plan"),
    }


@bp.get("/communities/<community>/plan")
@requires_role("committee_member")
def staff_plan(community: str) -> Any:
    """The committee's view of the plan with the form for a new item."""
    _call(lambda: plan.require_edit(current_staff(), community))
    return _staff_page(community, {}, {"status": "planned", "decision_kind": "vote"})


@bp.post("/communities/<community>/plan")
@requires_role("committee_member")
def create(community: str) -> Any:
    """Add an item; on a bad field the form comes back with the error at the field."""
    values = {k: request.form.get(k, "") for k in (*FORM_FIELDS, "decision_kind", "decision_id", "parent_id")}
    try:
        item = _call(lambda: plan.create_item(current_council(), community, values, current_staff()))
    except plan.Refused as err:
        return _staff_page(community, reasons(err.errors), values, 422)
    flash(gettext("The item was added."))
    return redirect(url_for("plan_pages.item", community=community, item_id=item["id"]))


def _item_page(
    community: str, item_id: str, errors: dict[str, list[str]], values: Any, status: int = 200
) -> Any:
    council = current_council()
    item = _call(lambda: plan.get_item(council, community, item_id))
    if values is None:
        values = {
            "title": item["title"],
            "title_en": item["title_en"],
            "status": item["status"],
            "progress": item["own_progress"],
            "budget": item["budget"] or "",
            "contractor": item["contractor"],
            "start": item["start"] or "",
            "end": item["end"] or "",
            "weight": item["weight"] or "",
        }
    return (
        render_template(
            "council/plan_item.html",
            community=community,
            item=item,
            values=values,
            errors=errors,
            field_labels=field_labels(),
        ),
        status,
    )


@bp.get("/communities/<community>/plan/items/<item_id>")
@requires_role("committee_member")
def item(community: str, item_id: str) -> Any:
    """One item: its edit form and the form for a timeline entry."""
    _call(lambda: plan.require_edit(current_staff(), community))
    return _item_page(community, item_id, {}, None)


@bp.post("/communities/<community>/plan/items/<item_id>")
@requires_role("committee_member")
def update(community: str, item_id: str) -> Any:
    """Save an item's fields."""
    values = {k: request.form.get(k, "") for k in FORM_FIELDS}
    try:
        _call(lambda: plan.update_item(current_council(), community, item_id, values, current_staff()))
    except plan.Refused as err:
        return _item_page(community, item_id, reasons(err.errors), values, 422)
    flash(gettext("The item was saved."))
    return redirect(url_for("plan_pages.item", community=community, item_id=item_id))


@bp.post("/communities/<community>/plan/items/<item_id>/timeline")
@requires_role("committee_member")
def timeline(community: str, item_id: str) -> Any:
    """Add a dated note with photos (their EXIF and GPS are removed before they are stored)."""
    uploads = [Upload(f.filename or "", f.read()) for f in request.files.getlist("photos")]
    text = request.form.get("text", "")
    try:
        _call(
            lambda: plan.add_timeline(current_council(), community, item_id, text, uploads, current_staff())
        )
    except plan.Refused as err:
        return _item_page(community, item_id, reasons(err.errors), None, 422)
    flash(gettext("The timeline entry was added."))
    return redirect(url_for("plan_pages.item", community=community, item_id=item_id))
