"""Shared fixtures: one real platform per test run (embedded PostgreSQL and NATS unless
DATABASE_URL / NATS_URL name servers), each test creating its own estates."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sinks import HttpSink, MailSink
from tests.spans import SpanCollector
from xinyi_dev.platform import Platform

OPERATOR_PASSWORD = "operator-" + secrets.token_hex(8)


def _fresh_database(admin_url: str) -> str:
    """On a shared server, each run gets a database of its own, so runs never see each other."""
    import asyncio

    import asyncpg

    name = f"xinyi_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    head, _, tail = admin_url.rpartition("/")
    query = ("?" + tail.split("?", 1)[1]) if "?" in tail else ""
    return f"{head}/{name}{query}"


@pytest.fixture(scope="session")
def spans() -> Iterator[SpanCollector]:
    collector = SpanCollector()
    yield collector
    collector.close()


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    """The SMTP server the platform's notifications send mail to."""
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def sms() -> Iterator[HttpSink]:
    """The HTTP SMS gateway the platform's notifications send text messages to."""
    sink = HttpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory, spans: SpanCollector, mail: MailSink, sms: HttpSink
) -> Iterator[Platform]:
    from xinyi_dev.embedded import free_port

    data_dir: Path = tmp_path_factory.mktemp("platform")
    database_url = os.environ.get("DATABASE_URL") or None
    if database_url:
        database_url = _fresh_database(database_url)
    plat = Platform(
        data_dir=data_dir,
        http_port=free_port(),
        database_url=database_url,
        nats_url=os.environ.get("NATS_URL") or None,
        bootstrap_password=OPERATOR_PASSWORD,
        extra_env={
            "XINYI_ENV": "test",
            "XINYI_TEST_CLOCK_FILE": str(data_dir / "clock-offset"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": spans.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            # Every test module signs its people in from this one address.
            "XINYI_LOGIN_RATE_PER_MINUTE": "10000",
            # Notifications reach real receivers the tests run; retries come quickly.
            "XINYI_SMTP_HOST": "127.0.0.1",
            "XINYI_SMTP_PORT": str(mail.port),
            "XINYI_SMS_GATEWAY_URL": f"{sms.url}/sms",
            "XINYI_RETRY_BASE_SECONDS": "0.5",
            "XINYI_MAX_ATTEMPTS": "5",
        },
        log_sink=open(data_dir / "platform.log", "w"),  # noqa: SIM115
    )
    try:
        plat.start()
        yield plat
    finally:
        plat.stop()


@pytest.fixture(scope="module")
def operator_token(platform: Platform) -> str:
    # One per module: an access token lives 15 minutes, shorter than a whole run.
    reply = httpx.post(
        f"{platform.gateway_url}/api/v1/auth/token",
        json={"username": "operator", "password": platform.operator_password},
        timeout=10,
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture
def api(platform: Platform, operator_token: str) -> Iterator[httpx.Client]:
    """An HTTP client on the gateway, signed in as the operator."""
    with httpx.Client(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {operator_token}"},
        timeout=15,
    ) as client:
        yield client


@pytest.fixture
def estate(api: httpx.Client) -> dict[str, str]:
    """A fresh estate of this test's own."""
    reply = api.post("/api/v1/estates", json={"name": f"测试小区 {uuid.uuid4().hex[:6]}"})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())
