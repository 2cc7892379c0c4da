"""gRPC plumbing: the server with health, reflection and the kit's interceptors; client channels."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry import propagate
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from prometheus_client import Counter, Histogram

from xinyi_kit import auth
from xinyi_kit.db import database_fault
from xinyi_kit.errors import DomainError, InvalidArgument, RateLimited
from xinyi_kit.telemetry import current_trace_id, spans_recorded

log = logging.getLogger(__name__)

HANDLED = Counter("xinyi_grpc_server_handled_total", "gRPC calls handled", ["method", "code"])
LATENCY = Histogram(
    "xinyi_grpc_server_seconds",
    "gRPC call latency",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

DEFAULT_DEADLINE_SECONDS = 5.0
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Access tokens of city-wide roles list many estates; gRPC's default allows 8-16 KiB.
MAX_METADATA_BYTES = 64 * 1024
# The longest error sentence sent; 1,000 characters are at most 4 kB of UTF-8.
MAX_ERROR_CHARS = 1000


def nul_field(message: Any, prefix: str = "") -> str | None:
    """The path of the first text field of `message` that holds a NUL character, if any.

    PostgreSQL cannot store NUL in text, so such a request would fail deep inside a
    transaction; it is refused up front, naming the field."""
    for descriptor, value in message.ListFields():
        name = f"{prefix}{descriptor.name}"
        if descriptor.type == descriptor.TYPE_STRING:
            values = value if descriptor.is_repeated else (value,)
            if any("\x00" in v for v in values):
                return name
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            if descriptor.message_type.GetOptions().map_entry:
                items = [v for kv in value.items() for v in kv]
            else:
                items = list(value) if descriptor.is_repeated else [value]
            for item in items:
                if isinstance(item, str):
                    found = name if "\x00" in item else None
                elif hasattr(item, "ListFields"):
                    found = nul_field(item, f"{name}.")
                else:
                    continue
                if found:
                    return found
    return None


class KitServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Binds the caller's principal, maps domain errors to status codes, counts and times calls.

    An unexpected exception is logged with its trace id and answered INTERNAL with only that id,
    so no internals leak to callers.
    """

    def __init__(self, verifier: auth.TokenVerifier | None) -> None:
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method: str = details.method
        inner = handler.unary_unary
        verifier = self._verifier

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                principal = None
                metadata = dict(context.invocation_metadata() or ())
                token = auth.bearer(metadata.get("authorization"))
                if token is not None and verifier is not None:
                    principal = await verifier.verify(token)
                bound = auth.bind(principal, metadata.get("x-client-ip", ""), token or "")
                try:
                    if (field := nul_field(request)) is not None:
                        raise InvalidArgument(f"{field} must not contain the NUL character")
                    return await inner(request, context)
                finally:
                    auth.unbind(bound)
            except DomainError as exc:
                code = exc.code
                trailing = []
                if exc.problem_code:
                    trailing.append(("xinyi-problem-code", exc.problem_code))
                if isinstance(exc, RateLimited):
                    trailing.append(("retry-after", str(exc.retry_after)))
                if trailing:
                    context.set_trailing_metadata(tuple(trailing))
                # The sentence travels as metadata, which clients cap (8-64 KiB): one that quotes
                # a long input would reach the caller as RESOURCE_EXHAUSTED instead.
                message = exc.message
                if len(message) > MAX_ERROR_CHARS:
                    message = message[: MAX_ERROR_CHARS - 1] + "…"
                await context.abort(exc.code, message)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except grpc.aio.AioRpcError as exc:
                # A service this one called refused: pass its answer on, a fault as retryable.
                code = exc.code()
                if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL):
                    code = grpc.StatusCode.UNAVAILABLE
                passed = [
                    (k, v)
                    for k, v in (exc.trailing_metadata() or ())
                    if k in ("xinyi-problem-code", "retry-after")
                ]
                if passed:
                    context.set_trailing_metadata(tuple(passed))
                await context.abort(code, exc.details() or "a service this call needs failed")
            except Exception as exc:
                fault = database_fault(exc)
                if fault is not None:
                    # Code that reached the database outside `Database`'s transactions.
                    code = fault.code
                    log.warning("%s: %s (%s: %s)", method, fault.message, type(exc).__name__, exc)
                    context.set_trailing_metadata((("xinyi-problem-code", fault.problem_code),))
                    await context.abort(fault.code, fault.message)
                code = grpc.StatusCode.INTERNAL
                trace_id = current_trace_id()
                log.exception("unexpected error in %s", method)
                await context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"internal error; report trace id {trace_id or 'n/a'} to the operator",
                )
            finally:
                HANDLED.labels(method, code.name).inc()
                LATENCY.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            wrapper,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


