"""Every answer names its trace, whether the gateway records spans (OpenTelemetry's FastAPI
instrumentation, the platform's gateway here) or not (a second gateway without a collector, which
keeps only the trace context)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def unrecorded_gateway(platform: Platform) -> Iterator[str]:
    """A second gateway on the platform's services, started without an OTLP endpoint: its
    spans are never recorded."""
    port = free_port()
    env = platform.gateway_env()
    env["XINYI_HTTP_PORT"] = str(port)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.pop(name, None)
    env.pop("OTEL_TRACES_SAMPLER", None)
    log = open(platform.data_dir / "gateway-unrecorded.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "xinyi_gateway.main"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts it slowly
        while True:
            assert proc.poll() is None, "the second gateway exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the second gateway did not get ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(params=["recorded", "unrecorded"])
def gateway(request: pytest.FixtureRequest, platform: Platform) -> str:
    if request.param == "recorded":
        return platform.gateway_url
    return str(request.getfixturevalue("unrecorded_gateway"))


def test_every_answer_names_a_trace_of_its_own(gateway: str, operator_token: str) -> None:
    first = httpx.get(f"{gateway}/api/v1/me")
    second = httpx.get(f"{gateway}/api/v1/me")
    assert first.status_code == second.status_code == 401
    for reply in (first, second):
        assert TRACE_ID.match(reply.headers["x-trace-id"])
        assert reply.json()["trace_id"] == reply.headers["x-trace-id"]
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["cache-control"] == "no-store"
    assert first.headers["x-trace-id"] != second.headers["x-trace-id"]

    # Through a service and back: an answer, and a refusal mapped to problem+json.
    auth = {"Authorization": f"Bearer {operator_token}"}
    me = httpx.get(f"{gateway}/api/v1/me", headers=auth)
    assert me.status_code == 200, me.text
    assert TRACE_ID.match(me.headers["x-trace-id"])
    missing = httpx.get(f"{gateway}/api/v1/estates/{uuid.uuid4()}", headers=auth)
    assert missing.status_code == 404 and missing.json()["detail"] == "no such estate"
    assert missing.json()["trace_id"] == missing.headers["x-trace-id"]


def test_a_request_continues_its_callers_trace(gateway: str) -> None:
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    reply = httpx.get(f"{gateway}/api/v1/me", headers={"traceparent": parent})
    assert reply.status_code == 401
    assert reply.headers["x-trace-id"] == trace_id
    assert reply.json()["trace_id"] == trace_id
    # A malformed traceparent is ignored: the request starts a trace of its own.
    broken = httpx.get(f"{gateway}/api/v1/me", headers={"traceparent": "00-nonsense"})
    assert TRACE_ID.match(broken.headers["x-trace-id"])


def test_probes_are_not_traced(gateway: str) -> None:
    for path in ("/livez", "/readyz", "/metrics"):
        reply = httpx.get(f"{gateway}{path}")
        assert reply.status_code == 200
        assert "x-trace-id" not in reply.headers
