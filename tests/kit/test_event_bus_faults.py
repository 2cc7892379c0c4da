"""No event lost, none applied twice or out of order: a killed relay, a restarted NATS, and
duplicate and out-of-order deliveries to two consumer replicas. These tests run on servers of
their own, not the ones the rest of the suite shares."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.kit import infra
from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2
from xinyi_kit.bus import stream_name
from xinyi_kit.consumer import Consumer, Outcome
from xinyi_kit.db import Database, asyncpg_dsn
from xinyi_kit.errors import Unavailable
from xinyi_kit.outbox import Outbox, Relay

pytestmark = pytest.mark.own_servers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(own: infra.Infra) -> AsyncIterator[Database]:
    database = await infra.fresh(
        own,
        ("applied", "outbox", "outbox_sequence", "inbox_cursor", "inbox_applied"),
        "kittest--identity",
    )
    yield database
    await database.close()


async def emit_many(db: Database, estates: list[uuid.UUID], per_estate: int) -> None:
    """Writes events as services do: each in a transaction of its own, estates interleaved."""
    outbox = Outbox("identity")
    for i in range(per_estate):
        for estate in estates:
            async with db.estate_tx(estate) as session:
                await outbox.emit(
                    session,
                    estate,
                    "estate_created",
                    events_pb2.EstateCreated(estate_id=str(estate), name=f"e{i}"),
                )


def consumer(db: Database) -> Consumer:
    return Consumer(db, "kittest", "identity", {events_pb2.EstateCreated: infra.record_effect})


async def run_consumers(
    db: Database, url: str, replicas: int, expected: int, timeout: float = 60
) -> dict[str, list[int]]:
    """Runs `replicas` consumers until `expected` effects exist, then stops them."""
    stop = asyncio.Event()
    clients = [await nats.connect(url) for _ in range(replicas)]
    tasks = [asyncio.create_task(consumer(db).run(c.jetstream(), stop)) for c in clients]
    try:
        async with asyncio.timeout(timeout):
            while await infra.count(db, "SELECT count(*) FROM applied") < expected:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # anything applied twice would show up now
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            await c.close()
    return await infra.applied_by_estate(db)


def assert_once_in_order(applied: dict[str, list[int]], estates: list[uuid.UUID], n: int) -> None:
    assert sorted(applied) == sorted(str(e) for e in estates)
    for estate, seqs in applied.items():
        assert seqs == list(range(1, n + 1)), f"estate {estate}: {seqs[:20]}..."


async def stream_count(url: str) -> int:
    nc = await nats.connect(url)
    info = await nc.jetstream().stream_info(stream_name("identity"))
    await nc.close()
    return int(info.state.messages)


async def test_killed_relay_loses_and_duplicates_nothing(own: infra.Infra, db: Database) -> None:
    estates = [uuid.uuid4() for _ in range(4)]
    per_estate = 500
    await emit_many(db, estates, per_estate)
    total = len(estates) * per_estate

    runner = [
        sys.executable,
        "-m",
        "tests.kit.relay_runner",
        asyncpg_dsn(own.app_url),
        infra.SCHEMA,
        own.nats.url,
    ]
    first = subprocess.Popen(runner, cwd=ROOT, env={**os.environ})
    published = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
    async with asyncio.timeout(30):
        while await infra.count(db, published) < 200:
            await asyncio.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    partly = await infra.count(db, published)
    assert partly < total, "the relay finished before it could be killed; the test proves nothing"

    second = subprocess.Popen(runner, cwd=ROOT, env={**os.environ})
    try:
        async with asyncio.timeout(60):
            while await infra.count(db, published) < total:
                await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)

    # The stream dropped every republished event (Nats-Msg-Id) ...
    assert await stream_count(own.nats.url) == total
    # ... and the consumer applies each once, in each estate's order.
    applied = await run_consumers(db, own.nats.url, replicas=1, expected=total)
    assert_once_in_order(applied, estates, per_estate)


async def test_nats_restart_during_traffic(own: infra.Infra, db: Database) -> None:
    estates = [uuid.uuid4() for _ in range(3)]
    per_estate = 300
    total = len(estates) * per_estate
    stop = asyncio.Event()
    nc = await nats.connect(own.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    relay = Relay(
        asyncpg_dsn(own.app_url),
        infra.SCHEMA,
        Outbox("identity"),
        nc.jetstream(),
        batch=50,
        in_flight=16,
    )
    relay_task = asyncio.create_task(relay.run(stop))
    consumer_nc = await nats.connect(
        own.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    consumer_task = asyncio.create_task(consumer(db).run(consumer_nc.jetstream(), stop))

    producer = asyncio.create_task(emit_many(db, estates, per_estate))
    async with asyncio.timeout(30):
        while await infra.count(db, "SELECT count(*) FROM applied") < total // 4:
            await asyncio.sleep(0.02)
    await asyncio.to_thread(own.nats.stop)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(own.nats.start)
    await producer

    try:
        async with asyncio.timeout(90):
            while await infra.count(db, "SELECT count(*) FROM applied") < total:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(relay_task, consumer_task, return_exceptions=True)
        await nc.close()
        await consumer_nc.close()
    unpublished = await infra.count(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
    assert unpublished == 0
    assert_once_in_order(await infra.applied_by_estate(db), estates, per_estate)


def envelope(
    estate: uuid.UUID, seq: int, event_id: uuid.UUID, event: Message | None = None
) -> common_pb2.EventEnvelope:
    """An event of `estate`: EstateCreated, which the test consumer handles, unless `event`."""
    payload = any_pb2.Any()
    payload.Pack(event if event is not None else events_pb2.EstateCreated(estate_id=str(estate)))
    return common_pb2.EventEnvelope(
        event_id=str(event_id),
        estate_id=str(estate),
        sequence=seq,
        emitter="identity",
        payload=payload,
    )


async def test_duplicates_and_reordering_with_two_replicas(own: infra.Infra, db: Database) -> None:
    estates = [uuid.uuid4() for _ in range(3)]
    n = 60
    ids = {(e, s): uuid.uuid4() for e in estates for s in range(1, n + 1)}
    # Each estate's events arrive shuffled in pairs (2,1,4,3,...), and every event twice
    # (published under two message ids, so the stream itself keeps both copies).
    order = []
    for s in range(1, n + 1, 2):
        order += [s + 1, s, s]
        order += [s + 1]
    nc = await nats.connect(own.nats.url)
    js = nc.jetstream()
    for copy, seq in enumerate(order):
        for estate in estates:
            env = envelope(estate, seq, ids[(estate, seq)])
            await js.publish(
                f"xinyi.identity.v1.{estate}.estate_created",
                env.SerializeToString(),
                headers={"Nats-Msg-Id": f"{ids[(estate, seq)]}-{copy}"},
            )
    await nc.close()
    assert await stream_count(own.nats.url) == len(order) * len(estates)

    applied = await run_consumers(db, own.nats.url, replicas=2, expected=n * len(estates))
    assert_once_in_order(applied, estates, n)
    recorded = await infra.count(db, "SELECT count(*) FROM inbox_applied")
    assert recorded == n * len(estates)


async def test_apply_outcomes(own: infra.Infra, db: Database) -> None:
    estate = uuid.uuid4()
    c = consumer(db)
    first, second = envelope(estate, 1, uuid.uuid4()), envelope(estate, 2, uuid.uuid4())
    assert await c.apply(second) is Outcome.EARLY
    assert await c.apply(first) is Outcome.APPLIED
    assert await c.apply(first) is Outcome.DUPLICATE
    assert await c.apply(second) is Outcome.APPLIED
    assert await c.apply(second) is Outcome.DUPLICATE
    assert (await infra.applied_by_estate(db))[str(estate)] == [1, 2]


class FakeMsg:
    """What the consumer uses of a JetStream message, recording how it was settled."""

    def __init__(self, env: common_pb2.EventEnvelope) -> None:
        self.data = env.SerializeToString()
        self.subject = f"xinyi.identity.v1.{env.estate_id}.estate_created"
        self.headers: dict[str, str] = {}
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")

    async def term(self) -> None:
        self.settled.append("term")


async def test_failing_batches_are_retried_one_event_at_a_time_without_stalling(
    own: infra.Infra, db: Database
) -> None:
    """When as many estates' batches fail at once as the consumer applies side by side (a
    database restart under load), each is retried event by event: the retries must not wait for
    the slots their own failed batches hold."""
    estates = [uuid.uuid4() for _ in range(2)]
    poison = {str(e): uuid.uuid4() for e in estates}

    async def fail_on_poison(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        if uuid.UUID(envelope.event_id) == poison[envelope.estate_id]:
            raise RuntimeError("a handler that fails on one event")
        await infra.record_effect(session, envelope, event)

    c = Consumer(
        db, "kittest", "identity", {events_pb2.EstateCreated: fail_on_poison}, concurrency=2
    )
    batch = [
        FakeMsg(envelope(e, seq, poison[str(e)] if seq == 2 else uuid.uuid4()))
        for e in estates
        for seq in (1, 2)
    ]
    async with asyncio.timeout(10):
        await c.handle_batch(batch)  # type: ignore[arg-type]
    assert [m.settled for m in batch] == [["ack"], ["nak"]] * len(estates)
    assert await infra.applied_by_estate(db) == {str(e): [1] for e in estates}


def unhandled(estate: uuid.UUID, seq: int, event_id: uuid.UUID) -> common_pb2.EventEnvelope:
    """An event the test consumer has no handler for."""
    return envelope(estate, seq, event_id, events_pb2.RoleGranted(estate_id=str(estate)))


async def inbox(db: Database, estate: uuid.UUID) -> tuple[int, list[int]]:
    """The estate's cursor and the sequences recorded as applied, in order."""
    async with db.estate_tx(estate) as session:
        cursor = (
            await session.execute(
                text("SELECT last_seq FROM inbox_cursor WHERE estate_id = :e"), {"e": estate}
            )
        ).scalar_one()
        recorded = (
            await session.execute(
                text("SELECT seq FROM inbox_applied WHERE estate_id = :e ORDER BY seq"),
                {"e": estate},
            )
        ).scalars()
        return int(cursor), [int(seq) for seq in recorded]


