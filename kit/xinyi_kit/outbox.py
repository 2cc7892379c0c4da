"""Transactional outbox: events are written with the state change and relayed to JetStream.

An estate's events are numbered 1, 2, 3... (`seq`) when their transaction commits, by a deferred
trigger (`schema.outbox_numbering_statements`): taking the estate's counter at the first emit
would make every writer of the estate wait for the others' transactions to end. So the stored
envelope has no sequence; whoever reads rows out of the outbox sets it from `seq`.

The outbox rows are never deleted: they are the emitter's permanent event log, from which any
read model can be rebuilt after the stream's retention has dropped them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from nats.js import JetStreamContext
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi_kit import clock
from xinyi_kit.bus import sleep_unless, subject
from xinyi_kit.db import PLATFORM, SCOPE_SETTING
from xinyi_kit.telemetry import extract_context, inject_context

log = logging.getLogger(__name__)
tracer = trace.get_tracer("xinyi.outbox")

PUBLISHED = Counter("xinyi_outbox_published_total", "Events relayed to JetStream", ["emitter"])
BACKLOG = Gauge(
    "xinyi_outbox_backlog", "Outbox rows seen unpublished by the last relay pass", ["emitter"]
)


class Outbox:
    """Writes events into the current transaction of a service's own schema."""

    def __init__(self, emitter: str) -> None:
        self.emitter = emitter
        self.channel = f"{emitter}_outbox"

    async def emit(
        self, session: AsyncSession, estate_id: uuid.UUID, event_name: str, event: Message
    ) -> None:
        await self.emit_many(session, estate_id, [(event_name, event)])

    async def emit_many(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        events: Sequence[tuple[str, Message]],
    ) -> None:
        """Writes an estate's events into the current transaction with one multi-row insert
        however many there are (an import emits thousands). They are numbered at commit, in
        this order."""
        if not events:
            return
        occurred_at = clock.now()
        headers = json.dumps(inject_context())
        rows = [
            self.row(estate_id, event_name, event, occurred_at, headers)
            for event_name, event in events
        ]
        await session.execute(
            text(
                "INSERT INTO outbox (estate_id, event_id, subject, event_type, envelope, "
                "trace_headers, occurred_at) VALUES (:e, :id, :subj, :t, :env, "
                "CAST(:h AS jsonb), :at)"
            ),
            rows,
        )
        # Delivered at commit, so the relay wakes only for events that exist.
        await session.execute(text("SELECT pg_notify(:c, '')"), {"c": self.channel})

    def row(
        self,
        estate_id: uuid.UUID,
        event_name: str,
        event: Message,
        occurred_at: datetime,
        headers: str,
    ) -> dict[str, Any]:
        """An outbox row's values (`headers`: the trace context as JSON), for writers that
        insert rows themselves (the ledger's group commit)."""
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(occurred_at)
        event_id = uuid.uuid4()
        payload = any_pb2.Any()
        payload.Pack(event)
        envelope = common_pb2.EventEnvelope(
            event_id=str(event_id),
            estate_id="" if estate_id == PLATFORM else str(estate_id),
            occurred_at=stamp,
            emitter=self.emitter,
            payload=payload,
        )
        return {
            "e": estate_id,
            "id": event_id,
            "subj": subject(self.emitter, estate_id, event_name),
            "t": event.DESCRIPTOR.full_name,
            "env": envelope.SerializeToString(),
            "h": headers,
            "at": occurred_at,
        }


class Relay:
    """Publishes unpublished outbox rows to JetStream, many in flight, and marks them in batches.

    One relay per service is active at a time (a PostgreSQL advisory lock elects it). It takes
    rows in insertion order (`id`), which within an estate need not be commit order, and
    publishes each batch in the estate's sequence order; consumers check the order anyway.
    """

    def __init__(
        self,
        dsn: str,
        schema: str,
        outbox: Outbox,
        js: JetStreamContext,
        *,
        batch: int = 1000,
        in_flight: int = 256,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._outbox = outbox
        self._js = js
        self._batch = batch
        self._in_flight = asyncio.Semaphore(in_flight)
        self._wake = asyncio.Event()
        self.leader = False

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._lead(stop)
                backoff = 0.2
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A connection whose server shut down under a query ("cannot switch to state").
                asyncpg.InternalClientError,
                TimeoutError,
            ) as exc:
                log.warning("outbox relay interrupted, retrying: %s", exc)
            except Exception:
                # Whatever it was, the relay goes on: without it the service's events would
                # wait in the outbox until the service restarts.
                log.exception("outbox relay failed, retrying")
            else:
                continue
            self.leader = False
            await sleep_unless(stop, backoff)
            backoff = min(backoff * 2, 5.0)

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._dsn,
            timeout=5,
            server_settings={"search_path": self._schema, SCOPE_SETTING: "system"},
        )

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await self._connect()
        try:
            key = f"relay:{self._schema}"
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                if await sleep_unless(stop, 1.0):
                    return
            self.leader = True
            await conn.add_listener(self._outbox.channel, lambda *_: self._wake.set())
            while not stop.is_set():
                self._wake.clear()
                if await self._drain_once(conn) == 0:
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waiter, stopper}, timeout=1.0, return_when="FIRST_COMPLETED"
                    )
                    waiter.cancel()
                    stopper.cancel()
            # Graceful shutdown: whatever was committed before the stop still goes out.
            while await self._drain_once(conn):
                pass
        finally:
            self.leader = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _drain_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, estate_id, seq, subject, event_id, envelope, trace_headers, event_type "
            "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self._batch,
        )
        BACKLOG.labels(self._outbox.emitter).set(len(rows))
        if not rows:
            return 0
        rows.sort(key=lambda row: (row["estate_id"], row["seq"]))
        results = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        sent = [row["id"] for row, ok in zip(rows, results, strict=True) if ok is True]
        if sent:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]) "
                "AND published_at IS NULL",
                sent,
            )
            PUBLISHED.labels(self._outbox.emitter).inc(len(sent))
        failed = [r for r in results if r is not True]
        if failed:
            raise TimeoutError(f"{len(failed)} of {len(rows)} publishes failed: {failed[0]!r}")
        return len(sent)

    async def _publish(self, row: asyncpg.Record) -> bool:
        stored = json.loads(row["trace_headers"]) if row["trace_headers"] else {}
        async with self._in_flight:
            with tracer.start_as_current_span(
                f"publish {row['event_type']}",
                context=extract_context(stored),
                kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "nats", "messaging.destination": row["subject"]},
            ):
                envelope = common_pb2.EventEnvelope.FromString(bytes(row["envelope"]))
                envelope.sequence = row["seq"]
                headers = {"Nats-Msg-Id": str(row["event_id"]), **inject_context()}
                await self._js.publish(
                    row["subject"], envelope.SerializeToString(), timeout=5, headers=headers
                )
        return True
