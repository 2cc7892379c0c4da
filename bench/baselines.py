"""The machine's own limits, measured again in each run with plain libraries (LIMITS.md): raw
asyncpg writes of ledger-shaped rows, NATS JetStream publishes, a bare grpc.aio round trip and a
bare FastAPI endpoint. `python -m bench.baselines grpc|http PORT` serves the two bare servers."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import grpc
import httpx
import nats
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bench.harness import Load, Request, http_load, run_load, summarise
from xinyi_dev.embedded import free_port

_TABLES = (
    "CREATE TEMP TABLE e (id uuid, estate uuid, idx bigint, hash bytea, body text);"
    "CREATE TEMP TABLE l (entry uuid, n int, account text, amount bigint)"
)


def _entry(estate: uuid.UUID, i: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    entry = uuid.uuid4()
    row = (entry, estate, i, uuid.uuid4().bytes * 2, "income")
    return row, [(entry, 1, "1001", 100), (entry, 2, "4001", -100)]


async def copy_entries(dsn: str, entries: int) -> float:
    """Entries/s of ledger-shaped rows (entry + 2 lines, uuid, sha256): COPY, 1,000 per
    transaction, one connection."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_TABLES)
        estate = uuid.uuid4()
        started = time.perf_counter()
        for start in range(0, entries, 1000):
            rows, lines = [], []
            for i in range(start, min(start + 1000, entries)):
                row, two = _entry(estate, i)
                rows.append(row)
                lines += two
            async with conn.transaction():
                await conn.copy_records_to_table("e", records=rows)
                await conn.copy_records_to_table("l", records=lines)
        return entries / (time.perf_counter() - started)
    finally:
        await conn.close()


async def entry_per_transaction(dsn: str, entries: int) -> float:
    """The same rows, one transaction per entry (`execute` + `executemany`), one connection."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_TABLES)
        estate = uuid.uuid4()
        started = time.perf_counter()
        for i in range(entries):
            row, lines = _entry(estate, i)
            async with conn.transaction():
                await conn.execute("INSERT INTO e VALUES ($1, $2, $3, $4, $5)", *row)
                await conn.executemany("INSERT INTO l VALUES ($1, $2, $3, $4)", lines)
        return entries / (time.perf_counter() - started)
    finally:
        await conn.close()


async def nats_publish(url: str, messages: int) -> dict[str, float]:
    """JetStream publishes (file storage) waiting for each ack, and with 256 in flight: msg/s,
    and the p99 of one acknowledged publish in ms."""
    nc = await nats.connect(url)
    stream = f"BENCH_{uuid.uuid4().hex[:8]}"
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        subject = f"{stream.lower()}.e"
        payload = b"x" * 200
        latencies = []
        started = time.perf_counter()
        for _ in range(messages):
            began = time.perf_counter()
            await js.publish(subject, payload)
            latencies.append(time.perf_counter() - began)
        each = summarise(latencies, time.perf_counter() - started)
        started = time.perf_counter()
        for first in range(0, messages, 256):
            batch = range(first, min(first + 256, messages))
            await asyncio.gather(*(js.publish(subject, payload) for _ in batch))
        in_flight = messages / (time.perf_counter() - started)
        await js.delete_stream(stream)
        return {
            "each_per_second": each.per_second,
            "each_p99_ms": each.p99_ms,
            "pipelined": in_flight,
        }
    finally:
        await nc.close()


@contextlib.contextmanager
def _serving(kind: str) -> Iterator[int]:
    """A bare server of `kind` in a process of its own, on a free port, until the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.baselines", kind, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the bare {kind} server exited with {proc.returncode}")
            with contextlib.suppress(OSError, httpx.HTTPError):
                if kind == "http":
                    httpx.get(f"http://127.0.0.1:{port}/item", timeout=1).raise_for_status()
                else:
                    import socket

                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def grpc_round_trip(calls: int, concurrency: int = 32) -> Load:
    """Unary grpc.aio round trips (the standard health check), server in another process."""
    with _serving("grpc") as port:

        async def load() -> Load:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                request = health_pb2.HealthCheckRequest()

                async def call(_: int) -> None:
                    await stub.Check(request, timeout=30)

                await run_load(call, min(calls, 200), concurrency)  # warm up
                return await run_load(call, calls, concurrency)

        return asyncio.run(load())


def fastapi_endpoint(requests: int, connections: int = 64) -> dict[str, Load]:
    """A bare FastAPI endpoint under uvicorn (one worker): at `connections` connections, and
    one request at a time (the baseline of single-request latencies)."""
    with _serving("http") as port:
        base = f"http://127.0.0.1:{port}"

        def item(_: int) -> Request:
            return Request("GET", "/item")

        async def load() -> dict[str, Load]:
            await http_load(base, item, min(requests, 500), connections)  # warm up
            wide = await http_load(base, item, requests, connections)
            single = await http_load(base, item, min(requests, 500), 1)
            return {"wide": wide, "single": single}

        return asyncio.run(load())


def _serve_grpc(port: int) -> None:
    async def serve() -> None:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


def _serve_http(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/item")
    async def item() -> dict[str, object]:
        return {"id": "item", "ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    {"grpc": _serve_grpc, "http": _serve_http}[sys.argv[1]](int(sys.argv[2]))
