"""RFC 6962 Merkle trees over a period's entries: roots, audit paths, and their verification."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HASH_SIZE = 32
# RFC 6962 2.1: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data). The prefixes keep a leaf from ever passing for an inner node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """A tree built once, level by level, so a server can answer many proofs from it.

    Pairing neighbours level by level and carrying an unpaired last node up unchanged gives
    exactly RFC 6962's MTH, which splits at the largest power of two below n: the left
    subtrees are always complete, so the only node ever left without a partner is the last.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(d) for d in leaves]
        self._levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = paired
            self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path PATH(index, D[n]) of RFC 6962 2.1.1, from the leaf's sibling upward."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} is outside a tree of {self.size} leaves")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            # A node without a sibling is carried up as is and adds nothing to the path.
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 2.1 over the leaves' data."""
    return MerkleTree(leaves).root()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]); build a MerkleTree instead when proving many leaves of one tree."""
    return MerkleTree(leaves).inclusion_proof(index)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `leaf` (the leaf's data, not its hash) sits at `index` of the tree of `size`
    leaves whose root is `root`."""
    computed = root_from_inclusion_proof(leaf_hash(leaf), index, size, proof)
    return computed is not None and hmac.compare_digest(computed, root)


def root_from_inclusion_proof(
    leaf_digest: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that the path leads to from the leaf hash `leaf_digest`, or None when the path
    cannot belong to a tree of `size` leaves. This is RFC 9162 2.1.3.2, which works for any
    size and needs only the path, not the tree."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn = index, size - 1
    r = leaf_digest
    for p in proof:
        if sn == 0:
            return None  # the path is longer than the tree is tall
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip the levels where this node was the last one and had no right sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None
