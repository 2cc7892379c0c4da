"""Errors as RFC 9457 problem+json, with the service's sentence as the detail, in the reader's
language (`refusals`)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from xinyi_gateway import refusals
from xinyi_kit.errors import DomainError
from xinyi_kit.telemetry import current_trace_id

log = logging.getLogger("xinyi_gateway")

MEDIA_TYPE = "application/problem+json"

STATUS_OF: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 422,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 499,
}


# The framework's own details, in our words (and so in the catalog of `refusals`): a body
# FastAPI cannot parse, and Starlette's bare status phrases.
FRAMEWORK_WORDS: dict[str, str] = {
    "There was an error parsing the body": "the request body cannot be read: send JSON in UTF-8",
    "Not Found": "there is nothing at this address",
    "Method Not Allowed": "this address does not take this method",
}

# A retryable fault (a database or service restarting) usually passes within seconds; clients
# that honour Retry-After come back soon without hammering a service that is starting.
RETRY_AFTER_SECONDS = "1"


def _phrase(status: int) -> str:
    return "Client Closed Request" if status == 499 else HTTPStatus(status).phrase


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    shown: str | None = None,
    **extra: object,
) -> JSONResponse:
    """`detail` is the English sentence; `shown`, when the caller words it itself, the same in
    the reader's language (else the catalog words it)."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title or _phrase(status),
        "status": status,
        **refusals.detail(detail, shown),
    }
    trace_id = current_trace_id()
    if trace_id:
        body["trace_id"] = trace_id
    body.update(extra)
    all_headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    all_headers.update(refusals.headers())
    all_headers.update(headers or {})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=all_headers)


def from_rpc_error(exc: grpc.aio.AioRpcError) -> JSONResponse:
    code = exc.code()
    status = STATUS_OF.get(code, 502)
    trailing = dict(exc.trailing_metadata() or ())
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        detail = "a service did not answer in time; try again shortly"
    elif code == grpc.StatusCode.UNAVAILABLE:
        # A service's own sentence comes with its problem code ("unavailable"); without one the
        # words are the transport's ("Stream removed (recvmsg:Connection timed out (110))").
        detail = "a service is unavailable; try again shortly"
        if trailing.get("xinyi-problem-code") and exc.details():
            detail = exc.details()
    elif status == 502:
        detail = "a service failed to answer; the error was logged"
        log.error("service error %s: %s", code.name, exc.details())
        if code == grpc.StatusCode.INTERNAL:
            status, detail = 500, exc.details() or detail
    else:
        detail = exc.details() or code.name
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if trailing.get("xinyi-problem-code"):
        extra["code"] = trailing["xinyi-problem-code"]
    if trailing.get("retry-after"):
        headers["Retry-After"] = str(trailing["retry-after"])
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return problem(status, detail, headers=headers, **extra)


def install(app: FastAPI) -> None:
    @app.exception_handler(grpc.aio.AioRpcError)
    async def _rpc(request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        return from_rpc_error(exc)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = STATUS_OF.get(exc.code, 400)
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
        return problem(status, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        fields = [
            ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body" for e in found
        ]
        errors = [
            {"field": field, "message": refusals.validation_message(e)}
            for field, e in zip(fields, found, strict=True)
        ]
        # The detail in English; in Chinese, from the fields' worded messages.
        english = "; ".join(
            f"{f}: {e.get('msg', '')}" for f, e in zip(fields[:5], found[:5], strict=True)
        )
        shown = None
        if refusals.language() == refusals.CHINESE:
            summary = "；".join(f"{e['field']}: {e['message']}" for e in errors[:5])
            shown = refusals.ZH["the request is not valid: {}"].format(summary)
        return problem(422, f"the request is not valid: {english}", errors=errors, shown=shown)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(exc.status_code, FRAMEWORK_WORDS.get(detail, detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it was logged with this trace id")
