"""Identity's servicer, part one: signing in and out, tokens, TOTP, device keys, signing keys."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import os
import uuid
from datetime import datetime, timedelta

import grpc
import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from google.protobuf import timestamp_pb2
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.identity.v1 import events_pb2, identity_pb2
from xinyi_identity import domain, store
from xinyi_identity.common import grant_pb, stamp, today
from xinyi_kit import audit, auth, clock
from xinyi_kit.db import PLATFORM, Database
from xinyi_kit.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, authorize

# argon2id with moderate memory (19 MiB, OWASP's floor) keeps a login burst from exhausting RAM.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashing runs off the event loop, at most one hash per core (and 4) at once: argon2 is CPU-bound,
# so more threads than cores add no speed, only 19 MiB of resident memory each.
HASH_SLOTS = asyncio.Semaphore(max(1, min(4, len(os.sched_getaffinity(0)))))


def return_hash_memory_to_the_system() -> None:
    """Each hash takes a 19 MiB buffer. glibc raises its mmap threshold after the first such
    buffer is freed, so later ones come from the heap and stay resident: a login burst left
    identity 115 MiB larger for good (measured: 135 MiB after 240 hashes in 4 threads, 21 MiB
    with the threshold fixed at 1 MiB, so each buffer is mapped and unmapped). Elsewhere than
    glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        m_mmap_threshold = -3
        ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, 1 << 20)


# Compared against when the user does not exist, so timing does not tell who exists.
_DUMMY_HASH = HASHER.hash("not a real password")
LOGIN_FAILED = "the username or password is wrong"
TOTP_ISSUER = "Xinyi 信义"


async def hash_password(password: str) -> str:
    async with HASH_SLOTS:
        return await asyncio.to_thread(HASHER.hash, password)


