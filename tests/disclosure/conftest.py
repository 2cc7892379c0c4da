"""Fixtures of disclosure's tests on the platform's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from xinyi_dev.platform import Platform
from xinyi_kit.db import Database


@pytest.fixture
async def db(platform: Platform) -> AsyncIterator[Database]:
    """Disclosure's database as the service connects to it (its role, row-level security)."""
    url = platform.service_env("disclosure")["DATABASE_URL"].replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    database = Database(url, "disclosure", pool_size=2)
    yield database
    await database.close()
