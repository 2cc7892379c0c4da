"""Identity's pure rules: access-token claims, signing keys, estate names."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from xinyi_kit.auth import AUDIENCE, ISSUER
from xinyi_kit.errors import InvalidArgument

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=14)
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public_jwk: dict[str, str]


def new_signing_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    kid = uuid.uuid4().hex[:16]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
    return SigningKey(kid, pem, jwk)


def jwks(public_jwks: list[dict[str, str]]) -> str:
    return json.dumps({"keys": public_jwks}, separators=(",", ":"))


def access_claims(
    *,
    user_id: uuid.UUID,
    username: str,
    display_name: str,
    roles: list[dict[str, str]],
    issued_at: datetime,
) -> dict[str, object]:
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "username": username,
        "name": display_name,
        "roles": roles,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + ACCESS_TOKEN_TTL).timestamp()),
        "jti": uuid.uuid4().hex,
    }


def new_refresh_token() -> tuple[str, bytes]:
    """A refresh token and the digest stored in its place (the token itself is never stored)."""
    token = secrets.token_urlsafe(32)
    return token, refresh_digest(token)


def refresh_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def clean_name(value: str, what: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidArgument(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"{what} has at most {MAX_NAME_LENGTH} characters")
    return name


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID, got {value[:40]!r}") from None
