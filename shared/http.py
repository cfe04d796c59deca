"""What every service's Flask app has: JSON logs with correlation ids, one JSON error format,
the OpenAPI-documented API object, and the /healthz and /readyz probes."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, g, jsonify, request
from flask_smorest import Api
from pymongo.errors import ConnectionFailure, PyMongoError
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.config import Settings
from shared.db import is_transient, ping
from shared.logs import configure_logging, reset_correlation_id, set_correlation_id
from shared.messaging.envelope import new_id
from shared.messaging.publisher import broker_reachable
from shared.messaging.topology import ConsumerSpec
from shared.metrics import add_metrics_source, dependency_up, init_metrics, outbox_backlog, queue_depths

if TYPE_CHECKING:
    from shared.service import ServiceContext

log = logging.getLogger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_LOCATIONS = ("json", "form", "query", "files", "path", "headers")

ReadinessCheck = Callable[[], bool]
# What a 503 for an unreachable database tells clients to wait before trying again.
RETRY_AFTER_SECONDS = 5
# After a request found the database unreachable, the process answers 503 at once for this long
# (seconds) instead of letting every request wait its timeouts: a sync worker held 3-10 s per
# request would let requests pile up by the hundred. The first request after it tries again.
DATABASE_BACKOFF_SECONDS = 2.0
# Endpoints that never touch the breaker: probes must look for themselves, metrics must answer.
_BREAKER_EXEMPT = {"health.healthz", "health.readyz", "metrics", "static"}


class DatabaseBreaker:
    """Per process: while the database was just found unreachable, requests fail fast."""

    def __init__(self, backoff: float = DATABASE_BACKOFF_SECONDS) -> None:
        self.backoff = backoff
        self._open_until = 0.0

    def tripped(self) -> None:
        self._open_until = time.monotonic() + self.backoff

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until


def error_payload(code: int, name: str, message: str | None = None, errors: Any = None) -> dict:
    """The one error shape of every Concord API:
    `{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {field: [msg]}}`.
    """
    payload: dict[str, Any] = {"code": code, "status": name}
    if message:
        payload["message"] = message
    if errors:
        payload["errors"] = errors
    return payload


def _flatten_locations(errors: Any) -> Any:
    """webargs nests errors by request location ({"json": {...}}); fields are what clients need.

    Errors about the request as a whole (a body that is not JSON at all) come as a list; they
    go under "_schema", marshmallow's key for them, so `errors` is always field → messages.
    """
    if isinstance(errors, Mapping) and len(errors) == 1 and set(errors) <= set(_BODY_LOCATIONS):
        errors = next(iter(errors.values()))
    if isinstance(errors, list | tuple):
        return {"_schema": list(errors)}
    return errors


class ConcordApi(Api):
    """flask-smorest's Api with Concord's error shape."""

    def handle_http_exception(self, error: HTTPException) -> tuple[dict, int, dict]:
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        payload = error_payload(
            error.code or 500,
            error.name,
            data.get("message") or _default_message(error),
            _flatten_locations(errors),
        )
        return payload, error.code or 500, data.get("headers", {})


def _default_message(error: HTTPException) -> str | None:
    if error.code == 422:
        return "The request has invalid fields."
    return error.description if error.code and error.code < 500 else "Internal error."


def create_base_app(
    import_name: str, service: str, settings: Settings, *, api_title: str, api_version: str = "1"
) -> tuple[Flask, ConcordApi]:
    """A Flask app wired the Concord way; the service adds its blueprints to the returned Api."""
    settings.check_production()
    configure_logging(service, settings.log_level)
    app = Flask(import_name)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        API_TITLE=api_title,
        API_VERSION=api_version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Served from the installed swagger-ui-bundle, so the docs page works offline.
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
        JSON_SORT_KEYS=False,
    )
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.json.ensure_ascii = False
    app.extensions["settings"] = settings
    api = ConcordApi(app)
    app.register_blueprint(_swagger_assets_blueprint())
    init_metrics(app, service, settings.metrics_port)

    @app.before_request
    def bind_correlation_id() -> None:
        incoming = request.headers.get(CORRELATION_HEADER, "")
        g.correlation_id = incoming if _SAFE_ID.match(incoming) else new_id()
        g.correlation_token = set_correlation_id(g.correlation_id)

    @app.after_request
    def echo_correlation_id(response: Any) -> Any:
        if "correlation_id" in g:
            response.headers[CORRELATION_HEADER] = g.correlation_id
        return response

    @app.teardown_request
    def unbind_correlation_id(exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            reset_correlation_id(token)

    breaker = DatabaseBreaker()
    app.extensions["database_breaker"] = breaker

    def service_unavailable() -> Any:
        # Answered like any HTTP error (JSON for the API, a page for pages), with Retry-After.
        unavailable = ServiceUnavailable()
        unavailable.data = {"message": "The service is briefly unavailable; try again."}  # type: ignore[attr-defined]
        response = app.make_response(app.handle_http_exception(unavailable))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.before_request
    def fail_fast_while_the_database_is_away() -> Any:
        endpoint = request.endpoint or ""
        if breaker.is_open and endpoint not in _BREAKER_EXEMPT and not endpoint.endswith(".static"):
            return service_unavailable()
        return None

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        if database_unavailable(error):
            # An outage, not a bug: the client may try again once the database is back.
            log.warning("database unavailable", extra={"error": f"{type(error).__name__}: {error}"[:300]})
            if isinstance(error, ConnectionFailure):  # unreachable, not a write conflict
                breaker.tripped()
            return service_unavailable()
        log.exception("unhandled error")
        return jsonify(error_payload(500, "Internal Server Error", "Internal error.")), 500

    return app, api


def database_unavailable(error: BaseException) -> bool:
    """True for a database that cannot be reached (down, restarting, failing over)."""
    return isinstance(error, ConnectionFailure) or (isinstance(error, PyMongoError) and is_transient(error))


def _swagger_assets_blueprint() -> Blueprint:
    """The Swagger UI's scripts and styles, from the swagger-ui-bundle package."""
    return Blueprint(
        "swagger_assets", __name__, static_folder=swagger_ui_path, static_url_path="/api/v1/docs/assets"
    )


