"""Events without a handler are held, unacknowledged, and their bookkeeping written later in one
transaction: still each applied once and in order when the consumer holding them is killed, when
a handled event of the estate follows them, and with two replicas sharing the stream. These
tests run on servers of their own, not the ones the rest of the suite shares."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.kit import infra
from tests.kit.test_event_bus_faults import FakeMsg, envelope, make_durable, unhandled
from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2
from xinyi_kit import consumer as consumer_module
from xinyi_kit.bus import stream_name
from xinyi_kit.consumer import Consumer
from xinyi_kit.db import Database

pytestmark = pytest.mark.own_servers

ROOT = Path(__file__).resolve().parents[2]
STREAM = stream_name("identity")
DURABLE = "kittest--identity"


@pytest.fixture
async def db(own: infra.Infra) -> AsyncIterator[Database]:
    database = await infra.fresh(own, ("applied", "inbox_cursor", "inbox_applied"), DURABLE)
    yield database
    await database.close()


async def publish(url: str, events: list[common_pb2.EventEnvelope]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for env in events:
        await js.publish(
            f"xinyi.identity.v1.{env.estate_id}.event",
            env.SerializeToString(),
            headers={"Nats-Msg-Id": env.event_id},
        )
    await nc.close()


async def cursor(db: Database, estate: uuid.UUID) -> int | None:
    async with db.estate_tx(estate) as session:
        value = (
            await session.execute(
                text("SELECT last_seq FROM inbox_cursor WHERE estate_id = :e"), {"e": estate}
            )
        ).scalar_one_or_none()
    return None if value is None else int(value)


async def recorded(db: Database, estate: uuid.UUID) -> list[int]:
    """The sequences the inbox recorded as applied: each event's bookkeeping, once."""
    async with db.estate_tx(estate) as session:
        rows = await session.execute(
            text("SELECT seq FROM inbox_applied WHERE estate_id = :e ORDER BY seq"), {"e": estate}
        )
        return [int(seq) for seq in rows.scalars()]


