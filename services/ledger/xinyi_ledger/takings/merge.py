"""What of an export is new, given what earlier, overlapping exports brought.

A day keeps the layout it first came in: its total is either the system's daily figure or the
sum of its stays, never both, or a day could be counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from xinyi_ledger.money import format_yuan
from xinyi_ledger.statements.model import Problems
from xinyi_ledger.takings.gatefile import DayRow, Layout, SessionRow, TakingsFile

_IN_WORDS: Mapping[Layout, str] = {"per_day": "as a daily total", "per_session": "stay by stay"}


@dataclass(frozen=True, slots=True)
class KnownDay:
    layout: Layout
    amount_fen: int
    filename: str  # of the import that brought the day first, for the message that names it


@dataclass(frozen=True, slots=True)
class KnownSession:
    day: date
    amount_fen: int


@dataclass(frozen=True)
class Merged:
    days: tuple[DayRow, ...]  # per_day rows to store
    sessions: tuple[SessionRow, ...]  # per_session rows to store
    duplicates: int
    # per_session: what the new stays add to each exit day, (fen, stays)
    additions: Mapping[date, tuple[int, int]] = field(default_factory=dict)

    @property
    def rows_new(self) -> int:
        return len(self.days) + len(self.sessions)

    @property
    def total_fen(self) -> int:
        return sum(r.amount_fen for r in self.days) + sum(r.amount_fen for r in self.sessions)


def merge(
    parsed: TakingsFile,
    days: Mapping[date, KnownDay],
    sessions: Mapping[str, KnownSession],
    today: date,
) -> Merged:
    """Splits the export's rows into new ones and duplicates, or refuses it (StatementError) by
    row: a day not yet over, a day that came in the other layout, a day or a stay imported
    before with another amount."""
    problems = Problems()
    refused: set[date] = set()

    def day_fits(day: date, line: int) -> bool:
        """The day's total can be final and came in this layout, if at all (said once a day):
        a stay that left today is whole, today's total is not."""
        known = days.get(day)
        if day in refused:
            return False
        if day > today:
            problems.add(line, f"the day {day.isoformat()} has not come yet")
        elif day == today and parsed.layout == "per_day":
            problems.add(line, f"the day {day.isoformat()} is not over: its total is not final")
        elif known is not None and known.layout != parsed.layout:
            problems.add(
                line,
                f"the day {day.isoformat()} was imported {_IN_WORDS[known.layout]} "
                f"({known.filename}); it cannot come {_IN_WORDS[parsed.layout]} as well",
            )
        else:
            return True
        refused.add(day)
        return False

    new_days: list[DayRow] = []
    duplicates = 0
    for row in parsed.days:
        known = days.get(row.day)
        if not day_fits(row.day, row.line):
            continue
        if known is None:
            new_days.append(row)
        elif known.amount_fen == row.amount_fen:
            duplicates += 1
        else:
            problems.add(
                row.line,
                f"the day {row.day.isoformat()} was imported with "
                f"{format_yuan(known.amount_fen)} yuan ({known.filename}), this file says "
                f"{format_yuan(row.amount_fen)}",
            )
    new_sessions: list[SessionRow] = []
    additions: dict[date, tuple[int, int]] = {}
    for stay in parsed.sessions:
        before = sessions.get(stay.reference)
        if not day_fits(stay.day, stay.line):
            continue
        if before is None:
            new_sessions.append(stay)
            fen, count = additions.get(stay.day, (0, 0))
            additions[stay.day] = (fen + stay.amount_fen, count + 1)
        elif (before.day, before.amount_fen) == (stay.day, stay.amount_fen):
            duplicates += 1
        else:
            problems.add(
                stay.line,
                f"the order {stay.reference} was imported with {format_yuan(before.amount_fen)} "
                f"yuan on {before.day.isoformat()}, this file says "
                f"{format_yuan(stay.amount_fen)} on {stay.day.isoformat()}",
            )
    problems.raise_if_any(parsed.filename)
    return Merged(tuple(new_days), tuple(new_sessions), duplicates, additions)
