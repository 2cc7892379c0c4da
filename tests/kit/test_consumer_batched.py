"""A batched handler takes a run of consecutive events of its type in one call: in sequence
order, across events no handler acts on, ended by an event another handler acts on; each event
still applied once, and a run that fails leaves nothing behind. On servers of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from google.protobuf.message import Message
from sqlalchemy import BigInteger, Identity, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.kit import infra
from tests.kit.test_event_bus_faults import FakeMsg, envelope, inbox, unhandled
from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2
from xinyi_kit.consumer import Batched, Consumer, Outcome
from xinyi_kit.db import Database

pytestmark = pytest.mark.own_servers


@pytest.fixture
async def db(own: infra.Infra) -> AsyncIterator[Database]:
    database = await infra.fresh(
        own, ("applied", "inbox_cursor", "inbox_applied"), "kittest--identity"
    )
    yield database
    await database.close()


def owned(estate: uuid.UUID, seq: int) -> common_pb2.EventEnvelope:
    change = events_pb2.OwnershipChanged(estate_id=str(estate), unit_id=str(uuid.uuid4()))
    return envelope(estate, seq, uuid.uuid4(), change)


class Runs:
    """A batched handler that records the sequences of each run it is given, and writes each
    event's effect; it fails on the sequence named in `fail_at`."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []
        self.fail_at: int | None = None

    async def __call__(
        self, session: AsyncSession, run: Sequence[tuple[common_pb2.EventEnvelope, Message]]
    ) -> None:
        self.runs.append([env.sequence for env, _ in run])
        for env, event in run:
            assert isinstance(event, events_pb2.OwnershipChanged)
            assert event.estate_id == env.estate_id
            if env.sequence == self.fail_at:
                raise RuntimeError("the handler fails")
            await infra.record_effect(session, env, event)


def consumer(db: Database, runs: Runs) -> Consumer:
    return Consumer(
        db,
        "kittest",
        "identity",
        {events_pb2.OwnershipChanged: Batched(runs), events_pb2.EstateCreated: infra.record_effect},
    )


async def test_runs_of_a_type_reach_the_batched_handler_once_each_in_order(db: Database) -> None:
    estate, runs = uuid.uuid4(), Runs()
    c = consumer(db, runs)
    events = [
        owned(estate, 1),
        unhandled(estate, 2, uuid.uuid4()),
        owned(estate, 3),
        envelope(estate, 4, uuid.uuid4()),  # EstateCreated: another handler ends the run
        owned(estate, 5),
        owned(estate, 6),
    ]
    # Delivered out of order within the batch: the consumer orders them by sequence.
    items = [(events[i], None) for i in (5, 0, 3, 1, 4, 2)]
    outcomes = await c.apply_estate(estate, items)
    assert outcomes == [Outcome.APPLIED] * 6
    assert runs.runs == [[1, 3], [5, 6]]
    assert await inbox(db, estate) == (6, [1, 2, 3, 4, 5, 6])
    assert (await infra.applied_by_estate(db))[str(estate)] == [1, 3, 4, 5, 6]

    # Redelivered with the next one: only the new event is handled.
    again = [(env, None) for env in events] + [(owned(estate, 7), None)]
    assert await c.apply_estate(estate, again) == [Outcome.DUPLICATE] * 6 + [Outcome.APPLIED]
    assert runs.runs == [[1, 3], [5, 6], [7]]
    assert (await infra.applied_by_estate(db))[str(estate)] == [1, 3, 4, 5, 6, 7]


async def test_a_run_that_fails_leaves_nothing_and_applies_whole_on_redelivery(
    db: Database,
) -> None:
    estate, runs = uuid.uuid4(), Runs()
    c = consumer(db, runs)
    events = [owned(estate, 1), owned(estate, 2), owned(estate, 3)]
    runs.fail_at = 2
    with pytest.raises(RuntimeError):
        await c.apply_estate(estate, [(env, None) for env in events])
    assert await infra.applied_by_estate(db) == {}
    runs.fail_at = None
    assert await c.apply_estate(estate, [(env, None) for env in events]) == [Outcome.APPLIED] * 3
    assert runs.runs == [[1, 2, 3], [1, 2, 3]]
    assert await inbox(db, estate) == (3, [1, 2, 3])
    assert (await infra.applied_by_estate(db))[str(estate)] == [1, 2, 3]


class Applied(DeclarativeBase):
    pass


