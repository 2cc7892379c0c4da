"""The owner's offline check, services/ledger/verify_entry.py, run as an owner would run it."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from xinyi_identity.domain import device_key
from xinyi_ledger.chain import GENESIS, chain_hash, entry_hash, head_bytes, head_payload
from xinyi_ledger.merkle import MerkleTree

SCRIPT = Path(__file__).resolve().parents[2] / "services" / "ledger" / "verify_entry.py"
LEAF = 5


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def company_key() -> tuple[dict[str, str], Callable[[bytes], bytes]]:
    """A P-256 key signing as WebCrypto does (r || s)."""
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }

    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return jwk, sign


def committee_key() -> tuple[dict[str, str], Callable[[bytes], bytes]]:
    key = Ed25519PrivateKey.generate()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_key().public_bytes_raw())}, (
        key.sign
    )


def signature(
    role: str,
    user: str,
    jwk: dict[str, str],
    sign: Callable[[bytes], bytes],
    head: dict[str, object],
) -> dict[str, object]:
    key_id, public = device_key(json.dumps(jwk))
    return {
        "role": role,
        "user_id": user,
        "key_id": key_id,
        "public_jwk": public,
        "signature": b64url(sign(head_bytes(head))),
    }


@pytest.fixture(scope="module")
def proof() -> dict[str, Any]:
    entries = [
        {
            "estate_id": "e1",
            "index": 40 + i,
            "memo": f"1 栋 {i + 1}01 物业费",
            "lines": [
                {"account": "1001", "amount_fen": 235_00},
                {"account": "4001", "amount_fen": -235_00},
            ],
        }
        for i in range(7)
    ]
    hashes_ = [entry_hash(e) for e in entries]
    previous = GENESIS
    for digest in hashes_:
        previous = chain_hash(previous, digest)
    tree = MerkleTree(hashes_)
    head = head_payload(
        estate_id="e1",
        period="2025-01",
        first_index=40,
        last_index=46,
        merkle_root=tree.root(),
        chain_head=previous,
        balances={"1001": 1_645_00, "4001": -1_645_00},
        closed_at=datetime(2025, 2, 3, 2, 0, tzinfo=UTC),
    )
    return {
        "entry": entries[LEAF],
        "entry_hash": hashes_[LEAF].hex(),
        "leaf_index": LEAF,
        "tree_size": len(entries),
        "audit_path": [p.hex() for p in tree.inclusion_proof(LEAF)],
        "head": head,
        "signatures": [
            signature("company", "u-manager", *company_key(), head),
            signature("committee", "u-chair", *committee_key(), head),
        ],
    }


def run(document: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"LC_ALL": "C.UTF-8"},
        cwd=tmp_path,
        timeout=60,
    )


def test_a_genuine_proof_passes_every_check(proof: dict[str, Any], tmp_path: Path) -> None:
    result = run(proof, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "Entry of estate e1, period 2025-01 (closed at 2025-02-03T02:00:00Z)"
    )
    assert [line[0] for line in lines[1:-1]] == ["✓"] * 6
    assert "entry 5 of 7 is included" in result.stdout
    assert "committee signature of user u-chair" in result.stdout
    assert lines[-1] == "ALL CHECKS PASSED"


def flip_hex(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


def flip_b64url(text: str) -> str:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return b64url(bytes([raw[0] ^ 1]) + raw[1:])


def tamper_entry(d: dict[str, Any]) -> None:
    d["entry"]["lines"][0]["amount_fen"] += 1


def tamper_path(d: dict[str, Any]) -> None:
    d["audit_path"][1] = flip_hex(d["audit_path"][1])


def tamper_root(d: dict[str, Any]) -> None:
    d["head"]["merkle_root"] = flip_hex(d["head"]["merkle_root"])


def tamper_balance(d: dict[str, Any]) -> None:
    d["head"]["balances"]["1001"] -= 100


def tamper_company_signature(d: dict[str, Any]) -> None:
    d["signatures"][0]["signature"] = flip_b64url(d["signatures"][0]["signature"])


def tamper_committee_signature(d: dict[str, Any]) -> None:
    d["signatures"][1]["signature"] = flip_b64url(d["signatures"][1]["signature"])


def drop_committee(d: dict[str, Any]) -> None:
    del d["signatures"][1]


def swap_in_another_key(d: dict[str, Any]) -> None:
    # A valid signature by some other key, passed off under the committee member's key id.
    forged = signature("committee", "u-chair", *committee_key(), d["head"])
    d["signatures"][1] = {**forged, "key_id": d["signatures"][1]["key_id"]}


def move_the_leaf(d: dict[str, Any]) -> None:
    d["leaf_index"] = LEAF - 1


def resize_the_tree(d: dict[str, Any]) -> None:
    d["tree_size"] = 8


@pytest.mark.parametrize(
    ("tamper", "failure"),
    [
        (tamper_entry, "✗ the entry's fields do not hash"),
        (tamper_path, "✗ the audit path does not lead"),
        (tamper_root, "✗ the audit path does not lead"),
        (tamper_root, "✗ the company signature"),
        (tamper_balance, "✗ the committee signature"),
        (tamper_company_signature, "✗ the company signature of user u-manager"),
        (tamper_committee_signature, "✗ the committee signature of user u-chair"),
        (drop_committee, "✗ the head lacks a signature by: committee"),
        (swap_in_another_key, "✗ the committee signature"),
        (move_the_leaf, "✗ the audit path does not lead"),
        (resize_the_tree, "✗ the proof is for 8 entries but the head covers 7"),
    ],
)
def test_any_tampering_fails(
    proof: dict[str, Any],
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], None],
    failure: str,
) -> None:
    document = copy.deepcopy(proof)
    tamper(document)
    result = run(document, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert failure in result.stdout
    assert result.stdout.splitlines()[-1] == "VERIFICATION FAILED"


def test_an_unreadable_proof_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "proof.json").write_text("{not json", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(tmp_path / "proof.json")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"LC_ALL": "C.UTF-8"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot read the proof file" in result.stdout


def test_the_script_stands_alone() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    assert "xinyi" not in source.split('"""', 2)[2]  # no import of our packages
    assert len(source.splitlines()) <= 170
