"""PostgreSQL access: a schema per service; estate-scoped transactions that RLS checks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from xinyi_kit.errors import Aborted, Unavailable

log = logging.getLogger(__name__)

# The estate key of platform-wide rows and events (no estate).
PLATFORM = uuid.UUID(int=0)

# SQLSTATEs of a server going away or not taking connections yet (class 08, and 57P01-57P03:
# shutting down, crashed, starting): the next attempt may well succeed.
GONE_SQLSTATES = ("08", "57P")
# SQLSTATEs of a transaction PostgreSQL undid so that another could go on (a serialization
# failure, a deadlock): none of it was written, and the same request again normally succeeds.
CONFLICT_SQLSTATES = ("40001", "40P01")

ESTATE_SETTING = "xinyi.estate_id"
SCOPE_SETTING = "xinyi.scope"


def estate_rls_sql(table: str) -> str:
    """DDL that confines a table's rows to the transaction's estate (or to system tasks).

    Services connect as a role that owns nothing and cannot bypass RLS; FORCE applies the policy
    to the owner role too, so even migrations' data fixes state their estate.
    """
    predicate = (
        f"estate_id = NULLIF(current_setting('{ESTATE_SETTING}', true), '')::uuid "
        f"OR current_setting('{SCOPE_SETTING}', true) = 'system'"
    )
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; "
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY; "
        f"CREATE POLICY {table}_estate_scope ON {table} "
        f"USING ({predicate}) WITH CHECK ({predicate});"
    )


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for asyncpg's own connections."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    def __init__(self, url: str, schema: str, *, pool_size: int = 10, app_name: str = "") -> None:
        self.url = url
        self.schema = schema
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=15,
            # A failed statement's error (and so its log line) would carry the values it bound:
            # TOTP secrets, webhook secrets, personal data.
            hide_parameters=True,
            connect_args={
                "server_settings": {"search_path": schema, "application_name": app_name or schema},
                "timeout": 10,
                # Long enough for the commit of a 10,000-unit import (10,000 events numbered
                # at commit) on a loaded machine, where 60 s was once not.
                "command_timeout": 120,
            },
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def estate_tx(self, estate_id: uuid.UUID | str) -> AsyncIterator[AsyncSession]:
        """A transaction that sees and writes only `estate_id`'s rows."""
        async with self._tx() as session:
            await session.execute(
                text("SELECT set_config(:k, :v, true)"), {"k": ESTATE_SETTING, "v": str(estate_id)}
            )
            yield session

    @asynccontextmanager
    async def system_tx(self) -> AsyncIterator[AsyncSession]:
        """A transaction across estates, for platform tasks (relays, rebuilds, city-wide reads)."""
        async with self._tx() as session:
            await session.execute(
                text("SELECT set_config(:k, 'system', true)"), {"k": SCOPE_SETTING}
            )
            yield session

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        with _database_faults():
            async with self.sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[tuple[AsyncConnection, asyncpg.Connection]]:
        """A pooled connection and its asyncpg connection, for hot paths whose statements skip
        SQLAlchemy's work per statement. Faults of the database answer UNAVAILABLE, as `_tx`
        does. A connection lost under a statement is not handed out again, nor is any other
        the pool held then: they were all to the server that went away (a restart), and each
        would otherwise fail a caller of its own before the pool replaced it."""
        with _database_faults():
            async with self.engine.connect() as connection:
                pooled = await connection.get_raw_connection()
                raw = pooled.driver_connection
                assert isinstance(raw, asyncpg.Connection)
                try:
                    yield connection, raw
                except (
                    OSError,
                    asyncpg.InterfaceError,
                    asyncpg.InternalClientError,  # left mid-operation when the server dropped it
                    asyncpg.PostgresError,
                ) as exc:
                    if not isinstance(exc, asyncpg.PostgresError) or _server_gone(exc):
                        # What SQLAlchemy does on its own path when a statement finds the
                        # server gone: connections made before now are replaced at checkout.
                        self.engine.sync_engine.pool._invalidate(pooled, exc, _checkin=False)
                        await connection.invalidate()
                    raise

    @asynccontextmanager
    async def driver_tx(self, estate_id: uuid.UUID | str) -> AsyncIterator[asyncpg.Connection]:
        """`estate_tx` on the driver's connection: the transaction begins with the estate set
        in one round trip, and commits when the block ends without an exception."""
        # A UUID's text is safe inline, and the simple protocol takes both statements at once.
        setting = f"set_config('{ESTATE_SETTING}', '{uuid.UUID(str(estate_id))}', true)"
        async with self._driver_tx(setting) as raw:
            yield raw

    @asynccontextmanager
    async def driver_system_tx(self) -> AsyncIterator[asyncpg.Connection]:
        """`system_tx` on the driver's connection, as `driver_tx` is `estate_tx`."""
        async with self._driver_tx(f"set_config('{SCOPE_SETTING}', 'system', true)") as raw:
            yield raw

    @asynccontextmanager
    async def _driver_tx(self, setting: str) -> AsyncIterator[asyncpg.Connection]:
        async with self.driver() as (connection, raw):
            await raw.execute(f"BEGIN; SELECT {setting}")
            try:
                yield raw
            except BaseException:
                try:
                    if not raw.is_closed() and raw.is_in_transaction():
                        await raw.execute("ROLLBACK")
                except Exception:  # cancelled mid-statement, or lost: never pooled again
                    await connection.invalidate()
                raise
            await raw.execute("COMMIT")

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()


