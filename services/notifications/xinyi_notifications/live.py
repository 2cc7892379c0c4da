"""Waking the open inboxes: messages are announced with PostgreSQL NOTIFY when their transaction
commits (whichever replica wrote them), and every replica LISTENs, so a long poll on any replica
returns as soon as something arrives. A periodic wake covers a lost listener connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from xinyi_notifications.notify import LIVE_CHANNEL

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def wake(self, users: str) -> None:
        for user in users.split(","):
            for event in self._waiters.get(user, ()):
                event.set()

    async def wait(self, user: str, seconds: float) -> None:
        """Returns when a message for `user` may have arrived, or after `seconds`."""
        event = asyncio.Event()
        self._waiters.setdefault(user, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            waiters = self._waiters.get(user)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[user]

    def _wake_all(self) -> None:
        for waiters in list(self._waiters.values()):
            for event in waiters:
                event.set()

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn)
                await conn.add_listener(LIVE_CHANNEL, lambda *args: self.wake(str(args[3])))
                delay = 0.5
                # Anything sent while we were not listening: let every waiter look again.
                self._wake_all()
                while not stop.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 5)
            except Exception as exc:
                log.warning("inbox listener lost its connection: %s", exc)
                self._wake_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
