"""Mediation's app factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from services.mediation import api, web
from services.mediation.bootstrap import SERVICE, bootstrap, ensure_indexes
from shared.auth import init_auth
from shared.config import Settings
from shared.db import ping
from shared.http import create_base_app, health_blueprint
from shared.messaging.publisher import broker_reachable
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# A visit report carries up to three phone photos (5 MB each, checked in `tasks`).
MAX_UPLOAD = 16 * 1024 * 1024

log = logging.getLogger(__name__)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the mediation app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord mediation")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD
    init_web(app, settings, translations=TRANSLATIONS)
    init_auth(app, settings, login_view="pages.login")
    mediation = bootstrap(settings)
    app.extensions["mediation"] = mediation
    rest.register_blueprint(api.blp)
    rest.register_blueprint(api.cases_blp)
    rest.register_blueprint(api.patrol_blp)
    app.register_blueprint(web.bp)
    app.register_blueprint(
        health_blueprint(
            {"mongodb": lambda: ping(mediation.db), "broker": lambda: broker_reachable(settings)}
        )
    )
    try:
        ensure_indexes(mediation.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
