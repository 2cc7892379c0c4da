"""The gateway's sign-in rate limit per client address (token buckets)."""

from __future__ import annotations

import pytest

from xinyi_gateway import ratelimit


def test_burst_then_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    limiter = ratelimit.Limiter(per_minute=6, burst=3)
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("10.0.0.1")
    assert wait == 10  # one token every 10 s at 6 a minute
    assert limiter.hit("10.0.0.2") == 0  # other addresses are not affected
    now[0] += 10
    assert limiter.hit("10.0.0.1") == 0


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    limiter = ratelimit.Limiter(per_minute=60, burst=5, max_keys=100)
    for n in range(1000):
        now[0] += 0.001
        limiter.hit(f"ip-{n}")
    assert len(limiter._buckets) <= 100
