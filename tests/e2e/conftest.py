"""The demo city as `make run` makes it, shared by the demo's end-to-end tests: on a platform of
its own in the demo environment, whose clock starts the onboarding journey's days before the
owners' voice, which then catches up with the real time."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _fresh_database
from xinyi_dev import democity, demojourney, demovoting
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock


@dataclass
class Demo:
    platform: Platform
    first_estate: str
    devices: Path
    journey_moves: list[float]
    voice_moves: list[float]


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from xinyi_dev.embedded import free_port

    data_dir = tmp_path_factory.mktemp("demo-journey-platform")
    clock_file = data_dir / "demo-clock"
    # As run.py: the journey's days before the voice's.
    move_clock(clock_file, -(demovoting.START_DAYS + demojourney.DAYS) * demovoting.DAY)
    database_url = os.environ.get("DATABASE_URL") or None
    plat = Platform(
        data_dir=data_dir,
        http_port=free_port(),
        database_url=_fresh_database(database_url) if database_url else None,
        nats_url=os.environ.get("NATS_URL") or None,
        bootstrap_password="demo-operator-password",
        extra_env={"XINYI_ENV": "demo", "XINYI_TEST_CLOCK_FILE": str(clock_file)},
        log_sink=open(data_dir / "platform.log", "w"),  # noqa: SIM115
    )
    journey_moves: list[float] = []
    voice_moves: list[float] = []

    def mover(into: list[float]) -> Callable[[float], None]:
        def move(seconds: float) -> None:
            into.append(seconds)
            move_clock(clock_file, seconds)

        return move

    try:
        plat.start()
        estates = democity.seed(plat.gateway_url, plat.operator_password, seed=3)
        devices = data_dir / "demo-devices"
        made = demojourney.seed_journey(
            plat.gateway_url,
            plat.operator_password,
            estates[0],
            mover(journey_moves),
            devices=devices,
            ends_days_ago=demovoting.START_DAYS,
        )
        assert made is True
        voiced = demovoting.seed_voice(
            plat.gateway_url, plat.operator_password, estates[0], mover(voice_moves), seed=3
        )
        assert voiced is True
        clock_file.unlink()
        yield Demo(plat, estates[0], devices, journey_moves, voice_moves)
    finally:
        plat.stop()
