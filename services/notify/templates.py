"""Message templates per event and language, rendered with Jinja from files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh-CN", "en")

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty string in a letter
    autoescape=False,  # plain-text templates  # noqa: S701
    keep_trailing_newline=True,
)


def render(template: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of `template` in `language` (falling back to zh-CN)."""
    lang = language if language in LANGUAGES else "zh-CN"
    subject = _env.get_template(f"{lang}/{template}.subject.txt").render(context).strip()
    body = _env.get_template(f"{lang}/{template}.body.txt").render(context)
    return subject, body
