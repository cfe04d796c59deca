"""Translations: locale choice per request and gettext catalogs compiled at start-up.

Catalogs are kept as `.po` source only. `compile_catalogs` turns each `.po` into a `.mo` in a
cache directory when the `.mo` is missing or older than its `.po`, so a fresh clone, the test
suite and the container image (whose source tree is read-only to the process) all work without
a manual `pybabel compile` step.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request
from flask_babel import get_locale, gettext

from shared.refusals import Refusal, say, say_errors

# (Babel locale, BCP 47 tag used in HTML and URLs, name shown in the switch, in its own language)
LANGUAGES: tuple[tuple[str, str, str], ...] = (("zh_CN", "zh-CN", "中文"), ("en", "en", "English"))
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "lang"
LANG_PARAM = "lang"
_BY_TAG = {tag.lower(): babel for babel, tag, _ in LANGUAGES}


def N_(message: str) -> str:  # noqa: N802 - the name pybabel extracts by default
    """Mark a message for the catalogs without translating it now: a use case raises it (English,
    for logs and the command line) and a page translates it with `gettext(message, **params)`."""
    return message


def normalise(value: str | None) -> str | None:
    """Map `zh-CN`, `zh_cn`, `zh`, `en-GB`... to a supported Babel locale, or None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag in _BY_TAG:
        return _BY_TAG[tag]
    primary = tag.split("-", 1)[0]
    for babel, known, _ in LANGUAGES:
        if known.lower().split("-", 1)[0] == primary:
            return babel
    return None


def stated_locale() -> str | None:
    """The language the request asks for (`?lang=` → the `lang` cookie → Accept-Language), or None
    when it names none this site speaks."""
    chosen = normalise(request.args.get(LANG_PARAM)) or normalise(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    for value, _quality in request.accept_languages:  # already sorted by quality
        chosen = normalise(value)
        if chosen:
            return chosen
    return None


def select_locale() -> str:
    """`?lang=` → the `lang` cookie (set by the on-page switch) → Accept-Language → zh-CN."""
    return stated_locale() or DEFAULT_LOCALE


def html_lang(babel_locale: str) -> str:
    """The BCP 47 tag of a supported locale (`zh_CN` or `zh_Hans_CN` → `zh-CN`) for `<html lang>`."""
    parsed = Locale.parse(babel_locale)
    for babel, tag, _ in LANGUAGES:
        known = Locale.parse(babel)
        if (known.language, known.territory) == (parsed.language, parsed.territory):
            return tag
    return babel_locale.replace("_", "-")


def cache_root() -> Path:
    """Where compiled catalogs go: `CONCORD_CACHE_DIR`, else a per-user temporary directory."""
    configured = os.environ.get("CONCORD_CACHE_DIR")
    if configured:
        return Path(configured) / "i18n"
    return Path(tempfile.gettempdir()) / f"concord-i18n-{os.getuid()}"


def compile_catalogs(source: Path, cache: Path | None = None) -> Path:
    """Compile every `<source>/<locale>/LC_MESSAGES/*.po` into a mirror tree; return its root.

    The mirror is keyed by the source path, so services never share or overwrite each other's
    catalogs. Files are written to a temporary name and renamed, so concurrent gunicorn workers
    starting together never read a half-written catalog.
    """
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    target_root = (cache or cache_root()) / key
    for po_path in source.glob("*/LC_MESSAGES/*.po"):
        # Babel looks catalogs up by the full locale name (zh_CN parses as zh_Hans_CN), so the
        # compiled tree uses that name while the sources keep the familiar one.
        locale_dir = str(Locale.parse(po_path.parts[-3]))
        mo_path = target_root / locale_dir / "LC_MESSAGES" / po_path.with_suffix(".mo").name
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parts[-3])
        fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog)
        os.replace(tmp_name, mo_path)
    return target_root


def refusal_text(refusal: Refusal) -> str:
    """A refusal's message in the request's language (the service's catalog)."""
    return say(refusal, gettext, html_lang(str(get_locale() or DEFAULT_LOCALE)))


def refusal_errors(refusal: Refusal, hidden: tuple[str, ...] = ("code",)) -> dict:
    """A refusal's field errors in the request's language, without its machine-only keys (`hidden`).
    A field error that repeats the refusal's own (filled-in) message is said as that message."""
    said = refusal_text(refusal)

    def translate(text: str) -> str:
        return said if text == str(refusal) else gettext(text)

    return say_errors({k: v for k, v in refusal.errors.items() if k not in hidden}, translate)


def api_refusal(refusal: Refusal, hidden: tuple[str, ...] = ("code",)) -> tuple[str, dict]:
    """An API's error `message` and `errors` for a refusal: in the language the client asked for,
    and English (the text `str()` gives) when it asked for none."""
    if stated_locale() is None:
        return str(refusal), {k: v for k, v in refusal.errors.items() if k not in hidden}
    return refusal_text(refusal), refusal_errors(refusal, hidden)
