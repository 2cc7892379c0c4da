"""What the statements of one transaction share: the driver's connection, and a memo of what
each event of a batch would otherwise read again (the consumer applies an estate's fetched events
in one transaction, with one session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
# The key of a session's memo in `AsyncSession.info`.
_MEMO = "xinyi_notifications.memo"


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, in its transaction: the statements every event
    runs skip SQLAlchemy's work per statement. What the session holds unwritten is written
    first, so that they see it (they bypass its autoflush)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def remembered(session: AsyncSession, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
    """`make()`, made once per session: the consumer applies an estate's fetched events in one
    transaction, and each event of a batch would read the same estate name or ballot title."""
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = await make()
    value: T = memo[key]
    return value


def remember(session: AsyncSession, key: Hashable, value: object) -> None:
    """Sets what `remembered` answers for `key`, when this session changes it."""
    session.info.setdefault(_MEMO, {})[key] = value


def forget(session: AsyncSession, key: Hashable) -> None:
    session.info.get(_MEMO, {}).pop(key, None)
