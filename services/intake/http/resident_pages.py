"""Intake's pages for residents: the dispute form, its confirmation, and status tracking.

Server-rendered, working without JavaScript: extra applicant or respondent rows are added by a
submit button that shows the form again with everything kept. The form is checked by the same
schema as the JSON API, then by the attachment rules; on any problem nothing is stored and the
form comes back with every value kept and every problem next to its field and in a summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user
from marshmallow import ValidationError

from services.intake import filing, party_requests, recovery, tracking
from services.intake.attachments import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_FORM_BYTES,
    AttachmentError,
    Upload,
    check_attachments,
)
from services.intake.bootstrap import Intake
from services.intake.domain import case_rules
from services.intake.http import forms
from services.intake.http.schemas import FILER_REFUSED, FILER_REQUIRED, CaseCreateSchema
from shared.schemas import PHONE_PATTERN
from shared.taxonomy import CATEGORIES, communities
from shared.web.i18n import html_lang

bp = Blueprint("pages", __name__, template_folder=str(Path(__file__).resolve().parents[1] / "templates"))

# Machine labels of the public states, translated for the tracking page.
STATE_LABELS = {
    "received": lazy_gettext("Received"),
    "awaiting_consent": lazy_gettext("Waiting for your consent: the studio will contact you"),
    "screening": lazy_gettext("Being checked"),
    "accepted": lazy_gettext("Accepted for mediation"),
    "not_accepted": lazy_gettext("Not accepted"),
    "assigned": lazy_gettext("Assigned to a mediation studio"),
    "mediator_assigned": lazy_gettext("Mediator assigned"),
    "rights_notified": lazy_gettext("Rights and duties explained"),
    "investigating": lazy_gettext("Facts being checked"),
    "in_mediation": lazy_gettext("In mediation"),
    "session_scheduled": lazy_gettext("Mediation session scheduled"),
    "session_rescheduled": lazy_gettext("Mediation session moved"),
    "session_cancelled": lazy_gettext("Mediation session cancelled"),
    "note_shared": lazy_gettext("Message from the mediation studio"),
    "waiting_for_party": lazy_gettext("Waiting for a party"),
    "withdrawal_requested": lazy_gettext("You asked to withdraw"),
    "other_mediator_requested": lazy_gettext("You asked for another mediator"),
    "party_request_not_carried_out": lazy_gettext(
        "Your request could not be carried out: the case had moved on"
    ),
    "follow_up": lazy_gettext("Follow-up of the agreement"),
    "closed": lazy_gettext("Closed"),
    "merged": lazy_gettext("Merged into another case"),
    "confirmation_applied": lazy_gettext("Judicial confirmation applied for"),
    "confirmation_confirmed": lazy_gettext("Agreement judicially confirmed"),
    "confirmation_rejected": lazy_gettext("Judicial confirmation rejected"),
    "archived": lazy_gettext("Archived"),
}
OUTCOME_LABELS = {
    "agreement_written": lazy_gettext("Written agreement reached"),
    "agreement_oral": lazy_gettext("Oral agreement reached"),
    "failed": lazy_gettext("No agreement was reached"),
    "withdrawn": lazy_gettext("Withdrawn"),
    "referred": lazy_gettext("Referred to a court, arbitration or an agency"),
    "not_accepted": lazy_gettext("Not accepted"),
}
FILER_LABELS = (
    ("resident", lazy_gettext("I am a resident filing for myself")),
    ("building_leader", lazy_gettext("Building leader or grid worker, on behalf of a resident")),
    ("clerk", lazy_gettext("Intake clerk, for a walk-in on a reception day")),
)
YES_NO = (("no", lazy_gettext("No")), ("yes", lazy_gettext("Yes")))


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _language() -> str:
    return html_lang(str(get_locale() or "zh_CN"))


@bp.before_request
def allow_attachments() -> None:
    """The form's body may carry files; every other request keeps the app's 2 MB limit."""
    if request.endpoint == "pages.file_case" and request.method == "POST":
        request.max_content_length = MAX_FORM_BYTES


def field_labels(values: Mapping[str, Any]) -> dict[str, str]:
    """Every field id's visible label, for the error summary."""
    labels = {
        "filed_by": gettext("Who is filing"),
        "category": gettext("Type of dispute"),
        "community": gettext("Community"),
        "building": gettext("Building"),
        "unit": gettext("Unit or room"),
        "description": gettext("What happened"),
        "claims": gettext("What you ask for"),
        "amount": gettext("Amount involved (yuan)"),
        "people_affected": gettext("Number of people affected"),
        "threat_of_violence": gettext("Has anyone threatened violence?"),
        "danger_to_safety": gettext("Is anyone's safety in danger?"),
        "language": gettext("Preferred language"),
        "agrees_to_mediation": gettext("Do you agree to mediation?"),
        "consent": gettext("Privacy notice"),
        "attachments": gettext("Photos or documents"),
        "filer-name": gettext("Filing on behalf of someone: your name"),
        "filer-phone": gettext("Filing on behalf of someone: your phone"),
        "filer-email": gettext("Filing on behalf of someone: your email"),
    }
    for index in range(forms.party_count(values, "applicants")):
        n = index + 1
        labels[f"applicants-{index}-name"] = gettext("Applicant %(n)d: name", n=n)
        labels[f"applicants-{index}-phone"] = gettext("Applicant %(n)d: phone", n=n)
        labels[f"applicants-{index}-email"] = gettext("Applicant %(n)d: email", n=n)
    for index in range(forms.party_count(values, "respondents")):
        n = index + 1
        labels[f"respondents-{index}-name"] = gettext("Other party %(n)d: name", n=n)
        labels[f"respondents-{index}-phone"] = gettext("Other party %(n)d: phone", n=n)
    return labels


