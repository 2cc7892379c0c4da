"""An estate's journal as one hash chain, the signed period head, and head signature checks."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

# Re-exported: the kit holds them since trust contracts are signed the same way.
from xinyi_kit.signatures import canonical as canonical
from xinyi_kit.signatures import verify_signature as verify_signature

GENESIS = bytes(32)  # the "previous" of an estate's first entry

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


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
