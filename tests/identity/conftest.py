"""Fixtures of the identity tests: one small world per module."""

from __future__ import annotations

import pytest

from tests.identity.world import World, build
from xinyi_dev.platform import Platform


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)
