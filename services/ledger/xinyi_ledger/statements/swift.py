"""SWIFT MT940 statements, read by the mt-940 library, with line numbers and stricter checks.

mt-940 parses each :20: block; what it lacks for an import that must refuse a bad file by line
is added around it: the file's lines are scanned for tags first, the library's processors note
which tag it is working on, so a failure (or a value this module then refuses) maps back to a
line; balances are checked against the field's strict form, since the library's pattern stops
reading at the first character that is not part of an amount.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import mt940
from mt940.models import Balance, Processors, Transactions
from mt940.tags import TAG_BY_ID, Tag

from xinyi_ledger.statements.model import (
    Problems,
    RawLine,
    Statement,
    build_statement,
    decimal_to_fen,
)

_OPTIONS = mt940.Options(
    reversal_sign=True,  # RC (reversal of a credit) takes money out: negative
    case_insensitive_marks=True,
    merge_keeps_values=True,  # a :86: must not erase the :61: customer reference
    unbounded_details=True,  # never cut a long :86: narrative
    applicant_iban=True,
    non_swift_free_text=True,
)
_TAG = re.compile(r":(?P<full>(?P<tag>\d{2}|NS)(?P<sub>[A-Z])?):(?P<value>.*)")
# SWIFT FIN envelope around block 4 ({1:…}{2:…}{4:) and its end (-} or -}{5:…}).
_ENVELOPE = re.compile(r"\s*(\{[1-5]:.*|-\}.*|-)\s*")
_BALANCE = re.compile(r"[CD]\d{6}[A-Z]{3}\d[\d,]*")
_MT940_SIGNS = (re.compile(r"^:20:", re.MULTILINE), re.compile(r"^:(25|60[FM]):", re.MULTILINE))

_FIELD_NAMES: dict[str | int, str] = {
    20: "the transaction reference (:20:)",
    21: "the related reference (:21:)",
    25: "the account (:25:)",
    28: "the statement number (:28C:)",
    60: "the opening balance",
    "60F": "the opening balance (:60F:)",
    "60M": "the intermediate opening balance (:60M:)",
    61: "the statement line (:61:)",
    62: "the closing balance",
    "62F": "the closing balance (:62F:)",
    "62M": "the intermediate closing balance (:62M:)",
    64: "the available balance (:64:)",
    65: "the forward available balance (:65:)",
}
_BALANCE_TAGS: dict[str, str | int] = {
    "final_opening_balance": "60F",
    "intermediate_opening_balance": "60M",
    "opening_balance": 60,
    "final_closing_balance": "62F",
    "intermediate_closing_balance": "62M",
    "closing_balance": 62,
}
_BALANCE_FORM = "C or D, the date as YYMMDD, the currency and the amount, e.g. C240301CNY12345,67"
_LINE_FORM = (
    "the value date YYMMDD, an optional entry date MMDD, C or D, the amount with a decimal "
    "comma, the type and the references, e.g. 2403050305C1234,50NTRFNONREF//BANKREF"
)


def looks_like_mt940(text: str) -> bool:
    return all(sign.search(text) for sign in _MT940_SIGNS)


def _tag_of(full: str, tag: str) -> Tag | None:
    return TAG_BY_ID.get(full) or TAG_BY_ID.get(int(tag) if tag.isdigit() else tag)


def _name(tag: Tag) -> str:
    return _FIELD_NAMES.get(tag.id, f"the field :{tag.id}:")


@dataclass
class _TagLine:
    line: int
    tag: Tag
    value: str  # the first line of the field's value


@dataclass
class _Block:
    """One :20: block: its first line, its lines (envelope blanked) and where each tag is."""

    start: int
    lines: list[str]
    tags: list[_TagLine] = field(default_factory=list)

    def where(self, tag: Tag, index: int) -> _TagLine | None:
        same = [t for t in self.tags if t.tag.id == tag.id]
        return same[index] if 0 <= index < len(same) else None


class _Tracker:
    """A pre-processor on every tag: counts the tags mt-940 has read, and which one it is on."""

    def __init__(self) -> None:
        self.read: Counter[str | int] = Counter()
        self.current: Tag | None = None
        self.untyped: list[int] = []  # which :61: fields (0-based) have no transaction type

    def __call__(
        self, transactions: Transactions, tag: Tag, tag_dict: dict[str, Any], *args: Any
    ) -> dict[str, Any]:
        self.current = tag
        if tag.id == 61 and not tag_dict.get("id"):
            self.untyped.append(self.read[tag.id])
        self.read[tag.id] += 1
        return tag_dict


def _blocks(text: str, problems: Problems) -> list[_Block]:
    blocks: list[_Block] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if _ENVELOPE.fullmatch(line):
            line = ""
        match = _TAG.match(line)
        tag = _tag_of(match["full"], match["tag"]) if match else None
        if match and match["full"] == "20":
            blocks.append(_Block(start=number, lines=[]))
        if not blocks:
            if tag is not None:
                problems.add(number, f"{_name(tag)} comes before the first :20: field")
            continue
        blocks[-1].lines.append(line)
        if match and tag is not None:
            blocks[-1].tags.append(_TagLine(number, tag, match["value"].strip()))
    return blocks


def _parse_block(block: _Block, problems: Problems) -> Transactions | None:
    tracker = _Tracker()
    processors: Processors = {}
    for tag in TAG_BY_ID.values():
        slot = f"pre_{tag.slug}"
        processors[slot] = [tracker, *Transactions.DEFAULT_PROCESSORS.get(slot, [])]
    transactions = Transactions(processors=processors, options=_OPTIONS)
    try:
        transactions.parse("\n".join(block.lines))
    except RuntimeError as error:
        # Raised by Tag.parse as (message, tag, value) when a field does not match its form;
        # the tracker has not counted it, so it is the next one of its kind.
        tag = error.args[1] if len(error.args) == 3 else tracker.current
        if not isinstance(tag, Tag):
            raise
        where = block.where(tag, tracker.read[tag.id])
        form = _LINE_FORM if tag.id == 61 else _BALANCE_FORM if "balance" in tag.slug else ""
        message = f"{_name(tag)} '{where.value if where else ''}' cannot be read"
        problems.add(
            where.line if where else block.start, f"{message}: expected {form}" if form else message
        )
        return None
    except (InvalidOperation, ValueError) as error:
        tag = tracker.current
        where = block.where(tag, tracker.read[tag.id] - 1) if tag else None
        line = where.line if where else block.start
        what = _name(tag) if tag else "a field"
        # Whole sentences, each its own: the gateway words them by their templates.
        if isinstance(error, InvalidOperation):
            reason = (
                f"{what} '{where.value}' has an amount that is not a number"
                if where
                else f"{what} has an amount that is not a number"
            )
        else:
            reason = (
                f"{what} '{where.value}' cannot be read ({error})"
                if where
                else f"{what} cannot be read ({error})"
            )
        problems.add(line, reason)
        return None
    for index in tracker.untyped:
        # The type (1!a3!c, e.g. NTRF) is mandatory; without it mt-940 merges the line into the
        # next one, and it is missing when a stray character cut the amount short.
        where = block.where(TAG_BY_ID[61], index)
        problems.add(
            where.line if where else block.start,
            f"the statement line (:61:) '{where.value if where else ''}' has no transaction "
            "type (such as NTRF) after the amount; is the amount written with a decimal comma?",
        )
    return None if tracker.untyped else transactions


def _balance(
    block: _Block, transactions: Transactions, keys: tuple[str, ...], problems: Problems
) -> tuple[int | None, Balance | None]:
    for key in keys:
        balance = transactions.data.get(key)
        if isinstance(balance, Balance) and balance.amount is not None:
            where = block.where(TAG_BY_ID[_BALANCE_TAGS[key]], 0)
            line = where.line if where else block.start
            if where and not (_BALANCE.fullmatch(where.value) and where.value.count(",") <= 1):
                problems.add(
                    line, f"{_name(where.tag)} '{where.value}' is not in the form {_BALANCE_FORM}"
                )
                return None, balance
            amount = balance.amount
            assert not isinstance(amount, str)
            try:
                return decimal_to_fen(amount.amount, "balance"), balance
            except ValueError as error:
                problems.add(line, str(error))
                return None, balance
    return None, None


def _day(value: date) -> date:
    # mt-940's Date subclass, as a plain date.
    return date(value.year, value.month, value.day)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _statement(block: _Block, transactions: Transactions, problems: Problems) -> Statement:
    data = transactions.data
    account = _text(data.get("account_identification"))
    if not account:
        problems.add(block.start, "the statement has no account (:25:)")
    opening, opening_balance = _balance(
        block,
        transactions,
        ("final_opening_balance", "intermediate_opening_balance", "opening_balance"),
        problems,
    )
    closing, closing_balance = _balance(
        block,
        transactions,
        ("final_closing_balance", "intermediate_closing_balance", "closing_balance"),
        problems,
    )
    if opening_balance is None:
        problems.add(block.start, "the statement has no opening balance (:60F: or :60M:)")
    if closing_balance is None:
        problems.add(block.start, "the statement has no closing balance (:62F: or :62M:)")
    currency = transactions.currency or ""
    statement_lines = [t for t in block.tags if t.tag.id == 61]
    raw_lines = []
    for where, transaction in zip(statement_lines, transactions, strict=False):
        raw = _line(where, transaction.data, currency, problems)
        if raw is not None:
            raw_lines.append(raw)
    number = _text(data.get("statement_number"))
    sequence = _text(data.get("sequence_number"))
    statement_id = _text(data.get("transaction_reference"))
    if number:
        statement_id += f" {number}" + (f"/{sequence}" if sequence else "")
    return build_statement(
        line=block.start,
        statement_id=statement_id,
        account=account,
        currency=currency,
        opening_balance_fen=opening,
        closing_balance_fen=closing,
        # :60F: is dated the day the balance was struck, which some banks make the previous
        # statement's last day: the first booking is the surer start when there is one.
        period_start=(
            _day(opening_balance.date)
            if not raw_lines and opening_balance and opening_balance.date
            else None
        ),
        period_end=_day(closing_balance.date) if closing_balance and closing_balance.date else None,
        raw_lines=raw_lines,
    )


def _line(
    where: _TagLine, data: dict[str, Any], currency: str, problems: Problems
) -> RawLine | None:
    amount = data["amount"]
    value: Decimal = amount.amount
    try:
        fen = decimal_to_fen(value)
    except ValueError as error:
        problems.add(where.line, str(error))
        return None
    value_date = _day(data["date"])
    booking_date = _day(data.get("entry_date") or value_date)
    customer_reference = _text(data.get("customer_reference"))
    bank_reference = _text(data.get("bank_reference"))
    details = _text(data.get("purpose")) or _text(data.get("transaction_details"))
    return RawLine(
        line=where.line,
        booking_date=booking_date,
        value_date=value_date,
        amount_fen=fen,
        currency=amount.currency or currency,
        bank_reference="" if bank_reference.upper() == "NONREF" else bank_reference,
        reference="" if customer_reference.upper() == "NONREF" else customer_reference,
        counterparty_name=_text(data.get("applicant_name")),
        counterparty_account=_text(data.get("applicant_iban")),
        narrative=" ".join((details or _text(data.get("extra_details"))).split()),
    )


def read_statements(text: str, problems: Problems) -> list[Statement]:
    statements = []
    for block in _blocks(text, problems):
        transactions = _parse_block(block, problems)
        if transactions is not None:
            statements.append(_statement(block, transactions, problems))
    return statements
