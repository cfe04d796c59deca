"""Notify's app factory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client.core import Metric

from services.notify.bootstrap import SERVICE, Notify, bootstrap, ensure_indexes

# Residents' preference pages add their routes to `pages.bp` when imported.
from services.notify.http import (
    delivery_api,
    pages,
    preference_pages,  # noqa: F401
)
from shared.auth import init_auth
from shared.config import Settings
from shared.http import create_base_app, register_operations
from shared.messaging.topology import NOTIFY_DELIVERIES, NOTIFY_EVENTS, NOTIFY_RETENTION
from shared.metrics import add_metrics_source, gauge
from shared.staff_access import Revocations
from shared.web import init_web

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

log = logging.getLogger(__name__)


def deliveries_by_channel_and_status(notify: Notify) -> Iterable[Metric]:
    """Deliveries by channel and status, counted in the database when scraped."""
    rows = notify.db.deliveries.aggregate(
        [{"$group": {"_id": {"channel": "$channel", "status": "$status"}, "n": {"$sum": 1}}}]
    )
    values = [([row["_id"]["channel"], row["_id"]["status"]], row["n"]) for row in rows]
    yield gauge("concord_deliveries", "Notifications by channel and status.", ["channel", "status"], values)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the notify app; `config` is ready settings or overrides by field name (tests)."""
    settings = Settings.resolve(config)
    app, rest = create_base_app(__name__, SERVICE, settings, api_title="Concord notify")
    init_web(app, settings, translations=TRANSLATIONS)
    notify = bootstrap(settings)
    app.extensions["notify"] = notify
    # Staff token from mediation's login; void once its account is disabled or changed.
    init_auth(app, settings, not_before=Revocations(notify.db).not_before)
    rest.register_blueprint(delivery_api.blp)
    app.register_blueprint(pages.bp)
    register_operations(app, SERVICE, settings, notify, [NOTIFY_EVENTS, NOTIFY_DELIVERIES, NOTIFY_RETENTION])
    add_metrics_source(app, partial(deliveries_by_channel_and_status, notify))
    try:
        ensure_indexes(notify.db)
    except Exception:  # the database may come up after us; the worker creates them too
        log.warning("could not create indexes at start-up", exc_info=True)
    return app
