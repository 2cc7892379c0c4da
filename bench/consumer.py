"""CPU per event of the kit's event consumer (issue 13), measured in a process of its own.

The consumer is set up as `ServiceKit` sets up a service's (tracing, the SQLAlchemy
instrumentation, a pool of the service's size) and follows the voting stream on servers of this
run's own. Events are published straight to JetStream as the outbox relay publishes them, in
bursts of 1 to `--burst` events at `--rate` events per second, over `--estates` estates. Two
phases: events the consumer has no handler for (SuggestionUpdated), then events whose handler
writes a row (VoteRecorded). Each reports the consumer process's CPU per event (read from
/proc, less its idle CPU), its PostgreSQL backends' CPU per event, and the events per fetch.

    python -m bench.consumer                                 # 1,500 events a phase, 100/s
    python -m bench.consumer --events 800 --rate 40 --burst 3   # small batches
    python -m bench.consumer --only handler --events 3000       # one phase, e.g. for py-spy:
                                                                # the consumer's pid is on stderr
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import nats
from google.protobuf import any_pb2
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import events_pb2
from xinyi_dev.embedded import EmbeddedNats, EmbeddedPostgres
from xinyi_kit.bus import connect, ensure_stream, subject
from xinyi_kit.consumer import Consumer
from xinyi_kit.db import Database, estate_rls_sql
from xinyi_kit.schema import kit_ddl
from xinyi_kit.telemetry import setup_tracing

SCHEMA = "benchconsumer"
ROLE = "xinyi_benchconsumer"
PASSWORD = "bench-consumer-password"
SOURCE = "voting"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _backends_cpu(role: str) -> float:
    """CPU seconds of the PostgreSQL backends connected as `role` (their process titles say)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            title = Path(entry.path, "cmdline").read_bytes()
            if title.startswith(f"postgres: {role} ".encode()):
                total += _cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


async def _create_schema(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' NOBYPASSRLS;"
            f"CREATE ROLE {ROLE}_owner NOLOGIN;"
            f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {ROLE}_owner;"
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE};"
            f"SET ROLE {ROLE}_owner; SET search_path TO {SCHEMA};"
        )
        await conn.execute(kit_ddl())
        await conn.execute(
            "CREATE TABLE notices (estate_id uuid NOT NULL, event_id uuid NOT NULL, "
            "ballot_id uuid NOT NULL, receipt text NOT NULL, PRIMARY KEY (estate_id, event_id));"
            + estate_rls_sql("notices")
        )
        await conn.execute(
            f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {SCHEMA} TO {ROLE}"
        )
    finally:
        await conn.close()


