"""Twelve-factor configuration: every setting comes from an environment variable with a local default.

One `Settings` object is built per process (`Settings.from_env()`); tests build their own with
`Settings.from_env(overrides)` instead of patching the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

# A default that must never reach production: `Settings.check_production()` refuses it.
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 (refused in production)


def _as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """All settings of one Concord process. Field names map to UPPER_CASE environment variables."""

    env: str = "development"  # "production" turns on the refusal of development secrets
    secret_key: str = DEV_SECRET_KEY
    mongo_url: str = "mongodb://127.0.0.1:27018/?retryWrites=false"
    db_prefix: str = "concord"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # Prefixes the exchange and every queue, so several stacks (or test runs) share one broker.
    broker_namespace: str = "concord"
    queue_type: str = "quorum"  # "quorum" on RabbitMQ; "classic" for brokers without them
    consumer_prefetch: int = 16
    # Messages of notify's case events and of its delivery commands handled at once by one notify
    # worker (each a consumer thread with its own broker connection): sending holds a message for
    # an SMTP conversation, so one at a time falls behind at a few cases per second.
    notify_consumers: int = 4
    # Delays (seconds) of the retry tiers: a failing message waits 1 s, then 5 s, then 30 s,
    # and is dead-lettered after the last tier.
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    publish_timeout: float = 5.0  # seconds for the broker to confirm a publish (and any AMQP read)
    connect_timeout: float = 3.0  # seconds to open a broker connection (TCP and AMQP handshake)
    # Seconds between AMQP heartbeats: a broker that stops answering without closing the
    # connection is noticed after two missed ones, and the consumer reconnects.
    broker_heartbeat: int = 30
    # Seconds a database operation may wait for its answer (socketTimeoutMS): past it, requests
    # answer 503 and workers wait for the database, instead of hanging on a silent server.
    db_timeout: float = 10.0
    outbox_relay_interval: float = 1.0
    # The relay leaves fresh outbox rows to the request that wrote them for this long.
    outbox_grace_seconds: float = 2.0
    smtp_url: str = "smtp://127.0.0.1:8025"
    mail_from: str = "Concord <noreply@concord.local>"
    # Notify's channels. An empty URL turns its channel off (no delivery is planned for it).
    sms_gateway_url: str = ""  # generic HTTP SMS gateway: POST of SMS_GATEWAY_BODY
    sms_gateway_token: str = ""  # sent as "Authorization: Bearer <token>" when set
    sms_gateway_body: str = ""  # Jinja JSON body with to/text/id; empty = notify's default
    sms_max_segments: int = 2  # longer texts are cut to fit (70 chars per UCS-2 SMS)
    wechat_work_webhook_url: str = ""  # the district duty group's WeChat Work robot (red alerts)
    webhook_urls: str = ""  # comma-separated receivers of signed outgoing webhooks
    webhook_secret: str = ""  # HMAC-SHA256 key of those webhooks; required when URLs are set
    channel_timeout: float = 5.0  # seconds per provider call, so a hanging one blocks nobody
    # A delivery claimed by a notify worker that died is taken over by another after this long
    # (seconds); it must exceed the longest send, several provider calls of CHANNEL_TIMEOUT.
    notify_sending_lease: float = 30.0
    notify_public_url: str = "http://127.0.0.1:8003"  # base of preference links in messages
    intake_public_url: str = "http://127.0.0.1:8001"  # base of attachment links on the desk
    # Staff log in at mediation; council's pages send anonymous staff to its login page.
    mediation_public_url: str = "http://127.0.0.1:8002"
    council_public_url: str = "http://127.0.0.1:8004"  # base of links to council's pages (slips, board)
    digest_hour: int = 8  # local hour after which the studio leads' daily digest goes out
    notify_timezone: str = "Asia/Shanghai"  # how times read in messages; when digests go out
    digest_due_soon_days: int = 3
    # Intake: filings per client per window ("count/seconds"), and Open311 keys from the
    # environment (comma-separated) for local runs and tests; real keys are issued by an admin.
    intake_rate_limit: str = "30/600"
    open311_api_keys: str = ""
    # "Is it settled?" (issue 14.4): hours after the first answer during which an applicant may
    # change it or add a comment; after that the stored answer stands.
    settlement_answer_window_hours: int = 48
    # Reverse proxies in front of the web services (ingress, load balancer): their
    # X-Forwarded-For/-Proto/-Host are trusted this many hops deep, so rate limits and logs see
    # the real client. 0 = no proxy (direct exposure): the headers are ignored.
    trusted_proxy_hops: int = 0
    # Domain of the staff cookie, e.g. ".mediation.example.org" when the services are on
    # sibling hosts; empty = host-only (all services on one host, as in local runs).
    staff_cookie_domain: str = ""
    # The web services' second listener, serving /metrics and nothing else (and the only place
    # /metrics is served): reachable by the monitoring system, never routed from the internet.
    metrics_port: int = 9100
    district_code: str = "demo"
    # Years an archived case keeps its personal data before mediation's archive job erases it (PIPL Art 19).
    personal_data_retention_years: int = 5
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Read settings from `os.environ`, then apply `overrides` (keys are field names)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = os.environ.get(f.name.upper())
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, getattr(cls, f.name))
        settings = cls(**values)
        if overrides:
            settings = replace(settings, **dict(overrides))
        return settings

    @classmethod
    def resolve(cls, config: Settings | Mapping[str, Any] | None) -> Settings:
        """What an app factory receives: ready settings, overrides for the environment, or None."""
        return config if isinstance(config, Settings) else cls.from_env(config)

    def database_name(self, service: str) -> str:
        """The MongoDB database a service owns: `<prefix>_<service>`."""
        return f"{self.db_prefix}_{service}"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def check_production(self) -> None:
        """Refuse to run in production on a development, empty or short secret."""
        if self.is_production and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise RuntimeError("SECRET_KEY must be set to a random value of 32+ characters in production")


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return _as_bool(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        return tuple(float(part) for part in raw.split(",") if part.strip())
    return raw
