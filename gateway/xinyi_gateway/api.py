"""REST routes under /api/v1: each checks the caller, then asks the owning service over gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi.identity.v1 import identity_pb2
from xinyi.ledger.v1 import ledger_pb2
from xinyi.notifications.v1 import notifications_pb2
from xinyi.voting.v1 import voting_pb2
from xinyi_gateway.services import Services
from xinyi_kit import auth
from xinyi_kit.auth import Principal
from xinyi_kit.errors import Unauthenticated

router = APIRouter(prefix="/api/v1")

EstateId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$", description="Estate UUID")]
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


async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Verifies the bearer token here too (defence in depth) and passes it on to the services."""
    token = auth.bearer(authorization)
    if token is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <access token>'")
    principal = await request.app.state.verifier.verify(token)
    return Caller(principal, (("authorization", f"Bearer {token}"),))


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Authed = Annotated[Caller, Depends(caller)]
Svc = Annotated[Services, Depends(services)]


def _iso(stamp: Timestamp) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


# -- auth ------------------------------------------------------------------------------------
class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(default=None, max_length=10)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class RoleGrantOut(BaseModel):
    role: str
    estate_id: str | None
    community_id: str | None


class MeOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    roles: list[RoleGrantOut]


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Sign in with username and password",
)
async def token(body: TokenRequest, svc: Svc) -> TokenResponse:
    reply = await svc.identity.Login(
        identity_pb2.LoginRequest(
            username=body.username, password=body.password, totp=body.totp or ""
        )
    )
    return TokenResponse(
        access_token=reply.access_token,
        refresh_token=reply.refresh_token,
        token_type=reply.token_type,
        expires_in=reply.expires_in_seconds,
    )


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    tags=["auth"],
    summary="New tokens for a refresh token (which is then spent)",
)
async def refresh(body: RefreshIn, svc: Svc) -> TokenResponse:
    reply = await svc.identity.Refresh(
        identity_pb2.RefreshRequest(refresh_token=body.refresh_token)
    )
    return TokenResponse(
        access_token=reply.access_token,
        refresh_token=reply.refresh_token,
        token_type=reply.token_type,
        expires_in=reply.expires_in_seconds,
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Revoke a refresh token",
)
async def logout(body: RefreshIn, svc: Svc) -> Response:
    await svc.identity.Logout(identity_pb2.LogoutRequest(refresh_token=body.refresh_token))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut, tags=["auth"], summary="The signed-in user and roles")
async def me(who: Authed, svc: Svc) -> MeOut:
    reply = await svc.identity.GetMe(identity_pb2.GetMeRequest(), metadata=who.metadata)
    user = reply.user
    return MeOut(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        roles=[
            RoleGrantOut(
                role=g.role, estate_id=g.estate_id or None, community_id=g.community_id or None
            )
            for g in user.roles
        ],
    )


# -- estates ---------------------------------------------------------------------------------
class EstateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["玉林小区"])
    community_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F-]{36}$")
    address: str = Field(default="", max_length=500)


class EstateOut(BaseModel):
    estate_id: str
    name: str
    community_id: str | None
    address: str
    created_at: str | None


class EstatePage(BaseModel):
    estates: list[EstateOut]
    next_cursor: str | None


def _estate(e: identity_pb2.Estate) -> EstateOut:
    return EstateOut(
        estate_id=e.estate_id,
        name=e.name,
        community_id=e.community_id or None,
        address=e.address,
        created_at=_iso(e.created_at),
    )


