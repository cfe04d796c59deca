"""Message templates per event and language, rendered with Jinja from files.

Files under `templates/<lang>/`, per template name:
- `<name>.subject.txt`  subject (email) and title (WeChat Work);
- `<name>.body.txt`     the plain text: email's text part, WeChat Work "text" messages;
- `<name>.sms.txt`      the SMS (needed when a rule sends the template by SMS);
- `<name>.md`           optional WeChat Work "markdown" version.
The HTML part of every email is the plain text laid into `templates/_email.html` (autoescaped), so
the two parts of one email can never say different things.

Templates only ever see the context `messages.build_context` puts together: no internal notes,
no other party's personal data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh-CN", "en")

_text_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty string in a letter
    autoescape=False,  # plain-text templates  # noqa: S701
    keep_trailing_newline=True,
)
_html_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined, autoescape=True, trim_blocks=True
)

# SMS sizes: one GSM-7 message holds 160 characters (153 per part when split); one UCS-2
# message — any Chinese text — holds 70 (67 per part).
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
WECHAT_TEXT_BYTES = 2048
TITLE_MIN = 8  # a household's SMS shortens a long title to no less than this, to keep its links whole
WECHAT_MARKDOWN_BYTES = 4096


def language_of(language: str | None) -> str:
    return language if language in LANGUAGES else "zh-CN"


def _text(name: str, context: dict[str, Any]) -> str:
    return _text_env.get_template(name).render(context)


def has_template(template: str, language: str, kind: str) -> bool:
    try:
        _text_env.get_template(f"{language_of(language)}/{template}.{kind}")
    except TemplateNotFound:
        return False
    return True


def render(template: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of `template` in `language` (falling back to zh-CN)."""
    lang = language_of(language)
    subject = " ".join(_text(f"{lang}/{template}.subject.txt", context).split())
    body = _text(f"{lang}/{template}.body.txt", context)
    return subject, body


def render_footer(language: str, context: dict[str, Any]) -> str:
    """The line under a resident's email that links to their preferences."""
    return _text(f"{language_of(language)}/_preferences.txt", context)


def render_html(subject: str, body: str, language: str, context: dict[str, Any]) -> str:
    """The HTML part of an email: the same text, paragraph by paragraph, in a small layout."""
    paragraphs = [p.strip().splitlines() for p in body.strip().split("\n\n") if p.strip()]
    return _html_env.get_template("_email.html").render(
        lang=language_of(language),
        subject=subject,
        paragraphs=paragraphs,
        preferences_url=context.get("preferences_url"),
    )


def render_sms(
    template: str,
    language: str,
    context: dict[str, Any],
    max_segments: int,
    *,
    preferences_link: bool = False,
) -> str:
    """The SMS text, cut to fit `max_segments` messages when it would not.

    With `preferences_link` (households, whose only channel is SMS) the line with their preferences
    link (`_preferences.sms.txt`) ends the text; it is allowed one part more, as the link alone
    takes most of a Chinese SMS part. What is too long is shortened in its title first (to no less
    than `TITLE_MIN` characters), so the message's own link (the answering page, the minutes, the
    plan) stays whole; if that is not enough, one more part is used rather than cut a link; only
    beyond that is the end of the text cut, never the preferences link.
    """
    lang = language_of(language)

    def text_of(values: dict[str, Any]) -> str:
        return " ".join(_text(f"{lang}/{template}.sms.txt", values).split())

    text = text_of(context)
    if not preferences_link:
        return fit_sms(text, max_segments)
    tail = " ".join(_text(f"{lang}/_preferences.sms.txt", context).split())
    limit = max_segments + 1
    title = str(context.get("title") or "")
    shortened = _shorten_title(text_of, context, title, tail, limit)
    if sms_segments(f"{shortened} {tail}") <= limit:
        return f"{shortened} {tail}"
    # Still too long: one more part rather than cut a link; cut at the end only beyond that.
    return fit_sms_with_tail(_shorten_title(text_of, context, title, tail, limit + 1), tail, limit + 1)


def _shorten_title(
    text_of: Callable[[dict[str, Any]], str], context: dict[str, Any], title: str, tail: str, limit: int
) -> str:
    """The text with its title shortened (to no less than `TITLE_MIN`) until it and `tail` fit."""
    text = text_of(context)
    keep = len(title)
    while keep > TITLE_MIN and sms_segments(f"{text} {tail}") > limit:
        keep -= 1
        text = text_of({**context, "title": f"{title[:keep]}…"})
    return text


def render_markdown(template: str, language: str, context: dict[str, Any]) -> str | None:
    """The WeChat Work markdown version, when the template has one."""
    if not has_template(template, language, "md"):
        return None
    return fit_bytes(_text(f"{language_of(language)}/{template}.md", context).strip(), WECHAT_MARKDOWN_BYTES)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7 for ch in text)


def sms_segments(text: str) -> int:
    """How many SMS messages `text` takes (GSM-7 when it can, else UCS-2)."""
    if is_gsm7(text):
        single, part, units = 160, 153, len(text)
    else:
        single, part, units = 70, 67, len(text.encode("utf-16-le")) // 2
    return 1 if units <= single else math.ceil(units / part)


def fit_sms(text: str, max_segments: int) -> str:
    """`text`, or its beginning with an ellipsis, within `max_segments` SMS messages."""
    if sms_segments(text) <= max_segments:
        return text
    gsm = is_gsm7(text)
    limit = (160 if gsm else 70) if max_segments <= 1 else (153 if gsm else 67) * max_segments
    ellipsis = "..." if gsm else "…"
    cut = text
    while cut and sms_segments(cut + ellipsis) > max_segments:
        cut = cut[: min(len(cut) - 1, limit - len(ellipsis))]
    return cut.rstrip() + ellipsis


def fit_sms_with_tail(text: str, tail: str, max_segments: int) -> str:
    """`text` and then `tail` within `max_segments` messages, cutting only `text` (to nothing if it
    must: the tail, a link, is never cut)."""
    joined = f"{text} {tail}"
    if sms_segments(joined) <= max_segments:
        return joined
    ellipsis = "..." if is_gsm7(joined) else "…"
    cut = text
    while cut and sms_segments(f"{cut}{ellipsis} {tail}") > max_segments:
        cut = cut[:-1]
    return f"{cut.rstrip()}{ellipsis} {tail}" if cut else tail


def fit_bytes(text: str, limit: int) -> str:
    """`text` cut (on a character boundary) to at most `limit` UTF-8 bytes."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "…"
