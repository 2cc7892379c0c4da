"""A service's migrations run step by step in a database of their own: a test stops at an earlier
revision, writes rows as they were then, and upgrades to see what a migration makes of them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from types import ModuleType

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from xinyi_dev.platform import Platform


@asynccontextmanager
async def scratch_schema(platform: Platform, schema: str) -> AsyncIterator[AsyncConnection]:
    """A connection (as the server's administrator) to a new database holding an empty
    `schema` on its search path; the database is dropped afterwards."""
    name = f"xinyi_migration_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(platform.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = platform.admin_url.rpartition("/")
    engine = create_async_engine(f"{head}/{name}".replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.execute(text(f'SET search_path TO "{schema}"'))
            yield conn
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def upgrade(conn: AsyncConnection, service: ModuleType, schema: str, revision: str) -> None:
    """Runs `service`'s migrations on `conn` up to `revision` ("head" for all)."""
    await conn.run_sync(partial(_upgrade, service, schema, revision))


def _upgrade(service: ModuleType, schema: str, revision: str, connection: object) -> None:
    config = Config()
    config.set_main_option("script_location", str(next(iter(service.__path__))) + "/migrations")
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, revision)