_LENGTH = re.compile(r"(?:Longer than maximum length|Length must be between \d+ and) (\d+)\.?")


def translate_error(message: str, field_id: str) -> str:
    """A schema message in the resident's language, worded for a form."""
    if message == "Missing data for required field." or message.startswith("Shorter than minimum"):
        if field_id == "consent":
            return gettext("Please agree to the privacy notice to file a dispute.")
        return gettext("Please fill in this field.")
    match = _LENGTH.match(message)
    if match:
        return gettext("Too long: at most %(max)s characters.", max=match.group(1))
    if message.startswith("Must be one of"):
        return gettext("Please choose one of the options.")
    if message in {"Not a valid number.", "Not a valid integer."}:
        return (
            gettext("Please enter a whole number.")
            if "people" in field_id
            else gettext("Please enter a number.")
        )
    if message.startswith("Must be greater than or equal to"):
        return gettext("The number is out of the allowed range.")
    if message == "Not a phone number.":
        return gettext("Please enter a phone number, such as 13800138000.")
    if message == "Not a valid email address.":
        return gettext("Please enter an email address, such as name@example.com.")
    if message == FILER_REQUIRED:
        return gettext("A building leader filing on behalf of a resident must give their own name and phone.")
    if message == FILER_REFUSED:
        return gettext("Leave these empty when you file for yourself, or choose who files for someone.")
    if message == "Consent to the privacy notice is required.":
        return gettext("Please agree to the privacy notice to file a dispute.")
    return gettext(message)


def _options() -> dict[str, Any]:
    language = _language()
    return {
        "categories": [(c.code, c.name(language)) for c in CATEGORIES],
        "communities": [(c.code, c.name(language)) for c in communities()],
        "filers": FILER_LABELS,
        "yes_no": YES_NO,
        "languages": [("zh-CN", "中文"), ("en", "English")],
        "max_files": MAX_FILES,
        "max_file_mb": MAX_FILE_BYTES // (1024 * 1024),
    }