MAX_CONNECTION_AGE_MS = 5 * 60 * 1000
# How long calls in flight on a connection past its age may still run. A call is never cut for
# the connection's age: the gateway gives an import 120 s, and operators' direct calls (a city's
# month-end assessment, a 10,000-line statement) are given up to 30 minutes. With 30 s here,
# bench-city's statement import was cut ("max connection age") once its connection turned 5.5
# minutes old. No new call starts on such a connection, so a long grace costs nothing.
MAX_CONNECTION_AGE_GRACE_MS = 30 * 60 * 1000


def make_server(verifier: auth.TokenVerifier | None) -> grpc.aio.Server:
    return grpc.aio.server(
        interceptors=[aio_server_interceptor(), KitServerInterceptor(verifier)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.so_reuseport", 0),
            # Clients reconnect every few minutes and so resolve the service's instances anew:
            # replicas added since (an autoscaler's) get their share of calls.
            ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
            ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
        ],
    )


def add_health_and_reflection(
    server: grpc.aio.Server, service_names: Sequence[str]
) -> health_aio.HealthServicer:
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [
            *service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return health


class _DefaultDeadline(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Every call carries a deadline: callers that set none get the default."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = client_call_details._replace(timeout=self._seconds)
        return await continuation(client_call_details, request)


class _TraceContextCall:
    """A method of a channel whose spans are never recorded: the call carries the caller's trace
    context (traceparent) and, if unary-unary, the default deadline, without interceptors.

    The same as OpenTelemetry's client interceptor and `_DefaultDeadline` less their cost: an
    intercepted call runs as an extra task through gRPC's interceptor chain, and the interceptor
    starts a client span and awaits the call's status only for that span, never recorded here.
    """

    def __init__(self, inner: Any, deadline_seconds: float | None) -> None:
        self._inner = inner
        self._deadline = deadline_seconds

    def __call__(
        self, request: Any, *, timeout: float | None = None, metadata: Any = None, **kwargs: Any
    ) -> Any:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if carrier:
            metadata = (*(metadata or ()), *carrier.items())
        if timeout is None:
            timeout = self._deadline
        return self._inner(request, timeout=timeout, metadata=metadata, **kwargs)


class _TraceContextChannel(grpc.aio.Channel):  # type: ignore[misc]
    """A channel whose calls are `_TraceContextCall`s (see `channel`)."""

    def __init__(self, inner: grpc.aio.Channel, deadline_seconds: float) -> None:
        self._inner = inner
        self._deadline = deadline_seconds

    async def __aenter__(self) -> _TraceContextChannel:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _TraceContextCall(self._inner.unary_unary(*args, **kwargs), self._deadline)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _TraceContextCall(self._inner.unary_stream(*args, **kwargs), None)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _TraceContextCall(self._inner.stream_unary(*args, **kwargs), None)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _TraceContextCall(self._inner.stream_stream(*args, **kwargs), None)


def channel(addr: str, *, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> grpc.aio.Channel:
    """A channel to a service. Where `addr` resolves to several instances (a headless
    Kubernetes service, or `ipv4:host:port,host:port`), calls take turns among those that are
    up; gRPC's default would pin every call to the first.

    Every call carries the current trace context and a deadline. Where this process records
    spans, OpenTelemetry's interceptors do that with a client span per call; where it records
    none, the channel adds both itself (`_TraceContextChannel`)."""
    recorded = spans_recorded()
    inner = grpc.aio.insecure_channel(
        addr,
        interceptors=[*aio_client_interceptors(), _DefaultDeadline(deadline_seconds)]
        if recorded
        else None,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
        ],
    )
    return inner if recorded else _TraceContextChannel(inner, deadline_seconds)


async def check_health(ch: grpc.aio.Channel, deadline: float = 2.0, service: str = "") -> str:
    """The standard health state of a server (or of one name it serves: "liveness"): SERVING,
    NOT_SERVING, ... or UNREACHABLE."""
    stub = health_pb2_grpc.HealthStub(ch)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        return (
            "UNREACHABLE"
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            else exc.code().name
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
