"""One way to be a service: `ServiceKit` wires config, database, gRPC, events and telemetry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from nats.aio.client import Client
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from xinyi.common.v1 import common_pb2, common_pb2_grpc
from xinyi_kit import bus, clock, rpc
from xinyi_kit.audit import AuditApi
from xinyi_kit.auth import TokenVerifier
from xinyi_kit.config import KitSettings
from xinyi_kit.consumer import Consumer, Handlers
from xinyi_kit.db import Database, asyncpg_dsn
from xinyi_kit.eventlog import EventLogApi
from xinyi_kit.heap import freeze_startup_heap
from xinyi_kit.outbox import Outbox, Relay
from xinyi_kit.telemetry import setup_logging, setup_tracing, start_metrics_server

log = logging.getLogger(__name__)

Adder = Callable[[Any, grpc.aio.Server], None]
StartHook = Callable[[], Awaitable[None]]
Background = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


# The gRPC health name a liveness probe asks for (`grpc: {service: liveness}` in the chart).
LIVENESS = "liveness"


class ServiceKit:
    """What a service is: its servicers, the streams it consumes, and its start-up hooks."""

    def __init__(self, name: str, settings: KitSettings) -> None:
        self.name = name
        self.settings = settings
        clock.install(clock.Clock(settings.test_clock_file))
        setup_logging(name, settings.log_level)
        self._tracer_provider = setup_tracing(name)
        self.db = Database(
            settings.database_url, schema=name, pool_size=settings.db_pool_size, app_name=name
        )
        if self._tracer_provider.sampler is not ALWAYS_OFF:
            # A span per statement costs every request; it is worth it only where spans go out.
            SQLAlchemyInstrumentor().instrument(
                engine=self.db.engine.sync_engine, tracer_provider=self._tracer_provider
            )
        self.outbox = Outbox(name)
        self.nats: Client | None = None
        self._servicers: list[tuple[Adder, Any, str]] = []
        self._consumers: list[Consumer] = []
        self._start_hooks: list[StartHook] = []
        self._background: list[tuple[str, Background]] = []
        self._jwks_source: Callable[[], Awaitable[str]] = self._jwks_from_identity
        self._identity_channel: grpc.aio.Channel | None = None
        self.add_servicer(
            common_pb2_grpc.add_AuditServiceServicer_to_server,
            AuditApi(self.db, name),
            common_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
        )
        self.add_servicer(
            common_pb2_grpc.add_EventLogServiceServicer_to_server,
            EventLogApi(self.db),
            common_pb2.DESCRIPTOR.services_by_name["EventLogService"].full_name,
        )

    def add_servicer(self, adder: Adder, servicer: Any, full_name: str) -> None:
        self._servicers.append((adder, servicer, full_name))

    def consume(self, source: str, handlers: Handlers) -> Consumer:
        consumer = Consumer(
            self.db, self.name, source, handlers, replicas=self.settings.stream_replicas
        )
        self._consumers.append(consumer)
        return consumer

    def on_start(self, hook: StartHook) -> None:
        self._start_hooks.append(hook)

    def background(self, name: str, task: Background) -> None:
        """A loop the service runs beside its calls and consumers until it is told to stop."""
        self._background.append((name, task))

    def use_jwks(self, source: Callable[[], Awaitable[str]]) -> None:
        """Identity verifies with its own keys instead of asking itself over gRPC."""
        self._jwks_source = source

    def identity_channel(self) -> grpc.aio.Channel:
        """A channel to identity, for the few consistent reads a service needs from it."""
        if self._identity_channel is None:
            self._identity_channel = rpc.channel(self.settings.identity_addr)
        return self._identity_channel

    async def _jwks_from_identity(self) -> str:
        from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc

        stub = identity_pb2_grpc.IdentityServiceStub(self.identity_channel())
        reply = await stub.GetJwks(identity_pb2.GetJwksRequest(), timeout=3)
        return str(reply.jwks_json)

    def run(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        start_metrics_server(self.settings.metrics_port)

        self.nats = await self._connect_nats(stop)
        if self.nats is None:
            return
        js = self.nats.jetstream()
        await bus.ensure_stream(js, self.name, self.settings.stream_replicas)
        for hook in self._start_hooks:
            await hook()

        freeze_startup_heap()
        server = rpc.make_server(TokenVerifier(self._jwks_source))
        for adder, servicer, _ in self._servicers:
            adder(servicer, server)
        names = [full for _, _, full in self._servicers]
        health = rpc.add_health_and_reflection(server, names)
        # Liveness is the process answering, whatever its dependencies do: a database outage
        # makes the service not ready (the other names), never restarted.
        await health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        port = server.add_insecure_port(f"0.0.0.0:{self.settings.grpc_port}")
        await server.start()
        log.info("%s serving gRPC on port %d", self.name, port)

        relay = Relay(asyncpg_dsn(self.settings.database_url), self.name, self.outbox, js)
        tasks = [
            asyncio.create_task(relay.run(stop), name="relay"),
            asyncio.create_task(self._watch_health(health, names, stop), name="health"),
            *(asyncio.create_task(c.run(js, stop), name=c.durable) for c in self._consumers),
            *(asyncio.create_task(task(stop), name=name) for name, task in self._background),
        ]
        await stop.wait()
        log.info("%s stopping: draining calls and the outbox", self.name)
        await health.enter_graceful_shutdown()
        await server.stop(self.settings.shutdown_grace_seconds)
        done, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                log.error("task %s ended with %r", task.get_name(), task.exception())
        # The relay and consumers have stopped (their acks are sent): close, not drain, which
        # would wait on the pull subscriptions' pending fetches and leave a cancelled gather
        # behind for asyncio to report.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nats.close(), 5)
        if self._identity_channel is not None:
            await self._identity_channel.close()
        await self.db.close()
        self._tracer_provider.shutdown()
        log.info("%s stopped", self.name)

    async def _connect_nats(self, stop: asyncio.Event) -> Client | None:
        delay = 0.2
        while not stop.is_set():
            try:
                return await bus.connect(self.settings.nats_url, self.name)
            except Exception as exc:
                log.warning("NATS at %s not reachable yet: %s", self.settings.nats_url, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)
        return None

    async def _watch_health(self, health: Any, names: list[str], stop: asyncio.Event) -> None:
        """SERVING only while the service's own dependencies (database, NATS) answer."""
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        while not stop.is_set():
            ok = self.nats is not None and self.nats.is_connected and await self.db.ping()
            for name in ["", *names]:
                await health.set(name, serving if ok else not_serving)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
