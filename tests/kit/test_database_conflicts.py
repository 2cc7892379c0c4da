"""Two transactions that deadlock: PostgreSQL undoes one of them, and the kit answers it as a
lost race the caller may retry (ABORTED, 409 through the gateway), not as an internal error.
Both on the driver's connection and through a session, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from sqlalchemy import text

from tests.kit import infra
from xinyi_kit.db import Database
from xinyi_kit.errors import Aborted

pytestmark = pytest.mark.own_servers

Locker = Callable[[int, int, asyncio.Barrier], Awaitable[None]]


@pytest.fixture
async def db(own: infra.Infra) -> AsyncIterator[Database]:
    database = Database(own.app_url, infra.SCHEMA, pool_size=4)
    yield database
    await database.close()


def _driver(db: Database) -> Locker:
    async def lock(first: int, second: int, both: asyncio.Barrier) -> None:
        async with db.driver_tx(uuid.uuid4()) as raw:
            await raw.execute("SELECT pg_advisory_xact_lock($1)", first)
            await both.wait()
            await raw.execute("SELECT pg_advisory_xact_lock($1)", second)

    return lock


def _session(db: Database) -> Locker:
    async def lock(first: int, second: int, both: asyncio.Barrier) -> None:
        async with db.estate_tx(uuid.uuid4()) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": first})
            await both.wait()
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": second})

    return lock


@pytest.mark.parametrize("path", [_driver, _session], ids=["driver", "session"])
async def test_a_deadlocked_transaction_is_answered_as_a_lost_race(
    db: Database, path: Callable[[Database], Locker]
) -> None:
    lock = path(db)
    both = asyncio.Barrier(2)
    # Each holds one lock and waits for the other's: PostgreSQL finds the cycle within its
    # deadlock_timeout (1 s) and undoes one of the two; the other then goes through.
    outcomes = await asyncio.wait_for(
        asyncio.gather(lock(1, 2, both), lock(2, 1, both), return_exceptions=True), 30
    )
    undone = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(undone) == 1 and outcomes.count(None) == 1, outcomes
    (error,) = undone
    assert isinstance(error, Aborted), repr(error)
    assert error.code == grpc.StatusCode.ABORTED and error.problem_code == "conflict"
    assert "try again" in error.message
    cause = error.__cause__
    assert getattr(getattr(cause, "orig", cause), "sqlstate", None) == "40P01", repr(cause)
