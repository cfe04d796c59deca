"""Composition root of notify: settings → channels, planning configuration, database, outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.notify.channels import Channel
from services.notify.channels.email import EmailChannel
from services.notify.channels.sms import SmsChannel
from services.notify.channels.webhook import WebhookChannel
from services.notify.channels.wechat_work import WeChatWorkChannel
from services.notify.domain.audiences import Directory
from services.notify.planning import PlanConfig
from shared.config import Settings
from shared.service import ServiceContext, ensure_messaging_indexes

SERVICE = "notify"


def build_channels(settings: Settings) -> dict[str, Channel]:
    """One adapter per configured channel; a channel without its settings is simply absent."""
    timeout = settings.channel_timeout
    channels: dict[str, Channel] = {
        "email": EmailChannel(settings.smtp_url, settings.mail_from, timeout=timeout),
        # The robot's address comes with each studio or team (or the duty group setting).
        "wechat_work": WeChatWorkChannel(timeout=timeout),
    }
    if settings.sms_gateway_url:
        channels["sms"] = SmsChannel(
            settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_gateway_body, timeout=timeout
        )
    if webhook_urls(settings):
        channels["webhook"] = WebhookChannel(settings.webhook_secret, timeout=timeout)
    return channels


def webhook_urls(settings: Settings) -> tuple[str, ...]:
    return tuple(url.strip() for url in settings.webhook_urls.split(",") if url.strip())


@dataclass
class Notify(ServiceContext):
    name = SERVICE
    channels: dict[str, Channel] = field(init=False)
    plan_config: PlanConfig = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.channels = build_channels(self.settings)
        self.plan_config = PlanConfig(
            enabled_channels=frozenset(self.channels),
            directory=Directory(
                duty_group_url=self.settings.wechat_work_webhook_url, webhook_urls=webhook_urls(self.settings)
            ),
            timezone=self.settings.notify_timezone,
            sms_max_segments=self.settings.sms_max_segments,
            secret_key=self.settings.secret_key,
            public_url=self.settings.notify_public_url,
        )


def ensure_indexes(db: Database) -> None:
    ensure_messaging_indexes(db)
    db.deliveries.create_index([("reference", ASCENDING), ("created_at", DESCENDING)])
    db.deliveries.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
    db.deliveries.create_index([("recipient.address", ASCENDING), ("created_at", DESCENDING)])
    db.deliveries.create_index([("studio", ASCENDING), ("created_at", DESCENDING)])
    db.studio_cases.create_index([("open", ASCENDING), ("studio.code", ASCENDING)])
    # One-time answering codes (council) wait here, apart from their deliveries, until they expire.
    db.delivery_secrets.create_index("expires_at", expireAfterSeconds=0)


def bootstrap(settings: Settings | None = None) -> Notify:
    """Build notify's parts from `settings` (or the environment)."""
    return Notify(settings or Settings.from_env())
