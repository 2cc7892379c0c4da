"""A relay in a process of its own, so a test can kill -9 it: python -m tests.kit.relay_runner."""

from __future__ import annotations

import asyncio
import sys

import nats

from xinyi_kit.bus import ensure_stream
from xinyi_kit.outbox import Outbox, Relay


async def main(dsn: str, schema: str, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "identity")
    relay = Relay(dsn, schema, Outbox("identity"), js, batch=50, in_flight=8)
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
