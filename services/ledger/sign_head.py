"""Sign a closed month's head with a key that never leaves this computer: the command-line
twin of the web app's WebCrypto signing, for the company's manager and the committee.

    python sign_head.py new-key key.pem          # once: makes a key; prints its public JWK
    python sign_head.py sign key.pem head.json   # prints the signature of the head

1. `new-key` writes a new EC P-256 private key to key.pem (readable only by you) and prints the
   public key as a JWK. Register that public key in Xinyi (POST /api/v1/me/device-keys with
   {"public_jwk": <the JWK>, "label": "..."}); the answer's key_id is the key's RFC 7638
   thumbprint, also printed here.
2. Fetch the head: GET /api/v1/estates/<estate>/periods/<YYYY-MM>/head, saved as head.json.
   Read its `payload` (the Merkle root, chain head and balances you are vouching for).
3. `sign` prints {"key_id", "signature"}: POST it to .../periods/<YYYY-MM>/signatures.

The signature is ECDSA P-256 with SHA-256 over the UTF-8 bytes of the head's `payload_json`,
written as r || s (64 bytes, base64url): exactly what WebCrypto makes, so either way verifies.
It needs only Python 3.11 and the `cryptography` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: the key id Xinyi gives the key when it is registered."""
    canonical = json.dumps(
        {m: jwk[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def new_key(path: str) -> int:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    jwk = public_jwk(key)
    print(json.dumps({"public_jwk": jwk, "key_id": thumbprint(jwk)}, indent=2))
    return 0


def sign(key_path: str, head_path: str) -> int:
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        print("the key is not an EC P-256 key made by `new-key`", file=sys.stderr)
        return 2
    with open(head_path, encoding="utf-8") as f:
        head = json.load(f)
    message = head["payload_json"].encode()
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    print(json.dumps({"key_id": thumbprint(public_jwk(key)), "signature": signature}))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "new-key":
        return new_key(argv[2])
    if len(argv) == 4 and argv[1] == "sign":
        return sign(argv[2], argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
