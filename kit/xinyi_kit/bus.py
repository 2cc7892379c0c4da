"""NATS JetStream: connections, one stream per emitting service, and subject names."""

from __future__ import annotations

import asyncio
import logging
import uuid

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from xinyi_kit.db import PLATFORM

log = logging.getLogger(__name__)

EMITTERS = ("identity", "ledger", "voting", "disclosure", "notifications")
PLATFORM_TOKEN = "platform"
# Long enough that a relay restarting after a crash republishes inside it and is deduplicated.
DUPLICATE_WINDOW_SECONDS = 300.0


def stream_name(emitter: str) -> str:
    return f"XINYI_{emitter.upper()}"


def subject(emitter: str, estate_id: uuid.UUID, event_name: str) -> str:
    """xinyi.<emitter>.v1.<estate id | platform>.<event>: consumers can follow one estate or all."""
    token = PLATFORM_TOKEN if estate_id == PLATFORM else str(estate_id)
    return f"xinyi.{emitter}.v1.{token}.{event_name}"


def stream_config(emitter: str, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=stream_name(emitter),
        subjects=[f"xinyi.{emitter}.v1.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=90 * 24 * 3600.0,
    )


async def connect(url: str, name: str) -> Client:
    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def ensure_stream(js: JetStreamContext, emitter: str, replicas: int = 1) -> None:
    """Creates the emitter's stream, or brings an existing one to the current configuration."""
    config = stream_config(emitter, replicas)
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleeps, waking early on stop; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False
