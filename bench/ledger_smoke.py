"""Smoke benchmark of the ledger's hot path, beside the raw PostgreSQL figure measured in the
same run (LIMITS.md): postings/s through gRPC across estates and within one estate.

    make bench            # or: .venv/bin/python bench/ledger_smoke.py [--postings 3000]

Prints a table and writes bench/results/ledger_smoke.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import grpc
import httpx

from xinyi.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform

PASSWORD = "bench-password-1"
RESULTS = Path(__file__).parent / "results"


async def raw_copy_baseline(dsn: str, entries: int) -> float:
    """Entries/s of ledger-shaped rows (entry + 2 lines, uuid, sha256): COPY, 1,000 per tx."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE e (id uuid, estate uuid, idx bigint, hash bytea, body text);"
            "CREATE TEMP TABLE l (entry uuid, n int, account text, amount bigint)"
        )
        estate = uuid.uuid4()
        started = time.perf_counter()
        for start in range(0, entries, 1000):
            rows, lines = [], []
            for i in range(start, min(start + 1000, entries)):
                entry = uuid.uuid4()
                rows.append((entry, estate, i, uuid.uuid4().bytes * 2, "income"))
                lines += [(entry, 1, "1001", 100), (entry, 2, "4001", -100)]
            async with conn.transaction():
                await conn.copy_records_to_table("e", records=rows)
                await conn.copy_records_to_table("l", records=lines)
        return entries / (time.perf_counter() - started)
    finally:
        await conn.close()


async def postings(
    addr: str, token: str, estates: list[str], count: int, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(
        addr, options=[("grpc.max_metadata_size", 64 * 1024)]
    ) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                began = time.perf_counter()
                await stub.PostIncome(
                    ledger_pb2.PostIncomeRequest(
                        estate_id=estates[n % len(estates)],
                        source="parking",
                        amount_fen=100 + n,
                        description="bench",
                    ),
                    metadata=metadata,
                    timeout=30,
                )
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "per_second": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def setup(base: str, operator_password: str, estates: int) -> tuple[str, list[str]]:
    """Estates served by one company whose accountant posts: all through the public API."""
    with httpx.Client(base_url=base, timeout=60) as c:
        token = c.post(
            "/api/v1/auth/token", json={"username": "operator", "password": operator_password}
        ).json()
        c.headers["Authorization"] = f"Bearer {token['access_token']}"
        company = c.post(
            "/api/v1/companies", json={"name": "基准物业", "credit_code": "91510100MA6BENCH01"}
        ).json()["company_id"]
        ids = []
        for n in range(estates):
            estate = c.post("/api/v1/estates", json={"name": f"基准小区{n}"}).json()["estate_id"]
            c.put(
                f"/api/v1/estates/{estate}/company",
                json={"company_id": company, "starts_on": "2020-01-01"},
            ).raise_for_status()
            ids.append(estate)
        user = c.post(
            "/api/v1/users", json={"username": "bench-accountant", "password": PASSWORD}
        ).json()
        c.post(
            "/api/v1/role-grants",
            json={"user_id": user["user_id"], "role": "company_accountant", "company_id": company},
        ).raise_for_status()
        for estate in ids:  # the books open from identity's event
            for _ in range(200):
                if c.get(f"/api/v1/estates/{estate}/ledger/accounts").json():
                    break
                time.sleep(0.05)
    login = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": "bench-accountant", "password": PASSWORD},
        timeout=30,
    )
    return login.json()["access_token"], ids


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # A SIGTERM (a timeout, Ctrl-C in a wrapper) still stops every process this run started.
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser()
    parser.add_argument("--postings", type=int, default=3000)
    parser.add_argument("--estates", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(
            data_dir=Path(tmp),
            http_port=free_port(),
            bootstrap_password="bench-operator-password",
            log_sink=open(Path(tmp) / "platform.log", "w"),  # noqa: SIM115 (lives with the run)
        )
        platform.start()
        try:
            token, estates = setup(platform.gateway_url, platform.operator_password, args.estates)
            addr = f"127.0.0.1:{platform.ports['ledger']}"
            assert platform.pg is not None
            raw = asyncio.run(raw_copy_baseline(platform.pg.url("postgres"), 20_000))
            across = asyncio.run(postings(addr, token, estates, args.postings, 32))
            within = asyncio.run(postings(addr, token, estates[:1], args.postings // 3, 32))
        finally:
            platform.stop()
    results = {
        "raw_copy_entries_per_second": round(raw),
        "grpc_single_across_estates": {k: round(v, 1) for k, v in across.items()},
        "grpc_single_within_one_estate": {k: round(v, 1) for k, v in within.items()},
        "ratio_across_to_raw_copy": round(across["per_second"] / raw, 4),
        "concurrency": 32,
        "postings": args.postings,
        "estates": args.estates,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ledger_smoke.json").write_text(json.dumps(results, indent=2))
    print(f"{'measure':<44}{'per second':>12}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'raw asyncpg COPY (entry + 2 lines, 1,000/tx)':<44}{raw:>12,.0f}")
    for name, r in (
        ("gRPC PostIncome, 32 clients, 100 estates", across),
        ("gRPC PostIncome, 32 clients, one estate", within),
    ):
        print(f"{name:<44}{r['per_second']:>12,.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}")
    print(
        "ratio of single postings across estates to raw COPY: "
        f"{results['ratio_across_to_raw_copy']}"
    )


if __name__ == "__main__":
    main()
