"""Tracing, metrics and JSON logs, set up the same way in every process."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import start_http_server

# Keys whose values never reach a log line.
_SECRET_MARKERS = ("password", "secret", "token", "authorization", "totp")
# PostgreSQL's DETAIL quotes row values ("Failing row contains (...)", "Key (k)=(v) exists"),
# secrets among them, and asyncpg puts it in its errors' text.
_PG_DETAIL = re.compile(r"^(DETAIL:\s*).+$", re.MULTILINE)


def _scrub(text: str) -> str:
    return _PG_DETAIL.sub(r"\1[hidden: it may quote row values]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": _scrub(record.getMessage()),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            for key, value in extra.items():
                secret = any(marker in key.lower() for marker in _SECRET_MARKERS)
                entry[key] = "[redacted]" if secret else value
        if record.exc_info:
            entry["exc"] = _scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Their INFO lines are per-request noise; warnings still come through.
    for noisy in ("nats", "uvicorn.access", "httpx", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup_tracing(service: str) -> TracerProvider:
    """This process's tracer provider; spans go out by OTLP/HTTP when an endpoint is set.

    Without an endpoint nothing would read a span, so none is recorded: every span is then a
    non-recording one, which still carries fresh trace ids (for the trace id an error names, and
    for the context events carry along) but skips the attributes, timing and bookkeeping that
    cost each request a measurable share of its CPU. OTEL_TRACES_SAMPLER still decides when set.
    """
    exporting = bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    sampler = None if exporting or os.environ.get("OTEL_TRACES_SAMPLER") else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def spans_recorded() -> bool:
    """Whether this process's spans can be recorded at all: false where `setup_tracing` chose
    ALWAYS_OFF (or OTEL_TRACES_SAMPLER=always_off). Instrumentation may then keep only the trace
    context (ids, propagation) and skip the work whose result every span would drop."""
    provider = trace.get_tracer_provider()
    return not (isinstance(provider, TracerProvider) and provider.sampler is ALWAYS_OFF)


def start_metrics_server(port: int) -> None:
    if port:
        start_http_server(port, addr="0.0.0.0")


def inject_context() -> dict[str, str]:
    """The current trace context as headers (W3C traceparent), to store or send along."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
