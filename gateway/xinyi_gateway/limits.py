"""Request size limit and security headers, as plain ASGI middleware."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinyi_gateway import refusals
from xinyi_kit.telemetry import current_trace_id

# The web app loads only its own files; nothing inline, nothing framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Sent only on answers that came over HTTPS (directly, or from a proxy trusted to say so with
# X-Forwarded-Proto): over plain HTTP a browser ignores it.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# API answers carry personal data and tokens: no cache, shared or private, keeps them. A route
# that knows better (content-addressed files) sets its own Cache-Control.
NO_STORE = (b"cache-control", b"no-store")


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit. An HTTPException, so FastAPI's body parsing
    passes it on (it turns other errors into 400) and the app answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


# The longest path and query string taken. The HTTP server itself refuses targets past 64 KiB
# with a bare 400; below that, the answer is a problem like every other.
MAX_TARGET_BYTES = 32 * 1024


def _problem(status: int, title: str, detail: str) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, **refusals.detail(detail)}
    return json.dumps(body, ensure_ascii=False).encode()


def _problem_413(limit: int) -> bytes:
    return _problem(
        413, "Content Too Large", f"the request body is larger than the limit of {limit} bytes"
    )


# A route that takes larger bodies (file uploads): its method, full path pattern and limit.
Allowance = tuple[str, re.Pattern[str], int]


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413, by Content-Length or while streaming, and a
    path with query over MAX_TARGET_BYTES with 414.

    `allowances` give the few routes that take files a limit of their own.
    """

    def __init__(self, app: ASGIApp, limit: int, allowances: Sequence[Allowance] = ()) -> None:
        self.app = app
        self.limit = limit
        self.allowances = tuple(allowances)

    def _limit_for(self, scope: Scope) -> int:
        for method, path, limit in self.allowances:
            if scope.get("method") == method and path.fullmatch(scope.get("path", "")):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > MAX_TARGET_BYTES:
            detail = f"the path and query are longer than the limit of {MAX_TARGET_BYTES} bytes"
            await self._send(send, 414, _problem(414, "URI Too Long", detail))
            return
        limit = self._limit_for(scope)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        await self._send(send, 413, _problem_413(limit))

    @staticmethod
    async def _send(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in refusals.headers().items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """The headers every answer carries, whoever made it: a route, an error handler, the body
    limit or the web app's files. With `only_missing`, it adds them only to an answer that has
    none yet (see `guard_security_headers`)."""

    def __init__(self, app: ASGIApp, only_missing: bool = False) -> None:
        self.app = app
        self.only_missing = only_missing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        api = scope.get("path", "").startswith("/api/")
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and not (
                self.only_missing
                and any(k == SECURITY_HEADERS[0][0] for k, _ in message.get("headers", []))
            ):
                extra = list(SECURITY_HEADERS)
                if https:
                    extra.append(HSTS)
                if api and not any(
                    k.lower() == b"cache-control" for k, _ in message.get("headers", [])
                ):
                    extra.append(NO_STORE)
                trace_id = current_trace_id()
                if trace_id:
                    # Lets a user quote the request to the operator, and tests find its trace.
                    extra.append((b"x-trace-id", trace_id.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def guard_security_headers(app: Starlette) -> None:
    """Puts a second SecurityHeaders outside all of `app`'s middleware. Starlette answers an
    unexpected exception (the 500) from its outermost layer, past every middleware added with
    `add_middleware`; this guard gives that answer the headers too."""
    build = app.build_middleware_stack

    def build_guarded() -> ASGIApp:
        return SecurityHeaders(build(), only_missing=True)

    app.build_middleware_stack = build_guarded  # type: ignore[method-assign]
