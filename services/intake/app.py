"""Intake's app factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from services.intake.bootstrap import SERVICE, bootstrap, ensure_indexes
from services.intake.http import (
    admin_pages,
    attachment_pages,
    building_pages,
    case_api,
    open311_api,
    resident_pages,
    settled_pages,
    walk_in_pages,
)
from shared.auth import init_auth
from shared.config import Settings
from shared.http import create_base_app, register_operations
from shared.messaging.topology import INTAKE_TRACKING
from shared.staff_access import Revocations
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

log = logging.getLogger(__name__)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the intake app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord intake")
    init_web(
        app,
        settings,
        translations=TRANSLATIONS,
        csrf_exempt_prefixes=("/api/", "/open311/"),
        json_prefixes=("/api/", "/open311/"),
    )
    intake = bootstrap(settings)
    app.extensions["intake"] = intake
    rest.register_blueprint(case_api.blp)
    app.register_blueprint(resident_pages.bp)
    app.register_blueprint(settled_pages.bp)  # "is it settled?": the applicants' answers
    app.register_blueprint(open311_api.bp)
    # Staff token from mediation's login (the admin pages); void once its account is disabled or changed.
    init_auth(app, settings, not_before=Revocations(intake.db).not_before)
    app.register_blueprint(admin_pages.bp)
    app.register_blueprint(attachment_pages.bp)  # staff downloads of a case's attachments
    app.register_blueprint(building_pages.bp)  # building leaders' cases
    app.register_blueprint(walk_in_pages.bp)  # the reception-day walk-in register
    register_operations(app, SERVICE, settings, intake, [INTAKE_TRACKING])
    try:
        ensure_indexes(intake.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