async def password_matches(stored_hash: str, password: str) -> bool:
    async with HASH_SLOTS:
        try:
            return await asyncio.to_thread(HASHER.verify, stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class AuthApi:
    db: Database
    outbox: Outbox

    async def jwks(self) -> str:
        async with self.db.system_tx() as session:
            keys = await store.active_keys(session)
        return domain.jwks([k.public_jwk for k in keys])

    async def token_roles(
        self, session: AsyncSession, user_id: uuid.UUID
    ) -> list[dict[str, object]]:
        grants = await store.grants_of(session, user_id)
        direct = [
            domain.DirectGrant(
                g.role, str(g.estate_id or ""), str(g.community_id or ""), str(g.company_id or "")
            )
            for g in grants
        ]
        communities = await store.estates_of_communities(
            session, {g.community_id for g in grants if g.community_id}
        )
        companies = await store.estates_served(
            session, {g.company_id for g in grants if g.company_id}, today()
        )
        return domain.expand_grants(
            direct,
            {str(c): [str(e) for e in es] for c, es in communities.items()},
            {str(c): [str(e) for e in es] for c, es in companies.items()},
        )

    async def _issue(self, session: AsyncSession, user: store.User) -> identity_pb2.LoginResponse:
        """Access and refresh tokens for a user whose credentials were just proven."""
        key = (await store.active_keys(session))[0]
        issued = clock.now()
        claims = domain.access_claims(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            roles=await self.token_roles(session, user.user_id),
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

    async def _note_device(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        request: identity_pb2.LoginRequest,
        now: datetime,
    ) -> None:
        """Remembers the browser or app; one the account has not used before is announced
        (a security message its owner cannot switch off), except on the very first sign-in."""
        agent = request.user_agent.strip()[:500]
        digest = hashlib.sha256(agent.encode()).hexdigest()
        known = await session.get(store.KnownDevice, (user_id, digest))
        if known is not None:
            known.last_seen = now
            return
        seen_before = (
            await session.execute(
                select(store.KnownDevice.user_id)
                .where(store.KnownDevice.user_id == user_id)
                .limit(1)
            )
        ).first()
        session.add(
            store.KnownDevice(user_id=user_id, device_sha256=digest, first_seen=now, last_seen=now)
        )
        if seen_before is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(now)
            await self.outbox.emit(
                session,
                PLATFORM,
                "new_device_login",
                events_pb2.NewDeviceLogin(
                    user_id=str(user_id),
                    device=agent[:200] or "unknown",
                    client_ip=request.client_ip[:64],
                    at=stamp,
                ),
            )

    async def _failed(self, login: str) -> None:
        """Counts a failure against the login name, whether or not such a user exists."""
        now = clock.now()
        row = store.LoginThrottle
        async with self.db.system_tx() as session:
            # Counted in one statement that creates the row or adds to it: failures of a name
            # not counted before, arriving at once, each found no row, and all but one failed
            # on the key with a 500.
            failures = (
                await session.execute(
                    insert(row)
                    .values(login=login, failures=1, updated_at=now)
                    .on_conflict_do_update(
                        index_elements=[row.login],
                        set_={"failures": row.failures + 1, "updated_at": now},
                    )
                    .returning(row.failures)
                )
            ).scalar_one()
            lock = domain.lock_after(failures)
            await session.execute(
                update(row)
                .where(row.login == login)
                .values(locked_until=now + lock if lock else None)
            )

    async def Login(
        self, request: identity_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.LoginResponse:
        login = request.username.strip().lower()[:100]
        if login.startswith("+86") or login.replace("-", "").replace(" ", "").isdigit():
            with contextlib.suppress(InvalidArgument):
                login = domain.clean_phone(login)
        now = clock.now()
        async with self.db.system_tx() as session:
            throttle = await session.get(store.LoginThrottle, login)
            if throttle and throttle.locked_until and throttle.locked_until > now:
                wait = int((throttle.locked_until - now).total_seconds()) + 1
                raise RateLimited(
                    f"too many failed sign-ins; try again in {max(1, round(wait / 60))} minute(s)",
                    retry_after=wait,
                )
            user = await store.user_by_login(session, login)
        # The same work whether or not the user exists, so timing does not tell.
        ok = await password_matches(user.password_hash if user else _DUMMY_HASH, request.password)
        if user is None or not ok:
            await self._failed(login)
            raise Unauthenticated(LOGIN_FAILED)
        async with self.db.system_tx() as session:
            user = await session.get(store.User, user.user_id, with_for_update=True)
            assert user is not None
            if user.totp_secret:
                if not request.totp:
                    raise Unauthenticated(
                        "enter the 6-digit code from your authenticator app",
                        problem_code="totp_required",
                    )
                step = _verified_step(user.totp_secret, request.totp, now)
                if step is None or step <= user.totp_last_step:
                    failed = True
                else:
                    failed = False
                    user.totp_last_step = step
            else:
                failed = False
            if not failed:
                await session.execute(
                    update(store.LoginThrottle)
                    .where(store.LoginThrottle.login == login)
                    .values(failures=0, locked_until=None, updated_at=now)
                )
                await self._note_device(session, user.user_id, request, now)
                return await self._issue(session, user)
        await self._failed(login)
        raise Unauthenticated(
            "the code from your authenticator app is wrong or was already used",
            problem_code="totp_invalid",
        )

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

    async def RotateSigningKey(
        self, request: identity_pb2.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RotateSigningKeyResponse:
        authorize(Action.SIGNING_KEY_ROTATE)
        now = clock.now()
        key = domain.new_signing_key()
        async with self.db.system_tx() as session:
            current = await store.active_keys(session)
            # Keys replaced longer ago than a token lives have signed nothing still valid.
            for old in current[1:]:
                if old.created_at <= now - domain.ACCESS_TOKEN_TTL - timedelta(minutes=1):
                    old.retired_at = now
            session.add(
                store.SigningKeyRow(
                    kid=key.kid,
                    private_pem=key.private_pem,
                    public_jwk=key.public_jwk,
                    created_at=now,
                )
            )
            await audit.record(session, PLATFORM, "signing_key.rotate", key.kid)
            await session.flush()
            published = [k.kid for k in await store.active_keys(session)]
        return identity_pb2.RotateSigningKeyResponse(
            new_key_id=key.kid, published_key_ids=published
        )

    async def GetMe(
        self, request: identity_pb2.GetMeRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetMeResponse:
        principal = auth.require()
        async with self.db.system_tx() as session:
            user = await session.get(store.User, uuid.UUID(principal.user_id))
            if user is None:
                raise NotFound("your account no longer exists")
            grants = await store.grants_of(session, user.user_id)
        return identity_pb2.GetMeResponse(
            user=identity_pb2.User(
                user_id=str(user.user_id),
                username=user.username,
                display_name=user.display_name,
                roles=[grant_pb(g) for g in grants],
                phone=user.phone or "",
                totp_enrolled=bool(user.totp_secret),
            )
        )

    # -- TOTP --------------------------------------------------------------------------------
    async def BeginTotpEnrolment(
        self, request: identity_pb2.BeginTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.BeginTotpEnrolmentResponse:
        principal = auth.require()
        secret = pyotp.random_base32()
        async with self.db.system_tx() as session:
            user = await session.get(store.User, uuid.UUID(principal.user_id), with_for_update=True)
            if user is None:
                raise NotFound("your account no longer exists")
            if user.totp_secret:
                raise FailedPrecondition("a second factor is already enrolled for this account")
            user.totp_pending = secret
        uri = pyotp.TOTP(secret).provisioning_uri(name=principal.username, issuer_name=TOTP_ISSUER)
        return identity_pb2.BeginTotpEnrolmentResponse(secret=secret, otpauth_uri=uri)

    async def ConfirmTotpEnrolment(
        self, request: identity_pb2.ConfirmTotpEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ConfirmTotpEnrolmentResponse:
        principal = auth.require()
        async with self.db.system_tx() as session:
            user = await session.get(store.User, uuid.UUID(principal.user_id), with_for_update=True)
            if user is None or not user.totp_pending:
                raise FailedPrecondition("start the enrolment first, then enter the code it shows")
            step = _verified_step(user.totp_pending, request.code, clock.now())
            if step is None:
                raise InvalidArgument(
                    "that code does not match; check the time on your phone and try the new code"
                )
            user.totp_secret, user.totp_pending, user.totp_last_step = user.totp_pending, None, step
            await audit.record(session, PLATFORM, "totp.enrol", principal.username)
        return identity_pb2.ConfirmTotpEnrolmentResponse()

    async def VerifySecondFactor(
        self, request: identity_pb2.VerifySecondFactorRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.VerifySecondFactorResponse:
        principal = auth.require()
        async with self.db.system_tx() as session:
            user = await session.get(store.User, uuid.UUID(principal.user_id), with_for_update=True)
            if user is None or not user.totp_secret:
                raise FailedPrecondition(
                    "this needs your second factor: enrol an authenticator app in your profile"
                )
            step = _verified_step(user.totp_secret, request.code, clock.now())
            if step is None or step <= user.totp_last_step:
                raise PermissionDenied(
                    "the code from your authenticator app is wrong or was already used",
                    problem_code="totp_invalid",
                )
            user.totp_last_step = step
        return identity_pb2.VerifySecondFactorResponse()

    # -- device keys -------------------------------------------------------------------------
    async def RegisterDeviceKey(
        self, request: identity_pb2.RegisterDeviceKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeviceKey:
        principal = auth.require()
        key_id, jwk = domain.device_key(request.public_jwk)
        label = domain.clean_name(request.label or "device", "the key's label")[:100]
        async with self.db.system_tx() as session:
            existing = await session.get(store.DeviceKeyRow, key_id)
            if existing is not None:
                if existing.user_id != uuid.UUID(principal.user_id) or existing.revoked_at:
                    raise FailedPrecondition("this key cannot be registered again; make a new one")
                return _device_key_pb(existing)
            row = store.DeviceKeyRow(
                key_id=key_id,
                user_id=uuid.UUID(principal.user_id),
                label=label,
                public_jwk=jwk,
                created_at=clock.now(),
            )
            session.add(row)
            await audit.record(session, PLATFORM, "device_key.register", key_id)
        return _device_key_pb(row)

    async def ListDeviceKeys(
        self, request: identity_pb2.ListDeviceKeysRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListDeviceKeysResponse:
        principal = auth.require()
        # Public keys are public: anyone signed in may fetch a user's keys to verify signatures.
        user_id = (
            domain.parse_uuid(request.user_id, "user_id")
            if request.user_id
            else uuid.UUID(principal.user_id)
        )
        async with self.db.system_tx() as session:
            rows = (
                await session.execute(
                    select(store.DeviceKeyRow)
                    .where(store.DeviceKeyRow.user_id == user_id)
                    .order_by(store.DeviceKeyRow.created_at)
                )
            ).scalars()
            return identity_pb2.ListDeviceKeysResponse(keys=[_device_key_pb(r) for r in rows])

    async def RevokeDeviceKey(
        self, request: identity_pb2.RevokeDeviceKeyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeviceKey:
        principal = auth.require()
        async with self.db.system_tx() as session:
            row = await session.get(store.DeviceKeyRow, request.key_id, with_for_update=True)
            if row is None or row.user_id != uuid.UUID(principal.user_id):
                raise NotFound("no such key among yours")
            if row.revoked_at is None:
                row.revoked_at = clock.now()
                await audit.record(session, PLATFORM, "device_key.revoke", row.key_id)
            return _device_key_pb(row)


def _verified_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step a TOTP code belongs to (this one or a neighbour), or None if it matches
    none; the step lets a used code be refused the second time."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        when = at + timedelta(seconds=30 * offset)
        if totp.verify(code, for_time=when, valid_window=0):
            return int(totp.timecode(when))
    return None


def _device_key_pb(row: store.DeviceKeyRow) -> identity_pb2.DeviceKey:

    return identity_pb2.DeviceKey(
        key_id=row.key_id,
        user_id=str(row.user_id),
        label=row.label,
        public_jwk=json.dumps(row.public_jwk, separators=(",", ":"), sort_keys=True),
        created_at=stamp(row.created_at),
        revoked_at=stamp(row.revoked_at),
    )
