"""What one transaction of notifications remembers: each key is read once per session, a value
the session changes is what it answers next, and another session reads afresh."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from xinyi_notifications import tx


def test_a_session_reads_a_key_once_and_answers_what_it_changed() -> None:
    reads: list[str] = []

    async def read() -> str:
        reads.append("read")
        return f"title {len(reads)}"

    async def scenario() -> None:
        session, other = AsyncSession(), AsyncSession()
        key = ("ballot", 1)
        assert await tx.remembered(session, key, read) == "title 1"
        assert await tx.remembered(session, key, read) == "title 1"
        tx.remember(session, key, "renamed")
        assert await tx.remembered(session, key, read) == "renamed"
        tx.forget(session, key)
        assert await tx.remembered(session, key, read) == "title 2"
        assert await tx.remembered(other, key, read) == "title 3"

    asyncio.run(scenario())
    assert len(reads) == 3