async def test_events_without_a_handler_advance_the_cursor_in_order_and_once(
    own: infra.Infra, db: Database
) -> None:
    estate = uuid.uuid4()
    c = consumer(db)
    ids = {seq: uuid.uuid4() for seq in range(1, 6)}
    # A batch that mixes both kinds, out of order, with a gap.
    batch = [
        unhandled(estate, 1, ids[1]),
        envelope(estate, 3, ids[3]),
        unhandled(estate, 2, ids[2]),
        unhandled(estate, 5, ids[5]),
    ]
    outcomes = await c.apply_estate(estate, [(e, None) for e in batch])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.APPLIED, Outcome.EARLY]
    assert await infra.applied_by_estate(db) == {str(estate): [3]}
    assert await inbox(db, estate) == (3, [1, 2, 3])
    # Batches with no handled event at all: redeliveries are skipped, the gap waits, then fills.
    again = [unhandled(estate, 2, ids[2]), unhandled(estate, 1, ids[1])]
    assert await c.apply_estate(estate, [(e, None) for e in again]) == [Outcome.DUPLICATE] * 2
    assert await c.apply(unhandled(estate, 5, ids[5])) is Outcome.EARLY
    assert await c.apply(unhandled(estate, 4, ids[4])) is Outcome.APPLIED
    assert await c.apply(unhandled(estate, 5, ids[5])) is Outcome.APPLIED
    assert await c.apply(unhandled(estate, 4, ids[4])) is Outcome.DUPLICATE
    assert await inbox(db, estate) == (5, [1, 2, 3, 4, 5])
    assert await infra.applied_by_estate(db) == {str(estate): [3]}


