"""Notify's app factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from services.notify import api, web
from services.notify.bootstrap import SERVICE, bootstrap, ensure_indexes
from shared.auth import init_auth
from shared.config import Settings
from shared.db import ping
from shared.http import create_base_app, health_blueprint
from shared.messaging.publisher import broker_reachable
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

log = logging.getLogger(__name__)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the notify app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord notify")
    init_web(app, settings, translations=TRANSLATIONS)
    notify = bootstrap(settings)
    app.extensions["notify"] = notify
    init_auth(app, settings)  # staff token from mediation's login
    rest.register_blueprint(api.blp)
    app.register_blueprint(web.bp)
    app.register_blueprint(
        health_blueprint({"mongodb": lambda: ping(notify.db), "broker": lambda: broker_reachable(settings)})
    )
    try:
        ensure_indexes(notify.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
