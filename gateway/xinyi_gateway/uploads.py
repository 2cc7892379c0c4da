"""Files sent as the raw request body (vouchers, photos, scans, attachments): the declared type
and the size checked before anything is forwarded. The services check the bytes again."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import Request, Response

from xinyi_gateway.problems import problem
from xinyi_kit.errors import InvalidArgument


def file_body(media_types: Collection[str], limit: int) -> dict[str, Any]:
    """The OpenAPI request body of a route that takes such a file."""
    return {
        "requestBody": {
            "required": True,
            "description": f"The file's bytes, at most {limit} bytes",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in media_types},
        }
    }


async def read_file(
    request: Request, media_types: Collection[str], limit: int, what: str
) -> tuple[bytes, str] | Response:
    """The body and its declared media type, or the refusal: 415 for a type not taken ("`what`
    is one of ..."; `what` reads like "a photo"), 413 for a body over `limit`; an empty body is
    the caller's mistake (400)."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in media_types:
        return problem(
            415,
            f"{what} is one of {', '.join(media_types)}; "
            f"send it with that Content-Type, not {declared or 'none'}",
        )
    content = await request.body()
    if len(content) > limit:
        return problem(413, f"the request body is larger than the limit of {limit} bytes")
    if not content:
        raise InvalidArgument("the request body is empty: send the file's bytes as the body")
    return content, declared
