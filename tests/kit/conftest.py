"""Fixtures of the kit's fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kit import infra


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.Infra]:
    """PostgreSQL and NATS servers of the module's own, which its tests may stop and break."""
    servers = infra.start(tmp_path_factory.mktemp("own-servers"))
    try:
        yield servers
    finally:
        servers.nats.stop()
        servers.pg.stop()
