"""Two dispatchers (two replicas of notifications) on one database: a person's digest goes out as
one message, however the two dispatchers' rounds overlap."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
from sqlalchemy import delete

from xinyi_dev.platform import Platform
from xinyi_kit import clock
from xinyi_kit.db import Database
from xinyi_kit.outbox import Outbox
from xinyi_notifications import store
from xinyi_notifications.channels import Outgoing
from xinyi_notifications.dispatch import Dispatcher, Tuning

# A channel the platform's own notifications service has not configured, so only the
# dispatchers of this test send on it.
CHANNEL = "wechat"
ROWS = 3000
ROUNDS = 5


class Recorder:
    name = CHANNEL

    def __init__(self, sent: list[Outgoing]) -> None:
        self.sent = sent

    async def send(self, message: Outgoing, secret: str = "") -> None:
        self.sent.append(message)


async def _race(url: str, admin_url: str) -> list[Outgoing]:
    db = Database(url, "notifications", pool_size=4)
    estate, recipient = uuid.uuid4(), str(uuid.uuid4())
    due = clock.now() - timedelta(minutes=1)
    try:
        async with db.system_tx() as session:
            session.add_all(
                store.Delivery(
                    estate_id=estate,
                    delivery_id=uuid.uuid4(),
                    source_key=f"test:{n}",
                    recipient=recipient,
                    channel=CHANNEL,
                    kind="suggestion_answered",
                    address="wx-openid",
                    subject=f"消息 {n}",
                    body_text="正文",
                    priority=5,
                    state="digest",
                    next_attempt_at=due,
                    created_at=due + timedelta(microseconds=n),
                )
                for n in range(ROWS)
            )
        sent: list[Outgoing] = []
        dispatchers = [
            Dispatcher(db, Outbox("notifications"), {CHANNEL: Recorder(sent)}, Tuning(rates={}))
            for _ in range(2)
        ]
        # Both dispatchers' rounds meet: their claims of the rows wait on a table lock and go on
        # together once it is released (plain reads pass it).
        barrier = await asyncpg.connect(admin_url)
        try:
            async with barrier.transaction():
                await barrier.execute("LOCK TABLE notifications.deliveries IN EXCLUSIVE MODE")
                rounds = asyncio.gather(*(d.send_digests() for d in dispatchers))
                await asyncio.sleep(0.5)
            await rounds
        finally:
            await barrier.close()
        async with db.system_tx() as session:
            await session.execute(delete(store.Delivery).where(store.Delivery.estate_id == estate))
        return sent
    finally:
        await db.close()


def test_two_dispatchers_send_one_digest(platform: Platform) -> None:
    url = platform.service_env("notifications")["DATABASE_URL"].replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    # Without a guard, about half of such meetings split the digest in two.
    for _ in range(ROUNDS):
        sent = asyncio.run(_race(url, platform.admin_url))
        assert [m.subject for m in sent] == [f"信义物业公开平台：今日 {ROWS} 条消息汇总"]
