"""A memo of what each event of a batch would otherwise read again, kept for one transaction
(the consumer applies an estate's fetched events in one transaction, with one session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
# The key of a session's memo in `AsyncSession.info`.
_MEMO = "xinyi_notifications.memo"


async def remembered(session: AsyncSession, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
    """`make()`, made once per session: the consumer applies an estate's fetched events in one
    transaction, and each event of a batch would read the same estate name or ballot title."""
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = await make()
    value: T = memo[key]
    return value


def known(session: AsyncSession, key: Hashable) -> bool:
    """Whether the session's memo holds `key`."""
    return key in session.info.get(_MEMO, {})


def remember(session: AsyncSession, key: Hashable, value: object) -> None:
    """Sets what `remembered` answers for `key`, when this session changes it."""
    session.info.setdefault(_MEMO, {})[key] = value


def forget(session: AsyncSession, key: Hashable) -> None:
    session.info.get(_MEMO, {}).pop(key, None)