@router.post(
    "/estates",
    response_model=EstateOut,
    status_code=status.HTTP_201_CREATED,
    tags=["estates"],
    summary="Register an estate (operator)",
)
async def create_estate(
    body: EstateIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> EstateOut:
    reply = await svc.identity.CreateEstate(
        identity_pb2.CreateEstateRequest(
            idempotency_key=idempotency_key or "",
            name=body.name,
            community_id=body.community_id or "",
            address=body.address,
        ),
        metadata=who.metadata,
    )
    return _estate(reply.estate)


@router.get(
    "/estates",
    response_model=EstatePage,
    tags=["estates"],
    summary="Every estate on the platform (operator)",
)
async def list_estates(
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> EstatePage:
    reply = await svc.identity.ListEstates(
        identity_pb2.ListEstatesRequest(page_size=limit, page_token=cursor or ""),
        metadata=who.metadata,
    )
    return EstatePage(
        estates=[_estate(e) for e in reply.estates], next_cursor=reply.next_page_token or None
    )


@router.get(
    "/estates/{estate_id}", response_model=EstateOut, tags=["estates"], summary="One estate"
)
async def get_estate(estate_id: EstateId, who: Authed, svc: Svc) -> EstateOut:
    reply = await svc.identity.GetEstate(
        identity_pb2.GetEstateRequest(estate_id=estate_id), metadata=who.metadata
    )
    return _estate(reply.estate)


class AccountOut(BaseModel):
    code: str
    name: str
    type: str


@router.get(
    "/estates/{estate_id}/ledger/accounts",
    response_model=list[AccountOut],
    tags=["ledger"],
    summary="The estate's chart of accounts",
)
async def accounts(estate_id: EstateId, who: Authed, svc: Svc) -> list[AccountOut]:
    reply = await svc.ledger.ListAccounts(
        ledger_pb2.ListAccountsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [
        AccountOut(
            code=a.code,
            name=a.name,
            type=ledger_pb2.AccountType.Name(a.type).removeprefix("ACCOUNT_TYPE_").lower(),
        )
        for a in reply.accounts
    ]


class OverviewOut(BaseModel):
    estate_id: str
    name: str
    books_open: bool
    account_count: int
    registered_at: str | None
    applied_sequences: dict[str, int]


@router.get(
    "/estates/{estate_id}/overview",
    response_model=OverviewOut,
    tags=["disclosure"],
    summary="What the disclosure read models know of the estate",
)
async def overview(estate_id: EstateId, who: Authed, svc: Svc) -> OverviewOut:
    reply = await svc.disclosure.GetEstateOverview(
        disclosure_pb2.GetEstateOverviewRequest(estate_id=estate_id), metadata=who.metadata
    )
    o = reply.overview
    return OverviewOut(
        estate_id=o.estate_id,
        name=o.name,
        books_open=o.books_open,
        account_count=o.account_count,
        registered_at=_iso(o.registered_at),
        applied_sequences=dict(o.applied_sequences),
    )


class BallotOut(BaseModel):
    ballot_id: str
    title: str
    state: str


@router.get(
    "/estates/{estate_id}/ballots",
    response_model=list[BallotOut],
    tags=["voting"],
    summary="The estate's ballots",
)
async def ballots(estate_id: EstateId, who: Authed, svc: Svc) -> list[BallotOut]:
    reply = await svc.voting.ListBallots(
        voting_pb2.ListBallotsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [BallotOut(ballot_id=b.ballot_id, title=b.title, state=b.state) for b in reply.ballots]


class InboxMessageOut(BaseModel):
    message_id: str
    kind: str
    title: str
    body: str
    read: bool
    created_at: str | None
    estate_id: str


class InboxPage(BaseModel):
    messages: list[InboxMessageOut]
    next_cursor: str | None


@router.get(
    "/me/inbox",
    response_model=InboxPage,
    tags=["notifications"],
    summary="My in-app messages, newest first",
)
async def inbox(
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> InboxPage:
    reply = await svc.notifications.ListInbox(
        notifications_pb2.ListInboxRequest(page_size=limit, page_token=cursor or ""),
        metadata=who.metadata,
    )
    return InboxPage(
        messages=[
            InboxMessageOut(
                message_id=m.message_id,
                kind=m.kind,
                title=m.title,
                body=m.body,
                read=m.read,
                created_at=_iso(m.created_at),
                estate_id=m.estate_id,
            )
            for m in reply.messages
        ],
        next_cursor=reply.next_page_token or None,
    )
