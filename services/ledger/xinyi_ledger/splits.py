"""Which entries together make one bank line: pure search, proposed to the accountant, never tied
on its own.

Two shapes are common. A payment platform (WeChat Pay, Alipay, UnionPay) settles a day's
payments as one credit, so the line is the sum of that day's payments; and a single transfer may
pay two or three invoices at once. Anything more involved is left to the accountant, who can tie
any set by hand. A proposal is made only when exactly one set fits: two sets that both add up are
a guess, and a guess about money is not a proposal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

# Sets of up to this many entries are searched among the nearest candidates; a day's settlement
# may have any number.
MAX_PARTS = 4
MAX_CANDIDATES = 24


@dataclass(frozen=True, slots=True)
class Movement:
    """An untied entry's movement of the bank account: positive in, negative out."""

    entry_id: uuid.UUID
    amount_fen: int
    booked_on: date


def propose(target_fen: int, day: date, movements: Sequence[Movement]) -> list[uuid.UUID] | None:
    """The entries that together make a line of `target_fen` booked on `day`, when exactly one set
    of two or more does."""
    parts = [
        m
        for m in movements
        if m.amount_fen * target_fen > 0 and abs(m.amount_fen) < abs(target_fen)
    ]
    found: set[frozenset[uuid.UUID]] = set()
    by_day: dict[date, list[Movement]] = {}
    for m in parts:
        by_day.setdefault(m.booked_on, []).append(m)
    for same_day in by_day.values():
        if len(same_day) >= 2 and sum(m.amount_fen for m in same_day) == target_fen:
            found.add(frozenset(m.entry_id for m in same_day))
    nearest = sorted(parts, key=lambda m: abs((m.booked_on - day).days))[:MAX_CANDIDATES]
    for size in range(2, min(MAX_PARTS, len(nearest)) + 1):
        for combo in combinations(nearest, size):
            if sum(m.amount_fen for m in combo) == target_fen:
                found.add(frozenset(m.entry_id for m in combo))
                if len(found) > 1:
                    return None
    if len(found) != 1:
        return None
    (only,) = found
    return [m.entry_id for m in parts if m.entry_id in only]