class DriverQuery:
    """A statement built with SQLAlchemy, compiled once for the driver's own calls (`driver`,
    `driver_tx`): a hot path that skips SQLAlchemy's work per statement still states its
    query once, with the ORM's tables and the store's shared clauses. Its parameters are
    `bindparam`s, given by name to `args`."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DRIVER_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._names = compiled.positiontup or []
        self._fixed = compiled.params  # the statement's own values (a LIMIT's)

    def args(self, **values: Any) -> list[Any]:
        """The driver's positional arguments for the named parameters."""
        return [values[n] if n in values else self._fixed[n] for n in self._names]


_DRIVER_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


async def xact_lock(session: AsyncSession, key: str) -> None:
    """Waits for `key`'s lock and holds it until the session's transaction ends: transactions
    naming the same key take turns (what row locks cannot do for a row not written yet)."""
    await session.execute(_XACT_LOCK, {"k": key})


_XACT_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:k))")


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, in the transaction the session began (its
    estate or system scope set), for hot statements that skip SQLAlchemy's work per statement.
    What the session holds unwritten is written first: such statements bypass its autoflush."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    if not isinstance(raw, asyncpg.Connection) or not raw.is_in_transaction():
        raise RuntimeError("the session's connection is in no transaction")
    return raw


@contextmanager
def _database_faults() -> Iterator[None]:
    """Faults of the database (see `database_fault`), and a connection that fails under the
    driver, answer as errors the caller may retry: UNAVAILABLE, or ABORTED for a transaction
    PostgreSQL undid for another's sake."""
    try:
        yield
    except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
        raise Unavailable("the database is unavailable; try again shortly") from exc
    except Exception as exc:
        fault = database_fault(exc)
        if fault is None:
            raise
        if isinstance(fault, Aborted):
            # For the caller a lost race; for the operator a lock order to look into.
            log.warning("transaction undone by PostgreSQL: %s", exc)
        raise fault from exc


def database_fault(exc: BaseException) -> Unavailable | Aborted | None:
    """The retryable error a database fault means (the pool exhausted, the server gone, not
    taking connections yet or the connection lost; a transaction undone for another's sake), or
    None when `exc` is no such fault."""
    state = getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "sqlstate", None)
    if state in CONFLICT_SQLSTATES:
        return Aborted(
            "another change to the same records got in the way, and nothing of this one was "
            "made; try again",
            problem_code="conflict",
        )
    if isinstance(exc, PoolTimeout):
        return Unavailable("the database is busy; try again shortly")
    if isinstance(exc, OperationalError | InterfaceError):
        return Unavailable("the database is unavailable; try again shortly")
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or _server_gone(exc.orig)):
        return Unavailable("the database connection was lost; try again shortly")
    # asyncpg raises its own error as is when a new connection is refused (shutting down).
    if isinstance(exc, asyncpg.PostgresError) and _server_gone(exc):
        return Unavailable("the database is unavailable; try again shortly")
    return None


def _server_gone(error: BaseException | None) -> bool:
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and state.startswith(GONE_SQLSTATES)
