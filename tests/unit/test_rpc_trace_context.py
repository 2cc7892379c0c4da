"""A service call carries the caller's trace context and a deadline, whether this process records
spans (OpenTelemetry's interceptors) or not (`rpc.channel` adds both itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from tests.unit.test_tracing_setup import ENDPOINTS

METHOD = "/test.Echo/Call"

# Runs in a process of its own, since a process sets its tracer provider once: calls the echo
# server through `rpc.channel` inside a span and prints what the server saw.
CLIENT = """
import asyncio, json, sys
from opentelemetry import trace
from xinyi_kit import rpc
from xinyi_kit.telemetry import setup_tracing, spans_recorded

async def main() -> None:
    provider = setup_tracing("unit")
    channel = rpc.channel(sys.argv[1], deadline_seconds=7)
    call = channel.unary_unary(sys.argv[2])
    with trace.get_tracer("unit").start_as_current_span("request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        plain = json.loads(await call(b"", metadata=(("authorization", "Bearer t"),)))
        timed = json.loads(await call(b"", timeout=30))
    try:
        await call(b"fail")
    except Exception as exc:
        failed = exc.code().name, exc.details(), dict(exc.trailing_metadata())
    await channel.close()
    provider.shutdown()
    print(json.dumps({"recorded": spans_recorded(), "trace_id": trace_id, "plain": plain,
                      "timed": timed, "failed": failed}))

asyncio.run(main())
"""


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"fail":
        context.set_trailing_metadata((("xinyi-problem-code", "gone"),))
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return json.dumps(
        {"metadata": dict(context.invocation_metadata()), "remaining": context.time_remaining()}
    ).encode()


@pytest.fixture(scope="module")
def echo_addr() -> Iterator[str]:
    """A real gRPC server that answers with the metadata and deadline each call arrived with."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("test.Echo", {"Call": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def _run_client(addr: str, env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in (*ENDPOINTS, "OTEL_TRACES_SAMPLER")}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, addr, METHOD],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("env", "recorded"),
    [
        ({}, False),
        # Nothing listens there; the batch exporter only drops what it cannot send.
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, True),
    ],
    ids=["ids-only", "recorded"],
)
def test_calls_carry_the_trace_context_and_a_deadline(
    echo_addr: str, env: dict[str, str], recorded: bool
) -> None:
    seen = _run_client(echo_addr, env)
    assert seen["recorded"] is recorded
    plain, timed = seen["plain"], seen["timed"]
    assert isinstance(plain, dict) and isinstance(timed, dict)
    # The service continues the caller's trace ...
    for reply in (plain, timed):
        version, trace_id, span_id, _flags = reply["metadata"]["traceparent"].split("-")
        assert version == "00" and trace_id == seen["trace_id"] and len(span_id) == 16
    # ... beside the caller's own metadata.
    assert plain["metadata"]["authorization"] == "Bearer t"
    # A call without a timeout gets the channel's default; one with a timeout keeps its own.
    # (gRPC sends a timeout rounded up, so the server may see a little more than was set.)
    assert 5 < plain["remaining"] < 8
    assert 25 < timed["remaining"] < 31
    # A refusal reaches the caller as it was sent.
    assert seen["failed"] == ["NOT_FOUND", "no such thing", {"xinyi-problem-code": "gone"}]
