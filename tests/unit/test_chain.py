"""The estate's hash chain, the period head, and head signatures made the way devices make them."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_ledger.chain import (
    GENESIS,
    canonical,
    chain_hash,
    entry_hash,
    head_bytes,
    head_payload,
    verify_chain,
    verify_signature,
)

Link = tuple[Mapping[str, object], bytes, bytes]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def p256_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def p256_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """What WebCrypto's ECDSA sign returns: IEEE P1363 r || s, not DER."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ed25519_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_key().public_bytes_raw())}


def build_chain(entries: list[dict[str, object]]) -> list[Link]:
    links: list[Link] = []
    previous = GENESIS
    for fields in entries:
        digest = entry_hash(fields)
        previous = chain_hash(previous, digest)
        links.append((fields, digest, previous))
    return links


def test_canonical_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": {"z": "物业费", "y": [1, None, True]}}) == (
        '{"a":{"y":[1,null,true],"z":"物业费"},"b":1}'.encode()
    )
    assert entry_hash({"a": 1}) == hashlib.sha256(b'{"a":1}').digest()


def test_canonical_refuses_floats_anywhere() -> None:
    with pytest.raises(TypeError, match="floats"):
        canonical({"lines": [{"amount": 1.5}]})


def test_chain_hash_starts_at_genesis() -> None:
    digest = entry_hash({"index": 0})
    assert bytes(32) == GENESIS
    assert chain_hash(GENESIS, digest) == hashlib.sha256(bytes(32) + digest).digest()
    assert verify_chain(build_chain([{"index": 0}])) is None
    assert verify_chain([]) is None


def test_a_stretch_checks_from_the_chain_hash_before_it() -> None:
    links = build_chain([{"index": i} for i in range(6)])
    assert verify_chain(links[3:], previous=links[2][2]) is None
    assert verify_chain(links[3:]) == 0


entries_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "amount_fen": st.integers(-(10**9), 10**9),
            "memo": st.text(max_size=12),
            "account": st.sampled_from(["1001", "4001", "5001"]),
        }
    ),
    min_size=1,
    max_size=30,
).map(lambda es: [{"index": i, **e} for i, e in enumerate(es)])


@settings(max_examples=200)
@given(entries_strategy, st.data())
def test_any_tampering_is_found_at_its_position(
    entries: list[dict[str, object]], data: st.DataObject
) -> None:
    links = build_chain(entries)
    assert verify_chain(links) is None
    at = data.draw(st.integers(0, len(links) - 1), label="position")
    fields, digest, chained = links[at]

    changed = {**fields, "memo": f"{fields['memo']}!"}
    assert verify_chain([*links[:at], (changed, digest, chained), *links[at + 1 :]]) == at

    # Rehashing the altered entry is not enough: its chain link no longer holds.
    rehashed = (changed, entry_hash(changed), chained)
    assert verify_chain([*links[:at], rehashed, *links[at + 1 :]]) == at

    if at < len(links) - 1:
        assert verify_chain([*links[:at], *links[at + 1 :]]) == at
        swapped = [*links[:at], links[at + 1], links[at], *links[at + 2 :]]
        assert verify_chain(swapped) == at
    else:
        # Cutting off the tail leaves a valid chain; the signed head's chain_head pins it.
        assert verify_chain(links[:at]) is None
        assert (links[at - 1][2] if at else GENESIS) != links[-1][2]


def test_head_payload_has_the_published_fields() -> None:
    closed = datetime(2025, 2, 1, 8, 30, 15, 999, tzinfo=timezone(timedelta(hours=8)))
    payload = head_payload(
        estate_id="e1",
        period="2025-01",
        first_index=10,
        last_index=19,
        merkle_root=bytes(range(32)),
        chain_head=b"\xff" * 32,
        balances={"1001": 123_456, "2001": -5},
        closed_at=closed,
    )
    assert payload == {
        "estate_id": "e1",
        "period": "2025-01",
        "first_index": 10,
        "last_index": 19,
        "entry_count": 10,
        "merkle_root": bytes(range(32)).hex(),
        "chain_head": "ff" * 32,
        "balances": {"1001": 123_456, "2001": -5},
        "closed_at": "2025-02-01T00:30:15Z",
    }
    assert head_bytes(payload) == canonical(payload)
    assert head_bytes(payload).startswith(b'{"balances":{"1001":123456,"2001":-5},"chain_head"')


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"period": "2025-13"}, ValueError),
        ({"period": "2025-1"}, ValueError),
        ({"last_index": 8}, ValueError),
        ({"merkle_root": b"short"}, ValueError),
        ({"closed_at": datetime(2025, 2, 1)}, ValueError),
        ({"balances": {"1001": 1.5}}, TypeError),
    ],
)
def test_head_payload_refuses_malformed_input(change: dict[str, object], error: type) -> None:
    arguments: dict[str, object] = {
        "estate_id": "e1",
        "period": "2025-01",
        "first_index": 10,
        "last_index": 19,
        "merkle_root": bytes(32),
        "chain_head": bytes(32),
        "balances": {},
        "closed_at": datetime(2025, 2, 1, tzinfo=UTC),
    }
    with pytest.raises(error):
        head_payload(**{**arguments, **change})  # type: ignore[arg-type]


def test_an_empty_period_counts_no_entries() -> None:
    payload = head_payload(
        estate_id="e1",
        period="2025-01",
        first_index=10,
        last_index=9,
        merkle_root=hashlib.sha256(b"").digest(),
        chain_head=bytes(32),
        balances={},
        closed_at=datetime(2025, 2, 1, tzinfo=UTC),
    )
    assert payload["entry_count"] == 0


def test_p256_signatures_in_webcrypto_form_verify() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    message = b'{"period":"2025-01"}'
    signature = p256_sign(key, message)
    assert len(signature) == 64
    assert verify_signature(p256_jwk(key), message, signature)
    assert verify_signature({**p256_jwk(key), "alg": "ES256"}, message, signature)
    assert not verify_signature(p256_jwk(key), message + b" ", signature)
    assert not verify_signature(p256_jwk(other), message, signature)
    assert not verify_signature(p256_jwk(key), message, bytes([signature[0] ^ 1]) + signature[1:])
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    assert not verify_signature(p256_jwk(key), message, der)  # DER is not what WebCrypto sends
    assert not verify_signature({**p256_jwk(key), "alg": "ES384"}, message, signature)


def test_ed25519_signatures_verify() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    message = b'{"period":"2025-01"}'
    signature = key.sign(message)
    assert verify_signature(ed25519_jwk(key), message, signature)
    assert not verify_signature(ed25519_jwk(key), b"other", signature)
    assert not verify_signature(ed25519_jwk(other), message, signature)
    assert not verify_signature(
        ed25519_jwk(key), message, signature[:-1] + bytes([signature[-1] ^ 1])
    )
    assert not verify_signature(ed25519_jwk(key), message, signature[:-1])


@pytest.mark.parametrize(
    "jwk",
    [
        {},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": b64url(bytes(32))},
        {"kty": "EC", "crv": "P-256", "x": b64url(bytes(32)), "y": b64url(bytes(32))},
        {"kty": "OKP", "crv": "Ed25519", "x": "not base64url!"},
        {"kty": "OKP", "crv": "X25519", "x": b64url(bytes(32))},
    ],
)
def test_malformed_keys_verify_nothing(jwk: dict[str, str]) -> None:
    assert not verify_signature(jwk, b"message", bytes(64))
