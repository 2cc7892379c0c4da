"""Idempotency keys for commands that create things: a retry returns the first result."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi_kit.db import xact_lock
from xinyi_kit.errors import AlreadyExists, InvalidArgument

R = TypeVar("R", bound=Message)

MAX_KEY_LENGTH = 200


def request_digest(request: Message) -> bytes:
    """sha256 of the request without its idempotency key (deterministic serialisation)."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "idempotency_key" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("idempotency_key")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


async def once(
    session: AsyncSession,
    estate_id: uuid.UUID,
    scope: str,
    key: str,
    request: Message,
    response_type: type[R],
    compute: Callable[[], Awaitable[R]],
) -> R:
    """Runs `compute` once per (estate, scope, key) inside the caller's transaction.

    `scope` keeps different callers' keys apart (e.g. the user id and the method).
    """
    if not key:
        return await compute()
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"an idempotency key has at most {MAX_KEY_LENGTH} characters")
    full_key = f"{scope}:{key}"
    digest = request_digest(request)
    await xact_lock(session, f"{estate_id}:{full_key}")
    row = (
        await session.execute(
            text(
                "SELECT request_sha256, response FROM idempotency WHERE estate_id = :e AND key = :k"
            ),
            {"e": estate_id, "k": full_key},
        )
    ).first()
    if row is not None:
        if bytes(row[0]) != digest:
            raise AlreadyExists(
                "this idempotency key was already used for a different request; "
                "use a new key for a new request"
            )
        return response_type.FromString(bytes(row[1]))
    response = await compute()
    await session.execute(
        text(
            "INSERT INTO idempotency (estate_id, key, request_sha256, response) "
            "VALUES (:e, :k, :d, :r)"
        ),
        {"e": estate_id, "k": full_key, "d": digest, "r": response.SerializeToString()},
    )
    return response
