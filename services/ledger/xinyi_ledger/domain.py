"""Ledger's pure rules: the chart of accounts, posting rules and input checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from fractions import Fraction

from xinyi_kit.errors import InvalidArgument


class AccountType(IntEnum):
    # Values match xinyi.ledger.v1.AccountType.
    ASSET = 1
    LIABILITY = 2
    INCOME = 3
    EXPENSE = 4
    EQUITY = 5


@dataclass(frozen=True)
class AccountSpec:
    code: str
    name: str
    type: AccountType


# The common fund and the maintenance fund are kept apart: separate bank accounts and equity.
DEFAULT_CHART: tuple[AccountSpec, ...] = (
    AccountSpec("1001", "共有基金银行存款", AccountType.ASSET),
    AccountSpec("1002", "维修资金银行存款", AccountType.ASSET),
    AccountSpec("1101", "应收物业费", AccountType.ASSET),
    AccountSpec("1102", "应收维修资金", AccountType.ASSET),
    AccountSpec("1190", "待追认银行扣款", AccountType.ASSET),
    AccountSpec("2001", "预收物业费", AccountType.LIABILITY),
    AccountSpec("2101", "应付酬金", AccountType.LIABILITY),
    AccountSpec("3001", "共有基金", AccountType.EQUITY),
    AccountSpec("3002", "维修资金", AccountType.EQUITY),
    AccountSpec("4001", "物业费收入", AccountType.INCOME),
    AccountSpec("4002", "停车费收入", AccountType.INCOME),
    AccountSpec("4003", "广告费收入", AccountType.INCOME),
    AccountSpec("4004", "场地费收入", AccountType.INCOME),
    AccountSpec("4009", "其他收入", AccountType.INCOME),
    AccountSpec("5001", "人员费用", AccountType.EXPENSE),
    AccountSpec("5002", "保洁费用", AccountType.EXPENSE),
    AccountSpec("5003", "绿化费用", AccountType.EXPENSE),
    AccountSpec("5004", "秩序维护费用", AccountType.EXPENSE),
    AccountSpec("5005", "维修费用", AccountType.EXPENSE),
    AccountSpec("5006", "水电费用", AccountType.EXPENSE),
    AccountSpec("5007", "保险费用", AccountType.EXPENSE),
    AccountSpec("5008", "物业服务酬金", AccountType.EXPENSE),
    AccountSpec("5090", "银行手续费及其他扣款", AccountType.EXPENSE),
)


# -- posting rules -------------------------------------------------------------------------------
FUND_BANK = "1001"
MAINTENANCE_BANK = "1002"
RECEIVABLES = "1101"
MAINTENANCE_RECEIVABLES = "1102"
MAINTENANCE_EQUITY = "3002"
PREPAID = "2001"
REMUNERATION_PAYABLE = "2101"
REMUNERATION_EXPENSE = "5008"
FUND_EQUITY = "3001"
UNRATIFIED_DEBITS = "1190"
BANK_CHARGES = "5090"

INCOME_ACCOUNT = {
    "property_fee": "4001",
    "parking": "4002",
    "advertising": "4003",
    "venue": "4004",
    "other": "4009",
}
# What a disbursement may pay for: an expense, or the company's remuneration already accrued.
DEFAULT_THRESHOLDS: tuple[tuple[int | None, int], ...] = ((200_000, 1), (None, 2))
MAX_AMOUNT_FEN = 10**13  # a hundred billion yuan: anything larger is a typing mistake


TYPE_OF_FIRST_DIGIT = {
    "1": AccountType.ASSET,
    "2": AccountType.LIABILITY,
    "3": AccountType.EQUITY,
    "4": AccountType.INCOME,
    "5": AccountType.EXPENSE,
}


def account_type_of(code: str) -> AccountType:
    """An estate's own account: four digits, the first naming its type, as in the default chart."""
    if len(code) != 4 or not code.isdigit() or code[0] not in TYPE_OF_FIRST_DIGIT:
        raise InvalidArgument(
            "an account code has four digits; the first says its type: 1 asset, 2 liability, "
            "3 equity, 4 income, 5 expense"
        )
    return TYPE_OF_FIRST_DIGIT[code[0]]


def disbursable(code: str, account_type: int | None) -> bool:
    """What a disbursement may pay for: an expense account of the estate, or the accrued
    remuneration (2101)."""
    return code == REMUNERATION_PAYABLE or account_type == AccountType.EXPENSE


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def check_period(value: str) -> str:
    if len(value) != 7 or value[4] != "-" or not (value[:4] + value[5:]).isdigit():
        raise InvalidArgument("a period is a month written YYYY-MM, e.g. 2026-01")
    if not 1 <= int(value[5:]) <= 12:
        raise InvalidArgument("a period's month is 01 to 12")
    if not 1900 <= int(value[:4]) <= 2999:
        # Month arithmetic past the calendar's ends would fail deep inside a query.
        raise InvalidArgument("a period's year is 1900 to 2999")
    return value


def check_amount(amount_fen: int, what: str = "the amount") -> int:
    if amount_fen <= 0:
        raise InvalidArgument(f"{what} must be more than zero (in fen: 100 fen = 1 yuan)")
    if amount_fen > MAX_AMOUNT_FEN:
        raise InvalidArgument(f"{what} is implausibly large; amounts are in fen")
    return amount_fen


def check_lines(lines: list[tuple[str, int, str]]) -> None:
    """Double entry: at least two lines, none zero, summing to zero."""
    if len(lines) < 2:
        raise InvalidArgument("an entry has at least two lines")
    if any(amount == 0 for _, amount, _ in lines):
        raise InvalidArgument("an entry line cannot be zero")
    if sum(amount for _, amount, _ in lines) != 0:
        raise InvalidArgument("the entry does not balance: debits must equal credits")


def parse_ratio(text: str) -> Fraction:
    try:
        ratio = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument("the ratio is a fraction like 1/10 or a decimal like 0.1") from None
    if not 0 < ratio < 1:
        raise InvalidArgument("the remuneration ratio is between 0 and 1")
    return ratio
