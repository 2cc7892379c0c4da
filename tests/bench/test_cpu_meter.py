"""The benchmarks' CPU meter: a stretch's CPU by process, PostgreSQL backends by role, counted
whole when backends begin or end within it."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import CpuMeter


def test_backends_that_begin_or_end_within_the_stretch_are_counted_once() -> None:
    before = {
        "voting": 10.0,
        "pg:server": 1.0,
        "reaped": 5.0,
        "backend:11:pg:xinyi_voting": 2.0,  # lives on
        "backend:12:pg:xinyi_voting": 3.0,  # ends, at 3.5 s in all
    }
    after = {
        "voting": 10.6,
        "pg:server": 1.1,
        "reaped": 5.0 + 3.5 + 0.25,  # the ended one, and one that began and ended in between
        "backend:11:pg:xinyi_voting": 2.4,
        "backend:13:pg:xinyi_ledger": 0.2,  # began
    }
    shown = CpuMeter.per_operation(before, after, 100)
    assert shown == {
        "voting": 6.0,
        "pg:ended backends": 7.5,
        "pg:xinyi_voting": 4.0,
        "pg:xinyi_ledger": 2.0,
        "pg:server": 1.0,
        "total": 20.5,
    }
    assert list(shown)[:4] == ["pg:ended backends", "voting", "pg:xinyi_voting", "pg:xinyi_ledger"]


def test_a_child_that_ended_is_read_from_its_parent() -> None:
    """Against the kernel: a parent's reaped child's time is what the meter reads as ended."""
    meter = CpuMeter({}, os.getpid())
    before = meter.read()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    after = meter.read()
    spent = CpuMeter.per_operation(before, after, 1)
    assert spent["pg:ended backends"] > 50  # ms: the child's own loop
