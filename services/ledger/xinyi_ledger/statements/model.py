"""What a parsed bank statement file is, the problems that refuse one, and exact money in fen."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Format = Literal["camt.053", "mt940", "csv"]

MAX_PROBLEMS = 100
# Lines of one file: importing one takes the ledger about 3.4 KiB a line at its peak (a CSV of
# 50,000 lines took it from 114 to 312 MiB, of 100,000 to 450 MiB: `python -m bench.uploads`),
# against a 512 MiB limit in the Helm chart, and 20 MiB of CSV is some 150,000 lines. A longer
# period comes in parts.
MAX_LINES = 50_000
# 15 digits before the point: the SWIFT amount field's width, far above any estate's account,
# and well inside Decimal's 28-digit precision, so multiplying by 100 stays exact.
_TOO_LARGE = Decimal(10) ** 15
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked movement on the account, as the bank reported it."""

    line: int  # where it starts in the file (1-based): XML element, MT940 :61: line, CSV row
    booking_date: date
    value_date: date | None
    amount_fen: int  # credit (money in) positive, debit (money out) negative
    currency: str
    bank_reference: str  # the bank's own reference for the entry, "" when it gives none
    reference: str  # the payer's or customer's reference (end-to-end id), "" when none
    counterparty_name: str
    counterparty_account: str
    narrative: str
    fingerprint: str  # stable across overlapping statements: see fingerprint()


@dataclass(frozen=True, slots=True)
class Statement:
    """One account's statement for one period: a file can hold several."""

    line: int  # where the statement starts in the file
    statement_id: str  # camt Stmt/Id, MT940 :20: (and :28C: number), CSV: ""
    account: str  # IBAN or account number as the bank wrote it, "" if the file does not say
    currency: str
    opening_balance_fen: int | None
    closing_balance_fen: int | None
    period_start: date | None
    period_end: date | None
    lines: tuple[StatementLine, ...]


@dataclass(frozen=True, slots=True)
class ParsedFile:
    filename: str
    format: Format
    variant: str  # e.g. "camt.053.001.08", "mt940", or the CSV profile's name
    encoding: str  # the text encoding that was read ("utf-8", "gb18030", or the XML's own)
    sha256: str  # of the file's bytes, so the caller can tell the same file uploaded twice
    statements: tuple[Statement, ...]

    def lines(self) -> Iterator[StatementLine]:
        for statement in self.statements:
            yield from statement.lines


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1-based line in the file; 0 means the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def too_many_lines(line: int = 0) -> Problem:
    return Problem(
        line,
        f"the file has more than {MAX_LINES:,} statement lines; at most {MAX_LINES:,} are "
        "imported at once (export a shorter period)",
    )


class StatementError(Exception):
    """The file cannot be imported; nothing of it may be. Carries every problem found."""

    def __init__(self, problems: list[Problem], filename: str = "") -> None:
        self.problems = problems
        self.filename = filename
        where = f"{filename}: " if filename else ""
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}{first}{more}")

    def summary(self, shown: int = 10) -> str:
        """The first `shown` problems, then how many more there are: what a refusal quotes."""
        parts = [str(p) for p in self.problems[:shown]]
        if len(self.problems) > shown:
            parts.append(f"and {len(self.problems) - shown} more")
        return "; ".join(parts)


