"""An estate's journal as one hash chain, the signed period head, and head signature checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

GENESIS = bytes(32)  # the "previous" of an estate's first entry

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


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


def _refuse_floats(obj: object) -> None:
    if isinstance(obj, float):
        raise TypeError("canonical JSON holds no floats: give money in fen and ratios as text")
    if isinstance(obj, Mapping):
        for value in obj.values():
            _refuse_floats(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _refuse_floats(value)


def entry_hash(entry: Mapping[str, object]) -> bytes:
    """SHA-256 of the entry's canonical fields."""
    return hashlib.sha256(canonical(entry)).digest()


def chain_hash(previous: bytes, entry_hash: bytes) -> bytes:
    """SHA-256(previous || entry_hash): each link commits to every entry before it."""
    return hashlib.sha256(previous + entry_hash).digest()


def verify_chain(
    entries: Sequence[tuple[Mapping[str, object], bytes, bytes]], previous: bytes = GENESIS
) -> int | None:
    """The position of the first broken link among (fields, stored entry_hash, stored
    chain_hash) in chain order, or None when every link holds.

    `previous` is the chain hash before the first of them: GENESIS for the whole journal, or
    the preceding entry's chain hash to check a stretch (one period). The chain alone cannot
    show that entries were cut off its end, nor that someone rewrote it all; comparing its last
    chain hash with a signed head's chain_head does.
    """
    for position, (fields, stored_entry, stored_chain) in enumerate(entries):
        if not hmac.compare_digest(entry_hash(fields), stored_entry):
            return position
        if not hmac.compare_digest(chain_hash(previous, stored_entry), stored_chain):
            return position
        previous = stored_chain
    return None


def head_payload(
    *,
    estate_id: str,
    period: str,
    first_index: int,
    last_index: int,
    merkle_root: bytes,
    chain_head: bytes,
    balances: Mapping[str, int],
    closed_at: datetime,
) -> dict[str, object]:
    """What a closed period's head says, for the company to sign and the committee to co-sign.

    first_index and last_index are the journal positions of the period's first and last entries
    (last_index = first_index - 1 for a period without entries); the Merkle tree is over the
    period's entry hashes in that order. closed_at is written in UTC to the second.
    """
    if not _PERIOD.fullmatch(period):
        raise ValueError(f"period must be YYYY-MM, not {period!r}")
    if first_index < 0 or last_index < first_index - 1:
        raise ValueError("last_index must not precede first_index - 1")
    if len(merkle_root) != 32 or len(chain_head) != 32:
        raise ValueError("merkle_root and chain_head are 32-byte SHA-256 digests")
    if closed_at.tzinfo is None:
        raise ValueError("closed_at must carry its time zone")
    for code, fen in balances.items():
        if not isinstance(fen, int) or isinstance(fen, bool):
            raise TypeError(f"balance of {code} must be an int of fen")
    return {
        "estate_id": estate_id,
        "period": period,
        "first_index": first_index,
        "last_index": last_index,
        "entry_count": last_index - first_index + 1,
        "merkle_root": merkle_root.hex(),
        "chain_head": chain_head.hex(),
        "balances": dict(balances),
        "closed_at": closed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def head_bytes(payload: Mapping[str, object]) -> bytes:
    """The message the signatures are over."""
    return canonical(payload)


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
