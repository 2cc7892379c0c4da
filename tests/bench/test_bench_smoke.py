"""Every benchmark of bench/ at tiny sizes on the test platform, so the harness cannot rot: the
counts come out right (every posting an entry, every unit assessed and imported, every line
matched, every voter counted once) and the results are written whole. Never its speed.

It runs on servers of its own, as `make bench` does: the generator's city it seeds and assesses
would otherwise be the demo city the end-to-end tests seed on the shared platform."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import SIZES, STARTUP
from bench.run import NAMES, bench_platform, run_suite, table, write
from bench.uploads import measure
from xinyi_dev.platform import Platform

pytestmark = [pytest.mark.own_servers, pytest.mark.timeout(300)]

FIELDS = {
    "benchmark", "name", "value", "unit", "baseline", "baseline_value", "target", "met",
    "detail", "ratio",
}  # fmt: skip


@pytest.fixture
def own_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = bench_platform(tmp_path_factory.mktemp("bench-platform"))
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


def test_every_benchmark_runs_and_writes_its_results(
    own_platform: Platform, tmp_path: Path
) -> None:
    results = asyncio.run(run_suite(own_platform, SIZES["smoke"], []))
    assert results["errors"] == {}
    written = json.loads(write(results, tmp_path).read_text())
    assert (tmp_path / "smoke-latest.json").exists()
    figures = written["figures"] + written["baselines"]
    assert all(set(f) == FIELDS for f in figures)
    by = {f["benchmark"] for f in written["figures"]}
    assert by == set(NAMES), by
    assert {f["name"] for f in written["baselines"]} >= {
        "raw asyncpg COPY, 1,000 entries/tx",
        "raw asyncpg, 1 transaction per entry",
        "NATS JetStream publish, each acked",
        "bare grpc.aio round trip, 32 concurrent",
        "bare FastAPI endpoint, 64 connections",
    }
    assert all(f["value"] is not None for f in figures)
    measured = figures
    assert all(f["value"] >= 0 or f["unit"] == "%" for f in measured)
    assert all(f["met"] in (True, False) for f in measured if f["target"])
    voting = next(f for f in written["figures"] if f["unit"] == "votes/s")
    assert voting["detail"]["lost"] == voting["detail"]["double_counted"] == 0
    assert voting["detail"]["counted"] == SIZES["smoke"].voters
    # Where the votes' CPU went: the voting service, and PostgreSQL for it: voting's backends,
    # or those that ended within the load (a pool's overflow connections close when given back,
    # and what an ended backend spent is counted without its role).
    cpu = voting["detail"]["cpu_ms_per_vote"]
    database = cpu.get("pg:xinyi_voting", 0) + cpu.get("pg:ended backends", 0)
    assert cpu["voting"] > 0 and database > 0, cpu
    assert cpu["total"] >= sum(v for k, v in cpu.items() if k != "total") - 0.05, cpu
    peaks = [f for f in written["figures"] if f["benchmark"] == "memory"]
    memory = {f["name"].split()[0] for f in peaks}
    assert {"gateway", "identity", "ledger", "voting", "disclosure", "notifications"} <= memory
    # Each process's peak is the kernel's, also told per benchmark (and for the start before the
    # first), the largest of them being the peak.
    for f in peaks:
        by_phase = f["detail"]["peak_mib_by_phase"]
        assert set(by_phase) == {STARTUP, *NAMES} - {"memory"}, by_phase
        assert f["detail"]["peak_from"] == "kernel", f
        assert 0 < max(by_phase.values()) <= f["value"] + 0.1, f
        assert max(by_phase.values()) >= f["value"] - 0.1, f
    assert "MISSED" in table(results) or "met" in table(results)


def test_the_uploads_bench_reads_the_ledgers_peak_across_each_upload(
    own_platform: Platform,
) -> None:
    # A statement every line of which is matched, and a gate export every stay of which is new
    # (each checked by the bench itself); the ledger's peak is at least where it began.
    results = asyncio.run(measure(own_platform, 20, 30))
    assert set(results) == {"statement_lines", "gate_stays"}
    assert (results["statement_lines"]["size"], results["gate_stays"]["size"]) == (20, 30)
    for r in results.values():
        assert 0 < r["ledger_before_mib"] <= r["ledger_peak_mib"], r
        assert r["seconds"] > 0


def test_voters_beyond_the_estate_are_refused_before_anything_starts() -> None:
    for voters in ("0", "2001"):
        done = subprocess.run(
            [sys.executable, "-m", "bench.run", "--only", "voting", "--voters", voters],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "--voters is 1 to 2,000 at this size" in done.stderr