class Problems:
    """Collects problems up to a cap, so one bad column in 100,000 rows stays readable."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, line: int, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(line, message))
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, filename: str) -> None:
        if not self.items:
            return
        problems = list(self.items)
        if self.dropped:
            problems.append(Problem(0, f"… and {self.dropped} more problems not listed"))
        raise StatementError(problems, filename)


def decimal_to_fen(value: Decimal, what: str = "amount", shown: str | None = None) -> int:
    """An exact amount in yuan as integer fen; ValueError (a plain sentence) if it is not one.

    Trailing zeros are fine ("1.500" is 150 fen); a fraction of a fen is refused, never rounded.
    """
    quoted = f"'{shown if shown is not None else value}'"
    if not value.is_finite():
        raise ValueError(f"the {what} {quoted} is not a number")
    if value.copy_abs() >= _TOO_LARGE:
        raise ValueError(f"the {what} {quoted} is too large")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"the {what} {quoted} has more than two decimals (a fraction of a fen)")
    return int(fen)


def text_to_fen(text: str, what: str = "amount", shown: str | None = None) -> int:
    """A decimal string ("1234.5", "-0.01", "+12") as fen: 123450, -1, 1200.

    Only digits, one point and a leading sign: no exponents, NaN, underscores or spaces inside.
    shown is what to quote in a message when text is a cleaned-up form of what the file says.
    """
    quoted = shown if shown is not None else text
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"the {what} '{quoted}' is not a number")
    return decimal_to_fen(Decimal(text), what, quoted)


def _canonical(text: str) -> str:
    # Banks break long narratives at different widths in different formats and exports.
    return " ".join(text.split())


def fingerprint(
    *,
    account: str,
    booking_date: date,
    amount_fen: int,
    currency: str,
    bank_reference: str,
    reference: str = "",
    narrative: str = "",
    counterparty_name: str = "",
    counterparty_account: str = "",
    occurrence: int = 1,
) -> str:
    """The key that recognises one bank movement again in an overlapping statement.

    With the bank's own reference, that reference (with the account, date and amount, since some
    banks number their references per day) is the key. Without one, every detail of the line is,
    plus its occurrence among identical lines of the same statement: two equal transfers on one
    day are two movements, and an overlapping statement repeats both.
    """
    if bank_reference:
        parts: list[object] = [
            "ref",
            _canonical(account),
            booking_date.isoformat(),
            amount_fen,
            currency,
            _canonical(bank_reference),
        ]
    else:
        parts = [
            "line",
            _canonical(account),
            booking_date.isoformat(),
            amount_fen,
            currency,
            _canonical(reference),
            _canonical(narrative),
            _canonical(counterparty_name),
            _canonical(counterparty_account),
            occurrence,
        ]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True, slots=True)
class RawLine:
    """A line before its fingerprint: the readers produce these, the statement builder keys them."""

    line: int
    booking_date: date
    value_date: date | None
    amount_fen: int
    currency: str
    bank_reference: str
    reference: str
    counterparty_name: str
    counterparty_account: str
    narrative: str


def build_statement(
    *,
    line: int,
    statement_id: str,
    account: str,
    currency: str,
    opening_balance_fen: int | None,
    closing_balance_fen: int | None,
    period_start: date | None,
    period_end: date | None,
    raw_lines: list[RawLine],
) -> Statement:
    """Fingerprints the lines, numbering identical ones in order, and fills in a missing period
    from the booking dates."""
    seen: dict[tuple[object, ...], int] = {}
    lines = []
    for raw in raw_lines:
        occurrence = 1
        if not raw.bank_reference:  # only lines keyed by their details need numbering
            key = (
                raw.booking_date,
                raw.amount_fen,
                raw.currency,
                _canonical(raw.reference),
                _canonical(raw.narrative),
                _canonical(raw.counterparty_name),
                _canonical(raw.counterparty_account),
            )
            seen[key] = occurrence = seen.get(key, 0) + 1
        line_fingerprint = fingerprint(
            account=account,
            booking_date=raw.booking_date,
            amount_fen=raw.amount_fen,
            currency=raw.currency,
            bank_reference=raw.bank_reference,
            reference=raw.reference,
            narrative=raw.narrative,
            counterparty_name=raw.counterparty_name,
            counterparty_account=raw.counterparty_account,
            occurrence=occurrence,
        )
        lines.append(
            StatementLine(
                line=raw.line,
                booking_date=raw.booking_date,
                value_date=raw.value_date,
                amount_fen=raw.amount_fen,
                currency=raw.currency,
                bank_reference=raw.bank_reference,
                reference=raw.reference,
                counterparty_name=raw.counterparty_name,
                counterparty_account=raw.counterparty_account,
                narrative=raw.narrative,
                fingerprint=line_fingerprint,
            )
        )
    dates = [raw.booking_date for raw in raw_lines]
    return Statement(
        line=line,
        statement_id=statement_id,
        account=account,
        currency=currency,
        opening_balance_fen=opening_balance_fen,
        closing_balance_fen=closing_balance_fen,
        period_start=period_start or (min(dates) if dates else None),
        period_end=period_end or (max(dates) if dates else None),
        lines=tuple(lines),
    )
