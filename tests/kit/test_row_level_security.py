"""Row-level security backs the estate checks in code: the services' database role sees an
estate's rows only inside a transaction that names that estate, and cannot switch RLS off."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.poll import eventually
from xinyi_dev.platform import Platform, _with_user


async def _connect(platform: Platform, role: str) -> asyncpg.Connection:
    return await asyncpg.connect(_with_user(platform.admin_url, role, platform.app_password))


def _books_open(api: httpx.Client, estate_id: str) -> bool:
    return api.get(f"/api/v1/estates/{estate_id}/ledger/accounts").json() != []


async def test_app_role_sees_only_the_named_estate(
    platform: Platform, api: httpx.Client, estate: dict[str, str]
) -> None:
    other = api.post("/api/v1/estates", json={"name": "另一小区"}).json()
    for e in (estate, other):
        eventually(lambda e=e: _books_open(api, e["estate_id"]), what="books to open")
    conn = await _connect(platform, "xinyi_ledger")
    try:
        # Without the estate setting, a query sees nothing at all.
        assert await conn.fetchval("SELECT count(*) FROM ledger.accounts") == 0
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('xinyi.estate_id', $1, true)", estate["estate_id"]
            )
            rows = await conn.fetch("SELECT DISTINCT estate_id::text FROM ledger.accounts")
            assert [r[0] for r in rows] == [estate["estate_id"]]
            # Writing a row of another estate is refused.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO ledger.accounts (estate_id, code, name, type) "
                    "VALUES ($1::uuid, '9999', 'x', 1)",
                    other["estate_id"],
                )
        # The setting is per transaction: gone after it.
        assert await conn.fetchval("SELECT count(*) FROM ledger.accounts") == 0
        # The role cannot turn row security off ...
        await conn.execute("SET row_security = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM ledger.accounts")
    finally:
        await conn.close()
    # ... nor read another service's schema.
    conn = await _connect(platform, "xinyi_disclosure")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM ledger.accounts")
    finally:
        await conn.close()


async def test_service_roles_cannot_bypass_rls(platform: Platform) -> None:
    conn = await asyncpg.connect(platform.admin_url)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname LIKE 'xinyi_%'"
        )
        assert len(rows) == 10
        assert not any(r["rolsuper"] or r["rolbypassrls"] for r in rows)
        forced = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS t, c.relrowsecurity, c.relforcerowsecurity "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'estate_id' "
            "WHERE c.relkind = 'r' AND n.nspname IN "
            "('identity','ledger','voting','disclosure','notifications')"
        )
        # Every estate-scoped table but identity's registry of estates itself is confined.
        confined = {r["t"] for r in forced if r["relrowsecurity"] and r["relforcerowsecurity"]}
        unconfined = {r["t"] for r in forced} - confined
        assert unconfined <= {
            "identity.estates",
            "identity.role_grants",
            "identity.company_assignments",
        }, unconfined
        assert "ledger.accounts" in confined and "disclosure.outbox" in confined
    finally:
        await conn.close()
