"""Council's app factory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client.core import Metric

from services.council.bootstrap import SERVICE, Council, bootstrap, ensure_indexes
from services.council.http import (
    account_api,
    account_pages,
    answer_pages,
    board_api,
    board_pages,
    checkin_pages,
    consultation_api,
    consultation_pages,
    home_pages,
    meeting_api,
    meeting_pages,
    participation_pages,
    plan_api,
    plan_pages,
    raised_matter_pages,
    register_api,
    register_pages,
    results_api,
    results_pages,
)
from shared.auth import init_auth
from shared.config import Settings
from shared.http import create_base_app, register_operations
from shared.metrics import add_metrics_source, gauge
from shared.staff_access import Revocations
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# A register spreadsheet of a big compound (a few thousand rows of XLSX) fits well within this.
MAX_UPLOAD = 8 * 1024 * 1024

log = logging.getLogger(__name__)


def flats_by_community(council: Council) -> Iterable[Metric]:
    """Flats in the household register by community, counted in the database when scraped."""
    rows = council.db.flats.aggregate([{"$group": {"_id": "$community", "n": {"$sum": 1}}}])
    values = [([row["_id"] or ""], row["n"]) for row in rows]
    yield gauge(
        "concord_register_flats", "Flats in the household register by community.", ["community"], values
    )


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the council app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord council")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD
    init_web(app, settings, translations=TRANSLATIONS)
    council = bootstrap(settings)
    # Staff token from mediation's login; void once its account is disabled or changed.
    init_auth(app, settings, not_before=Revocations(council.db).not_before)
    app.extensions["council"] = council
    app.register_blueprint(home_pages.bp)
    app.register_blueprint(answer_pages.bp)
    app.register_blueprint(consultation_pages.bp)
    rest.register_blueprint(consultation_api.blp)
    app.register_blueprint(register_pages.bp)
    rest.register_blueprint(register_api.blp)
    app.register_blueprint(board_pages.bp)  # public: no login
    rest.register_blueprint(board_api.blp)
    app.register_blueprint(plan_pages.bp)
    app.register_blueprint(account_pages.bp)
    rest.register_blueprint(plan_api.blp)
    rest.register_blueprint(account_api.blp)
    app.register_blueprint(meeting_pages.bp)
    app.register_blueprint(checkin_pages.bp)
    rest.register_blueprint(meeting_api.blp)
    app.register_blueprint(results_pages.bp)
    app.register_blueprint(participation_pages.bp)
    app.register_blueprint(raised_matter_pages.bp)
    rest.register_blueprint(results_api.blp)
    home_pages.init_app(app, settings)
    register_operations(app, SERVICE, settings, council, [])
    add_metrics_source(app, partial(flats_by_community, council))
    try:
        ensure_indexes(council.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