async def test_an_event_id_reused_under_another_sequence_is_not_handled_again(
    own: infra.Infra, db: Database
) -> None:
    """An emitter's bug: the event is passed (logged), never applied twice, within a batch or
    across batches."""
    estate = uuid.uuid4()
    c = consumer(db)
    reused = uuid.uuid4()
    pair = [(envelope(estate, 1, reused), None), (envelope(estate, 2, reused), None)]
    assert await c.apply_estate(estate, pair) == [Outcome.APPLIED, Outcome.APPLIED]
    assert await c.apply(envelope(estate, 3, reused)) is Outcome.APPLIED
    assert await c.apply(envelope(estate, 4, uuid.uuid4())) is Outcome.APPLIED
    assert await infra.applied_by_estate(db) == {str(estate): [1, 4]}
    assert await inbox(db, estate) == (4, [1, 4])


@pytest.mark.parametrize("kind", ["handled", "unhandled"])
async def test_a_connection_the_server_dropped_is_not_used_again(
    own: infra.Infra, db: Database, kind: str
) -> None:
    """After the server ends the pool's connections, an attempt fails retryably and a later one
    succeeds on a new connection, whether the events have a handler or not."""
    estate = uuid.uuid4()
    c = consumer(db)
    make = envelope if kind == "handled" else unhandled
    assert await c.apply(make(estate, 1, uuid.uuid4())) is Outcome.APPLIED
    admin = await asyncpg.connect(own.pg.admin_url)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1",
            infra.APP_ROLE,
        )
        async with asyncio.timeout(10):
            while await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", infra.APP_ROLE
            ):
                await asyncio.sleep(0.05)
    finally:
        await admin.close()
    assert ended > 0
    second = make(estate, 2, uuid.uuid4())
    failures = 0
    while True:
        try:
            outcome = await c.apply(second)
            break
        except Unavailable:
            # Each dead connection may fail one attempt, once: then it is gone from the pool.
            failures += 1
            assert failures <= ended, "a connection the server dropped was handed out again"
    assert outcome is Outcome.APPLIED
    assert await inbox(db, estate) == (2, [1, 2])


