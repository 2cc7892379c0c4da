"""The append-only audit log of privileged actions, readable by the estate's supervisors."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.identity.world import World
from xinyi_dev.platform import Platform, _with_user


def test_supervisors_read_who_did_what(world: World) -> None:
    with world.client("estate_supervisor") as supervisor:
        entries = supervisor.get(f"/api/v1/estates/{world.estate_a}/audit").json()["entries"]
    actions = [e["action"] for e in entries]
    assert {"estate.create", "estate.assign_company", "estate.import", "role.grant"} <= set(actions)
    imported = next(e for e in entries if e["action"] == "estate.import")
    assert imported["actor_username"] == "operator" and imported["service"] == "identity"
    assert imported["detail"]["units_added"] == 3
    assert entries == sorted(entries, key=lambda e: e["at"], reverse=True)
    with world.client("owner") as owner:
        assert owner.get(f"/api/v1/estates/{world.estate_a}/audit").status_code == 403


async def test_entries_cannot_be_changed_or_deleted(platform: Platform, world: World) -> None:
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_identity", platform.app_password)
    )
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", world.estate_a)
            count = await conn.fetchval("SELECT count(*) FROM identity.audit_log")
            assert count > 0
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE identity.audit_log SET action = 'nothing'")
        async with conn.transaction():
            await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", world.estate_a)
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM identity.audit_log")
        # Another estate's entries are out of sight altogether.
        async with conn.transaction():
            await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", str(uuid.uuid4()))
            assert await conn.fetchval("SELECT count(*) FROM identity.audit_log") == 0
    finally:
        await conn.close()