async def consumer_state(url: str) -> tuple[int, int]:
    """The durable consumer's messages not yet delivered, and delivered but not acknowledged."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(STREAM, DURABLE)
    finally:
        await nc.close()
    return int(info.num_pending or 0), int(info.num_ack_pending or 0)


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"waited {timeout} s for {what}")


def consumer(db: Database, linger: float, **kwargs: int) -> Consumer:
    return Consumer(
        db,
        "kittest",
        "identity",
        {events_pb2.EstateCreated: infra.record_effect},
        linger=linger,
        **kwargs,
    )


async def test_events_held_by_a_killed_consumer_are_applied_once_in_order_after_restart(
    own: infra.Infra, db: Database
) -> None:
    estate = uuid.uuid4()
    # The durable consumer redelivers after 3 s, not 30 s: made so here, and so kept by the
    # consumers below, which are told the same.
    nc = await nats.connect(own.nats.url)
    await make_durable(nc.jetstream(), DURABLE, ack_wait=3, max_ack_pending=10_000)
    await nc.close()
    await publish(own.nats.url, [unhandled(estate, s, uuid.uuid4()) for s in range(1, 6)])
    # A consumer that holds events for a minute: killed while it holds all five.
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.kit.consumer_runner", own.app_url, own.nats.url, "60", "3"],
        cwd=ROOT,
        env={**os.environ},
    )
    try:

        async def holds_all() -> bool:
            return await consumer_state(own.nats.url) == (0, 5)

        await until("the runner to hold the five events", holds_all)
        assert await cursor(db, estate) is None, "held events were written before the linger"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    # Then a handled event, an unhandled one and a handled one, while the five wait for their
    # redelivery: the consumer that takes over gets these first.
    await publish(
        own.nats.url,
        [
            envelope(estate, 6, uuid.uuid4()),
            unhandled(estate, 7, uuid.uuid4()),
            envelope(estate, 8, uuid.uuid4()),
        ],
    )
    stop = asyncio.Event()
    nc = await nats.connect(own.nats.url)
    task = asyncio.create_task(consumer(db, linger=0.25, ack_wait=3).run(nc.jetstream(), stop))
    try:

        async def caught_up() -> bool:
            return await cursor(db, estate) == 8

        await until("the new consumer to catch up", caught_up)
        await asyncio.sleep(0.5)  # anything applied twice would show up now
    finally:
        stop.set()
        await task
        await nc.close()
    assert await recorded(db, estate) == list(range(1, 9))
    assert await infra.applied_by_estate(db) == {str(estate): [6, 8]}
    assert await consumer_state(own.nats.url) == (0, 0)


async def test_a_handled_event_takes_the_held_events_before_it_into_its_transaction(
    own: infra.Infra, db: Database
) -> None:
    first, other = uuid.uuid4(), uuid.uuid4()
    c = consumer(db, linger=60)
    held = [FakeMsg(unhandled(first, s, uuid.uuid4())) for s in (1, 2)]
    held_other = FakeMsg(unhandled(other, 1, uuid.uuid4()))
    await c.handle_batch([*held, held_other])  # type: ignore[list-item]
    assert c.held == 3
    assert [m.settled for m in (*held, held_other)] == [[], [], []]
    assert await cursor(db, first) is None
    # The handled event comes at once, without waiting for the linger, and its estate's held
    # events with it.
    handled = FakeMsg(envelope(first, 3, uuid.uuid4()))
    await c.handle_batch([handled])  # type: ignore[list-item]
    assert [m.settled for m in (*held, handled)] == [["ack"]] * 3
    assert held_other.settled == []
    assert c.held == 1
    assert await cursor(db, first) == 3
    assert await recorded(db, first) == [1, 2, 3]
    assert await infra.applied_by_estate(db) == {str(first): [3]}
    # The other estate's event is written by the flush.
    await c.flush()
    assert held_other.settled == ["ack"]
    assert c.held == 0
    assert await recorded(db, other) == [1]


async def test_the_held_events_of_many_estates_are_written_in_one_transaction(
    own: infra.Infra, db: Database
) -> None:
    """A flush writes every estate it holds in one transaction (the cursors' rows share the
    transaction id that wrote them), applying each estate's run, skipping what was applied,
    and holding back what comes after a gap."""
    fresh, behind, gapped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    c = consumer(db, linger=60)
    # `behind` had its first two applied before.
    earlier = [FakeMsg(unhandled(behind, s, uuid.uuid4())) for s in (1, 2)]
    await c.handle_batch(earlier)  # type: ignore[list-item]
    await c.flush()
    assert [m.settled for m in earlier] == [["ack"]] * 2
    msgs = {
        fresh: [FakeMsg(unhandled(fresh, s, uuid.uuid4())) for s in (2, 1, 3)],
        behind: [FakeMsg(unhandled(behind, s, uuid.uuid4())) for s in (2, 3)],
        gapped: [FakeMsg(unhandled(gapped, s, uuid.uuid4())) for s in (1, 3)],
    }
    await c.handle_batch([m for group in msgs.values() for m in group])  # type: ignore[misc]
    assert c.held == 7
    await c.flush()
    assert [m.settled for m in msgs[fresh]] == [["ack"]] * 3
    assert [m.settled for m in msgs[behind]] == [["ack"]] * 2  # 2 a duplicate, 3 applied
    assert [m.settled for m in msgs[gapped]] == [["ack"], []]  # 3 waits for 2
    assert c.held == 1
    assert await recorded(db, fresh) == [1, 2, 3]
    assert await recorded(db, behind) == [1, 2, 3]
    assert await recorded(db, gapped) == [1]
    async with db.system_tx() as session:
        writers = (
            await session.execute(
                text("SELECT estate_id, xmin::text FROM inbox_cursor WHERE estate_id = ANY(:e)"),
                {"e": [fresh, behind, gapped]},
            )
        ).all()
    assert len(writers) == 3
    assert len({xid for _, xid in writers}) == 1
    # The gap fills: the held event goes with its predecessor.
    filler = FakeMsg(unhandled(gapped, 2, uuid.uuid4()))
    await c.handle_batch([filler])  # type: ignore[list-item]
    await c.flush()
    assert filler.settled == ["ack"]
    assert msgs[gapped][1].settled == ["ack"]
    assert await recorded(db, gapped) == [1, 2, 3]


async def test_a_handled_event_whose_predecessors_another_replica_holds_waits_for_them(
    own: infra.Infra, db: Database
) -> None:
    estate = uuid.uuid4()
    holder, other = consumer(db, linger=60), consumer(db, linger=60)
    held = [FakeMsg(unhandled(estate, s, uuid.uuid4())) for s in (1, 2)]
    await holder.handle_batch(held)  # type: ignore[arg-type]
    event = envelope(estate, 3, uuid.uuid4())
    early = FakeMsg(event)
    await other.handle_batch([early])  # type: ignore[list-item]
    # Early: held by the replica that has it, to be tried again at its next flush.
    assert early.settled == []
    assert other.held == 1
    await other.flush()
    assert early.settled == []
    assert await infra.applied_by_estate(db) == {}
    await holder.flush()
    assert [m.settled for m in held] == [["ack"], ["ack"]]
    await other.flush()
    assert early.settled == ["ack"]
    assert other.held == 0
    assert await recorded(db, estate) == [1, 2, 3]
    assert await infra.applied_by_estate(db) == {str(estate): [3]}


async def test_an_early_event_is_held_only_so_long_then_redelivered(
    own: infra.Infra, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "EARLY_HOLD", 0.2)
    estate = uuid.uuid4()
    c = consumer(db, linger=60)
    counted = consumer_module.OUTCOMES.labels(c.durable, "early")
    before = counted._value.get()
    early = FakeMsg(unhandled(estate, 2, uuid.uuid4()))
    await c.handle_batch([early])  # type: ignore[list-item]
    await c.flush()
    assert early.settled == []
    await asyncio.sleep(0.3)
    await c.flush()
    assert early.settled == ["nak"]
    # Tried three times, counted once: the metric counts events held back, not attempts.
    assert counted._value.get() - before == 1
    assert c.held == 0
    assert await cursor(db, estate) == 0


async def test_held_events_are_written_when_many_and_when_the_consumer_stops(
    own: infra.Infra, db: Database
) -> None:
    estate = uuid.uuid4()
    c = consumer(db, linger=600, linger_events=10)
    stop = asyncio.Event()
    nc = await nats.connect(own.nats.url)
    task = asyncio.create_task(c.run(nc.jetstream(), stop))
    try:
        await publish(own.nats.url, [unhandled(estate, s, uuid.uuid4()) for s in range(1, 26)])

        async def written() -> bool:
            return await cursor(db, estate) == 25

        # Long before the linger: 25 held events are more than 10. (The wait includes the
        # durable consumer's creation; a loaded machine once took over 20 s, cause not found.)
        await until("the many held events to be written", written, timeout=90)
        await publish(own.nats.url, [unhandled(estate, s, uuid.uuid4()) for s in range(26, 29)])

        async def holds_three() -> bool:
            return await consumer_state(own.nats.url) == (0, 3)

        await until("the consumer to hold the last three", holds_three)
        assert await cursor(db, estate) == 25
    finally:
        stop.set()
        await task
        await nc.close()
    assert await recorded(db, estate) == list(range(1, 29))
    assert await consumer_state(own.nats.url) == (0, 0)


async def test_two_replicas_apply_a_mixed_stream_once_in_order_and_soon(
    own: infra.Infra, db: Database
) -> None:
    """Every fifth event has a handler. Two replicas share the stream, each holding what it
    fetched: a handled event whose predecessors the other replica holds comes back later, and
    must not wait long."""
    estates = [uuid.uuid4() for _ in range(3)]
    n = 200
    published: dict[tuple[str, int], float] = {}
    lags: list[float] = []

    async def record_with_lag(
        session: AsyncSession, env: common_pb2.EventEnvelope, event: Message
    ) -> None:
        await infra.record_effect(session, env, event)
        lags.append(time.monotonic() - published[(env.estate_id, env.sequence)])

    stop = asyncio.Event()
    clients = [await nats.connect(own.nats.url) for _ in range(2)]
    replicas = [
        Consumer(db, "kittest", "identity", {events_pb2.EstateCreated: record_with_lag})
        for _ in clients
    ]
    tasks = [
        asyncio.create_task(r.run(c.jetstream(), stop))
        for r, c in zip(replicas, clients, strict=True)
    ]
    nc = await nats.connect(own.nats.url)
    js = nc.jetstream()
    try:
        started = time.monotonic()
        for seq in range(1, n + 1):
            for estate in estates:
                env = (envelope if seq % 5 == 0 else unhandled)(estate, seq, uuid.uuid4())
                published[(str(estate), seq)] = time.monotonic()
                await js.publish(
                    f"xinyi.identity.v1.{estate}.event",
                    env.SerializeToString(),
                    headers={"Nats-Msg-Id": env.event_id},
                )
            # About 150 events a second, in bursts of three.
            await asyncio.sleep(max(0.0, started + seq * 0.02 - time.monotonic()))

        async def caught_up() -> bool:
            return all([await cursor(db, e) == n for e in estates])

        await until("both replicas to catch up", caught_up, timeout=60)
        await asyncio.sleep(0.5)  # anything applied twice would show up now
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await nc.close()
        for c in clients:
            await c.close()
    applied = await infra.applied_by_estate(db)
    for estate in estates:
        assert applied[str(estate)] == list(range(5, n + 1, 5))
        assert await recorded(db, estate) == list(range(1, n + 1))
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)]
    print(f"handled event lag with two replicas: p50 {lags[len(lags) // 2]:.3f} s, p99 {p99:.3f} s")
    # The linger (0.25 s) and the early events held bound it; generous on a loaded machine
    # (redelivered with a backoff instead, p99 was 7 s there).
    assert p99 < 4.0