async def test_a_consumer_that_cannot_subscribe_at_start_keeps_trying(
    own: infra.Infra, db: Database
) -> None:
    """Another stream holds the identity stream's subjects when the consumer starts, so its
    stream cannot be made: it tries again until it can, then applies what was published."""
    nc = await nats.connect(own.nats.url)
    js = nc.jetstream()
    await js.delete_stream(stream_name("identity"))
    await js.add_stream(StreamConfig(name="SQUATTER", subjects=["xinyi.identity.v1.>"]))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer(db).run(nc.jetstream(), stop))
    try:
        await asyncio.sleep(2)  # several attempts, each refused
        assert not task.done()
        with pytest.raises(NotFoundError):
            await js.stream_info(stream_name("identity"))
        await js.delete_stream("SQUATTER")
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(NotFoundError):
                    await js.consumer_info(stream_name("identity"), "kittest--identity")
                    break
                await asyncio.sleep(0.1)
        await first_event_applied(js, db, uuid.uuid4())
    finally:
        stop.set()
        await task
        with contextlib.suppress(NotFoundError):
            await js.delete_stream("SQUATTER")
        await nc.close()


async def test_a_durable_consumer_made_with_other_limits_is_brought_to_the_current_ones(
    own: infra.Infra, db: Database
) -> None:
    """An earlier release made the durable consumer with a shorter ack wait and fewer events
    out at once: binding to it, the consumer updates those, and goes on applying events."""
    nc = await nats.connect(own.nats.url)
    js = nc.jetstream()
    stream = stream_name("identity")
    await make_durable(js, "kittest--identity", ack_wait=5, max_ack_pending=100)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer(db).run(nc.jetstream(), stop))
    try:
        await first_event_applied(js, db, uuid.uuid4())
        config = (await js.consumer_info(stream, "kittest--identity")).config
        assert (config.ack_wait, config.max_ack_pending, config.max_deliver) == (30, 10_000, -1)
    finally:
        stop.set()
        await task
        await nc.close()


async def make_durable(
    js: JetStreamContext, durable: str, *, ack_wait: float, max_ack_pending: int
) -> None:
    """The identity stream's durable consumer, made as a consumer of this kit would make it but
    with these limits."""
    await js.add_consumer(
        stream_name("identity"),
        config=ConsumerConfig(
            durable_name=durable,
            filter_subject="xinyi.identity.v1.>",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max_ack_pending,
        ),
    )


async def first_event_applied(js: JetStreamContext, db: Database, estate: uuid.UUID) -> None:
    """Publishes the estate's first event (it has a handler) and waits until it is applied."""
    await js.publish(
        f"xinyi.identity.v1.{estate}.event",
        envelope(estate, 1, uuid.uuid4()).SerializeToString(),
    )
    async with asyncio.timeout(30):
        while await infra.applied_by_estate(db) != {str(estate): [1]}:
            await asyncio.sleep(0.1)
