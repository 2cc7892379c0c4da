"""Canonical JSON and device-key signatures: what the platform's signed records (period heads,
trust contracts) are made of, and how a signature made on a person's own device is checked."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def canonical(obj: object) -> bytes:
    """The bytes that get hashed or signed: JSON with sorted keys, no spaces, UTF-8 as is.

    This exact form is what anyone verifying recomputes (verify_entry.py repeats it), so it must
    never change. Floats are refused: their text differs between languages and money is never
    one; amounts are integers of fen.
    """
    _refuse_floats(obj)
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


# The leaves canonical JSON is mostly made of, checked by exact type before the general checks:
# every ledger entry is hashed through here.
_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})


def _refuse_floats(obj: object) -> None:
    if type(obj) in _PLAIN_LEAVES:
        return
    if type(obj) is dict:
        for value in obj.values():
            _refuse_floats(value)
        return
    if isinstance(obj, float):
        raise TypeError("canonical JSON holds no floats: give money in fen and ratios as text")
    if isinstance(obj, Mapping):
        for value in obj.values():
            _refuse_floats(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _refuse_floats(value)


def verify_signature(public_jwk: Mapping[str, str], message: bytes, signature: bytes) -> bool:
    """Whether `signature` over `message` was made with the private half of `public_jwk`.

    Keys are made on the signers' own devices with WebCrypto: EC P-256 (ECDSA with SHA-256,
    whose signatures are IEEE P1363 r || s, 64 bytes) or Ed25519. A malformed key or signature
    is simply not a valid signature, so it answers False rather than raising.
    """
    try:
        kty, crv = public_jwk.get("kty"), public_jwk.get("crv")
        if kty == "EC" and crv == "P-256" and public_jwk.get("alg", "ES256") == "ES256":
            if len(signature) != 64:
                return False
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(_b64url_coordinate(public_jwk["x"]), "big"),
                int.from_bytes(_b64url_coordinate(public_jwk["y"]), "big"),
                ec.SECP256R1(),
            )
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            numbers.public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))
            return True
        if kty == "OKP" and crv == "Ed25519" and public_jwk.get("alg", "EdDSA") == "EdDSA":
            key = Ed25519PublicKey.from_public_bytes(_b64url_coordinate(public_jwk["x"]))
            key.verify(signature, message)
            return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return False


def _b64url_coordinate(text: str) -> bytes:
    """A JWK coordinate of a 256-bit curve: base64url without padding, exactly 32 bytes."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32:
        raise ValueError("a P-256 or Ed25519 coordinate is 32 bytes")
    return raw