def _render_form(values: Mapping[str, str], errors: dict[str, list[str]] | None = None, status: int = 200):
    values = dict(values)
    values.setdefault("filed_by", "resident")
    values.setdefault("language", _language())
    for name in ("threat_of_violence", "danger_to_safety"):
        values.setdefault(name, "no")
    values.setdefault("agrees_to_mediation", "yes")
    counts = {group: forms.party_count(values, group) for group in forms.PARTY_FIELDS}
    errors = errors or {}
    return (
        render_template(
            "intake/form.html",
            values=values,
            errors=errors,
            labels=field_labels(values) if errors else {},
            counts=counts,
            **_options(),
        ),
        status,
    )


@bp.get("/")
def new_case() -> Any:
    """The empty dispute form."""
    return _render_form({})


@bp.post("/")
def file_case() -> Any:
    """Add a party row, or check and file the dispute."""
    form = request.form
    values = forms.form_values(form)
    action = form.get("action", "submit")
    if action in {"add_applicant", "add_respondent"}:
        group = "applicants" if action == "add_applicant" else "respondents"
        values[f"{group}_count"] = str(forms.party_count(form, group) + 1)
        return _render_form(values)
    if form.get(forms.HONEYPOT):
        abort(400)  # a bot filled the hidden field; store nothing and say little
    intake = _intake()
    if not intake.limiter.hit("file-case"):
        abort(429)
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {}
    try:
        data = CaseCreateSchema().load(forms.form_to_payload(form))
    except ValidationError as err:
        raw = forms.flatten_errors(err.messages if isinstance(err.messages, dict) else {})
        errors = {field: [translate_error(m, field) for m in messages] for field, messages in raw.items()}
    attachments = []
    try:
        uploads = [Upload(f.filename or "", f.read()) for f in request.files.getlist("attachments")]
        attachments = check_attachments(uploads)
    except AttachmentError as err:
        errors["attachments"] = [gettext(err.message, **err.params)]
    if errors:
        return _render_form(values, errors, status=422)
    # A building leader signed in (the staff token of mediation's login) files for their building:
    # the case is listed on their page (`building_pages`).
    leader = (
        current_user.user_id
        if getattr(current_user, "has_role", None) and current_user.has_role("building_leader")
        else None
    )
    created = filing.submit_case(intake, data, attachments, channel="web", filer_account=leader)
    session["submitted"] = {
        "reference": created["reference"],
        "token": created["tracking_token"],
        "attachments": len(attachments),
    }
    return redirect(url_for("pages.submitted"), code=303)


@bp.get("/submitted")
def submitted() -> Any:
    """The confirmation (shown once: reloading it leads to the tracking form)."""
    done = session.pop("submitted", None)
    if not done:
        return redirect(url_for("pages.track_form"))
    link = url_for("pages.track_case", reference=done["reference"], token=done["token"], _external=True)
    # Looked up here, where the resident is told, not while the case was filed.
    case = _intake().db.cases.find_one(
        {"_id": done["reference"]}, {"community": 1, "building": 1, "category": 1, "received_at": 1}
    )
    done["related"] = bool(case) and bool(filing.possible_duplicates(_intake().db, case))
    response = current_app.make_response(render_template("intake/submitted.html", done=done, link=link))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/track")
def track_form() -> Any:
    """Enter a reference and token (a GET form: it works as a bookmark, without CSRF)."""
    reference = (request.args.get("reference") or "").strip().upper()
    token = (request.args.get("token") or "").strip()
    if reference and token:
        return redirect(url_for("pages.track_case", reference=reference, token=token))
    errors = {}
    if "reference" in request.args or "token" in request.args:
        if not reference:
            errors["reference"] = [gettext("Please fill in this field.")]
        if not token:
            errors["token"] = [gettext("Please fill in this field.")]
    labels = {"reference": gettext("Case reference"), "token": gettext("Tracking code")}
    status = 422 if errors else 200
    return render_template(
        "intake/track_form.html", values=request.args, errors=errors, labels=labels, not_found=False
    ), status


@bp.get("/track/<string:reference>")
def track_case(reference: str) -> Any:
    """The case's public status and timeline, for the holder of its tracking token."""
    token = request.args.get("token", "")
    status = None
    if token and len(token) <= 100:
        status = tracking.public_status(_intake(), reference, token)
    if status is None:
        # The same answer for an unknown case and a wrong token.
        labels = {"reference": gettext("Case reference"), "token": gettext("Tracking code")}
        body = render_template(
            "intake/track_form.html",
            values={"reference": reference},
            errors={},
            labels=labels,
            not_found=True,
        )
        return body, 404, {"Cache-Control": "no-store"}
    return _render_case(status, token, done=request.args.get("done"))


