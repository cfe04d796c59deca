"""Participation pages: live counts by building, a building's flats that have not answered yet,
the reminder button; and the committee's page of building WeChat Work groups."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.council import access, building_groups, participation, results
from services.council.http.context import current_council, current_staff
from services.council.http.results_pages import language
from shared.auth import requires_role

bp = Blueprint("participation", __name__, template_folder="../templates")


def _consultation(consultation_id: str) -> dict[str, Any]:
    try:
        consultation = results.get_consultation(current_council(), consultation_id)
    except results.NotFound:
        abort(404)
    return consultation


@bp.get("/consultations/<consultation_id>/participation")
@requires_role(*access.COUNCIL_ROLES)
def overview(consultation_id: str) -> Any:
    """Answered / eligible by building: every building for the committee, their own for a leader."""
    consultation = _consultation(consultation_id)
    try:
        rows = participation.counts(current_council(), consultation_id, current_staff())
        sent = participation.reminders_sent(current_council(), consultation_id, current_staff())
    except participation.Forbidden:
        abort(403)
    return render_template(
        "council/participation.html",
        consultation=consultation,
        title=results._text(consultation.get("title"), language()),
        rows=rows,
        sent=sent,
        total_eligible=sum(r.eligible for r in rows),
        total_answered=sum(r.answered for r in rows),
    )


@bp.get("/consultations/<consultation_id>/participation/<building>")
@requires_role(*access.COUNCIL_ROLES)
def building(consultation_id: str, building: str) -> Any:
    """The building's flats that have not answered yet, and the reminder button."""
    consultation = _consultation(consultation_id)
    try:
        missing = participation.unanswered(current_council(), consultation_id, current_staff(), building)
        sent = participation.reminders_sent(current_council(), consultation_id, current_staff()).get(building)
    except participation.Forbidden:
        abort(403)
    return render_template(
        "council/participation_building.html",
        consultation=consultation,
        title=results._text(consultation.get("title"), language()),
        building=building,
        missing=missing,
        sent=sent,
    )


@bp.post("/consultations/<consultation_id>/participation/<building>/reminder")
@requires_role(*access.COUNCIL_ROLES)
def remind(consultation_id: str, building: str) -> Any:
    """Send the day's reminder to the building's households that have not answered."""
    _consultation(consultation_id)
    back = url_for("participation.building", consultation_id=consultation_id, building=building)
    try:
        doc = participation.send_reminder(current_council(), consultation_id, current_staff(), building)
    except participation.Forbidden:
        abort(403)
    except participation.AlreadyReminded:
        flash(_("This building was already reminded today. You can remind it again tomorrow."))
        return redirect(back), 303
    except participation.NotOpen:
        flash(_("The consultation is not open: no reminder was sent."))
        return redirect(back), 303
    except participation.NothingToRemind:
        flash(_("Every flat of this building has answered: no reminder was sent."))
        return redirect(back), 303
    flash(_("Reminder sent to %(num)d households.", num=doc["households"]))
    return redirect(back), 303


@bp.route("/communities/<community>/building-groups", methods=["GET", "POST"])
@requires_role(*access.REGISTER_EDITORS)
def groups(community: str) -> Any:
    """The WeChat Work group robot of each building (committee members keep them)."""
    error: building_groups.BadWebhook | None = None
    if request.method == "POST":
        urls = {
            key.removeprefix("webhook-"): value
            for key, value in request.form.items()
            if key.startswith("webhook-") and (value.strip() or request.form.get(f"clear-{key[8:]}"))
        }
        try:
            changed = building_groups.save_groups(current_council(), community, current_staff(), urls)
        except building_groups.Forbidden:
            abort(403)
        except building_groups.BadWebhook as err:
            error = err
        else:
            flash(_("%(num)d building groups saved.", num=changed))
            return redirect(url_for("participation.groups", community=community)), 303
    try:
        rows = building_groups.list_groups(current_council(), community, current_staff())
    except building_groups.Forbidden:
        abort(403)
    return render_template("council/building_groups.html", community=community, rows=rows, error=error), (
        422 if error else 200
    )
