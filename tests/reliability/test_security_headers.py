"""Security headers on every kind of answer the gateway gives, over HTTP: the web app's page and
files (also compressed, also a missing one), the API docs, JSON, files, CSV, every kind of
refusal; HSTS when the request came over HTTPS; API answers never kept in a cache."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.identity.world import World, build
from tests.ledger.test_vouchers import png, upload
from xinyi_dev.platform import Platform
from xinyi_gateway.app import create_app
from xinyi_gateway.config import Settings
from xinyi_gateway.limits import CSP

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


def test_the_policy_allows_only_the_apps_own_files_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP


def secured(reply: httpx.Response, what: str) -> None:
    headers = reply.headers
    for name, value in EVERYWHERE.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    # A browser enforces every policy sent; a file route adds a stricter one of its own
    # (sandbox), so the gateway's must be among them.
    policies = headers.get_list("content-security-policy")
    assert CSP in policies, (what, policies)
    # No Strict-Transport-Security over plain HTTP (a browser would ignore it; a test of it
    # over HTTPS is below).
    assert "strict-transport-security" not in headers, what
    if reply.request.url.path.startswith("/api/"):
        cache = headers.get("cache-control", "")
        # Personal data and tokens are never stored; content-addressed files may be kept by
        # the browser that fetched them, never by a shared cache.
        assert cache == "no-store" or cache.startswith("private,"), (what, cache)


def test_every_kind_of_answer_carries_the_headers(platform: Platform, world: World) -> None:
    with world.client("company_accountant") as company:
        voucher = upload(company, world.estate_a, png(), "image/png")
        assert voucher.status_code == 201, voucher.text
        sha = voucher.json()["sha256"]
    samples: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "web app page": lambda c: c.get("/"),
        "web app script, compressed": lambda c: c.get(
            "/app.js", headers={"accept-encoding": "gzip"}
        ),
        "web app style": lambda c: c.get("/app.css"),
        "web app icon": lambda c: c.get("/favicon.svg"),
        "missing web file": lambda c: c.get("/no-such-file.js"),
        "web file, wrong method": lambda c: c.post("/app.js"),
        "API docs page": lambda c: c.get("/docs"),
        "API docs script": lambda c: c.get("/docs-static/swagger-ui-bundle.js"),
        "OpenAPI document": lambda c: c.get("/openapi.json"),
        "liveness": lambda c: c.get("/livez"),
        "health report": lambda c: c.get("/healthz"),
        "metrics": lambda c: c.get("/metrics"),
        "API JSON with personal data": lambda c: c.get("/api/v1/me"),
        "API list": lambda c: c.get(f"/api/v1/estates/{world.estate_a}/units"),
        "API created": lambda c: c.post("/api/v1/districts", json={"name": "高新区"}),
        "API CSV": lambda c: c.get(
            f"/api/v1/estates/{world.estate_a}/reports/monthly/2026-01", params={"format": "csv"}
        ),
        "API file": lambda c: c.get(f"/api/v1/estates/{world.estate_a}/vouchers/{sha}"),
        "API no content": lambda c: c.post("/api/v1/auth/logout", json={"refresh_token": "x" * 40}),
        "API 401": lambda c: c.get("/api/v1/me", headers={"authorization": "Bearer x.y.z"}),
        "API 403": lambda c: c.get(f"/api/v1/estates/{world.estate_b}/units"),
        "API 404": lambda c: c.get(f"/api/v1/estates/{uuid.uuid4()}"),
        "unknown API path": lambda c: c.get("/api/v1/no-such-thing"),
        "API 413": lambda c: c.post(
            "/api/v1/districts",
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/json"},
        ),
        "API 414": lambda c: c.get(f"/api/v1/me?x={'a' * 40_000}"),
        "API 415": lambda c: c.post(
            f"/api/v1/estates/{world.estate_a}/vouchers",
            params={"kind": "receipt"},
            content=b"<svg/>",
            headers={"content-type": "image/svg+xml"},
        ),
        "API 422": lambda c: c.get("/api/v1/estates/not-a-uuid"),
    }
    statuses = {}
    with world.client("operator") as op, world.client("company_accountant") as company:
        for what, call in samples.items():
            client = company if what in ("API file", "API 415", "API 403") else op
            reply = call(client)
            statuses[what] = reply.status_code
            secured(reply, what)
    # The samples are what they claim to be.
    assert statuses["web app page"] == statuses["API JSON with personal data"] == 200
    assert statuses["missing web file"] == 404 and statuses["API 404"] == 404
    assert statuses["API 401"] == 401 and statuses["API 403"] in (403, 404)
    assert statuses["API 413"] == 413 and statuses["API 414"] == 414
    assert statuses["API 415"] == 415 and statuses["API 422"] == 422
    assert statuses["API file"] == 200 and statuses["API no content"] == 204
    assert statuses["web file, wrong method"] == 405


def test_api_answers_are_not_stored_and_web_files_are_revalidated(
    platform: Platform, world: World
) -> None:
    with world.client("operator") as op:
        assert op.get("/api/v1/me").headers["cache-control"] == "no-store"
        assert op.get("/api/v1/no-such-thing").headers["cache-control"] == "no-store"
        assert op.get("/app.js").headers["cache-control"] == "no-cache"


def test_hsts_is_sent_when_the_request_came_over_https(platform: Platform) -> None:
    # A proxy in front (trusted: on the same host here) terminates TLS and says so.
    over_https = httpx.get(f"{platform.gateway_url}/", headers={"x-forwarded-proto": "https"})
    hsts = over_https.headers.get("strict-transport-security", "")
    assert "max-age=63072000" in hsts and "includeSubDomains" in hsts
    api = httpx.get(f"{platform.gateway_url}/api/v1/me", headers={"x-forwarded-proto": "https"})
    assert api.status_code == 401 and "strict-transport-security" in api.headers
    assert "strict-transport-security" not in httpx.get(f"{platform.gateway_url}/").headers


def test_an_unexpected_error_carries_the_headers_too() -> None:
    # Starlette answers an unexpected exception from outside every middleware the app adds; no
    # route fails that way on purpose, so one is added to an app built as the gateway builds it.
    app = create_app(Settings())

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, APIRoute("/api/v1/broken", broken))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/api/v1/broken")

    reply = asyncio.run(call())
    assert reply.status_code == 500
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "a bug" not in reply.text and "Traceback" not in reply.text
    secured(reply, "unexpected error")