def _render_case(
    status: dict[str, Any],
    token: str,
    *,
    errors: dict[str, list[str]] | None = None,
    problem: str | None = None,
    values: Mapping[str, str] | None = None,
    done: str | None = None,
    code: int = 200,
) -> Any:
    """The tracking page of one case, with the party's own requests when they may make them."""
    language = _language()
    category = next((c.name(language) for c in CATEGORIES if c.code == status["category"]), "")
    community = next((c.name(language) for c in communities() if c.code == status["community"]), "")
    status = {**status, "timeline": case_rules.in_language(status["timeline"], language)}
    body = render_template(
        "intake/track.html",
        case=status,
        category=category,
        community=community,
        states=STATE_LABELS,
        outcomes=OUTCOME_LABELS,
        token=token,
        may_withdraw=bool(status["party"]) and case_rules.party_request_refusal("withdraw", status) is None,
        may_ask_other=bool(status["party"])
        and case_rules.party_request_refusal("other_mediator", status) is None,
        errors=errors or {},
        labels={"reason": gettext("Why do you want another mediator?"), "confirm": gettext("Withdraw")},
        problem=problem,
        values=values or {},
        done=done if done in case_rules.PARTY_REQUESTS else None,
    )
    return body, code, {"Cache-Control": "no-store"}


# Why a party's request was refused (RequestRefused.code): the page's message and HTTP status.
REQUEST_REFUSALS = {
    "not_a_party": (
        lazy_gettext("Only the applicants themselves can do this, with their own tracking link."),
        403,
    ),
    "ended": (
        lazy_gettext("This case has ended: there is nothing to withdraw from. Nothing was changed."),
        409,
    ),
    "withdrawal_pending": (
        lazy_gettext(
            "You have already asked to withdraw; the studio is ending the case. Nothing was changed."
        ),
        409,
    ),
    "already_asked": (
        lazy_gettext(
            "You have already asked for another mediator; the studio lead will assign one. "
            "Nothing was changed."
        ),
        409,
    ),
    "no_mediator": (
        lazy_gettext(
            "No mediator has taken your case yet, so there is nobody to replace. Nothing was changed."
        ),
        409,
    ),
    "changed": (
        lazy_gettext(
            "Your case has changed since you opened this page. Please look at it again. Nothing was changed."
        ),
        409,
    ),
    "unknown": (lazy_gettext("Please choose one of the options."), 422),
}


@bp.post("/track/<string:reference>/request")
def party_request(reference: str) -> Any:
    """A party withdraws, or asks for another mediator with a reason (PML Art 23)."""
    form = request.form
    token = (form.get("token") or "")[:100]
    kind = form.get("request", "")
    status = tracking.public_status(_intake(), reference, token) if token else None
    if status is None:
        abort(404)
    values = {"reason": form.get("reason", "")}
    errors: dict[str, list[str]] = {}
    if kind == "withdraw" and form.get("confirm") != "yes":
        errors["confirm"] = [gettext("Tick the box to confirm that you want to withdraw.")]
    if kind == "other_mediator" and not values["reason"].strip():
        errors["reason"] = [gettext("Please say why, so the studio lead can choose the right mediator.")]
    if len(values["reason"]) > case_rules.MAX_REQUEST_REASON:
        errors["reason"] = [
            gettext("Too long: at most %(max)s characters.", max=case_rules.MAX_REQUEST_REASON)
        ]
    if errors:
        return _render_case(status, token, errors=errors, values=values, code=422)
    try:
        party_requests.make_request(
            _intake(),
            reference,
            token,
            kind,
            values["reason"],
            expected_status=form.get("expected_status") or None,
        )
    except party_requests.RequestRefused as err:
        if err.code == "not_found":
            abort(404)
        message, code = REQUEST_REFUSALS.get(err.code, REQUEST_REFUSALS["unknown"])
        fresh = tracking.public_status(_intake(), reference, token) or status
        return _render_case(fresh, token, problem=str(message), values=values, code=code)
    return redirect(url_for("pages.track_case", reference=reference, token=token, done=kind), code=303)


