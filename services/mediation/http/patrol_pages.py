"""The patrol member's pages (phone-first): the team's tasks, accept, report a visit with photos, close."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from services.mediation import patrol
from services.mediation.http.context import LEADS, current_actor, current_mediation, current_staff
from services.mediation.http.pages import (
    bp,
)
from shared.auth import requires_role


# Patrol member ---------------------------------------------------------------------------------
@bp.get("/patrol")
@requires_role("patrol_member")
def patrol_tasks() -> str:
    team_code = current_staff().team or ""
    db = current_mediation().db
    team = db.patrol_teams.find_one({"_id": team_code})
    return render_template("mediation/patrol_tasks.html", tasks=patrol.team_tasks(db, team_code), team=team)


def _task_for_page(task_id: str) -> dict[str, Any]:
    db = current_mediation().db
    try:
        task = patrol.get_task(db, task_id)
    except patrol.TaskNotFound:
        abort(404)
    if not patrol.may_view(current_actor(), task, current_staff().team):
        abort(403)
    return task


@bp.get("/patrol/tasks/<task_id>")
@requires_role("patrol_member", *LEADS)
def patrol_task(task_id: str) -> str:
    task = _task_for_page(task_id)
    return _render_task(task)


def _render_task(task: dict[str, Any], errors: dict[str, list[str]] | None = None, form: Any = None) -> str:
    db = current_mediation().db
    photos = list(db.task_photos.find({"task_id": task["_id"]}, {"data": 0}).sort("index"))
    return render_template(
        "mediation/patrol_task.html",
        task=task,
        photos=photos,
        can_act=patrol.may_act(current_actor(), task, current_staff().team),
        errors=errors or {},
        form=form or {},
    )


@bp.post("/patrol/tasks/<task_id>/<any(accept, close):action>")
@requires_role("patrol_member")
def patrol_task_step(task_id: str, action: str) -> Any:
    step = patrol.accept if action == "accept" else patrol.close
    try:
        step(current_mediation(), task_id, current_actor(), current_staff().team)
    except patrol.TaskNotFound:
        abort(404)
    except patrol.TaskForbidden:
        abort(403)
    except patrol.TaskError:
        flash(gettext("This task has moved on in the meantime; here is where it stands."))
        return redirect(url_for("pages.patrol_task", task_id=task_id))
    if action == "close":
        flash(gettext("Task closed."))
        return redirect(url_for("pages.patrol_tasks"))
    flash(gettext("Task accepted. Report the visit below when you are done."))
    return redirect(url_for("pages.patrol_task", task_id=task_id))


@bp.post("/patrol/tasks/<task_id>/report")
@requires_role("patrol_member")
def patrol_task_report(task_id: str) -> Any:
    task = _task_for_page(task_id)
    findings = request.form.get("findings", "").strip()
    people_met = request.form.get("people_met", "").strip()
    calmed_raw = request.form.get("calmed", "")
    errors: dict[str, list[str]] = {}
    if not findings:
        errors["findings"] = [gettext("Describe what you found.")]
    elif len(findings) > 4000:
        errors["findings"] = [gettext("At most 4000 characters.")]
    if len(people_met) > 1000:
        errors["people_met"] = [gettext("At most 1000 characters.")]
    if calmed_raw not in ("yes", "no"):
        errors["calmed"] = [gettext("Say whether the dispute calmed down.")]
    photos = [
        patrol.Photo(f.filename or "photo", f.mimetype or "", f.read())
        for f in request.files.getlist("photos")
        if f and f.filename
    ]
    problems = patrol.check_photos(photos)
    if problems:
        errors["photos"] = [gettext("Up to 3 photos (JPEG, PNG or WebP), 5 MB each.")]
    if errors:
        return _render_task(task, errors, request.form), 422
    try:
        patrol.report(
            current_mediation(),
            task_id,
            current_actor(),
            current_staff().team,
            findings,
            people_met,
            calmed_raw == "yes",
            photos,
            found_early=request.form.get("found_early") == "yes",
        )
    except patrol.TaskForbidden:
        abort(403)
    except patrol.TaskError:
        flash(gettext("This task has moved on in the meantime; here is where it stands."))
        return redirect(url_for("pages.patrol_task", task_id=task_id))
    flash(gettext("Report saved and sent to the studio."))
    return redirect(url_for("pages.patrol_task", task_id=task_id))


@bp.get("/patrol/tasks/<task_id>/photos/<int:index>")
@requires_role("patrol_member", *LEADS)
def patrol_task_photo(task_id: str, index: int) -> Response:
    _task_for_page(task_id)
    found = patrol.photo(current_mediation().db, task_id, index)
    if found is None:
        abort(404)
    response = Response(bytes(found["data"]), mimetype=found["content_type"])
    response.headers["Cache-Control"] = "private, no-store"  # photos may show people
    return response
