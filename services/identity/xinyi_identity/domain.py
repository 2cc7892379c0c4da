"""Identity's pure rules: access-token claims, signing keys, estate names."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt import PyJWK
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
    roles: list[dict[str, object]],
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


# -- accounts --------------------------------------------------------------------------------
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,49}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
MIN_PASSWORD = 10


def clean_username(value: str) -> str:
    name = value.strip().lower()
    if not USERNAME.match(name):
        raise InvalidArgument(
            "a username has 3 to 50 characters: lowercase letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def clean_phone(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    digits = digits.removeprefix("+86")
    if not PHONE.match(digits):
        raise InvalidArgument("a phone number is a mainland mobile number of 11 digits")
    return digits


def check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise InvalidArgument(f"a password has at least {MIN_PASSWORD} characters")
    if len(value) > 200:
        raise InvalidArgument("a password has at most 200 characters")
    return value


def clean_credit_code(value: str) -> str:
    code = value.strip().upper()
    if not CREDIT_CODE.match(code):
        raise InvalidArgument(
            "a unified social credit code (统一社会信用代码) has 18 letters and digits"
        )
    return code


def parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a date like 2026-01-31") from None


# -- sign-in protection ------------------------------------------------------------------------
FREE_FAILURES = 5
MAX_LOCK = timedelta(hours=1)


def lock_after(failures: int) -> timedelta | None:
    """How long a login is locked after `failures` consecutive failures: none for the first few,
    then 30 s doubling up to an hour."""
    if failures < FREE_FAILURES:
        return None
    return min(timedelta(seconds=30 * 2 ** (failures - FREE_FAILURES)), MAX_LOCK)


# -- access-token roles ------------------------------------------------------------------------
@dataclass(frozen=True)
class DirectGrant:
    role: str
    estate_id: str = ""
    community_id: str = ""
    company_id: str = ""


def expand_grants(
    grants: list[DirectGrant],
    community_estates: dict[str, list[str]],
    company_estates: dict[str, list[str]],
) -> list[dict[str, object]]:
    """The roles an access token carries. A community or company grant also lists, in
    `estates`, every estate it reaches (a community's estates; the estates a company serves
    today), so services decide from the token alone. Listing the estates once per grant keeps a
    city-wide company's token within header limits (a grant per estate did not, at 100 estates).
    """
    out: list[dict[str, object]] = []
    for g in grants:
        claim: dict[str, object] = {
            "role": g.role,
            "estate_id": g.estate_id,
            "community_id": g.community_id,
            "company_id": g.company_id,
        }
        reached = community_estates.get(g.community_id, []) if g.community_id else []
        reached = reached or (company_estates.get(g.company_id, []) if g.company_id else [])
        if reached:
            claim["estates"] = sorted(set(reached))
        if claim not in out:
            out.append(claim)
    return out


# -- device keys -------------------------------------------------------------------------------
def device_key(public_jwk_json: str) -> tuple[str, dict[str, str]]:
    """Validates a public JWK made on a user's device; returns its RFC 7638 thumbprint (the key
    id) and the public members only. EC P-256 (WebCrypto ECDSA) and Ed25519 are accepted."""
    try:
        jwk = json.loads(public_jwk_json)
    except ValueError:
        raise InvalidArgument("public_jwk must be a JSON Web Key") from None
    if not isinstance(jwk, dict):
        raise InvalidArgument("public_jwk must be a JSON object")
    if "d" in jwk:
        raise InvalidArgument(
            "that is a private key: send only the public key; keep the private one"
        )
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv == "P-256":
        members = {"crv": crv, "kty": kty, "x": jwk.get("x"), "y": jwk.get("y")}
    elif kty == "OKP" and crv == "Ed25519":
        members = {"crv": crv, "kty": kty, "x": jwk.get("x")}
    else:
        raise InvalidArgument("a device key is an EC P-256 or Ed25519 public key")
    if not all(isinstance(v, str) and v for v in members.values()):
        raise InvalidArgument("the public key is missing its coordinates")
    try:
        PyJWK.from_dict(dict(members))
    except Exception:
        raise InvalidArgument("the public key's coordinates do not form a valid key") from None
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return thumbprint, {k: str(v) for k, v in members.items()}
