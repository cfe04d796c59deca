"""Mediation's app factory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client.core import Metric

from services.mediation.bootstrap import SERVICE, Mediation, bootstrap, ensure_indexes

# The patrol, lead, admin, staff-account and report pages add their routes to `pages.bp` when imported.
from services.mediation.http import (  # noqa: F401
    access_log_pages,
    admin_pages,
    case_api,
    desk_api,
    desk_pages,
    dossier_api,
    dossier_pages,
    lead_pages,
    pages,
    patrol_api,
    patrol_pages,
    registry_api,
    report_api,
    report_pages,
    search_api,
    search_pages,
    staff_pages,
    visit_api,
    visit_pages,
)
from shared.auth import init_auth
from shared.config import Settings
from shared.http import create_base_app, register_operations
from shared.messaging.topology import MEDIATION_INTAKE
from shared.metrics import add_metrics_source, gauge
from shared.staff_access import Revocations
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# A visit report carries up to three phone photos (5 MB each, checked in `patrol`); a signed
# agreement's scan is up to 10 MB (checked in `agreements`).
MAX_UPLOAD = 16 * 1024 * 1024

log = logging.getLogger(__name__)


def cases_by_state(mediation: Mediation) -> Iterable[Metric]:
    """Cases by lifecycle state and studio, counted in the database when scraped."""
    rows = mediation.db.cases.aggregate(
        [{"$group": {"_id": {"status": "$status", "studio": "$studio"}, "n": {"$sum": 1}}}]
    )
    values = [([row["_id"]["status"], row["_id"]["studio"] or ""], row["n"]) for row in rows]
    yield gauge("concord_cases", "Cases by lifecycle state and studio.", ["state", "studio"], values)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the mediation app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord mediation")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD
    init_web(app, settings, translations=TRANSLATIONS)
    mediation = bootstrap(settings)
    # Tokens of an account disabled or changed since are void (`staff_accounts` records it).
    init_auth(app, settings, login_view="pages.login", not_before=Revocations(mediation.db).not_before)
    app.extensions["mediation"] = mediation
    # The case page links each attachment to intake, which keeps the files.
    app.jinja_env.globals["intake_public_url"] = settings.intake_public_url.rstrip("/")
    rest.register_blueprint(registry_api.blp)
    rest.register_blueprint(case_api.blp)
    rest.register_blueprint(patrol_api.blp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(desk_pages.bp)
    rest.register_blueprint(desk_api.blp)
    rest.register_blueprint(search_api.blp)
    app.register_blueprint(search_pages.bp)
    app.register_blueprint(access_log_pages.bp)
    rest.register_blueprint(dossier_api.blp)
    rest.register_blueprint(report_api.blp)
    app.register_blueprint(visit_pages.bp)
    rest.register_blueprint(visit_api.blp)
    register_operations(app, SERVICE, settings, mediation, [MEDIATION_INTAKE])
    add_metrics_source(app, partial(cases_by_state, mediation))
    try:
        ensure_indexes(mediation.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
