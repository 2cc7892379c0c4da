"""The monthly check of income the estate does not collect itself: what the gates recorded and
the contracts expect, against what the company posted to the fund.

Flags are computed from the data as it is now, never stored as verdicts: a month stays flagged
until its income is posted (or the gates' figures or the contracts are corrected).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from xinyi_ledger.money import format_yuan

# Income checked: what a contract can expect and a system can record; property fees have their
# own assessments and payment rate.
SOURCES = ("parking", "advertising", "venue", "other")
# Sources whose takings a system records and exports (imported); add one with its profiles.
METERED = ("parking",)
MAX_MONTHS = 36

# Posted income is far below what the gates recorded when the shortfall is more than a tenth of
# the recorded takings and more than 100 yuan. Takings cross the month's end on their way to
# the bank (the last night's fees are banked and posted the next day), so a small difference is
# normal; a month posted at 2,400 yuan while the gates took over 10,000 is not.
BELOW_RECORDED_SHARE = Fraction(1, 10)
BELOW_RECORDED_MIN_FEN = 10_000

State = Literal["in_progress", "ok", "flagged"]
Flag = Literal["", "below_recorded", "contract_unpaid"]


@dataclass(frozen=True, slots=True)
class Contract:
    source: str
    monthly_fen: int
    first_month: str  # YYYY-MM
    last_month: str | None  # None: open-ended

    def active(self, month: str) -> bool:
        return self.first_month <= month and (self.last_month is None or month <= self.last_month)


@dataclass(frozen=True, slots=True)
class Check:
    month: str
    source: str
    recorded_fen: int  # the gates' takings of the month's days
    recorded_days: int  # days the gates' exports cover
    expected_fen: int  # contracts active in the month
    posted_fen: int  # income of the source posted for the month, reversals subtracted
    shortfall_fen: int  # recorded + expected - posted, never below zero
    state: State
    flag: Flag
    reason: str


def add_months(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from first to last, both included (empty when last is before first)."""
    out = []
    month = first
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def expected(contracts: Iterable[Contract], months: Iterable[str]) -> dict[tuple[str, str], int]:
    """(month, source) -> what the contracts active that month expect."""
    out: dict[tuple[str, str], int] = {}
    for month in months:
        for contract in contracts:
            if contract.active(month):
                key = (month, contract.source)
                out[key] = out.get(key, 0) + contract.monthly_fen
    return out


def check(
    month: str,
    source: str,
    *,
    recorded_fen: int,
    recorded_days: int,
    expected_fen: int,
    posted_fen: int,
    over: bool,
) -> Check:
    """One month of one source. A month not over is in progress, never flagged: its income may
    not all be posted yet."""
    shortfall = max(0, recorded_fen + expected_fen - posted_fen)
    posted = f"the {source} income posted, {format_yuan(posted_fen)} yuan,"
    flag: Flag = ""
    reason = ""
    tolerance = max(recorded_fen * BELOW_RECORDED_SHARE, Fraction(BELOW_RECORDED_MIN_FEN))
    if over and recorded_fen and shortfall > tolerance:
        flag = "below_recorded"
        owed = f"the {format_yuan(recorded_fen)} yuan the gates recorded" + (
            f" and the {format_yuan(expected_fen)} yuan the contracts expect"
            if expected_fen
            else ""
        )
        reason = f"{posted} is {format_yuan(shortfall)} yuan short of {owed}"
    elif over and expected_fen and posted_fen < expected_fen:
        flag = "contract_unpaid"
        reason = (
            f"{posted} is below the {format_yuan(expected_fen)} yuan the contracts expect "
            "for the month"
        )
    state: State = "in_progress" if not over else "flagged" if flag else "ok"
    return Check(
        month=month,
        source=source,
        recorded_fen=recorded_fen,
        recorded_days=recorded_days,
        expected_fen=expected_fen,
        posted_fen=posted_fen,
        shortfall_fen=shortfall,
        state=state,
        flag=flag,
        reason=reason,
    )


def checks(
    months: Iterable[str],
    *,
    recorded: Mapping[tuple[str, str], tuple[int, int]],
    expected: Mapping[tuple[str, str], int],
    posted: Mapping[tuple[str, str], int],
    current_month: str,
) -> list[Check]:
    """A row per (month, source) with gate takings, contract expectations or posted income;
    recorded maps (month, source) to (fen, days)."""
    out = []
    for month in months:
        for source in SOURCES:
            key = (month, source)
            if key not in recorded and key not in expected and key not in posted:
                continue
            fen, days = recorded.get(key, (0, 0))
            out.append(
                check(
                    month,
                    source,
                    recorded_fen=fen,
                    recorded_days=days,
                    expected_fen=expected.get(key, 0),
                    posted_fen=posted.get(key, 0),
                    over=month < current_month,
                )
            )
    return out