# Finding a lost tracking link again ------------------------------------------------------------
def _recover_labels() -> dict[str, str]:
    return {
        "reference": gettext("Case reference"),
        "phone": gettext("The phone number you filed with"),
        "code": gettext("Code from the text message"),
    }


@bp.get("/track/recover")
def recover_form() -> Any:
    """Ask for a code to the phone you filed with (no JavaScript; the POST carries CSRF)."""
    return render_template("intake/recover.html", values={}, errors={}, labels=_recover_labels(), step="ask")


@bp.post("/track/recover")
def recover_ask() -> Any:
    """Text a code if the reference and phone belong together; the same answer either way."""
    form = request.form
    values = {
        "reference": (form.get("reference") or "").strip().upper(),
        "phone": (form.get("phone") or "").strip(),
    }
    errors: dict[str, list[str]] = {}
    if not case_rules.is_reference(values["reference"]):
        errors["reference"] = [gettext("Please enter a case reference, such as LC-2026-000123.")]
    if not re.fullmatch(PHONE_PATTERN, values["phone"]):
        errors["phone"] = [gettext("Please enter a phone number, such as 13800138000.")]
    if errors:
        body = render_template(
            "intake/recover.html", values=values, errors=errors, labels=_recover_labels(), step="ask"
        )
        return body, 422
    try:
        recovery.request_code(_intake(), values["reference"], values["phone"])
    except recovery.TooManyTries:
        return _too_many("ask", values)
    session["recovery"] = values
    return redirect(url_for("pages.recover_code"), code=303)


def _too_many(step: str, values: Mapping[str, str]) -> Any:
    body = render_template(
        "intake/recover.html",
        values=values,
        errors={},
        labels=_recover_labels(),
        step=step,
        problem=gettext("Too many tries. Please wait a quarter of an hour and try again."),
    )
    return body, 429, {"Retry-After": "900"}


@bp.get("/track/recover/code")
def recover_code() -> Any:
    """Enter the code from the text message."""
    pending = session.get("recovery")
    if not pending:
        return redirect(url_for("pages.recover_form"))
    body = render_template(
        "intake/recover.html", values=pending, errors={}, labels=_recover_labels(), step="code"
    )
    return body, 200, {"Cache-Control": "no-store"}


@bp.post("/track/recover/code")
def recover_verify() -> Any:
    """A right code gives a new tracking link (shown once, and sent by SMS and email)."""
    pending = session.get("recovery")
    if not pending:
        return redirect(url_for("pages.recover_form"), code=303)
    try:
        found = recovery.verify_code(
            _intake(), pending["reference"], pending["phone"], request.form.get("code", "")
        )
    except recovery.TooManyTries:
        return _too_many("code", pending)
    if found is None:
        errors = {
            "code": [
                gettext("This code is wrong or has expired. Check the text message, or ask for a new code.")
            ]
        }
        body = render_template(
            "intake/recover.html", values=pending, errors=errors, labels=_recover_labels(), step="code"
        )
        return body, 422, {"Cache-Control": "no-store"}
    session.pop("recovery", None)
    session["recovered"] = {"reference": found.reference, "token": found.token}
    return redirect(url_for("pages.recovered"), code=303)


@bp.get("/track/recover/done")
def recovered() -> Any:
    """The new link, shown once (reloading leads back to the tracking form)."""
    done = session.pop("recovered", None)
    if not done:
        return redirect(url_for("pages.track_form"))
    link = url_for("pages.track_case", reference=done["reference"], token=done["token"], _external=True)
    body = render_template(
        "intake/recover.html", values={}, errors={}, labels={}, step="done", link=link, done=done
    )
    return body, 200, {"Cache-Control": "no-store"}
