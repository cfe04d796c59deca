"""The public accounts' pages: the public statement and entries (no login, phone-first), one entry
with its voucher, answered questions and the form to ask one; and the committee's page to enter
entries, approve others' entries, answer questions and print resident codes.

    GET  /accounts/<community>                                   public
    GET  /accounts/<community>/entries/<entry_id>                public: the entry, Q&A, the question form
    POST /accounts/<community>/entries/<entry_id>                public: ask (flat + resident code)
    GET  /accounts/<community>/entries/<entry_id>/voucher        public once approved; committee before
    GET  /communities/<community>/accounts                       committee
    POST /communities/<community>/accounts                       committee: a new entry with its voucher
    POST /communities/<community>/accounts/entries/<id>/approve  committee: a second member approves
    POST /communities/<community>/accounts/questions/<id>/answer committee: answer publicly
    POST /communities/<community>/accounts/codes                 committee: resident codes to print
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from services.council import accounts
from services.council.domain.accounts import CATEGORIES
from services.council.http.context import current_council, current_staff
from services.council.http.records_text import category_label, kind_label, reasons
from shared.auth import requires_role
from shared.uploads import Upload
from shared.web.ratelimit import RateLimit, RateLimiter

bp = Blueprint("account_pages", __name__)
T = TypeVar("T")
# Tries of the question form per client (the flat's own limit is in `accounts.verify_flat`).
ASK_TRIES = RateLimit(10, 600)
NO_STORE = {"Cache-Control": "no-store"}


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except accounts.NotAllowed:
        abort(403)
    except accounts.NotFound:
        abort(404)


@bp.app_context_processor
def account_globals() -> dict[str, Any]:
    return {"category_label": category_label, "kind_label": kind_label}


def field_labels() -> dict[str, str]:
    return {
        "day": gettext("Date"),
        "kind": gettext("Income or spending"),
        "category": gettext("Category"),
        "amount": gettext("Amount (yuan)"),
        "counterparty": gettext("Paid by or paid to"),
        "counterparty_private": gettext("A private person"),
        "note": gettext("Note"),
        "voucher": gettext("Voucher scan"),
        "entry": gettext("Entry"),
        "building": gettext("Building"),
        "unit": gettext("Unit"),
        "flat": gettext("Flat"),
        "code": gettext("Resident code"),
        "text": gettext("Your question"),
        "answer": gettext("Answer"),
        "public_text": gettext("The question as published"),
    }


# Public ---------------------------------------------------------------------------------------------
@bp.get("/accounts/<community>")
def public_accounts(community: str) -> Any:
    """Monthly statements (newest first) and the published entries."""
    council = current_council()
    statements = _call(lambda: accounts.monthly_statements(council, community))
    return render_template(
        "council/accounts_public.html",
        community=community,
        statements=list(reversed(statements)),
        entries=accounts.published(council, community),
        answered=accounts.answered_questions(council, community),
    )


def _entry_page(
    community: str, entry_id: str, errors: dict[str, list[str]], values: dict[str, str], status: int
) -> Any:
    council = current_council()
    entry = next(
        (e for e in _call(lambda: accounts.published(council, community)) if e["id"] == entry_id), None
    )
    if entry is None:
        abort(404)
    open_ = accounts.questions_open(council, community, entry_id)
    return (
        render_template(
            "council/accounts_entry.html",
            community=community,
            entry=entry,
            answered=accounts.answered_questions(council, community).get(entry_id, []),
            waiting=accounts.waiting_counts(council, community).get(entry_id, 0),
            may_ask=open_,
            errors=errors,
            values=values,
            field_labels=field_labels(),
        ),
        status,
        NO_STORE if errors else {},
    )


@bp.get("/accounts/<community>/entries/<entry_id>")
def public_entry(community: str, entry_id: str) -> Any:
    """One published entry with its answered questions and, within 15 days, the question form."""
    return _entry_page(community, entry_id, {}, {}, 200)


@bp.post("/accounts/<community>/entries/<entry_id>")
def ask(community: str, entry_id: str) -> Any:
    """A resident asks about an entry (their flat and its resident code); the answer will be public."""
    council = current_council()
    values = {k: request.form.get(k, "") for k in ("building", "unit", "flat", "text")}
    if not RateLimiter(council.db.rate_limits, ASK_TRIES, council.settings.secret_key).hit(
        "account-question"
    ):
        return _entry_page(community, entry_id, reasons({"code": ["too_many_tries"]}), values, 429)
    flat = (values["building"], values["unit"], values["flat"])
    try:
        _call(
            lambda: accounts.ask(
                council, community, entry_id, flat, request.form.get("code", ""), values["text"]
            )
        )
    except accounts.Refused as err:
        return _entry_page(community, entry_id, reasons(err.errors), values, err.status)
    except accounts.TooManyTries:
        return _entry_page(community, entry_id, reasons({"code": ["too_many_tries"]}), values, 429)
    flash(gettext("Your question was sent. The committee's answer will appear on this page."))
    return redirect(url_for("account_pages.public_entry", community=community, entry_id=entry_id))


@bp.get("/accounts/<community>/entries/<entry_id>/voucher")
def voucher(community: str, entry_id: str) -> Any:
    """The entry's voucher scan (images stripped of their metadata when uploaded)."""
    staff = current_staff() if current_user.is_authenticated else None
    content, content_type = _call(lambda: accounts.voucher(current_council(), community, entry_id, staff))
    return Response(content, mimetype=content_type, headers={"Cache-Control": "private, max-age=3600"})


