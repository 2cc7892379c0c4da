"""The ledger's peak memory across one large upload: a bank statement and a gate export.

    .venv/bin/python -m bench.uploads                         # 10,000 lines; 110,000 stays
    .venv/bin/python -m bench.uploads --lines 50000 --stays 0

The platform starts on servers of its own (as `make bench`). The statement is the onboarding
benchmark's (`prepared_statement`: every line has an income posted for it, so every line is
matched), imported through the ledger's gRPC API as there; the gate export is a per-stay export
in the shipped `gate-sessions` layout, 110,000 stays being about the 8 MiB the gateway takes,
sent through the gateway. The ledger's peak resident size is the kernel's (VmHWM), started
again just before each upload.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.benchmarks import prepared_statement
from bench.harness import SIZES, kernel_peak, reset_peak
from bench.run import bench_platform
from bench.world import BenchError, World
from xinyi_dev.platform import Platform

GATE_HEADER = "订单号,车牌号,入场时间,出场时间,应收金额,实收金额"


def gate_export(stays: int) -> bytes:
    """`stays` paid stays of 5 yuan, one every 150 s from the start of 2025."""
    start, rows = datetime(2025, 1, 1, 8), [GATE_HEADER]
    for n in range(stays):
        entered = start + timedelta(seconds=150 * n)
        left = entered + timedelta(hours=2)
        rows.append(
            f"P{n:014d},川A{n % 100_000:05d},{entered:%Y-%m-%d %H:%M:%S},"
            f"{left:%Y-%m-%d %H:%M:%S},5.00,5.00"
        )
    return ("\n".join(rows) + "\n").encode()


async def measure(platform: Platform, lines: int, stays: int) -> dict[str, Any]:
    """Per upload: its size, seconds, and the ledger's resident MiB before and at its peak."""
    world = World(platform, dataclasses.replace(SIZES["smoke"], statement_lines=lines))
    ledger = platform.procs["ledger"].popen
    assert ledger is not None
    out: dict[str, Any] = {}

    async def upload(name: str, size: int, send: Any) -> Any:
        reset_peak(ledger.pid)
        before = kernel_peak(ledger.pid)
        started = time.perf_counter()
        reply = await send()
        seconds = time.perf_counter() - started
        peak = kernel_peak(ledger.pid)
        if before is None or peak is None:
            raise BenchError("the kernel does not tell the ledger's peak (not Linux?)")
        out[name] = {
            "size": size,
            "seconds": round(seconds, 2),
            "ledger_before_mib": round(before / 2**20, 1),
            "ledger_peak_mib": round(peak / 2**20, 1),
        }
        return reply

    try:
        if lines:
            token, estate_id, content = await prepared_statement(world, lines, "uploads")
            done = await upload(
                "statement_lines",
                lines,
                lambda: world.import_statement(token, estate_id, content),
            )
            if (done.lines_new, done.lines_matched) != (lines, lines):
                raise BenchError(f"statement of {lines} lines: {done}")
        if stays:
            estate_id = await world.bare_estate("gate")
            token = await world.accountant()  # after the estate: a token carries its estates
            content = gate_export(stays)
            reply = await upload(
                "gate_stays",
                stays,
                lambda: world.http.post(
                    f"/api/v1/estates/{estate_id}/takings-imports",
                    params={"source": "parking", "filename": "gate.csv"},
                    content=content,
                    headers={"content-type": "text/csv", "authorization": f"Bearer {token}"},
                ),
            )
            if reply.status_code != 201 or reply.json()["rows_new"] != stays:
                raise BenchError(f"gate export of {stays} stays: {reply.status_code} {reply.text}")
    finally:
        await world.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000, help="statement lines (0: none)")
    parser.add_argument("--stays", type=int, default=110_000, help="gate export stays (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xinyi-uploads-") as tmp:
        platform = bench_platform(Path(tmp))
        platform.start()
        try:
            results = asyncio.run(measure(platform, args.lines, args.stays))
        finally:
            platform.stop()
    for name, r in results.items():
        print(
            f"{name} {r['size']:,}: {r['seconds']} s, ledger {r['ledger_before_mib']} MiB "
            f"before, {r['ledger_peak_mib']} MiB at its peak"
        )


if __name__ == "__main__":
    main()
