"""One estate's batch of events in one transaction, as the consumer applies it: each event's
notice reaches exactly its people, with what the batch changed on the way (a ballot's new title),
once however often the batch is applied, and only within its estate (RLS)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import delete, select

from xinyi.common.v1 import common_pb2
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_dev.platform import Platform
from xinyi_kit.db import Database
from xinyi_notifications import notify, store

HANDLERS = {**notify.LEDGER, **notify.VOTING}


def _envelope(estate: uuid.UUID, sequence: int) -> common_pb2.EventEnvelope:
    envelope = common_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), estate_id=str(estate), sequence=sequence
    )
    envelope.occurred_at.FromDatetime(datetime(2026, 11, 1, 9, tzinfo=UTC))
    return envelope


class Estate:
    """An estate as identity's events leave it in the directory: three units, two of whose
        owners have accounts; Alice wants fee reminders by mail only, in her daily digest (which
    keeps the platform's own dispatcher from sending it while the test looks)."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.ballot = uuid.uuid4()
        self.units = [uuid.uuid4() for _ in range(3)]
        self.alice, self.bob, self.carol = (uuid.uuid4() for _ in range(3))
        self.mail = f"alice-{self.id.hex[:8]}@example.cn"

    async def seed(self, db: Database) -> None:
        async with db.estate_tx(self.id) as session:
            session.add(store.Estate(estate_id=self.id, name="批处理小区"))
            session.add_all(
                store.UnitOwners(estate_id=self.id, unit_id=unit, owner_ids=[f"owner-{n}"])
                for n, unit in enumerate(self.units)
            )
            session.add_all(
                store.OwnerUser(estate_id=self.id, owner_id=owner, user_id=user)
                for owner, user in (("owner-0", self.alice), ("owner-1", self.bob))
            )
            session.add(store.Contact(user_id=self.alice, email=self.mail))
            session.add(
                store.KindPreference(
                    user_id=self.alice, kind="fee_due", channels=["email"], digest=True
                )
            )

    def batch(self) -> list[tuple[common_pb2.EventEnvelope, Message]]:
        estate, ballot = str(self.id), str(self.ballot)

        def fee(unit: uuid.UUID) -> Message:
            return ledger_events.FeeReminder(
                estate_id=estate, unit_id=str(unit), kind="due", period="2026-11", owed_fen=22_375
            )

        def titled(title: str, state: str) -> Message:
            return voting_events.BallotStateChanged(
                estate_id=estate, ballot_id=ballot, state=state, title=title
            )

        def vote(voter: uuid.UUID, receipt: str) -> Message:
            return voting_events.VoteRecorded(
                estate_id=estate, ballot_id=ballot, receipt_code=receipt, voter_user_id=str(voter)
            )

        events = [
            *(fee(unit) for unit in self.units),
            titled("旧议题", "draft"),
            vote(self.bob, "R-1"),
            titled("新议题", "draft"),
            vote(self.carol, "R-2"),
        ]
        return [(_envelope(self.id, n + 1), event) for n, event in enumerate(events)]


async def _apply(db: Database, estate: uuid.UUID, batch: list[tuple[Any, Message]]) -> None:
    async with db.estate_tx(estate) as session:
        for envelope, event in batch:
            await HANDLERS[type(event)](session, envelope, event)


async def _rows(db: Database, estate: uuid.UUID) -> tuple[list[Any], list[Any]]:
    async with db.estate_tx(estate) as session:
        inbox = (
            await session.execute(select(store.InboxMessage).order_by(store.InboxMessage.position))
        ).scalars()
        deliveries = (await session.execute(select(store.Delivery))).scalars()
        return list(inbox), list(deliveries)


async def _scenario(url: str) -> None:
    db = Database(url, "notifications", pool_size=2)
    channels = notify.CONFIG
    notify.configure(notify.Config(frozenset({"email"})))
    estate = Estate()
    try:
        await estate.seed(db)
        batch = estate.batch()
        await _apply(db, estate.id, batch)
        await _apply(db, estate.id, batch)  # the batch again, as after a redelivery
        inbox, deliveries = await _rows(db, estate.id)

        # Bob hears of his unit's fee and his vote, under the title of that moment; Carol of
        # her vote, under the title the batch gave the ballot before it; Alice (mail only) and
        # the unit without an account have no inbox row.
        assert [(m.user_id, m.kind) for m in inbox] == [
            (estate.bob, "fee_due"),
            (estate.bob, "vote_counted"),
            (estate.carol, "vote_counted"),
        ]
        assert all(m.title.startswith("批处理小区：") for m in inbox)
        assert "「旧议题」" in inbox[1].body and "回执码 R-1" in inbox[1].body
        assert "「新议题」" in inbox[2].body and "回执码 R-2" in inbox[2].body
        assert inbox[0].params == {
            "unit_id": str(estate.units[1]),
            "period": "2026-11",
            "owed_fen": 22_375,
        }

        # Alice's reminder goes in her digest mail, once, with its text and payload.
        [mail] = deliveries
        assert (mail.recipient, mail.channel, mail.address) == (
            str(estate.alice),
            "email",
            estate.mail,
        )
        assert mail.state == "digest" and mail.attempts == 0 and mail.priority == 1
        assert mail.next_attempt_at > mail.created_at
        assert mail.subject == "批处理小区：2026-11 物业费 223.75 元待缴"
        assert mail.body_text.startswith("您的房屋 2026-11 的物业费 223.75 元已出账")
        assert mail.payload["kind"] == "fee_due"
        assert mail.payload["occurred_at"] == "2026-11-01T09:00:00+00:00"
        assert mail.payload["params"]["unit_id"] == str(estate.units[0])
        assert mail.source_key == batch[0][0].event_id

        # Another estate's transaction sees none of it.
        assert await _rows(db, uuid.uuid4()) == ([], [])
    finally:
        notify.configure(channels)
        async with db.estate_tx(estate.id) as session:
            # The platform's own dispatcher must not keep sending this test's mail.
            await session.execute(
                delete(store.Delivery).where(store.Delivery.estate_id == estate.id)
            )
        await db.close()


def test_a_batch_reaches_each_person_once_with_what_the_batch_changed(platform: Platform) -> None:
    url = platform.service_env("notifications")["DATABASE_URL"].replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    asyncio.run(_scenario(url))
