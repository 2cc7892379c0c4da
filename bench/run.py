"""The benchmark suite of issue 13: starts the platform on embedded PostgreSQL and NATS, runs the
benchmarks beside the machine's own limits measured in the same run, prints one table and writes
the results as JSON to bench/results/.

    make bench            # python -m bench.run --size default: a few minutes
    make bench-city       # python -m bench.run --size city: the full sizes
    python -m bench.run --only voting --size default
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.benchmarks import BENCHMARKS, Baselines, memory_figures
from bench.harness import SIZES, Figure, MemorySampler, Size
from bench.world import World
from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform

RESULTS = Path(__file__).parent / "results"
NAMES = (*BENCHMARKS, "memory")


async def run_suite(platform: Platform, size: Size, only: list[str]) -> dict[str, Any]:
    """Runs the chosen benchmarks (every one when `only` is empty) on a running platform; a
    benchmark that fails is reported with its error and the others still run."""
    chosen = [n for n in BENCHMARKS if not only or n in only]
    if only == ["memory"]:
        chosen = ["gateway"]  # memory alone: sampled under the gateway's load
    pids = {name: p.popen.pid for name, p in platform.procs.items() if p.popen is not None}
    sampler = MemorySampler(pids)
    sampler.start()
    world = World(platform, size)
    base = Baselines(world)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    started = datetime.now(UTC)
    try:
        for name in chosen:
            began = time.perf_counter()
            sampler.phase = name
            try:
                figures += await BENCHMARKS[name](world, base)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            seconds[name] = time.perf_counter() - began
            print(f"{name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)
    finally:
        sampler.stop()
        await world.close()
    if not only or "memory" in only:
        figures += memory_figures(sampler)
    load = os.getloadavg()
    return {
        "size": size.name,
        "sizes": {k: v for k, v in vars(size).items()},
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": seconds,
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": [round(x, 2) for x in load]},
        "baselines": [f.as_json() for f in base.figures()],
        "figures": [f.as_json() for f in figures],
        "errors": errors,
        "memory": sampler.report(),
    }


def write(results: dict[str, Any], directory: Path = RESULTS) -> Path:
    """bench/results/<size>-<time>.json, and <size>-latest.json beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("+0000", "Z")
    path = directory / f"{results['size']}-{stamp}.json"
    text = json.dumps(results, indent=2, ensure_ascii=False)
    path.write_text(text)
    (directory / f"{results['size']}-latest.json").write_text(text)
    return path


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def table(results: dict[str, Any]) -> str:
    """One table: each figure, its baseline of this run and the ratio, its target and mark."""
    rows = [("benchmark", "figure", "value", "unit", "baseline", "ratio", "target", "")]
    for f in results["baselines"] + results["figures"]:
        mark = {True: "met", False: "MISSED", None: ""}[f["met"]]
        baseline = f"{_number(f['baseline_value'])} {f['baseline']}" if f["baseline"] else ""
        ratio = f"{f['ratio']:.4f}" if f["ratio"] is not None else ""
        rows.append(
            (f["benchmark"], f["name"], _number(f["value"]), f["unit"], baseline, ratio,
             f["target"], mark)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, error in results["errors"].items():
        lines.append(f"FAILED {name}: {error}")
    return "\n".join(lines)


def bench_platform(data: Path) -> Platform:
    """The platform a run measures, on servers of its own under `data` (not started)."""
    return Platform(
        data_dir=data,
        http_port=free_port(),
        bootstrap_password="bench-operator-password",
        extra_env={
            # The assembly's 15 days' notice passes on the platform's movable clock.
            "XINYI_ENV": "test",
            "XINYI_TEST_CLOCK_FILE": str(data / "clock-offset"),
            "XINYI_LOGIN_RATE_PER_MINUTE": "10000",
        },
        log_sink=open(data / "platform.log", "w"),  # lives as long as the run
    )


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # A SIGTERM (a timeout, Ctrl-C in a wrapper) still stops every process this run started.
    signal.signal(signal.SIGTERM, _interrupt)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints where a slow run is
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="default")
    parser.add_argument("--only", action="append", choices=NAMES, default=[])
    parser.add_argument(
        "--voters", type=int, help="owners who vote (the size's own count by default)"
    )
    args = parser.parse_args()
    size = SIZES[args.size]
    if args.voters is not None:
        if not 1 <= args.voters <= size.import_units:
            parser.error(f"--voters is 1 to {size.import_units:,} at this size (its estate)")
        size = dataclasses.replace(size, voters=args.voters)
    with tempfile.TemporaryDirectory(prefix="xinyi-bench-") as tmp:
        platform = bench_platform(Path(tmp))
        started = time.perf_counter()
        platform.start()
        print(f"platform up in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            results = asyncio.run(run_suite(platform, size, args.only))
        finally:
            platform.stop()
    path = write(results)
    print(table(results))
    print(f"results: {path}")
    if results["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
