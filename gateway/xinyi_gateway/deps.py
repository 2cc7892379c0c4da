"""What every route needs: the verified caller, the service stubs, common parameter types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from google.protobuf.timestamp_pb2 import Timestamp

from xinyi_gateway.services import Services
from xinyi_kit import auth
from xinyi_kit.auth import Principal
from xinyi_kit.errors import Unauthenticated

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

EstateId = Annotated[str, Path(pattern=UUID_PATTERN, description="Estate UUID")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retries with the same key return the first result",
    ),
]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    metadata: tuple[tuple[str, str], ...]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Verifies the bearer token here too (defence in depth) and passes it on to the services."""
    token = auth.bearer(authorization)
    if token is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <access token>'")
    principal = await request.app.state.verifier.verify(token)
    return Caller(
        principal,
        (("authorization", f"Bearer {token}"), ("x-client-ip", client_ip(request))),
    )


async def services(request: Request) -> Services:
    # Async though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread,
    # a hand-off that costs far more than this lookup.
    svc: Services = request.app.state.services
    return svc


Authed = Annotated[Caller, Depends(caller)]
Svc = Annotated[Services, Depends(services)]


def iso(stamp: Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC).isoformat()
