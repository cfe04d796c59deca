"""Staff pages of consultations (zh-CN/en, CSRF on every form, no JavaScript):

GET  /consultations?community=        the community's consultations
GET  /consultations/new, POST         create a draft questionnaire or vote
GET  /consultations/<id>              the consultation: its questions and what may be done now
POST /consultations/<id>/questions    add a question (draft); .../questions/<key>/remove
POST /consultations/<id>/open | extend | close
POST /consultations/<id>/slips        print (and issue) one building's answer slips as a PDF
GET  /consultations/<id>/paper, POST  enter a flat's paper slip
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from werkzeug.exceptions import abort

from services.council import access, answering, consultations, slips
from services.council.domain import questions as qs
from services.council.domain import votes
from services.council.errors import Refused
from services.council.http.context import current_council, current_staff
from services.council.http.forms import (
    LOCAL,
    answers_from_form,
    as_local_input,
    field_id,
    local_datetime,
    question_from_form,
)
from services.council.http.home_pages import community_names
from shared.auth import requires_role
from shared.messaging.envelope import utcnow
from shared.web.i18n import html_lang

bp = Blueprint("consultation_pages", __name__, template_folder="../templates")
ROLES = ("committee_member", "building_leader", "district_admin")


def _lang() -> str:
    return html_lang(str(get_locale() or "zh_CN"))


def _get(consultation_id: str) -> dict[str, Any]:
    try:
        return consultations.get_for(current_council(), current_staff(), consultation_id)
    except Refused:
        abort(404)


def _local(value: Any) -> str:
    return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if value else ""


def _title(doc: dict[str, Any]) -> str:
    return doc["title"].get(_lang()) or doc["title"].get("zh-CN") or doc["title"].get("en", "")


def _back(doc_id: str) -> Any:
    return redirect(url_for("consultation_pages.detail", consultation_id=doc_id), code=303)


@bp.get("/consultations")
@requires_role(*ROLES)
def index() -> Any:
    """A community's consultations."""
    mine = access.visible_communities(current_staff(), community_names())
    community = request.args.get("community") or (mine[0] if mine else "")
    if community not in mine:
        abort(404)
    rows = consultations.list_for(current_council(), current_staff(), community)
    return render_template(
        "council/consultations/index.html",
        community=community,
        rows=rows,
        title_of=_title,
        local=_local,
        may_manage=consultations.may_manage(current_staff(), community),
    )


def _create_page(
    community: str, values: dict[str, Any], errors: dict[str, list[str]], status: int = 200
) -> Any:
    items = [(str(n), f"{n}. {votes.item(n).name(_lang())}") for n in range(1, 10)]
    page = render_template(
        "council/consultations/new.html", community=community, values=values, errors=errors, items=items
    )
    return page, status


@bp.route("/consultations/new", methods=["GET", "POST"])
@requires_role(*ROLES)
def new() -> Any:
    """Create a draft: a questionnaire (questions added next) or a vote on an Art 278 item."""
    community = request.values.get("community", "")
    if not consultations.may_manage(current_staff(), community):
        abort(403)
    if request.method == "GET":
        return _create_page(community, {"kind": "questionnaire"}, {})
    form = request.form
    data = {
        "community": community,
        "kind": form.get("kind"),
        "title": {"zh-CN": form.get("title_zh", ""), "en": form.get("title_en", "")},
        "description": {"zh-CN": form.get("description_zh", ""), "en": form.get("description_en", "")},
        "vote_item": int(form["vote_item"]) if form.get("vote_item", "").isdigit() else form.get("vote_item"),
        "opens_at": local_datetime(form.get("opens_at")),
        "closes_at": local_datetime(form.get("closes_at")),
    }
    try:
        doc = consultations.create(current_council(), current_staff(), data, utcnow())
    except Refused as err:
        fields = {"title": "title_zh", "description": "description_zh", "bad_window": "closes_at"}
        errors = {fields.get(k, k): v for k, v in err.field_messages(_lang()).items()}
        if not errors:
            errors = {
                "closes_at" if err.code in ("bad_window", "naive_time") else "kind": [err.message(_lang())]
            }
        return _create_page(community, dict(form), errors, 422)
    flash(gettext("Draft created."))
    return _back(doc["_id"])


def _detail_page(
    doc: dict[str, Any], errors: dict[str, list[str]] | None = None, status: int = 200, **extra: Any
) -> Any:
    staff = current_staff()
    buildings = doc.get("buildings") or []
    printable = [b for b in buildings if consultations.may_enter_paper(staff, doc["community"], b)]
    answered = current_council().db.ballots.count_documents({"consultation_id": doc["_id"]})
    page = render_template(
        "council/consultations/detail.html",
        doc=doc,
        title=_title(doc),
        questions=consultations.questions_of(doc),
        local=_local,
        as_local_input=as_local_input,
        may_manage=consultations.may_manage(staff, doc["community"]),
        printable=printable,
        answered=answered,
        errors=errors or {},
        kinds=qs.KINDS,
        values=extra.pop("values", {}),
        vote_item_name=votes.item(doc["vote_item"]).name(_lang()) if doc.get("vote_item") else "",
        **extra,
    )
    return page, status


