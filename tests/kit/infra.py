"""Own PostgreSQL and NATS servers for fault tests, and a scratch schema with the kit's tables."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
from google.protobuf.message import Message
from nats.js.errors import NotFoundError, ServerError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi_dev.embedded import EmbeddedNats, EmbeddedPostgres
from xinyi_kit.bus import ensure_stream, stream_name
from xinyi_kit.db import Database, estate_rls_sql
from xinyi_kit.schema import kit_ddl, outbox_numbering_statements

SCHEMA = "kittest"
APP_ROLE = "xinyi_kittest"
PASSWORD = "kittest-password"


@dataclass
class Infra:
    pg: EmbeddedPostgres
    nats: EmbeddedNats

    @property
    def app_url(self) -> str:
        return self.pg.url("postgres", APP_ROLE, PASSWORD).replace(
            "postgresql://", "postgresql+asyncpg://"
        )

    def database(self) -> Database:
        return Database(self.app_url, SCHEMA, pool_size=5)


def start(tmp: Path) -> Infra:
    pg = EmbeddedPostgres(tmp / "pg")
    pg.start()
    nats = EmbeddedNats(tmp / "nats")
    nats.start()
    asyncio.run(_create_schema(pg.admin_url))
    return Infra(pg, nats)


async def _create_schema(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{PASSWORD}' NOBYPASSRLS;"
            f"CREATE ROLE {APP_ROLE}_owner NOLOGIN;"
            f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {APP_ROLE}_owner;"
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO {APP_ROLE};"
            f"SET ROLE {APP_ROLE}_owner; SET search_path TO {SCHEMA};"
        )
        await conn.execute(kit_ddl())
        for statement in outbox_numbering_statements():
            await conn.execute(statement)
        await conn.execute(
            "CREATE TABLE applied (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "estate_id uuid NOT NULL, seq bigint NOT NULL, event_id uuid NOT NULL);"
            + estate_rls_sql("applied")
        )
        await conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {APP_ROLE};"
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {APP_ROLE};"
        )
    finally:
        await conn.close()


async def record_effect(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    """The test consumer's effect: one row per application, in application order."""
    await session.execute(
        text("INSERT INTO applied (estate_id, seq, event_id) VALUES (:e, :s, :id)"),
        {
            "e": uuid.UUID(envelope.estate_id),
            "s": envelope.sequence,
            "id": uuid.UUID(envelope.event_id),
        },
    )


async def applied_by_estate(db: Database) -> dict[str, list[int]]:
    async with db.system_tx() as session:
        rows = (await session.execute(text("SELECT estate_id, seq FROM applied ORDER BY id"))).all()
    result: dict[str, list[int]] = {}
    for estate_id, seq in rows:
        result.setdefault(str(estate_id), []).append(int(seq))
    return result


async def count(db: Database, sql: str) -> int:
    async with db.system_tx() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def fresh(servers: Infra, tables: tuple[str, ...], durable: str) -> Database:
    """A database on `servers` with `tables` emptied, the identity stream purged and its
    consumer `durable` deleted: each fault test starts from nothing."""
    database = servers.database()
    async with database.system_tx() as session:
        for table in tables:
            await session.execute(text(f"DELETE FROM {table}"))
    nc = await nats.connect(servers.nats.url)
    js = nc.jetstream()
    await ensure_stream(js, "identity")
    await js.purge_stream(stream_name("identity"))
    for attempt in range(5):
        try:
            await js.delete_consumer(stream_name("identity"), durable)
        except NotFoundError:
            break
        except ServerError:
            # The server may still be writing the consumer's files just after the last test
            # ("directory not empty"): it succeeds a moment later.
            await asyncio.sleep(0.2 * (attempt + 1))
        else:
            break
    await nc.close()
    return database