class Fetches:
    """Batches fetched and their messages, counted by the consumer process in a shared file."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            path.write_bytes(bytes(16))
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), 16)

    def add(self, messages: int) -> None:
        batches, total = self.read()
        struct.pack_into("qq", self._map, 0, batches + 1, total + messages)

    def read(self) -> tuple[int, int]:
        batches, total = struct.unpack_from("qq", self._map, 0)
        return int(batches), int(total)


# The consumer process ------------------------------------------------------------------------


class CountingConsumer(Consumer):
    """The kit's consumer, counting what each fetch brought."""

    def __init__(self, fetches: Fetches, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetches = fetches

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        self.fetches.add(len(msgs))
        await super().handle_batch(msgs)


async def _write_notice(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, events_pb2.VoteRecorded)
    await session.execute(
        text(
            "INSERT INTO notices (estate_id, event_id, ballot_id, receipt) VALUES (:e, :i, :b, :r)"
        ),
        {
            "e": uuid.UUID(envelope.estate_id),
            "i": uuid.UUID(envelope.event_id),
            "b": uuid.UUID(event.ballot_id),
            "r": event.receipt_code,
        },
    )


async def _consume(database_url: str, nats_url: str, fetches: str) -> None:
    """A consumer of the voting stream, set up as `ServiceKit` sets up a service's."""
    provider = setup_tracing(SCHEMA)
    db = Database(database_url, SCHEMA, app_name=SCHEMA)
    SQLAlchemyInstrumentor().instrument(engine=db.engine.sync_engine, tracer_provider=provider)
    consumer = CountingConsumer(
        Fetches(Path(fetches)), db, SCHEMA, SOURCE, {events_pb2.VoteRecorded: _write_notice}
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await connect(nats_url, SCHEMA)
    await consumer.run(nc.jetstream(), stop)
    await nc.close()
    await db.close()


# The driver ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    events: int
    seconds: float
    consumer_cpu: float
    backends_cpu: float
    idle_per_second: float
    fetched: tuple[int, int]  # batches, messages

    def as_json(self) -> dict[str, float | str]:
        busy = self.consumer_cpu - self.idle_per_second * self.seconds
        return {
            "phase": self.name,
            "events": self.events,
            "events_per_second": round(self.events / self.seconds, 1),
            "consumer_cpu_ms_per_event": round(busy / self.events * 1000, 3),
            "consumer_cpu_ms_per_event_with_idle": round(self.consumer_cpu / self.events * 1000, 3),
            "postgres_cpu_ms_per_event": round(self.backends_cpu / self.events * 1000, 3),
            "events_per_fetch": round(self.fetched[1] / max(1, self.fetched[0]), 1),
        }


class Emitter:
    """Voting events of a few estates, numbered 1, 2, ... per estate, as the relay sends them."""

    def __init__(self, js: JetStreamContext, estates: int, seed: int) -> None:
        self.js = js
        self.estates = [uuid.uuid4() for _ in range(estates)]
        self.last = dict.fromkeys(self.estates, 0)
        self.random = random.Random(seed)

    @property
    def published(self) -> int:
        return sum(self.last.values())

    async def burst(self, size: int, make: Callable[[uuid.UUID], tuple[str, Message]]) -> None:
        sends = []
        for _ in range(size):
            estate = self.random.choice(self.estates)
            self.last[estate] += 1
            name, event = make(estate)
            payload = any_pb2.Any()
            payload.Pack(event)
            event_id = uuid.uuid4()
            envelope = common_pb2.EventEnvelope(
                event_id=str(event_id),
                estate_id=str(estate),
                sequence=self.last[estate],
                emitter=SOURCE,
                payload=payload,
            )
            trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
            sends.append(
                self.js.publish(
                    subject(SOURCE, estate, name),
                    envelope.SerializeToString(),
                    headers={"Nats-Msg-Id": str(event_id), "traceparent": trace},
                )
            )
        await asyncio.gather(*sends)


def _unhandled(estate: uuid.UUID) -> tuple[str, Message]:
    return "suggestion_updated", events_pb2.SuggestionUpdated(
        estate_id=str(estate), suggestion_id=str(uuid.uuid4()), state="submitted"
    )


def _handled(estate: uuid.UUID) -> tuple[str, Message]:
    return "vote_recorded", events_pb2.VoteRecorded(
        estate_id=str(estate),
        ballot_id=str(uuid.uuid4()),
        receipt_code=uuid.uuid4().hex[:12],
        voter_user_id=str(uuid.uuid4()),
    )


PHASES = {"no-handler": _unhandled, "handler": _handled}


async def _applied(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(f"SELECT coalesce(sum(last_seq), 0) FROM {SCHEMA}.inbox_cursor"))


async def _caught_up(conn: asyncpg.Connection, emitter: Emitter) -> None:
    deadline = time.monotonic() + 120
    while await _applied(conn) < emitter.published:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the consumer applied {await _applied(conn)} events of {emitter.published}"
            )
        await asyncio.sleep(0.05)


async def _phase(
    name: str,
    make: Callable[[uuid.UUID], tuple[str, Message]],
    args: argparse.Namespace,
    emitter: Emitter,
    admin: asyncpg.Connection,
    consumer: tuple[int, Fetches],
    idle_per_second: float,
) -> Phase:
    pid, fetches = consumer
    sizes: list[int] = []
    while sum(sizes) < args.events:
        sizes.append(min(emitter.random.randint(1, args.burst), args.events - sum(sizes)))
    interval = args.events / args.rate / len(sizes)
    print(f"phase {name} starts", file=sys.stderr, flush=True)
    cpu, backends, fetched = _cpu_seconds(pid), _backends_cpu(ROLE), fetches.read()
    started = time.monotonic()
    for n, size in enumerate(sizes):
        await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
        await emitter.burst(size, make)
    await _caught_up(admin, emitter)
    seconds = time.monotonic() - started
    return Phase(
        name,
        args.events,
        seconds,
        _cpu_seconds(pid) - cpu,
        _backends_cpu(ROLE) - backends,
        idle_per_second,
        (fetches.read()[0] - fetched[0], fetches.read()[1] - fetched[1]),
    )


async def _drive(
    args: argparse.Namespace, pg: EmbeddedPostgres, nats_url: str, consumer: tuple[int, Fetches]
) -> None:
    pid = consumer[0]
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    nc = await nats.connect(nats_url)
    admin = await asyncpg.connect(pg.admin_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, SOURCE)
        emitter = Emitter(js, args.estates, args.seed)
        # Warm up (imports, the pool, prepared statements), then the consumer's idle CPU.
        for _ in range(20):
            await emitter.burst(5, _unhandled)
            await emitter.burst(5, _handled)
        await _caught_up(admin, emitter)
        idle = _cpu_seconds(pid)
        await asyncio.sleep(3)
        idle_per_second = (_cpu_seconds(pid) - idle) / 3
        phases = [
            await _phase(name, make, args, emitter, admin, consumer, idle_per_second)
            for name, make in PHASES.items()
            if args.only in (None, name)
        ]
        handled = 100 + (args.events if args.only in (None, "handler") else 0)
        notices = await admin.fetchval(f"SELECT count(*) FROM {SCHEMA}.notices")
        if notices != handled:
            raise RuntimeError(f"{notices} notices written for {handled} handled events")
    finally:
        await admin.close()
        await nc.close()
    load_at_end = [round(x, 2) for x in os.getloadavg()]
    print(
        json.dumps(
            {
                "rate": args.rate,
                "burst": f"1-{args.burst}",
                "estates": args.estates,
                "idle_consumer_cpu_ms_per_second": round(idle_per_second * 1000, 2),
                "phases": [p.as_json() for p in phases],
                "load_average": {"start": load_at_start, "end": load_at_end},
            },
            ensure_ascii=False,
            indent=2,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1500, help="events per phase")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--burst", type=int, default=20, help="largest burst")
    parser.add_argument("--estates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", choices=list(PHASES), help="run one phase")
    # The consumer process itself, started by the driver.
    parser.add_argument("--consume", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        asyncio.run(_consume(*args.consume))
        return
    with tempfile.TemporaryDirectory(prefix="xinyi-bench-consumer-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        broker = EmbeddedNats(Path(tmp) / "nats")
        pg.start()
        broker.start()
        child: subprocess.Popen[bytes] | None = None
        try:
            asyncio.run(_create_schema(pg.admin_url))
            url = pg.url("postgres", ROLE, PASSWORD).replace(
                "postgresql://", "postgresql+asyncpg://"
            )
            fetches = Path(tmp) / "fetches"
            counted = Fetches(fetches)
            log_path = Path(tmp) / "consumer.log"
            with log_path.open("wb") as log:
                child = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "bench.consumer"),
                        *("--consume", url, broker.url, str(fetches)),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                print(f"consumer pid {child.pid}", file=sys.stderr, flush=True)
                try:
                    asyncio.run(_drive(args, pg, broker.url, (child.pid, counted)))
                except Exception:
                    print(log_path.read_text()[-4000:], file=sys.stderr)
                    raise
        finally:
            if child is not None:
                child.send_signal(signal.SIGTERM)
                child.wait(15)
            broker.stop()
            pg.stop()


if __name__ == "__main__":
    main()
