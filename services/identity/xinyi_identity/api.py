"""Identity's gRPC servicer: translates protos to the service's operations."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from google.protobuf import timestamp_pb2
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from xinyi_identity import domain, store
from xinyi_kit import auth, clock, idempotency
from xinyi_kit.db import PLATFORM, Database
from xinyi_kit.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from xinyi_kit.outbox import Outbox

# argon2id with moderate memory (19 MiB, OWASP's floor) keeps a login burst from exhausting RAM.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashing runs off the event loop; at most this many at once.
HASH_SLOTS = asyncio.Semaphore(4)
# Compared against when the user does not exist, so timing does not tell who exists.
_DUMMY_HASH = HASHER.hash("not a real password")
LOGIN_FAILED = "the username or password is wrong"


async def hash_password(password: str) -> str:
    async with HASH_SLOTS:
        return await asyncio.to_thread(HASHER.hash, password)


async def check_password(stored_hash: str, password: str) -> bool:
    async with HASH_SLOTS:
        try:
            return await asyncio.to_thread(HASHER.verify, stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _stamp(value: object) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def estate_pb(row: store.Estate) -> identity_pb2.Estate:
    return identity_pb2.Estate(
        estate_id=str(row.estate_id),
        name=row.name,
        community_id=str(row.community_id or ""),
        address=row.address,
        created_at=_stamp(row.created_at),
    )


class IdentityApi(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def jwks(self) -> str:
        async with self.db.system_tx() as session:
            keys = await store.active_keys(session)
        return domain.jwks([k.public_jwk for k in keys])

    async def _issue(self, session: AsyncSession, user: store.User) -> identity_pb2.LoginResponse:
        """Access and refresh tokens for a user whose credentials were just proven."""
        grants = await store.grants_of(session, user.user_id)
        key = (await store.active_keys(session))[0]
        issued = clock.now()
        claims = domain.access_claims(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            roles=[
                {
                    "role": g.role,
                    "estate_id": str(g.estate_id or ""),
                    "community_id": str(g.community_id or ""),
                }
                for g in grants
            ],
            issued_at=issued,
        )
        token = jwt.encode(claims, key.private_pem, algorithm="EdDSA", headers={"kid": key.kid})
        refresh, digest = domain.new_refresh_token()
        session.add(
            store.RefreshToken(
                token_sha256=digest,
                user_id=user.user_id,
                created_at=issued,
                expires_at=issued + domain.REFRESH_TOKEN_TTL,
            )
        )
        return identity_pb2.LoginResponse(
            access_token=token,
            refresh_token=refresh,
            expires_in_seconds=int(domain.ACCESS_TOKEN_TTL.total_seconds()),
            token_type="bearer",
        )

    async def Login(
        self, request: identity_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        async with self.db.system_tx() as session:
            user = await store.user_by_username(session, request.username)
        # The same work whether or not the user exists, so timing does not tell.
        ok = await check_password(user.password_hash if user else _DUMMY_HASH, request.password)
        if user is None or not ok:
            raise Unauthenticated(LOGIN_FAILED)
        async with self.db.system_tx() as session:
            return await self._issue(session, user)

    async def Refresh(
        self, request: identity_pb2.RefreshRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        now = clock.now()
        async with self.db.system_tx() as session:
            row = await session.get(
                store.RefreshToken,
                domain.refresh_digest(request.refresh_token),
                with_for_update=True,
            )
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise Unauthenticated("the refresh token is not valid any more; sign in again")
            row.revoked_at = now
            user = await session.get(store.User, row.user_id)
            assert user is not None
            return await self._issue(session, user)

    async def Logout(
        self, request: identity_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LogoutResponse:
        async with self.db.system_tx() as session:
            await session.execute(
                update(store.RefreshToken)
                .where(
                    store.RefreshToken.token_sha256 == domain.refresh_digest(request.refresh_token),
                    store.RefreshToken.revoked_at.is_(None),
                )
                .values(revoked_at=clock.now())
            )
        return identity_pb2.LogoutResponse()

    async def GetJwks(
        self, request: identity_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetJwksResponse:
        return identity_pb2.GetJwksResponse(jwks_json=await self.jwks())

    async def GetMe(
        self, request: identity_pb2.GetMeRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetMeResponse:
        principal = auth.require()
        return identity_pb2.GetMeResponse(
            user=identity_pb2.User(
                user_id=principal.user_id,
                username=principal.username,
                display_name=principal.display_name,
                roles=[
                    identity_pb2.RoleGrant(
                        role=g.role, estate_id=g.estate_id, community_id=g.community_id
                    )
                    for g in principal.grants
                ],
            )
        )

    async def CreateEstate(
        self, request: identity_pb2.CreateEstateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateEstateResponse:
        principal = auth.require_operator()
        name = domain.clean_name(request.name, "the estate's name")
        community = (
            domain.parse_uuid(request.community_id, "community_id")
            if request.community_id
            else None
        )
        if len(request.address) > 500:
            raise InvalidArgument("the address has at most 500 characters")

        async def create() -> identity_pb2.CreateEstateResponse:
            row = store.Estate(
                estate_id=uuid.uuid4(),
                name=name,
                community_id=community,
                address=request.address.strip(),
                created_at=clock.now(),
            )
            session.add(row)
            await session.flush()
            await self.outbox.emit(
                session,
                row.estate_id,
                "estate_created",
                events_pb2.EstateCreated(
                    estate_id=str(row.estate_id),
                    name=row.name,
                    community_id=str(row.community_id or ""),
                    address=row.address,
                ),
            )
            return identity_pb2.CreateEstateResponse(estate=estate_pb(row))

        async with self.db.system_tx() as session:
            return await idempotency.once(
                session,
                PLATFORM,
                f"{principal.user_id}:CreateEstate",
                request.idempotency_key,
                request,
                identity_pb2.CreateEstateResponse,
                create,
            )

    async def GetEstate(
        self, request: identity_pb2.GetEstateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetEstateResponse:
        principal = auth.require()
        estate_id = domain.parse_uuid(request.estate_id, "estate_id")
        if not (
            principal.is_operator or any(g.estate_id == str(estate_id) for g in principal.grants)
        ):
            # Existence itself is private to those with a role in the estate.
            raise NotFound("no such estate")
        async with self.db.system_tx() as session:
            row = await store.estate(session, estate_id)
        if row is None:
            raise NotFound("no such estate")
        return identity_pb2.GetEstateResponse(estate=estate_pb(row))

    async def ListEstates(
        self, request: identity_pb2.ListEstatesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListEstatesResponse:
        principal = auth.require()
        if not principal.is_operator:
            raise PermissionDenied("only the platform operator lists every estate")
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be between 1 and 500")
        after = domain.parse_uuid(request.page_token, "page_token") if request.page_token else None
        async with self.db.system_tx() as session:
            rows = await store.estates_page(session, after=after, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return identity_pb2.ListEstatesResponse(
            estates=[estate_pb(r) for r in rows],
            next_page_token=str(rows[-1].estate_id) if more and rows else "",
        )
