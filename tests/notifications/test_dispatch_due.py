"""A dispatcher's round first asks what is due and skips the steps with nothing to do: a channel
whose deliveries all wait for later is not drained, and is drained in the first round after one
falls due."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import delete, update

from xinyi_dev.platform import Platform
from xinyi_kit import clock
from xinyi_kit.db import Database
from xinyi_kit.outbox import Outbox
from xinyi_notifications import store
from xinyi_notifications.channels import Outgoing
from xinyi_notifications.dispatch import Dispatcher, Tuning

# A channel the platform's own notifications service has not configured, so only this test's
# dispatcher sends on it.
CHANNEL = "due-probe"


class Recorder:
    name = CHANNEL

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing, secret: str = "") -> None:
        self.sent.append(message)


async def _scenario(url: str) -> None:
    db = Database(url, "notifications", pool_size=2)
    estate, delivery = uuid.uuid4(), uuid.uuid4()
    later = clock.now() + timedelta(hours=1)
    try:
        async with db.system_tx() as session:
            session.add(
                store.Delivery(
                    estate_id=estate,
                    delivery_id=delivery,
                    source_key="test:due",
                    recipient=str(uuid.uuid4()),
                    channel=CHANNEL,
                    kind="suggestion_answered",
                    address="somewhere",
                    subject="稍后发送",
                    body_text="正文",
                    priority=5,
                    state="pending",
                    next_attempt_at=later,
                    created_at=clock.now(),
                )
            )
        recorder = Recorder()
        dispatcher = Dispatcher(db, Outbox("notifications"), {CHANNEL: recorder}, Tuning(rates={}))

        assert CHANNEL not in (await dispatcher.due()).channels
        await dispatcher.tick()
        assert recorder.sent == []

        async with db.system_tx() as session:
            await session.execute(
                update(store.Delivery)
                .where(store.Delivery.estate_id == estate)
                .values(next_attempt_at=clock.now() - timedelta(seconds=1))
            )
        assert CHANNEL in (await dispatcher.due()).channels
        await dispatcher.tick()
        assert [m.delivery_id for m in recorder.sent] == [str(delivery)]

        # Sent: nothing is due on the channel any more, and a round sends nothing again.
        assert CHANNEL not in (await dispatcher.due()).channels
        await dispatcher.tick()
        assert len(recorder.sent) == 1
    finally:
        async with db.system_tx() as session:
            await session.execute(delete(store.Delivery).where(store.Delivery.estate_id == estate))
        await db.close()


def test_a_channel_is_drained_only_when_a_delivery_is_due(platform: Platform) -> None:
    url = platform.service_env("notifications")["DATABASE_URL"].replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    asyncio.run(_scenario(url))
