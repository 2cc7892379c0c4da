"""`Database.driver_tx`: the estate's transaction on the driver's connection, for hot paths. It
commits on success, rolls back on an error, confines statements to its estate as `estate_tx`
does, and a connection cancelled mid-statement never goes back to the pool in a transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from xinyi_dev.platform import Platform, _with_user
from xinyi_kit.db import Database


@pytest.fixture
async def db(platform: Platform) -> AsyncIterator[Database]:
    url = _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    database = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1), "ledger",
                        pool_size=1)  # fmt: skip
    yield database
    await database.close()


async def _cursor(db: Database, estate: uuid.UUID, source: str) -> int | None:
    async with db.driver_tx(estate) as raw:
        value = await raw.fetchval(
            "SELECT last_seq FROM inbox_cursor WHERE estate_id = $1 AND source = $2",
            estate,
            source,
        )
    return None if value is None else int(value)


async def test_commits_and_rolls_back(db: Database) -> None:
    estate, source = uuid.uuid4(), f"test-{uuid.uuid4()}"
    async with db.driver_tx(estate) as raw:
        await raw.execute(
            "INSERT INTO inbox_cursor (estate_id, source, last_seq) VALUES ($1, $2, 7)",
            estate,
            source,
        )
    assert await _cursor(db, estate, source) == 7
    with pytest.raises(ValueError):
        async with db.driver_tx(estate) as raw:
            await raw.execute(
                "UPDATE inbox_cursor SET last_seq = 8 WHERE estate_id = $1 AND source = $2",
                estate,
                source,
            )
            raise ValueError("the caller's own refusal")
    assert await _cursor(db, estate, source) == 7
    # A failed statement aborts the transaction; the pool's one connection is usable after it.
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.driver_tx(estate) as raw:
            await raw.execute(
                "INSERT INTO inbox_cursor (estate_id, source, last_seq) VALUES ($1, $2, 9)",
                estate,
                source,
            )
    assert await _cursor(db, estate, source) == 7


async def test_confined_to_its_estate(db: Database) -> None:
    mine, other, source = uuid.uuid4(), uuid.uuid4(), f"test-{uuid.uuid4()}"
    async with db.driver_tx(other) as raw:
        await raw.execute(
            "INSERT INTO inbox_cursor (estate_id, source, last_seq) VALUES ($1, $2, 1)",
            other,
            source,
        )
    async with db.driver_tx(mine) as raw:
        seen = await raw.fetchval("SELECT count(*) FROM inbox_cursor WHERE source = $1", source)
        assert seen == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await raw.execute(
                "INSERT INTO inbox_cursor (estate_id, source, last_seq) VALUES ($1, $2, 1)",
                other,
                f"{source}-b",
            )
    # Not an estate at all: refused before anything reaches the server.
    with pytest.raises(ValueError):
        async with db.driver_tx("1'; DROP TABLE inbox_cursor; --"):
            pass
    assert await _cursor(db, other, source) == 1


async def test_cancelled_mid_statement(db: Database) -> None:
    estate, source = uuid.uuid4(), f"test-{uuid.uuid4()}"

    async def slow() -> None:
        async with db.driver_tx(estate) as raw:
            await raw.execute(
                "INSERT INTO inbox_cursor (estate_id, source, last_seq) VALUES ($1, $2, 3)",
                estate,
                source,
            )
            await raw.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Nothing of it was committed, and the pool's only connection serves the next transaction.
    assert await asyncio.wait_for(_cursor(db, estate, source), 10) is None
