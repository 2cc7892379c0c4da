"""Configuration fails fast with one clear line; the clock moves only where tests allow it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from xinyi_kit.clock import Clock, move_clock
from xinyi_kit.config import KitSettings, env_names


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xinyi_ledger.main"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_database_url_stops_with_one_line() -> None:
    done = _start({})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: DATABASE_URL")


def test_malformed_settings_are_named() -> None:
    done = _start({"DATABASE_URL": "mysql://x", "XINYI_GRPC_PORT": "seventy"})
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "XINYI_GRPC_PORT" in done.stderr


def test_production_refuses_a_test_clock(tmp_path: Path) -> None:
    done = _start(
        {
            "DATABASE_URL": "postgresql://x@localhost/x",
            "XINYI_ENV": "production",
            "XINYI_TEST_CLOCK_FILE": str(tmp_path / "clock"),
        }
    )
    assert done.returncode == 2
    assert "only tests and the demo may move the clock" in done.stderr


def test_development_refuses_a_test_clock_too(tmp_path: Path) -> None:
    done = _start(
        {
            "DATABASE_URL": "postgresql://x@localhost/x",
            "XINYI_TEST_CLOCK_FILE": str(tmp_path / "clock"),
        }
    )
    assert done.returncode == 2 and "XINYI_ENV=development" in done.stderr


def test_env_names_follow_the_settings_class() -> None:
    names = env_names(KitSettings)
    assert {"DATABASE_URL", "NATS_URL", "XINYI_GRPC_PORT", "XINYI_IDENTITY_ADDR"} <= names


def test_clock_moves_by_the_offset_file(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    clock = Clock(str(offset))
    before = clock.now()
    assert abs(before - datetime.now(UTC)) < timedelta(seconds=1)
    move_clock(offset, 15 * 24 * 3600)
    assert clock.now() - before >= timedelta(days=15)
    move_clock(offset, 0)
    assert clock.now() - datetime.now(UTC) < timedelta(seconds=1)


def test_every_move_is_seen_however_close_together(tmp_path: Path) -> None:
    """Moves of the same length of text, one right after the other (the file's modification
    time may not tell them apart): each is seen at the next call; a removed file is no offset."""
    offset = tmp_path / "offset"
    clock = Clock(str(offset))
    for days in range(1, 8):
        move_clock(offset, days * 24 * 3600.0)
        shift = clock.now() - datetime.now(UTC)
        assert abs(shift - timedelta(days=days)) < timedelta(seconds=1)
    offset.unlink()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_real_clock_ignores_offsets() -> None:
    assert not Clock(None).movable
    assert abs(Clock(None).now() - datetime.now(UTC)) < timedelta(seconds=1)


@pytest.mark.parametrize("url", ["postgres://u@h/d", "postgresql://u@h/d"])
def test_database_urls_name_the_async_driver(url: str) -> None:
    settings = KitSettings(database_url=url)
    assert settings.database_url == "postgresql+asyncpg://u@h/d"
