"""A consumer in a process of its own, so a test can kill -9 it while it holds events:
python -m tests.kit.consumer_runner DATABASE_URL NATS_URL LINGER ACK_WAIT."""

from __future__ import annotations

import asyncio
import signal
import sys

import nats

from tests.kit import infra
from xinyi.identity.v1 import events_pb2
from xinyi_kit.consumer import Consumer
from xinyi_kit.db import Database


async def main(database_url: str, nats_url: str, linger: str, ack_wait: str) -> None:
    db = Database(database_url, infra.SCHEMA, pool_size=5)
    consumer = Consumer(
        db,
        "kittest",
        "identity",
        {events_pb2.EstateCreated: infra.record_effect},
        linger=float(linger),
        ack_wait=float(ack_wait),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await nats.connect(nats_url)
    await consumer.run(nc.jetstream(), stop)
    await nc.close()
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
