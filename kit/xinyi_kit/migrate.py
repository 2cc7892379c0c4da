"""Provisions a service's schema and roles, then runs its Alembic migrations as the schema owner.

Usage: `xinyi-migrate <service>` with DATABASE_URL naming a role that may create roles and
schemas, and optionally XINYI_DB_APP_PASSWORD for the service's login role.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from xinyi_kit.config import _asyncpg_url

SERVICES = ("identity", "ledger", "voting", "disclosure", "notifications")


def owner_role(service: str) -> str:
    return f"xinyi_{service}_owner"


def app_role(service: str) -> str:
    return f"xinyi_{service}"


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def migrate(service: str, admin_url: str, app_password: str | None = None) -> None:
    if service not in SERVICES:
        raise SystemExit(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    owner, app, schema = owner_role(service), app_role(service), service
    engine = create_async_engine(_asyncpg_url(admin_url), isolation_level="AUTOCOMMIT")
    migrator = create_async_engine(_asyncpg_url(admin_url))
    try:
        async with engine.connect() as conn:
            # Serialises concurrent migrations of the same service (several replicas starting).
            await conn.execute(
                text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"migrate:{service}"}
            )
            for role, login in ((owner, False), (app, True)):
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                )
                if not exists:
                    await conn.execute(
                        text(
                            f'CREATE ROLE "{role}" {"LOGIN" if login else "NOLOGIN"} '
                            "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                        )
                    )
            if app_password:
                await conn.execute(
                    text(f'ALTER ROLE "{app}" PASSWORD {_quote_literal(app_password)}')
                )
            await conn.execute(text(f'GRANT "{owner}" TO current_user'))
            await conn.execute(
                text(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{owner}"')
            )
            await conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{app}"'))
            await conn.execute(
                text(
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}" '
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app}"'
                )
            )
            await conn.execute(
                text(
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}" '
                    f'GRANT USAGE, SELECT ON SEQUENCES TO "{app}"'
                )
            )
            # One transaction, as the schema's owner: the migration applies whole or not at all.
            async with migrator.connect() as mconn:
                await mconn.execute(text(f'SET LOCAL ROLE "{owner}"'))
                await mconn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
                await mconn.run_sync(_upgrade, service)
                await mconn.commit()
            await conn.execute(
                text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"migrate:{service}"}
            )
    finally:
        await engine.dispose()
        await migrator.dispose()


def _upgrade(connection: Connection, service: str) -> None:
    location = importlib.resources.files(f"xinyi_{service}") / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = service
    command.upgrade(cfg, "head")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: xinyi-migrate <service>|all")
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit(
            "configuration error: DATABASE_URL must name an admin role to migrate with"
        )
    targets = SERVICES if sys.argv[1] == "all" else (sys.argv[1],)
    for service in targets:
        asyncio.run(migrate(service, url, os.environ.get("XINYI_DB_APP_PASSWORD") or None))
        print(f"migrated {service}")


if __name__ == "__main__":
    main()
