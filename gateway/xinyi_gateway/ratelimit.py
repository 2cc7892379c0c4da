"""A small in-process rate limit for sign-in attempts per client address (token buckets).

Each gateway replica keeps its own buckets; identity's lockout per login name is the shared,
persistent protection behind it.
"""

from __future__ import annotations

import math
import time

from fastapi import FastAPI


class Limiter:
    def __init__(self, per_minute: int, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit(self, key: str) -> int:
        """Takes one token for `key`; returns 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            # Forget the stalest half rather than grow without bound under a spray of addresses.
            for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[
                : self.max_keys // 2
            ]:
                del self._buckets[stale]
        self._buckets[key] = (tokens - 1, now)
        return 0


def login_limiter(app: FastAPI) -> Limiter:
    limiter: Limiter = app.state.login_limiter
    return limiter
