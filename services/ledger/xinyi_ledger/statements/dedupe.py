"""Which statement lines are new, given the fingerprints of the lines already imported."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from xinyi_ledger.statements.model import StatementLine


@dataclass(frozen=True, slots=True)
class Deduplicated:
    new: tuple[StatementLine, ...]
    duplicates: tuple[StatementLine, ...]  # already stored, or repeated earlier in these lines


def split_new(lines: Iterable[StatementLine], known: Set[str]) -> Deduplicated:
    """Splits lines, in order, into those to import and those seen before.

    A line repeated within the given lines (two statements of one file that overlap) is a
    duplicate after its first appearance, as it would be had the statements come in two files.
    """
    seen = set(known)
    new: list[StatementLine] = []
    duplicates: list[StatementLine] = []
    for line in lines:
        if line.fingerprint in seen:
            duplicates.append(line)
        else:
            seen.add(line.fingerprint)
            new.append(line)
    return Deduplicated(tuple(new), tuple(duplicates))
