"""Who is calling: access tokens verified locally against identity's published keys."""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import jwt

from xinyi_kit.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated

ISSUER = "xinyi-identity"
AUDIENCE = "xinyi"
ALGORITHMS = ["EdDSA"]


@dataclass(frozen=True)
class Grant:
    role: str
    estate_id: str = ""
    community_id: str = ""


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    display_name: str = ""
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def has_role(self, role: str, *, estate_id: uuid.UUID | str | None = None) -> bool:
        wanted = str(estate_id) if estate_id is not None else None
        return any(
            g.role == role and (wanted is None or g.estate_id == wanted) for g in self.grants
        )

    def has_role_in(self, estate_id: uuid.UUID | str) -> bool:
        return any(g.estate_id == str(estate_id) for g in self.grants)

    @property
    def is_operator(self) -> bool:
        return self.has_role("operator")


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "xinyi_principal", default=None
)


def current() -> Principal | None:
    return _current.get()


def require() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("sign in first: this call needs an access token")
    return principal


def require_operator() -> Principal:
    principal = require()
    if not principal.is_operator:
        raise PermissionDenied("only the platform operator may do this")
    return principal


def require_estate(raw_estate_id: str) -> tuple[Principal, uuid.UUID]:
    """The caller and the estate a call names, if the caller holds a role in it (or operates the
    platform). Otherwise NOT_FOUND: whether an estate exists is itself private to its members."""
    principal = require()
    try:
        estate_id = uuid.UUID(raw_estate_id)
    except ValueError:
        raise InvalidArgument("estate_id must be a UUID") from None
    if principal.is_operator or principal.has_role_in(estate_id):
        return principal, estate_id
    raise NotFound("no such estate")


def bind(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def unbind(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


def principal_from_claims(claims: dict[str, object]) -> Principal:
    raw_roles = claims.get("roles") or []
    grants = (
        tuple(
            Grant(
                str(r.get("role", "")), str(r.get("estate_id", "")), str(r.get("community_id", ""))
            )
            for r in raw_roles
            if isinstance(r, dict)
        )
        if isinstance(raw_roles, list)
        else ()
    )
    return Principal(
        user_id=str(claims["sub"]),
        username=str(claims.get("username", "")),
        display_name=str(claims.get("name", "")),
        grants=grants,
    )


class TokenVerifier:
    """Verifies access tokens with the JWKS fetched from identity, refetching on an unknown key id.

    A refetch happens at most every `min_refresh_seconds`, so a flood of tokens with made-up key
    ids cannot turn into a flood of calls to identity.
    """

    def __init__(
        self, jwks_source: Callable[[], Awaitable[str]], *, min_refresh_seconds: float = 10.0
    ) -> None:
        self._source = jwks_source
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        document = await self._source()
        keyset = jwt.PyJWKSet.from_json(document)
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is malformed; sign in again") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("the access token names no signing key; sign in again")
        if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the access token was signed by an unknown key; sign in again")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(
                "the access token has expired; refresh it or sign in again"
            ) from None
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is not valid; sign in again") from None
        return principal_from_claims(claims)


def bearer(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use an Authorization header of the form 'Bearer <token>'")
    return token.strip()
