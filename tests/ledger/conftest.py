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
    """A fresh, unused code for an approver: each code is spent once, so every call moves the
    platform clock a step further (never back, within the module)."""
    from xinyi_kit.clock import move_clock

    offset = {"seconds": 0.0}
    path = platform.data_dir / "clock-offset"

    def code(role: str) -> str:
        offset["seconds"] += 30
        move_clock(path, offset["seconds"])
        return pyotp.TOTP(world.totp[role]).at(time.time() + offset["seconds"])  # type: ignore[attr-defined]

    yield code  # type: ignore[misc]
    move_clock(path, 0)


def estate_client(world: World, role: str) -> httpx.Client:
    return world.client(role)
