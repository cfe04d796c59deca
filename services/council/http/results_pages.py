"""Result pages: the public result of a closed consultation (/c/<id>/result, no login), the staff
result page, the committee's review of free-text answers, and the export of the anonymous answers."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from services.council import access, results
from services.council.domain import votes
from services.council.http.context import current_council, current_staff
from shared.auth import requires_role

bp = Blueprint("results", __name__, template_folder="../templates")


@bp.app_template_filter("fraction")
def fraction(value: Any) -> str:
    """An exact threshold ("2000/3" m²) as a decimal with two places, rounded up."""
    try:
        exact = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return str(value)
    hundredths = math.ceil(exact * 100)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


@bp.app_context_processor
def result_helpers() -> dict[str, Any]:
    def labels(question: Any, key: str) -> str:
        return next((o.label for o in question.options if o.key == key), key)

    def row_label(question: Any, key: str) -> str:
        return next((r.label for r in question.rows if r.key == key), key)

    return {"labels": labels, "row_label": row_label, "result_links": result_links}


def result_links(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Links from a consultation's staff page to its participation, results, review and export, as
    far as the logged-in member of staff may follow them."""
    if not current_user.is_authenticated or doc.get("status") == "draft":
        return []
    staff = current_staff()
    community = doc["community"]
    if not access.may_see_community(staff, community):
        return []
    committee = access.may_edit_register(staff, community)
    links = [(_("Participation by building"), url_for("participation.overview", consultation_id=doc["_id"]))]
    if doc.get("status") in ("closed", "published"):
        links.append((_("Result"), url_for("results.staff_result", consultation_id=doc["_id"])))
        links.append((_("Public result page"), url_for("results.public_result", consultation_id=doc["_id"])))
        if committee:
            links.append(
                (_("Review free-text answers"), url_for("results.review", consultation_id=doc["_id"]))
            )
    if committee:
        links.append(
            (_("Building groups (WeChat Work)"), url_for("participation.groups", community=community))
        )
    return links


def language() -> str:
    """The page's language as stored labels key it: "zh-CN" or "en"."""
    return "zh-CN" if str(get_locale() or "zh_CN").lower().startswith("zh") else "en"


def _consultation(consultation_id: str) -> dict[str, Any]:
    try:
        return results.get_consultation(current_council(), consultation_id)
    except results.NotFound:
        abort(404)


def _page(consultation: dict[str, Any], template: str, **extra: Any) -> Any:
    lang = language()
    try:
        view = results.result_view(current_council(), consultation, lang)
    except results.NotClosed:
        return render_template("council/result_pending.html", consultation=consultation, lang=lang), 404
    return render_template(
        template,
        view=view,
        consultation=consultation,
        title=results._text(consultation.get("title"), lang),
        lang=lang,
        vote_item=votes.ITEMS.get(consultation.get("vote_item") or 0),
        **extra,
    )


@bp.get("/c/<consultation_id>/result")
def public_result(consultation_id: str) -> Any:
    """The public result page: after closing only; no flat, no text nobody released."""
    return _page(_consultation(consultation_id), "council/result_public.html")


@bp.get("/consultations/<consultation_id>/results")
@requires_role(*access.COUNCIL_ROLES)
def staff_result(consultation_id: str) -> Any:
    """The result page for the community's council staff, with review and export for the committee."""
    consultation = _consultation(consultation_id)
    staff = current_staff()
    if not access.may_see_community(staff, consultation["community"]):
        abort(403)
    committee = access.may_edit_register(staff, consultation["community"])
    return _page(consultation, "council/result_staff.html", committee=committee)


@bp.route("/consultations/<consultation_id>/results/review", methods=["GET", "POST"])
@requires_role(*access.REGISTER_EDITORS)
def review(consultation_id: str) -> Any:
    """The committee's review: each free-text answer published (optionally redacted) or withheld."""
    consultation = _consultation(consultation_id)
    staff = current_staff()
    lang = language()
    errors: list[str] = []
    if request.method == "POST":
        decisions = []
        for key, value in request.form.items():
            if not key.startswith("decision-"):
                continue
            # Question keys may hold "-"; answer ids are hex, so the last "-" splits the two.
            question, _sep, aid = key.removeprefix("decision-").rpartition("-")
            if value not in ("publish", "withhold"):
                continue  # "later": left unreviewed
            decisions.append(
                {
                    "answer_id": aid,
                    "question": question,
                    "publish": value == "publish",
                    "text": request.form.get(f"text-{question}-{aid}", ""),
                }
            )
        try:
            saved = results.save_reviews(current_council(), consultation, staff, decisions)
        except results.Forbidden:
            abort(403)
        except results.NotClosed:
            abort(409)
        except results.BadReview as err:
            errors.append(str(err))
        else:
            flash(_("%(num)d reviews saved.", num=saved))
            return redirect(url_for("results.review", consultation_id=consultation_id))
    try:
        texts = results.texts_for_review(current_council(), consultation, staff)
    except results.Forbidden:
        abort(403)
    except results.NotClosed:
        return render_template("council/result_pending.html", consultation=consultation, lang=lang), 404
    prompts = {q.key: q.prompt for q in results.text_questions(consultation, lang)}
    return render_template(
        "council/result_review.html",
        consultation=consultation,
        title=results._text(consultation.get("title"), lang),
        texts=texts,
        prompts=prompts,
        errors=errors,
    ), (422 if errors else 200)


@bp.get("/consultations/<consultation_id>/results/export.<fmt>")
@requires_role(*access.REGISTER_EDITORS)
def export(consultation_id: str, fmt: str) -> Any:
    """The anonymous answers as CSV (UTF-8 with BOM) or XLSX, for the committee."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    consultation = _consultation(consultation_id)
    try:
        table = results.export_table(current_council(), consultation, current_staff(), language())
    except results.Forbidden:
        abort(403)
    except results.NotClosed:
        abort(409)
    name = f"consultation-{consultation_id}-answers.{fmt}"
    if fmt == "csv":
        body, mimetype = results.to_csv(table), "text/csv; charset=utf-8"
    else:
        body = results.to_xlsx(table)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