@bp.get("/consultations/<consultation_id>")
@requires_role(*ROLES)
def detail(consultation_id: str) -> Any:
    """One consultation with the actions its state allows."""
    return _detail_page(_get(consultation_id))


@bp.post("/consultations/<consultation_id>/questions")
@requires_role(*ROLES)
def add_question(consultation_id: str) -> Any:
    """Add one question to a draft questionnaire."""
    doc = _get(consultation_id)
    question = question_from_form(request.form, doc["questions"])
    try:
        consultations.add_question(current_council(), current_staff(), doc["_id"], question)
    except Refused as err:
        messages = [m for ms in err.field_messages(_lang()).values() for m in ms] or [err.message(_lang())]
        return _detail_page(doc, {"prompt": messages}, err.status, values=dict(request.form))
    flash(gettext("Question added."))
    return _back(doc["_id"])


@bp.post("/consultations/<consultation_id>/questions/<key>/remove")
@requires_role(*ROLES)
def remove_question(consultation_id: str, key: str) -> Any:
    """Remove one question from a draft questionnaire."""
    doc = _get(consultation_id)
    try:
        consultations.remove_question(current_council(), current_staff(), doc["_id"], key)
        flash(gettext("Question removed."))
    except Refused as err:
        flash(err.message(_lang()))
    return _back(doc["_id"])


@bp.post("/consultations/<consultation_id>/open")
@requires_role(*ROLES)
def open_(consultation_id: str) -> Any:
    """Open the draft: households are told (SMS) and so are the building groups."""
    doc = _get(consultation_id)
    try:
        consultations.open_(current_council(), current_staff(), doc["_id"], utcnow())
        flash(gettext("Opened. Households are being told."))
    except Refused as err:
        flash(err.message(_lang()))
    return _back(doc["_id"])


@bp.post("/consultations/<consultation_id>/extend")
@requires_role(*ROLES)
def extend(consultation_id: str) -> Any:
    """Move the end later."""
    doc = _get(consultation_id)
    when = local_datetime(request.form.get("closes_at"))
    try:
        consultations.extend(current_council(), current_staff(), doc["_id"], when, utcnow())  # type: ignore[arg-type]
        flash(gettext("Extended."))
    except Refused as err:
        return _detail_page(doc, {"closes_at": [err.message(_lang())]}, err.status)
    return _back(doc["_id"])


@bp.post("/consultations/<consultation_id>/close")
@requires_role(*ROLES)
def close(consultation_id: str) -> Any:
    """Close now and freeze the result."""
    doc = _get(consultation_id)
    try:
        consultations.close(current_council(), current_staff(), doc["_id"], utcnow())
        flash(gettext("Closed. The result is frozen."))
    except Refused as err:
        flash(err.message(_lang()))
    return _back(doc["_id"])


@bp.post("/consultations/<consultation_id>/slips")
@requires_role(*ROLES)
def print_slips(consultation_id: str) -> Any:
    """One building's slips as a PDF (printing issues new codes; earlier slips stop working)."""
    doc = _get(consultation_id)
    building = request.form.get("building", "")
    try:
        pdf = slips.print_building(current_council(), current_staff(), doc["_id"], building, utcnow())
    except Refused as err:
        return _detail_page(doc, {"building": [err.message(_lang())]}, err.status)
    name = f"slips-{doc['_id']}-{building}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _paper_page(
    doc: dict[str, Any], values: dict[str, Any], errors: dict[str, list[str]], status: int = 200
) -> Any:
    page = render_template(
        "council/consultations/paper.html",
        doc=doc,
        title=_title(doc),
        questions=consultations.questions_of(doc),
        values=values,
        errors=errors,
        field_id=field_id,
        qs=qs,
    )
    return page, status


@bp.route("/consultations/<consultation_id>/paper", methods=["GET", "POST"])
@requires_role(*ROLES)
def paper(consultation_id: str) -> Any:
    """Enter a flat's paper slip: the flat, its slip number, and the answers ticked on it."""
    doc = _get(consultation_id)
    if request.method == "GET":
        return _paper_page(doc, {}, {})
    form = request.form
    questions_ = consultations.questions_of(doc)
    raw = answers_from_form(questions_, form)
    flat = (form.get("building", ""), form.get("unit", ""), form.get("flat", ""))
    missing = {
        name: [gettext("Please fill this in.")]
        for name in ("building", "unit", "flat", "slip_number")
        if not form.get(name, "").strip()
    }
    if missing:
        return _paper_page(doc, dict(form.items()), missing, 422)
    try:
        answering.enter_paper(
            current_council(), current_staff(), doc["_id"], flat, form.get("slip_number", ""), raw, utcnow()
        )
    except Refused as err:
        errors = {
            (field_id(k) if k in {q.key for q in questions_} else k): v
            for k, v in err.field_messages(_lang()).items()
        }
        values = dict(form.items())
        for q in questions_:
            if q.kind == qs.MULTIPLE:
                values[field_id(q.key)] = form.getlist(field_id(q.key))
        return _paper_page(doc, values, errors or {"building": [err.message(_lang())]}, err.status)
    flash(gettext("Paper slip of flat %(flat)s recorded.", flat="-".join(flat)))
    return redirect(url_for("consultation_pages.paper", consultation_id=doc["_id"]), code=303)
