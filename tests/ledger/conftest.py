"""Fixtures of the ledger tests: a small world whose approvers have a second factor."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pyotp
import pytest

from tests.identity.world import World, build, ok
from xinyi_dev.platform import Platform

APPROVERS = ("committee_member", "committee_chair")


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    w = build(platform.gateway_url, operator_token)
    w.totp = {}  # type: ignore[attr-defined]
    for role in APPROVERS:
        with w.client(role) as c:
            secret = ok(c.post("/api/v1/me/totp"))["secret"]
            ok(c.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now()}))
        w.totp[role] = secret  # type: ignore[attr-defined]
    return w


@pytest.fixture(scope="module")
def totp(world: World, platform: Platform) -> Callable[[str], str]:
    """A fresh, unused code for an approver. A code is spent once (the server takes each step of
    a person's once, in order), so when the role has used the current step, or the step is
    about to end, the platform clock moves to the next step's start (never back, within the
    module). Approvers who have not used the step share it: their codes stay current together."""
    from xinyi_kit.clock import move_clock

    offset = {"seconds": 0.0}
    # Enrolment spent a code of the step it happened in.
    enrolled = int(time.time() // 30)
    last_step: dict[str, int] = dict.fromkeys(world.totp, enrolled)  # type: ignore[attr-defined]
    path = platform.data_dir / "clock-offset"

    def code(role: str) -> str:
        now = time.time() + offset["seconds"]
        while int(now // 30) <= last_step.get(role, -1) or now % 30 > 25:
            offset["seconds"] += 30 - now % 30 + 0.5
            move_clock(path, offset["seconds"])
            now = time.time() + offset["seconds"]
        last_step[role] = int(now // 30)
        return pyotp.TOTP(world.totp[role]).at(now)  # type: ignore[attr-defined]

    yield code  # type: ignore[misc]
    move_clock(path, 0)


def estate_client(world: World, role: str) -> httpx.Client:
    return world.client(role)
