"""Check one ledger entry against its estate's signed period head, offline: an owner's proof.

    python verify_entry.py proof.json

proof.json is what Xinyi hands out for an entry: the entry's fields, its entry_hash, its
leaf_index in the period's Merkle tree of tree_size leaves, the audit_path, the period head,
and the head's signatures by the company and the committee. The script checks that

  1. the entry hash is SHA-256 of the entry's canonical JSON (sorted keys, no spaces, UTF-8);
  2. the audit path leads from the entry to the head's merkle_root (RFC 6962 hashing, RFC 9162
     section 2.1.3.2 verification) in a tree of the head's entry_count leaves;
  3. every signature verifies over the head's canonical JSON, each key_id is the RFC 7638
     thumbprint of its key, and both the company and the committee have signed.

It prints one line per check and exits 0 only if all hold. Compare the printed key ids with
those the signers show on their own devices or on the printed public notice: a proof can
only be as trustworthy as the keys it is checked with.

It needs only Python 3.11 and the `cryptography` package, and repeats the few lines of hashing
from Xinyi's ledger on purpose, so that an owner can read all of it without our code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: climb from the leaf hash to the root the path implies."""
    if not 0 <= index < size or any(len(p) != 32 for p in path):
        return None
    fn, sn, r = index, size - 1, sha256(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the key's required members, the id Xinyi gives a device key."""
    members = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("crv", "kty", "x")
    required = {m: jwk[m] for m in members}
    digest = sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_holds(jwk: dict[str, str], message: bytes, signature: bytes) -> bool:
    """EC P-256 (WebCrypto ECDSA: r || s, 64 bytes) or Ed25519."""
    try:
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and len(signature) == 64:
            x, y = (int.from_bytes(b64url(jwk[c]), "big") for c in ("x", "y"))
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
            return True
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            Ed25519PublicKey.from_public_bytes(b64url(jwk["x"])).verify(signature, message)
            return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        pass
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python verify_entry.py proof.json")
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            proof = json.load(f)
        entry, head = proof["entry"], proof["head"]
        claimed = bytes.fromhex(proof["entry_hash"])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        head_root = bytes.fromhex(head["merkle_root"])
        signatures = [s if isinstance(s, dict) else {} for s in proof["signatures"]]
        if not isinstance(entry, dict) or not isinstance(head, dict):
            raise TypeError("entry and head must be JSON objects")
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"✗ cannot read the proof file: {e!r}")
        return 2

    print(
        f"Entry of estate {head.get('estate_id')}, period {head.get('period')} (closed at "
        f"{head.get('closed_at')}), against its signed head:"
    )
    results: list[bool] = []

    def check(holds: bool, yes: str, no: str) -> None:
        results.append(holds)
        print(f"✓ {yes}" if holds else f"✗ {no}")

    check(
        sha256(canonical(entry)) == claimed,
        "the entry hash matches the entry's fields",
        "the entry's fields do not hash to the entry hash: the entry was altered",
    )
    check(
        size == head.get("entry_count"),
        f"the tree has the head's {size} entries",
        f"the proof is for {size} entries but the head covers {head.get('entry_count')}",
    )
    check(
        root_from_path(claimed, index, size, path) == head_root,
        f"entry {index} of {size} is included under the head's Merkle root",
        "the audit path does not lead to the head's Merkle root: the entry is not in this head",
    )
    message = canonical(head)
    for sig in signatures:
        role, user, key_id = sig.get("role"), sig.get("user_id"), sig.get("key_id")
        try:
            holds = thumbprint(sig["public_jwk"]) == key_id and signature_holds(
                sig["public_jwk"], message, b64url(sig["signature"])
            )
        except (KeyError, ValueError, TypeError, AttributeError):
            holds = False
        check(
            holds,
            f"the {role} signature of user {user} with key {key_id} holds over the head",
            f"the {role} signature of user {user} with key {key_id} does NOT hold",
        )
    roles = {s.get("role") for s in signatures}
    check(
        {"company", "committee"} <= roles,
        "the head is signed by the company and co-signed by the committee",
        f"the head lacks a signature by: {', '.join(sorted({'company', 'committee'} - roles))}",
    )
    all_hold = all(results)
    print("ALL CHECKS PASSED" if all_hold else "VERIFICATION FAILED")
    return 0 if all_hold else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
