"""Every refusal of mediation's desk (a refused lifecycle action, a refused session, agreement or
note, and the field errors they carry) is a catalog message with its Chinese translation: a Chinese
page or API answer never shows an English sentence. Messages are found in the code itself, so a new
refusal without its translation fails here; an f-string message (which no catalog can hold) fails
too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel, force_locale, gettext

from services.mediation import desk
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import sessions as ss
from shared.refusals import Refusal, say
from shared.web.i18n import compile_catalogs

ROOT = Path(__file__).resolve().parents[2]
# The use-case modules whose refusals reach the desk's pages and API.
MODULES = (
    "services/mediation/desk.py",
    "services/mediation/sessions.py",
    "services/mediation/agreements.py",
    "services/mediation/routing.py",
    "services/mediation/patrol.py",
    "services/mediation/settlement.py",
    "services/mediation/visits.py",
)
REFUSALS = {
    "DeskError",
    "NotFound",
    "Forbidden",
    "Invalid",
    "Conflict",
    "CaseError",
    "CaseNotFound",
    "TaskError",
    "TaskNotFound",
    "TaskForbidden",
}
CATALOGS = (ROOT / "services/mediation/translations", ROOT / "shared/web/translations")


def _catalog() -> dict[str, str]:
    translated: dict[str, str] = {}
    for folder in CATALOGS:
        with (folder / "zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
            translated.update({m.id: m.string for m in read_po(f) if m.id and m.string})
    return translated


def _field_messages(node: ast.AST) -> list[ast.AST]:
    """The message nodes of an errors mapping: values of its lists (keys and `code` are machine's)."""
    found: list[ast.AST] = []
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in ("code", "state"):
                continue
            if isinstance(value, ast.List):
                found.extend(value.elts)
    return found


def refusal_messages() -> tuple[set[str], list[str]]:
    """(the msgids raised in MODULES, the places that raise a message no catalog can hold)."""
    messages: set[str] = set()
    unfit: list[str] = []
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                target = node.targets[0].value
                named = isinstance(target, ast.Name) and target.id in ("problems", "errors")
                if named and isinstance(node.value, ast.List):
                    for element in node.value.elts:
                        if isinstance(element, ast.Constant) and isinstance(element.value, str):
                            messages.add(element.value)
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in REFUSALS or not node.exc.args:
                continue
            candidates = [node.exc.args[0]] + (
                _field_messages(node.exc.args[1]) if len(node.exc.args) > 1 else []
            )
            for candidate in candidates:
                if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                    messages.add(candidate.value)
                elif isinstance(candidate, ast.JoinedStr):
                    unfit.append(f"{module}:{candidate.lineno}")
    return messages, unfit


def domain_messages() -> set[str]:
    """What the pure rules refuse with, which the desk passes on as it is."""
    return {
        *ss._REFUSALS.values(),
        "A session must end after it starts.",
        "A session cannot be scheduled in the past.",
        "The session is already at that time; nothing was changed.",
        "Give the reason for cancelling; the invitees are told it.",
        f"At most {ss.CANCEL_REASON_MAX} characters.",
        "Required.",
        "Required: a non-empty list.",
        f"A whole number of persons from 0 to {desk.MAX_PREVENTION_PERSONS}.",
        "The council hall is already booked at that time.",
        # A scan's checks (shared/uploads.py), said by the desk's catalog.
        "A file is empty.",
        "Each file must be at most %(mb)d MB.",
        "Attach at most %(count)d files.",
        "Upload the signed agreement as a PDF or a photo (JPEG, PNG, WebP, HEIC).",
    }


def test_every_refusal_is_a_catalog_message_with_its_chinese_translation() -> None:
    messages, unfit = refusal_messages()
    assert unfit == [], "refusals written as f-strings cannot be translated: give the values as params"
    assert len(messages) > 40, "the search found too little: the check would prove nothing"
    translated = _catalog()
    missing = sorted(m for m in messages | domain_messages() if m not in translated)
    assert missing == []


@pytest.fixture(scope="module")
def chinese_app() -> Flask:
    app = Flask(__name__)
    root = compile_catalogs(CATALOGS[0])
    shared = compile_catalogs(CATALOGS[1])
    Babel(app, default_translation_directories=f"{root};{shared}")
    return app


def test_a_refusal_with_values_is_said_in_chinese_and_stays_english_for_logs(chinese_app: Flask) -> None:
    refusal = desk.Conflict(
        "%(duplicate)s is closed already (%(state)s); nothing to merge.",
        params={
            "duplicate": "LC-2026-000002",
            "state": {"zh-CN": lc.label("failed", "zh-CN"), "en": "Closed"},
        },
    )
    assert str(refusal) == "LC-2026-000002 is closed already (Closed); nothing to merge."
    with chinese_app.test_request_context(), force_locale("zh_CN"):
        said = say(refusal, gettext, "zh-CN")
    assert "LC-2026-000002" in said and lc.label("failed", "zh-CN") in said and "nothing" not in said
    with chinese_app.test_request_context(), force_locale("en"):
        assert say(refusal, gettext, "en") == str(refusal)
    assert isinstance(refusal, Refusal) and refusal.status == 409
