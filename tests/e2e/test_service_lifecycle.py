"""A service that stops is reported by /healthz without taking the gateway down; SIGTERM stops a
service cleanly; its restart picks up where it left off."""

from __future__ import annotations

import asyncio

import grpc
import httpx

from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_kit.rpc import check_health
from xinyi_kit.service import LIVENESS


def test_stopped_service_shows_in_healthz_and_recovers(
    platform: Platform, api: httpx.Client
) -> None:
    base = platform.gateway_url
    code = platform.stop_process("voting")
    assert code == 0, "SIGTERM should stop a service cleanly"
    try:
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 503
        states = {k: v["state"] for k, v in health.json()["services"].items()}
        assert states["voting"] == "UNREACHABLE"
        assert states["identity"] == "SERVING"
        # The rest of the platform keeps serving, and a call to the stopped service says so.
        assert httpx.get(f"{base}/readyz").status_code == 200
        created = api.post("/api/v1/estates", json={"name": "停机期间的小区"})
        assert created.status_code == 201
        down = api.get(f"/api/v1/estates/{created.json()['estate_id']}/ballots")
        assert down.status_code == 503
        assert down.json()["detail"] == "a service is unavailable; try again shortly"
    finally:
        platform.start_service("voting")
    eventually(
        lambda: httpx.get(f"{base}/healthz").status_code == 200,
        timeout=30,
        what="voting to be healthy again",
    )
    # The estate created while voting was down reaches it from the stream after the restart.
    estate_id = created.json()["estate_id"]
    ballots = eventually(
        lambda: (r := api.get(f"/api/v1/estates/{estate_id}/ballots")).status_code == 200 and r,
        what="voting to learn of the estate",
    )
    assert ballots.json() == []
    # The name liveness probes ask for (the Helm chart's) is served as well.
    assert asyncio.run(liveness(platform.address("voting"))) == "SERVING"


async def liveness(address: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        return await check_health(channel, service=LIVENESS)
