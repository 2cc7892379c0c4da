"""Two reports of a month evaluated at once, each in its own transaction, when a flag is newly
due: the flag is raised once and neither report fails (they answered 500 when both inserted
the flag). On the platform's PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from tests.disclosure.test_account_months import Kind, posted
from xinyi.common.v1 import common_pb2
from xinyi_disclosure import flags, readmodels
from xinyi_kit import clock
from xinyi_kit.db import Database


async def test_a_flag_due_is_raised_once_by_reports_evaluated_at_once(db: Database) -> None:
    estate, period = uuid.uuid4(), "2026-11"
    lump = posted(estate, 1, Kind.ENTRY_KIND_INCOME, period, [("1001", 5_000), ("4002", -5_000)])
    lump.lump_sum = True
    async with db.estate_tx(estate) as session:
        await readmodels.entries_posted(session, [(common_pb2.EventEnvelope(), lump)])

    second_started = asyncio.Event()

    async def second() -> list[str]:
        async with db.estate_tx(estate) as session:
            second_started.set()
            found = await flags.evaluate(session, estate, period, clock.now())
            return [f.flag_id for f in found]

    async with db.estate_tx(estate) as session:
        first = await flags.evaluate(session, estate, period, clock.now())
        # The first has raised the flag, not committed yet, when the second evaluates.
        task = asyncio.create_task(second())
        await second_started.wait()
        await asyncio.sleep(0.5)
    assert [f.flag_id for f in first] == [f"lump_sum_income:{lump.entry_id}"]
    assert await asyncio.wait_for(task, 30) == [f"lump_sum_income:{lump.entry_id}"]
    async with db.estate_tx(estate) as session:
        raised = (
            await session.execute(
                text("SELECT count(*) FROM flags WHERE estate_id = :e"), {"e": estate}
            )
        ).scalar_one()
    assert raised == 1
