"""Who is calling: access tokens verified locally against identity's published keys."""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property

import jwt

from xinyi_kit import clock
from xinyi_kit.errors import PermissionDenied, Unauthenticated

ISSUER = "xinyi-identity"
AUDIENCE = "xinyi"
ALGORITHMS = ["EdDSA"]


@dataclass(frozen=True)
class Grant:
    role: str
    estate_id: str = ""
    community_id: str = ""
    company_id: str = ""


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
        return str(estate_id) in self.roles_by_estate

    @cached_property
    def roles_by_estate(self) -> dict[str, frozenset[str]]:
        """The role names granted in each estate (once per principal: checks run per call)."""
        found: dict[str, set[str]] = {}
        for g in self.grants:
            found.setdefault(g.estate_id, set()).add(g.role)
        return {estate: frozenset(roles) for estate, roles in found.items()}

    @cached_property
    def role_names(self) -> frozenset[str]:
        """Every role name granted, wherever."""
        return frozenset(g.role for g in self.grants)

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


_client_ip: contextvars.ContextVar[str] = contextvars.ContextVar("xinyi_client_ip", default="")
_token: contextvars.ContextVar[str] = contextvars.ContextVar("xinyi_token", default="")

Bound = tuple[contextvars.Token[Principal | None], contextvars.Token[str], contextvars.Token[str]]


def bind(principal: Principal | None, client_ip: str = "", token: str = "") -> Bound:
    """Sets the caller (and where the call came from, as the gateway saw it) for this call."""
    return _current.set(principal), _client_ip.set(client_ip[:64]), _token.set(token)


def unbind(bound: Bound) -> None:
    _current.reset(bound[0])
    _client_ip.reset(bound[1])
    _token.reset(bound[2])


def forwarded_metadata() -> tuple[tuple[str, str], ...]:
    """The caller's credentials, to call another service on the caller's behalf."""
    token = _token.get()
    return (("authorization", f"Bearer {token}"),) if token else ()


def client_ip() -> str:
    return _client_ip.get()


def principal_from_claims(claims: dict[str, object]) -> Principal:
    """The caller from verified claims; a grant listing `estates` applies in each of them."""
    raw_roles = claims.get("roles") or []
    grants: list[Grant] = []
    for r in raw_roles if isinstance(raw_roles, list) else []:
        if not isinstance(r, dict):
            continue
        base = Grant(
            role=str(r.get("role", "")),
            estate_id=str(r.get("estate_id", "")),
            community_id=str(r.get("community_id", "")),
            company_id=str(r.get("company_id", "")),
        )
        grants.append(base)
        estates = r.get("estates")
        if isinstance(estates, list):
            grants.extend(
                Grant(base.role, str(e), base.community_id, base.company_id) for e in estates
            )
    return Principal(
        user_id=str(claims["sub"]),
        username=str(claims.get("username", "")),
        display_name=str(claims.get("name", "")),
        grants=tuple(grants),
    )


class TokenVerifier:
    """Verifies access tokens with the JWKS fetched from identity, refetching on an unknown key id.

    A refetch happens at most every `min_refresh_seconds` (a token with a new key, right after a
    rotation, waits for that interval rather than failing), so a flood of tokens with made-up
    key ids cannot turn into a flood of calls to identity.
    """

    # Tokens already verified, with their principal and times: a caller sends the same token
    # with every call for its lifetime, and checking its signature and parsing its grants (a
    # company's staff carry every estate the company serves) is most of a small call's work.
    # The tokens of one person with the same grants share one principal (`_principals`): each
    # sign-in is a new token, and a principal of a company's staff, with a grant and a role set
    # for every estate it serves, is tens of KiB; one per token made a service's memory grow
    # with every sign-in until the cache was full.
    CACHE_SIZE = 4096

    def __init__(
        self, jwks_source: Callable[[], Awaitable[str]], *, min_refresh_seconds: float = 2.0
    ) -> None:
        self._source = jwks_source
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -1e9
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()
        self._verified: dict[str, tuple[Principal, int, int]] = {}
        self._principals: weakref.WeakValueDictionary[
            tuple[str, str, str, tuple[Grant, ...]], Principal
        ] = weakref.WeakValueDictionary()

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            if kid in self._keys:
                return
            wait = self._fetched_at + self._min_refresh - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._fetched_at = time.monotonic()
            document = await self._source()
            keyset = jwt.PyJWKSet.from_json(document)
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            principal, exp, iat = known
            _check_times(exp, iat)  # the clock moves on (and tests move it)
            return principal
        principal, exp, iat = await self._verify(token)
        same = (principal.user_id, principal.username, principal.display_name, principal.grants)
        principal = self._principals.setdefault(same, principal)
        if len(self._verified) >= self.CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, exp, iat)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, int, int]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is malformed; sign in again") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 64:
            raise Unauthenticated("the access token names no signing key; sign in again")
        if kid not in self._keys:
            await self._refresh(kid)
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
                # Times are checked below against the platform clock, which tests may move.
                options={
                    "require": ["exp", "iat", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is not valid; sign in again") from None
        exp, iat = claims.get("exp"), claims.get("iat")
        _check_times(exp, iat)
        assert isinstance(exp, int) and isinstance(iat, int)
        return principal_from_claims(claims), exp, iat


def _check_times(exp: object, iat: object) -> None:
    now = clock.now().timestamp()
    if not isinstance(exp, int) or exp + 5 < now:
        raise Unauthenticated("the access token has expired; refresh it or sign in again")
    if not isinstance(iat, int) or iat > now + 5:
        raise Unauthenticated("the access token is not valid yet; check the device's clock")


def bearer(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use an Authorization header of the form 'Bearer <token>'")
    return token.strip()