class AppliedRow(Applied):
    """The test consumer's effect table, written through the ORM: rows the session holds
    until it flushes."""

    __tablename__ = "applied"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    estate_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[uuid.UUID]


POISON: set[str] = set()  # event ids the handler fails on


async def add_effect(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    if envelope.event_id in POISON:
        raise RuntimeError("the handler fails")
    session.add(
        AppliedRow(
            estate_id=uuid.UUID(envelope.estate_id),
            seq=envelope.sequence,
            event_id=uuid.UUID(envelope.event_id),
        )
    )


async def test_the_events_of_many_estates_are_applied_in_one_transaction_each_in_its_own(
    db: Database,
) -> None:
    """A fetched batch of many estates' handled events is applied in as few transactions as
    keep `concurrency` side by side: here one. Each estate's part runs with the transaction's
    estate set to it (the effect table's row-level security refuses another estate's rows, and
    the ORM's pending rows are flushed before the estate changes); when one estate's handler
    fails, each estate is applied alone, and the others go on."""
    estates = sorted(uuid.uuid4() for _ in range(4))
    c = Consumer(db, "kittest", "identity", {events_pb2.EstateCreated: add_effect}, concurrency=1)
    batch = [FakeMsg(envelope(e, s, uuid.uuid4())) for s in (1, 2) for e in estates]
    await c.handle_batch(batch)  # type: ignore[arg-type]
    assert [m.settled for m in batch] == [["ack"]] * len(batch)
    assert await infra.applied_by_estate(db) == {str(e): [1, 2] for e in estates}
    async with db.system_tx() as session:
        writers = set(
            (await session.execute(text("SELECT DISTINCT xmin::text FROM applied"))).scalars()
        )
    assert len(writers) == 1
    more = [FakeMsg(envelope(e, 3, uuid.uuid4())) for e in estates]
    POISON.add(common_pb2.EventEnvelope.FromString(more[2].data).event_id)
    try:
        await c.handle_batch(more)  # type: ignore[arg-type]
    finally:
        POISON.clear()
    assert [m.settled for m in more] == [["ack"], ["ack"], ["nak"], ["ack"]]
    applied = await infra.applied_by_estate(db)
    assert applied == {str(e): [1, 2, 3] if e != estates[2] else [1, 2] for e in estates}


async def test_a_handler_among_many_estates_sees_and_writes_only_its_own_estates_rows(
    db: Database,
) -> None:
    """Several estates' events share a transaction, each estate's part run with the
    transaction's estate set to it and never in system scope: a handler of a later estate sees
    none of the rows the earlier ones wrote in the same transaction, and one that writes
    another estate's row is refused (and nothing of the transaction stays)."""
    estates = sorted(uuid.uuid4() for _ in range(3))
    seen: list[tuple[str, str, int]] = []

    async def look_then_add(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        scope = (
            await session.execute(text("SELECT current_setting('xinyi.scope', true)"))
        ).scalar()
        others = (
            await session.execute(
                text("SELECT count(*) FROM applied WHERE estate_id <> :e"),
                {"e": uuid.UUID(envelope.estate_id)},
            )
        ).scalar_one()
        seen.append((envelope.estate_id, scope or "", int(others)))
        await add_effect(session, envelope, event)

    c = Consumer(
        db, "kittest", "identity", {events_pb2.EstateCreated: look_then_add}, concurrency=1
    )
    batch = [FakeMsg(envelope(e, 1, uuid.uuid4())) for e in estates]
    await c.handle_batch(batch)  # type: ignore[arg-type]
    assert [m.settled for m in batch] == [["ack"]] * 3
    assert seen == [(str(e), "", 0) for e in estates]
    assert await infra.applied_by_estate(db) == {str(e): [1] for e in estates}

    async def write_elsewhere(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        other = estates[0] if envelope.estate_id != str(estates[0]) else estates[1]
        await session.execute(
            text("INSERT INTO applied (estate_id, seq, event_id) VALUES (:e, 0, :id)"),
            {"e": other, "id": uuid.uuid4()},
        )

    c = Consumer(
        db, "kittest", "identity", {events_pb2.EstateCreated: write_elsewhere}, concurrency=1
    )
    more = [FakeMsg(envelope(e, 2, uuid.uuid4())) for e in estates]
    await c.handle_batch(more)  # type: ignore[arg-type]
    assert [m.settled for m in more] == [["nak"]] * 3
    assert await infra.applied_by_estate(db) == {str(e): [1] for e in estates}
    assert [await inbox(db, e) for e in estates] == [(1, [1])] * 3
