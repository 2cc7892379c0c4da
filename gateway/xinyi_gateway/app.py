"""The gateway application: REST under /api/v1 over the services' gRPC, health, metrics, web app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.middleware.gzip import GZipMiddleware

from xinyi_gateway import (
    apidoc,
    problems,
    refusals,
    routes_ballots,
    routes_fees,
    routes_groups,
    routes_identity,
    routes_ledger,
    routes_notifications,
    routes_onboarding,
    routes_reports,
    routes_services,
    routes_statements,
    routes_takings,
    routes_tenders,
    routes_voice,
    routes_vouchers,
    tracing,
)
from xinyi_gateway.config import Settings
from xinyi_gateway.limits import BodyLimit, SecurityHeaders, guard_security_headers
from xinyi_gateway.ratelimit import Limiter
from xinyi_gateway.services import SERVICE_NAMES, Services
from xinyi_kit import rpc
from xinyi_kit.auth import TokenVerifier
from xinyi_kit.heap import freeze_startup_heap

WEB = Path(__file__).parent / "web"

# Tasks alive in the event loop: one per request in progress, a few of the server's own. A number
# that only grows is a leak (calls never finished or cancelled).
TASKS = Gauge("xinyi_gateway_asyncio_tasks", "asyncio tasks alive in the gateway's event loop")

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Xinyi API</title>
<link rel="stylesheet" href="/docs-static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs-static/swagger-ui-bundle.js"></script>
<script src="/docs.js"></script></body></html>
"""


class WebFiles(StaticFiles):
    """The web app's files, revalidated on every use: their names carry no version, so a new
    release shows at once, and an unchanged file costs a 304 of a few hundred bytes (ETag)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.connect(settings)
        app.state.services = services
        app.state.verifier = TokenVerifier(services.jwks)
        freeze_startup_heap()
        yield
        await services.close()

    app = FastAPI(
        title="Xinyi (信义) API",
        version="1.0",
        summary="Trust-based property management: every yuan of an estate's common fund visible.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Requests are traced by `tracing.instrument`; FastAPI's own spans would come twice.
        telemetry={"tracing": False},
    )
    app.state.settings = settings
    app.state.login_limiter = Limiter(
        settings.login_rate_per_minute, burst=2 * settings.login_rate_per_minute
    )
    problems.install(app)
    apidoc.document_problems(app)

    @app.get("/livez", tags=["health"], summary="The process is alive")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The gateway can serve (its own dependencies)")
    async def readyz(request: Request) -> JSONResponse:
        ready = hasattr(request.app.state, "services")
        return JSONResponse(
            {"status": "ready" if ready else "starting"}, status_code=200 if ready else 503
        )

    @app.get("/healthz", tags=["health"], summary="Every service's gRPC health, by name")
    async def healthz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        states = await asyncio.gather(
            *(rpc.check_health(services.channels[name]) for name in SERVICE_NAMES)
        )
        report = dict(zip(SERVICE_NAMES, states, strict=True))
        healthy = all(state == "SERVING" for state in states)
        return JSONResponse(
            {
                "status": "healthy" if healthy else "unhealthy",
                "services": {name: {"state": state} for name, state in report.items()},
            },
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        TASKS.set(len(asyncio.all_tasks()))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    app.include_router(routes_identity.router)
    app.include_router(routes_onboarding.router)
    app.include_router(routes_onboarding.stages)
    app.include_router(routes_services.router)
    app.include_router(routes_notifications.router)
    app.include_router(routes_ledger.router)
    app.include_router(routes_vouchers.router)
    app.include_router(routes_fees.router)
    app.include_router(routes_groups.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_reports.kpis)
    app.include_router(routes_statements.router)
    app.include_router(routes_takings.router)
    app.include_router(routes_voice.router)
    app.include_router(routes_ballots.router)
    app.include_router(routes_ballots.petitions)
    app.include_router(routes_tenders.tenders)
    app.include_router(routes_tenders.bidders)
    app.include_router(routes_tenders.meetings)

    @app.api_route(
        "/api/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def unknown_api(rest: str) -> JSONResponse:
        # Unknown API paths answer as the API does, not with the web app's files.
        return problems.problem(404, f"there is no API endpoint at /api/{rest}")

    app.mount(
        "/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static"
    )
    # The web app's files, compressed (the API's answers are not: they carry tokens, and
    # compressing secrets beside reflected input invites BREACH).
    app.mount(
        "/", GZipMiddleware(WebFiles(directory=WEB, html=True), minimum_size=1024), name="web"
    )

    tracing.instrument(app)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        allowances=[
            *routes_vouchers.BODY_ALLOWANCES,
            *routes_voice.BODY_ALLOWANCES,
            *routes_ballots.BODY_ALLOWANCES,
            *routes_statements.BODY_ALLOWANCES,
            *routes_takings.BODY_ALLOWANCES,
        ],
    )
    # Outside the body limit, whose refusals are worded in the reader's language too.
    app.add_middleware(refusals.ReaderLanguage)
    app.add_middleware(SecurityHeaders)
    guard_security_headers(app)
    return app
