"""Each request's trace context: full spans when they go out, only ids when they do not."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.util.http import parse_excluded_urls
from starlette.types import ASGIApp, Receive, Scope, Send

from xinyi_kit.telemetry import spans_recorded

# Probes and scrapes: no span, no trace id.
EXCLUDED_URLS = "livez,readyz,metrics"


class TraceContext:
    """Runs each request in a server span that is never recorded: the request continues the
    caller's trace (traceparent) or starts one, so its trace id reaches the X-Trace-Id header,
    problem bodies, log lines and the services called (see `xinyi_kit.rpc.channel`).

    For processes whose sampler records nothing (`spans_recorded()` is false) it stands in for
    OpenTelemetry's ASGI instrumentation, which would match the route a second time and gather
    attributes and metrics for every request only to drop them.
    """

    def __init__(self, app: ASGIApp, excluded_urls: str = EXCLUDED_URLS) -> None:
        self.app = app
        self._excluded = parse_excluded_urls(excluded_urls)
        self._tracer = trace.get_tracer(__name__)
        # The headers the configured propagators read (traceparent, tracestate, baggage).
        self._fields = frozenset(f.encode("latin-1") for f in propagate.get_global_textmap().fields)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._excluded.url_disabled(
            scope.get("path", "")
        ):
            await self.app(scope, receive, send)
            return
        carrier: dict[str, list[str]] = {}
        for name, value in scope.get("headers", ()):
            if name in self._fields:
                carrier.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        parent = propagate.extract(carrier) if carrier else None
        span = self._tracer.start_span("HTTP", context=parent, kind=trace.SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)
            span.end()


def instrument(app: FastAPI) -> None:
    """Traces `app`'s requests: with OpenTelemetry's FastAPI instrumentation where spans are
    recorded, with `TraceContext` (ids only, outside all middleware) where they are not."""
    if spans_recorded():
        FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS)
        return
    build = app.build_middleware_stack

    def build_traced() -> ASGIApp:
        return TraceContext(build())

    app.build_middleware_stack = build_traced  # type: ignore[method-assign]
