"""The notifications service: wiring."""

from __future__ import annotations

from pydantic import Field

from xinyi.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from xinyi_kit.config import KitSettings, load
from xinyi_kit.db import asyncpg_dsn
from xinyi_kit.service import ServiceKit
from xinyi_notifications import notify
from xinyi_notifications.api import NotificationsApi
from xinyi_notifications.channels import (
    Channel,
    EmailChannel,
    HttpSmsGateway,
    SmsChannel,
    SmtpSettings,
    WebhookChannel,
)
from xinyi_notifications.dispatch import Dispatcher, Tuning
from xinyi_notifications.live import Hub


class Settings(KitSettings):
    # E-mail: off while no SMTP host is set.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_sender: str = "noreply@xinyi.local"
    # SMS: off while no gateway URL is set.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    webhooks_enabled: bool = True
    # Sends per second each channel drains at (a burst never starves what is urgent).
    email_rate: float = Field(default=20.0, gt=0, le=10000)
    sms_rate: float = Field(default=20.0, gt=0, le=10000)
    webhook_rate: float = Field(default=50.0, gt=0, le=10000)
    retry_base_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_attempts: int = Field(default=8, ge=1, le=50)
    digest_hour: int = Field(default=20, ge=0, le=23)
    # The web app's address, for the links in e-mail.
    public_url: str = ""


def channels_of(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.smtp_host:
        channels["email"] = EmailChannel(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_sender,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
        )
    if settings.sms_gateway_url:
        channels["sms"] = SmsChannel(
            HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)
        )
    if settings.webhooks_enabled:
        channels["webhook"] = WebhookChannel()
    return channels


def main() -> None:
    settings = load(Settings)
    kit = ServiceKit("notifications", settings)
    channels = channels_of(settings)
    notify.configure(
        notify.Config(
            channels=frozenset(channels),
            digest_hour=settings.digest_hour,
            public_url=settings.public_url.rstrip("/"),
        )
    )
    kit.consume("identity", notify.IDENTITY)
    kit.consume("ledger", notify.LEDGER)
    kit.consume("voting", notify.VOTING)
    kit.consume("disclosure", notify.DISCLOSURE)
    hub = Hub(asyncpg_dsn(settings.database_url))
    dispatcher = Dispatcher(
        kit.db,
        kit.outbox,
        channels,
        Tuning(
            rates={
                "email": settings.email_rate,
                "sms": settings.sms_rate,
                "webhook": settings.webhook_rate,
            },
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            digest_hour=settings.digest_hour,
        ),
    )
    kit.background("inbox-listener", hub.run)
    kit.background("dispatcher", dispatcher.run)
    kit.add_servicer(
        notifications_pb2_grpc.add_NotificationsServiceServicer_to_server,
        NotificationsApi(kit.db, hub, frozenset(channels), plain_http=settings.env != "production"),
        notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name,
    )
    kit.run()


if __name__ == "__main__":
    main()
