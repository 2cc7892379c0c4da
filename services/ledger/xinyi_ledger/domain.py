"""Ledger's pure rules: the default chart of accounts every estate's books open with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


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
)