def register_operations(
    app: Flask,
    service: str,
    settings: Settings,
    context: ServiceContext,
    consumers: Iterable[ConsumerSpec] = (),
) -> None:
    """The operator-facing endpoints of a service: /healthz, /readyz, and the scrape-time gauges
    of /metrics (its outbox backlog, the depth of its consumers' queues, the broker reachable).

    Readiness is the database alone: with the broker down a request still stores its case and
    its events (the outbox publishes them later), so taking every pod out of service would only
    turn residents away. The broker's state is in /readyz's `detail` and in
    `concord_dependency_up{dependency="broker"}`.
    """
    broker = lambda: broker_reachable(settings)  # noqa: E731 (named for the two places that ask)
    app.register_blueprint(health_blueprint({"mongodb": lambda: ping(context.db)}, {"broker": broker}))
    add_metrics_source(app, dependency_up(service, "broker", broker))
    add_metrics_source(app, outbox_backlog(service, lambda: context.outbox))
    specs = list(consumers)
    if specs:
        add_metrics_source(app, queue_depths(settings, specs))


def health_blueprint(
    checks: Mapping[str, ReadinessCheck], details: Mapping[str, ReadinessCheck] | None = None
) -> Blueprint:
    """/healthz: the process answers. /readyz: every dependency in `checks` answers (503 if not);
    the ones in `details` are reported without deciding readiness."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    def run(probes: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
        results = {}
        for name, check in probes.items():
            try:
                results[name] = bool(check())
            except Exception:  # a probe must answer, whatever the dependency does
                log.warning("readiness check raised", exc_info=True, extra={"check": name})
                results[name] = False
        return results

    @bp.get("/readyz")
    def readyz() -> Any:
        results = run(checks)
        ready = all(results.values())
        status = "ready" if ready else "unavailable"
        return jsonify(status=status, checks=results, detail=run(details or {})), (200 if ready else 503)

    return bp