# Committee --------------------------------------------------------------------------------------------
def _staff_page(
    community: str, errors: dict[str, list[str]], values: dict[str, str], status: int = 200, codes: Any = None
) -> Any:
    council, staff = current_council(), current_staff()
    _call(lambda: accounts.require_keep(staff, community))
    return (
        render_template(
            "council/accounts_staff.html",
            community=community,
            entries=accounts.entries(council, community, staff),
            questions=accounts.open_questions(council, community, staff),
            categories=[
                (kind, code, category_label(kind, code)) for kind, cats in CATEGORIES.items() for code in cats
            ],
            errors=errors,
            values=values,
            field_labels=field_labels(),
            me=staff.user_id,
            codes=codes,
        ),
        status,
        NO_STORE,
    )


@bp.get("/communities/<community>/accounts")
@requires_role("committee_member")
def staff_accounts(community: str) -> Any:
    """Entries (waiting for approval first), open questions, and the form for a new entry."""
    return _staff_page(community, {}, {"kind": "income"})


@bp.post("/communities/<community>/accounts")
@requires_role("committee_member")
def create(community: str) -> Any:
    """Enter an entry with its voucher; another committee member approves it."""
    values = {k: request.form.get(k, "") for k in accounts.ENTRY_FIELDS}
    # One select holds "kind:category" so the form works without JavaScript.
    kind, _, category = values.get("category", "").partition(":")
    values["kind"], values["category"] = (kind, category) if category else (values.get("kind", ""), kind)
    file = request.files.get("voucher")
    upload = Upload(file.filename or "", file.read()) if file is not None else None
    try:
        _call(lambda: accounts.create_entry(current_council(), community, values, upload, current_staff()))
    except accounts.Refused as err:
        values["category"] = f"{values['kind']}:{values['category']}"
        return _staff_page(community, reasons(err.errors), values, 422)
    flash(gettext("The entry was saved. Another committee member must approve it before it is published."))
    return redirect(url_for("account_pages.staff_accounts", community=community))


@bp.post("/communities/<community>/accounts/entries/<entry_id>/approve")
@requires_role("committee_member")
def approve(community: str, entry_id: str) -> Any:
    """Approve another member's entry: it is published."""
    try:
        _call(lambda: accounts.approve(current_council(), community, entry_id, current_staff()))
    except accounts.Refused as err:
        return _staff_page(community, reasons(err.errors), {"kind": "income"}, err.status)
    flash(gettext("The entry was approved and published."))
    return redirect(url_for("account_pages.staff_accounts", community=community))


@bp.post("/communities/<community>/accounts/questions/<question_id>/answer")
@requires_role("committee_member")
def answer(community: str, question_id: str) -> Any:
    """Answer a resident's question publicly."""
    form = request.form
    try:
        _call(
            lambda: accounts.answer(
                current_council(),
                community,
                question_id,
                form.get("answer", ""),
                form.get("public_text"),
                current_staff(),
            )
        )
    except accounts.Refused as err:
        return _staff_page(community, reasons(err.errors), {"kind": "income"}, err.status)
    flash(gettext("The answer was published."))
    return redirect(url_for("account_pages.staff_accounts", community=community))


@bp.post("/communities/<community>/accounts/codes")
@requires_role("committee_member")
def codes(community: str) -> Any:
    """Resident codes for the flats that have none (or one flat's new code), shown once to print."""
    flat_id = request.form.get("flat_id") or None
    issued = _call(
        lambda: accounts.issue_codes(current_council(), community, current_staff(), reissue=flat_id)
    )
    return _staff_page(community, {}, {"kind": "income"}, 200, codes=issued)
