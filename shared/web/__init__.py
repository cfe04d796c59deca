"""Server-rendered pages the Concord way: languages, CSRF, security headers, one base layout.

How a service uses it (intake does exactly this in `services/intake/app.py`)::

    from shared.web import init_web

    app, rest = create_base_app(__name__, SERVICE, settings, api_title="...")
    init_web(app, settings, translations=Path(__file__).parent / "translations")
    app.register_blueprint(my_pages_blueprint)   # its templates do {% extends "base.html" %}

What `init_web` sets up:

- **Languages** (Flask-Babel): zh-CN and en. The locale comes from `?lang=` (the on-page switch,
  plain links that work without JavaScript; the choice is then kept in the `lang` cookie), then
  the `lang` cookie, then Accept-Language, then zh-CN. Templates get `_()`/`gettext`, `ngettext`,
  `html_lang` (`zh-CN`/`en`), `lang_url(tag)` (this page in another language) and `languages`.
  Python code uses `flask_babel.gettext`/`lazy_gettext`. Message ids are English.
- **Catalogs**: gettext `.po` files at `<translations>/zh_CN/LC_MESSAGES/messages.po` for the
  service, plus `shared/web/translations` for the layout; the service's override the shared ones.
  They are compiled to `.mo` into a cache at start-up (see `shared.web.i18n`), never by hand.
- **CSRF** (Flask-WTF) on every POST/PUT/PATCH/DELETE except under `csrf_exempt_prefixes`
  (default `/api/`: JSON APIs carry no cookies worth forging). Forms include
  `<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">`.
- **Security headers** on every response: a CSP without inline scripts or styles and with
  `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
  (tracking links carry secrets), `X-Frame-Options: DENY`. The API docs page under `/api/` is
  left without CSP because Swagger UI needs its inline bootstrap script.
- **Layout** `shared/web/templates/base.html`: mobile-first, skip link, `<html lang>`, language
  switch, header/main/footer landmarks, visible focus, high-contrast CSS served from
  `/static/web/concord.css`. Blocks: `title`, `header_nav`, `content`, `footer`.
  Form macros for labelled fields with errors and an error summary linked to the fields are in
  `shared/web/templates/web/forms.html` (`{% import "web/forms.html" as forms %}`).
- **Error pages**: HTML (translated) for page requests; requests under `json_prefixes`
  (default `/api/`) keep the JSON error shape of `shared/http.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, g, render_template, request
from flask_babel import Babel, gettext, ngettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from shared.config import Settings
from shared.web.i18n import (
    LANG_COOKIE,
    LANG_PARAM,
    LANGUAGES,
    compile_catalogs,
    html_lang,
    normalise,
    select_locale,
)

WEB_DIR = Path(__file__).resolve().parent
SHARED_TRANSLATIONS = WEB_DIR / "translations"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

csrf = CSRFProtect()

__all__ = ["CONTENT_SECURITY_POLICY", "csrf", "init_web", "is_page_request"]


def is_page_request(json_prefixes: Iterable[str]) -> bool:
    """True when the current request is for a page (answer in HTML), not an API."""
    return not any(request.path.startswith(prefix) for prefix in json_prefixes)


def init_web(
    app: Flask,
    settings: Settings,
    *,
    translations: Path | None = None,
    csrf_exempt_prefixes: tuple[str, ...] = ("/api/",),
    json_prefixes: tuple[str, ...] = ("/api/",),
) -> None:
    """Give `app` languages, CSRF protection, security headers, the base layout and error pages.

    `translations` is the service's own catalog folder (`<locale>/LC_MESSAGES/messages.po`).
    Call it right after `create_base_app` and before registering page blueprints.
    """
    sources = [SHARED_TRANSLATIONS] + ([translations] if translations else [])
    compiled = [str(compile_catalogs(source)) for source in sources]
    app.config.update(
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE=app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"),
        BABEL_TRANSLATION_DIRECTORIES=";".join(compiled),  # later folders override earlier ones
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, so the API prefixes can be left out
        WTF_CSRF_TIME_LIMIT=None,  # a long form on a phone must not expire; the token is per session
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
    )
    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)
    app.register_blueprint(
        Blueprint(
            "web",
            __name__,
            template_folder=str(WEB_DIR / "templates"),
            static_folder=str(WEB_DIR / "static"),
            static_url_path="/static/web",
        )
    )

    @app.before_request
    def protect_forms() -> None:
        if request.method in {"POST", "PUT", "PATCH", "DELETE"} and not any(
            request.path.startswith(prefix) for prefix in csrf_exempt_prefixes
        ):
            csrf.protect()

    @app.context_processor
    def web_globals() -> dict[str, Any]:
        from flask_babel import get_locale

        current = html_lang(str(get_locale() or "zh_CN"))
        return {
            "html_lang": current,
            "languages": [(tag, name) for _babel, tag, name in LANGUAGES],
            "lang_url": _lang_url,
            "_": gettext,
            "gettext": gettext,
            "ngettext": ngettext,
        }

    @app.after_request
    def web_headers(response: Any) -> Any:
        chosen = normalise(request.args.get(LANG_PARAM))
        if chosen and request.cookies.get(LANG_COOKIE) != html_lang(chosen):
            response.set_cookie(
                LANG_COOKIE,
                html_lang(chosen),
                max_age=LANG_COOKIE_MAX_AGE,
                samesite="Lax",
                secure=settings.is_production,
                httponly=True,
            )
        if not request.path.startswith("/api/"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            response.vary.add("Cookie")
            response.vary.add("Accept-Language")
        return response

    # flask-smorest answers every HTTPException in JSON; pages get an HTML page instead.
    json_handler = app.error_handler_spec[None][None].get(HTTPException)

    def page_or_json_error(error: HTTPException) -> Any:
        if json_handler is not None and not is_page_request(json_prefixes):
            return json_handler(error)
        return error_page(error)

    app.register_error_handler(HTTPException, page_or_json_error)
    app.register_error_handler(CSRFError, page_or_json_error)


def error_page(error: HTTPException) -> tuple[str, int]:
    """A translated HTML error page for `error` (status code kept)."""
    code = error.code or 500
    titles = {
        400: gettext("The request could not be understood."),
        403: gettext("You are not allowed to see this page."),
        404: gettext("Page not found."),
        405: gettext("This page cannot be used that way."),
        413: gettext("What you sent is too large."),
        429: gettext("Too many requests. Please wait a few minutes and try again."),
    }
    message = titles.get(code, gettext("Something went wrong on our side. Please try again later."))
    if isinstance(error, CSRFError):
        message = gettext("Your form expired or came from another site. Please go back and send it again.")
    g.error_code = code
    return render_template("web/error.html", code=code, message=message), code


def _lang_url(tag: str) -> str:
    """This page's URL (query kept) in the language `tag`: the switch's links."""
    args = request.args.to_dict(flat=False)
    args[LANG_PARAM] = [tag]
    return f"{request.path}?{urlencode(sorted(args.items()), doseq=True)}"
