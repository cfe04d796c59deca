"""The follow-up tasks' pages (回访): the list of my open tasks (`/desk/tasks`, overdue first; the
desk home shows its first rows), a task with its form — a visit's record per party, or closing any
other task with a note. Plain HTML forms with CSRF tokens: everything works without JavaScript.
Refusals are shown on the page with the API's status (403, 404, 409, 422); nothing is changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from marshmallow import Schema, ValidationError

from services.mediation import desk, visits
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import visits as rules
from services.mediation.http.context import current_actor, current_mediation
from services.mediation.http.pages import form_errors
from services.mediation.http.schemas import TaskCloseSchema, VisitRecordSchema
from shared.auth import requires_role
from shared.messaging.envelope import utcnow
from shared.web.i18n import refusal_errors, refusal_text

bp = Blueprint("visits", __name__, template_folder=str(Path(__file__).resolve().parents[1] / "templates"))

DESK_ROLES = ("mediator", "studio_lead", "district_admin")
CASEWORK = ("mediator", "studio_lead")

KIND_LABELS = {
    rules.VISIT: lazy_gettext("Follow-up visit"),
    rules.TERM_CHECK: lazy_gettext("Agreement term due"),
    rules.NOT_SETTLED: lazy_gettext("Resident says not settled"),
}
HOW_LABELS = {
    "phone": lazy_gettext("By phone"),
    "visit": lazy_gettext("In person"),
    "message": lazy_gettext("By message"),
}
PERFORMANCE_LABELS = {
    "performed": lazy_gettext("Performed"),
    "partly": lazy_gettext("Partly performed"),
    "not_performed": lazy_gettext("Not performed"),
}
ROLE_LABELS = {"applicant": lazy_gettext("Applicant %(n)s"), "respondent": lazy_gettext("Respondent %(n)s")}


def party_label(key: str | None) -> str:
    """`applicant-2` (a visit's party) or `applicant:1` (intake's 0-based key, on a `not_settled`
    task) as the reader says it; never a name."""
    if ":" in (key or ""):
        role, _, index = (key or "").partition(":")
        number = str(int(index) + 1) if index.isdigit() else ""
    else:
        role, _, number = (key or "").partition("-")
    label = ROLE_LABELS.get(role)
    return str(label) % {"n": number} if label else ""


@bp.app_context_processor
def visit_globals() -> dict[str, Any]:
    return {
        "task_kind_label": lambda kind: str(KIND_LABELS.get(kind, kind)),
        "task_party_label": party_label,
        "how_label": lambda code: str(HOW_LABELS.get(code, code)),
        "performance_label": lambda code: str(PERFORMANCE_LABELS.get(code, code)),
    }


@bp.get("/desk/tasks")
@requires_role(*DESK_ROLES)
def tasks_page() -> str:
    tasks = visits.open_tasks(current_mediation().db, current_actor())
    return render_template("mediation/visit_tasks.html", tasks=tasks, now=utcnow())


def _render_task(
    task: dict[str, Any], errors: dict | None = None, form: Any = None, status: int = 200
) -> Any:
    lang = "zh-CN" if str(get_locale() or "zh_CN").startswith("zh") else "en"
    outcome = (task.get("detail") or {}).get("outcome")
    body = render_template(
        "mediation/visit_task.html",
        task=task,
        asks_performance=rules.asks_performance(outcome),
        outcome_label=lc.label(next((s for s, o in lc.OUTCOME_OF.items() if o == outcome), ""), lang)
        if outcome
        else "",
        how_options=[(code, str(label)) for code, label in HOW_LABELS.items()],
        performance_options=[(code, str(label)) for code, label in PERFORMANCE_LABELS.items()],
        errors=errors or {},
        form=form or {},
        overdue=rules.is_overdue(task, utcnow()),
    )
    return body, status, {"Cache-Control": "private, no-store"}


@bp.get("/desk/tasks/<task_id>")
@requires_role(*DESK_ROLES)
def task_page(task_id: str) -> Any:
    try:
        task = visits.get_task(current_mediation().db, task_id, current_actor())
    except desk.NotFound:
        abort(404)
    except desk.Forbidden:
        abort(403)
    return _render_task(task)


# What each field's problem is, said in the reader's language (marshmallow's own wording is English).
FIELD_PROBLEMS = {
    "how": lazy_gettext("Choose how the party was reached."),
    "performed": lazy_gettext("Choose one of the answers."),
    "satisfied": lazy_gettext("Choose from 1 to 5."),
    "renewed_conflict": lazy_gettext("Choose yes or no."),
}


def _problems(err: ValidationError) -> dict[str, list[str]]:
    """The form's errors by field, in the reader's language."""
    said: dict[str, list[str]] = {}
    for name, messages in form_errors(err).items():
        if name in FIELD_PROBLEMS:
            said[name] = [str(FIELD_PROBLEMS[name])]
        elif name == "note":
            long = any("Length" in m or "Longer" in m for m in messages)
            said[name] = [
                gettext("At most 2000 characters.") if long else gettext("Write what was done first.")
            ]
        else:
            said["_"] = [gettext("Not saved")]
    return said


def _form() -> dict[str, Any]:
    """The posted fields the schema knows, blanks dropped (an unchosen answer is no answer)."""
    return {k: v for k, v in request.form.items() if k != "csrf_token" and v.strip() != ""}


def _refused(task_id: str, err: desk.DeskError) -> Any:
    if isinstance(err, desk.NotFound):
        abort(404)
    if isinstance(err, desk.Forbidden):
        abort(403)
    task = current_mediation().db.follow_up_tasks.find_one({"_id": task_id})
    if task is None:
        abort(404)
    errors = refusal_errors(err, ("code", "state")) or {"_": [refusal_text(err)]}
    return _render_task(task, errors, request.form, err.status)


def _act_on_task(task_id: str, schema: Schema, apply: Callable[[dict[str, Any]], None]) -> Any:
    """Check the task is the actor's, validate the form with `schema`, then `apply` it: a refusal
    or invalid input shows the task's page again with its errors, nothing changed."""
    form = _form()
    try:
        task = visits.get_task(current_mediation().db, task_id, current_actor())
    except desk.DeskError as err:
        return _refused(task_id, err)
    try:
        data = schema.load(form)
    except ValidationError as err:
        return _render_task(task, _problems(err), request.form, 422)
    try:
        apply(data)
    except desk.DeskError as err:
        return _refused(task_id, err)
    return None


@bp.post("/desk/tasks/<task_id>/visit")
@requires_role(*CASEWORK)
def record_visit(task_id: str) -> Any:
    def apply(record: dict[str, Any]) -> None:
        visits.record_visit(current_mediation(), task_id, current_actor(), record)
        flash(gettext("Visit recorded."))
        if record["renewed_conflict"]:
            flash(gettext("The case's risk was raised and the studio lead told."))

    return _act_on_task(task_id, VisitRecordSchema(), apply) or redirect(url_for("visits.tasks_page"))


@bp.post("/desk/tasks/<task_id>/close")
@requires_role(*CASEWORK)
def close_task(task_id: str) -> Any:
    def apply(data: dict[str, Any]) -> None:
        visits.close_task(current_mediation(), task_id, current_actor(), data["note"], data["performed"])
        flash(gettext("Follow-up task closed."))

    return _act_on_task(task_id, TaskCloseSchema(), apply) or redirect(url_for("visits.tasks_page"))
