"""The ledger's RFC 6962 Merkle tree: Certificate Transparency's known answers, and proofs that
verify for every leaf and fail for any change."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_inclusion,
)

# Known answers from Certificate Transparency: google/certificate-transparency,
# cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots, kSHA256Paths; commit 0e901cac) and
# python/ct/crypto/merkle_test.py (TreeHasherTest, MerkleVerifierTest; commit 4bfca495).
KAT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
KAT_ROOTS = [  # the root of the first 1, 2, ..., 8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path). The C++ test numbers leaves from 1; these are 0-based.
KAT_PATHS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# A proof served by a real CT log (python/ct/crypto/merkle_test.py, sha256_audit_path): leaf
# 848049 (0-based) of a tree of 3,630,887 leaves, given by its leaf hash.
LOG_LEAF_HASH = "7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78"
LOG_INDEX, LOG_SIZE = 848049, 3630887
LOG_ROOT = "78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb"
LOG_PATH = [
    "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
    "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
    "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
    "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
    "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
    "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
    "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
    "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
    "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
    "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
    "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
    "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
    "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
    "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
    "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
    "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
    "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
    "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
    "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
    "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
    "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
    "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
]


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1's MTH, word for word: split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1's PATH(m, D[n]), word for word."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_root(leaves[:k])]


def test_hashes_match_ct_tree_hasher() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(bytes.fromhex("101112131415161718191a1b1c1d1e1f")).hex() == (
        "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a"
    )
    assert node_hash(bytes(range(32)), bytes(range(32, 64))).hex() == (
        "1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_ct_known_answers(size: int) -> None:
    assert root(KAT_LEAVES[:size]).hex() == KAT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), KAT_PATHS)
def test_audit_paths_match_ct_known_answers(index: int, size: int, path: list[str]) -> None:
    leaves = KAT_LEAVES[:size]
    assert [p.hex() for p in inclusion_proof(leaves, index)] == path
    proof = [bytes.fromhex(p) for p in path]
    assert verify_inclusion(leaves[index], index, size, proof, bytes.fromhex(KAT_ROOTS[size - 1]))


def test_a_real_ct_log_proof_verifies() -> None:
    proof = [bytes.fromhex(p) for p in LOG_PATH]
    computed = root_from_inclusion_proof(bytes.fromhex(LOG_LEAF_HASH), LOG_INDEX, LOG_SIZE, proof)
    assert computed is not None
    assert computed.hex() == LOG_ROOT
    assert root_from_inclusion_proof(
        bytes.fromhex(LOG_LEAF_HASH), LOG_INDEX + 1, LOG_SIZE, proof
    ) != bytes.fromhex(LOG_ROOT)


def test_matches_the_rfc_definition_word_for_word() -> None:
    leaves = [bytes([i]) * (i % 5) for i in range(70)]
    for size in range(71):
        tree = MerkleTree(leaves[:size])
        assert tree.size == size
        assert tree.root() == reference_root(leaves[:size])
        for m in range(size):
            assert tree.inclusion_proof(m) == reference_path(m, leaves[:size])


def test_every_leaf_of_every_size_up_to_300_verifies() -> None:
    leaves = [i.to_bytes(2, "big") for i in range(300)]
    for size in range(1, 301):
        tree = MerkleTree(leaves[:size])
        top = tree.root()
        for i in range(size):
            assert verify_inclusion(leaves[i], i, size, tree.inclusion_proof(i), top)


def test_proofs_outside_the_tree_are_refused() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(KAT_LEAVES, 8)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)
    with pytest.raises(IndexError):
        inclusion_proof(KAT_LEAVES, -1)
    assert not verify_inclusion(b"", 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(b"", -1, 1, [], leaf_hash(b""))
    assert verify_inclusion(b"", 0, 1, [], leaf_hash(b""))
    assert not verify_inclusion(b"", 1, 1, [], leaf_hash(b""))


def test_a_hundred_thousand_leaves_give_proofs_of_at_most_seventeen_steps() -> None:
    leaves = [i.to_bytes(4, "big") for i in range(100_000)]
    tree = MerkleTree(leaves)
    proofs = [tree.inclusion_proof(i) for i in range(0, 100_000, 997)]
    assert len(proofs[0]) == 17  # ceil(log2(100,000))
    assert all(len(p) <= 17 for p in proofs)
    assert verify_inclusion(
        leaves[99_999], 99_999, 100_000, tree.inclusion_proof(99_999), tree.root()
    )


@st.composite
def tree_and_leaf(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(1, 300))
    salt = draw(st.binary(max_size=8))
    leaves = [salt + i.to_bytes(2, "big") for i in range(size)]
    return leaves, draw(st.integers(0, size - 1))


@settings(max_examples=300, deadline=None)
@given(tree_and_leaf(), st.data())
def test_any_change_breaks_the_proof(case: tuple[list[bytes], int], data: st.DataObject) -> None:
    leaves, index = case
    size = len(leaves)
    tree = MerkleTree(leaves)
    proof, top = tree.inclusion_proof(index), tree.root()
    assert verify_inclusion(leaves[index], index, size, proof, top)

    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="path element")
        bit = data.draw(st.integers(0, 255), label="bit")
        changed = bytearray(proof[at])
        changed[bit // 8] ^= 1 << (bit % 8)
        assert not verify_inclusion(
            leaves[index], index, size, [*proof[:at], bytes(changed), *proof[at + 1 :]], top
        )
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], top)
    assert not verify_inclusion(leaves[index], index, size, [*proof, top], top)
    assert not verify_inclusion(leaves[index] + b"!", index, size, proof, top)
    other = (
        data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="index")
        if (size > 1)
        else index + 1
    )
    assert not verify_inclusion(leaves[index], other, size, proof, top)
    assert not verify_inclusion(leaves[index], index, size * 2, proof, top)
    assert not verify_inclusion(leaves[index], index, size // 2, proof, top)
    assert not verify_inclusion(leaves[index], index, size, proof, hashlib.sha256(top).digest())
