"""Runs the gateway with uvicorn."""

from __future__ import annotations

import uvicorn

from xinyi_gateway.app import create_app
from xinyi_gateway.config import Settings
from xinyi_kit.config import load
from xinyi_kit.telemetry import setup_logging, setup_tracing


def main() -> None:
    settings = load(Settings)
    setup_logging("gateway", settings.log_level)
    setup_tracing("gateway")
    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
