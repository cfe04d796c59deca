"""The "is it settled?" answer page (issue 14.4): an applicant's one-click answer from the link in
their message, a short window to change it, and an optional comment.

`GET /settled?token=…` shows the three answers (the SMS carries this one link; the email carries
the three one-click links). `GET /settled/<answer>?token=…` stores the answer when it is opened —
one click, no form — and thanks them; within the window the other answers can still be clicked and a
comment added (`POST /settled/comment`, a plain form with CSRF, no JavaScript). A wrong or expired
link says so and stores nothing; after the window the stored answer is shown, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext, lazy_gettext

from services.intake import settlement
from services.intake.bootstrap import Intake
from services.intake.domain import settlement as rules

bp = Blueprint("settled", __name__, template_folder=str(Path(__file__).resolve().parents[1] / "templates"))

ANSWER_LABELS = {
    rules.SETTLED: lazy_gettext("Yes, it is settled"),
    rules.NOT_SETTLED: lazy_gettext("No, it is not settled"),
    rules.NOT_SURE: lazy_gettext("I am not sure"),
}
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _token() -> str:
    return (request.values.get("token") or "")[:100]


def _invalid() -> Any:
    """A wrong link (or one never sent): the same clear page whatever was wrong; nothing stored."""
    body = render_template("intake/settled.html", survey=None, token="", labels=ANSWER_LABELS, errors={})
    return body, 404, NO_STORE


def _page(survey: settlement.Answered, token: str, status: int = 200, **extra: Any) -> Any:
    body = render_template(
        "intake/settled.html",
        survey=survey,
        token=token,
        labels=ANSWER_LABELS,
        answers=rules.ANSWERS,
        states=rules,
        errors=extra.pop("errors", {}),
        **extra,
    )
    return body, status, NO_STORE


@bp.get("/settled")
def settled_choice() -> Any:
    """The three answers (each one click), or the stored answer when there is one."""
    token = _token()
    survey = settlement.find(_intake(), token) if token else None
    if survey is None:
        return _invalid()
    return _page(survey, token, 410 if survey.state == rules.EXPIRED else 200)


@bp.get("/settled/<string:answer>")
def settled_answer(answer: str) -> Any:
    """Store the answer the link names (or change it within the window) and say thank you."""
    token = _token()
    if answer not in rules.ANSWERS or not token:
        return _invalid()
    survey = settlement.answer(_intake(), token, answer)
    if survey is None:
        return _invalid()
    return _page(survey, token, 410 if survey.state == rules.EXPIRED else 200, clicked=answer)


@bp.post("/settled/comment")
def settled_comment() -> Any:
    """Add a comment to the answer, within the window."""
    token = _token()
    text = request.form.get("comment", "")
    survey = settlement.find(_intake(), token) if token else None
    if survey is None:
        return _invalid()
    try:
        saved = settlement.comment(_intake(), token, text)
    except settlement.InvalidAnswer:
        message = (
            gettext("Too long: at most %(max)s characters.", max=rules.MAX_COMMENT)
            if text.strip()
            else gettext("Please write your comment, or leave the page: your answer is already saved.")
        )
        return _page(survey, token, 422, errors={"comment": [message]}, comment_value=text)
    if saved is None:
        return _invalid()
    if not saved.changed and saved.state != rules.CHANGEABLE:
        return _page(saved, token, 409)
    return _page(saved, token, commented=True)
