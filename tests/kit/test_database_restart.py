"""After PostgreSQL restarts, a service's pool holds connections to the server that went away.
The first transaction to meet one is refused as UNAVAILABLE (the caller may retry); the rest of
the pool is replaced at its next checkout, so no other caller is refused for the same restart.
On servers of their own, which the test restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.kit import infra
from xinyi_kit.db import Database, driver_connection
from xinyi_kit.errors import Unavailable

pytestmark = pytest.mark.own_servers

POOL = 4


@pytest.fixture
async def db(own: infra.Infra) -> AsyncIterator[Database]:
    database = Database(own.app_url, infra.SCHEMA, pool_size=POOL)
    yield database
    await database.close()


async def _fill_the_pool(db: Database) -> None:
    """POOL connections opened at once and handed back, so the pool holds that many."""
    started = asyncio.Event()
    waiting = 0

    async def hold() -> None:
        nonlocal waiting
        async with db.driver_tx(uuid.uuid4()) as raw:
            assert await raw.fetchval("SELECT 1") == 1
            waiting += 1
            if waiting == POOL:
                started.set()
            await started.wait()

    await asyncio.wait_for(asyncio.gather(*(hold() for _ in range(POOL))), 30)
    assert db.engine.sync_engine.pool.checkedin() == POOL  # type: ignore[attr-defined]


async def _refusals(db: Database, transactions: int) -> int:
    """How many of `transactions`, one after another, are refused as UNAVAILABLE: on the
    driver's connection, and in sessions whose statements go to the driver's connection too
    (as the consumers' do), in turn."""
    refused = 0
    for n in range(transactions):
        try:
            if n % 2:
                async with db.estate_tx(uuid.uuid4()) as session:
                    raw = await driver_connection(session)
                    assert await raw.fetchval("SELECT 1") == 1
            else:
                async with db.driver_tx(uuid.uuid4()) as raw:
                    assert await raw.fetchval("SELECT 1") == 1
        except Unavailable:
            refused += 1
    return refused


async def test_after_a_restart_one_transaction_is_refused_not_one_per_pooled_connection(
    own: infra.Infra, db: Database
) -> None:
    await _fill_the_pool(db)
    await asyncio.to_thread(own.pg.stop)
    await asyncio.to_thread(own.pg.start)
    assert await _refusals(db, POOL * 2) <= 1
    # And so at the next restart: the connections made since are replaced in their turn.
    await _fill_the_pool(db)
    await asyncio.to_thread(own.pg.stop)
    await asyncio.to_thread(own.pg.start)
    assert await _refusals(db, POOL * 2) <= 1
