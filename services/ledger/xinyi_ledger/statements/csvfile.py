"""Banks' CSV exports, read through column-mapping profiles kept as data (profiles/*.toml).

A profile names the columns that hold each field of a statement line, and how the bank writes
dates and amounts; profiles/README.md documents the format. Adding a bank's layout is adding a
file there.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from xinyi_ledger.money import format_yuan
from xinyi_ledger.statements.model import (
    MAX_LINES,
    Problem,
    Problems,
    RawLine,
    Statement,
    StatementError,
    build_statement,
    text_to_fen,
    too_many_lines,
)
from xinyi_ledger.statements.textfile import AUTO, decode

PROFILE_DIR = Path(__file__).parent / "profiles"
_T = TypeVar("_T")

FIELDS = (
    "booking_date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "direction",
    "currency",
    "counterparty_name",
    "counterparty_account",
    "reference",
    "bank_reference",
    "narrative",
    "balance",
    "account",
)
_SETTINGS = {
    "description": str,
    "encoding": str,
    "delimiter": str,
    "skip_rows": int,
    "date_formats": list,
    "decimal_separator": str,
    "thousands_separator": str,
    "currency": str,
    "newest_first": bool,
    "footer_markers": list,
    "account_pattern": str,
    "optional_columns": list,
    "columns": dict,
    "direction": dict,
}
_EMPTY = frozenset({"", "-", "--", "—"})  # how exports leave the unused debit or credit cell


class ProfileError(ValueError):
    """A profile file is wrong: a mistake of whoever wrote it, not of the uploaded statement."""


@dataclass(frozen=True)
class CsvProfile:
    name: str
    description: str
    encoding: str  # "auto" (UTF-8, else GB18030) or a codec name
    delimiter: str
    skip_rows: int  # rows before the header
    date_formats: tuple[str, ...]  # strptime formats, tried in order
    decimal_separator: str
    thousands_separator: str  # "" when the bank writes none
    currency: str  # for every line when there is no currency column
    newest_first: bool  # rows run from the latest to the earliest
    footer_markers: tuple[str, ...]  # a row whose first cell starts with one of these ends data
    account_pattern: re.Pattern[str] | None  # finds the account in the rows before the header
    columns: Mapping[str, tuple[str, ...]]  # field -> header names (several only for narrative)
    optional: frozenset[str]  # fields whose columns may be missing from a file
    credit_marks: frozenset[str]  # values of the direction column that mean money in
    debit_marks: frozenset[str]


def _profile_problem(path: Path, message: str) -> ProfileError:
    return ProfileError(f"CSV profile {path.name}: {message}")


def _strings(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _profile_problem(path, f"'{key}' must be a string or a list of strings")


def load_profile(path: Path) -> CsvProfile:
    """Reads and checks one profile; ProfileError says what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise _profile_problem(path, f"not valid TOML: {error}") from None
    for key, value in data.items():
        kind = _SETTINGS.get(key)
        if kind is None:
            raise _profile_problem(path, f"unknown setting '{key}'")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _profile_problem(path, f"'{key}' must be a {kind.__name__}")
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in data.get("columns", {}).items():
        if key not in FIELDS:
            raise _profile_problem(path, f"unknown field '{key}' in [columns]")
        columns[key] = _strings(path, f"columns.{key}", value)
        if len(columns[key]) > 1 and key != "narrative":
            raise _profile_problem(path, f"only narrative may join several columns, not {key}")
    if "booking_date" not in columns:
        raise _profile_problem(path, "[columns] must name the booking_date column")
    has_amount = "amount" in columns
    has_pair = "debit" in columns and "credit" in columns
    if has_amount == has_pair or ("debit" in columns) != ("credit" in columns):
        raise _profile_problem(path, "[columns] must name either amount, or both debit and credit")
    direction = data.get("direction", {})
    if ("direction" in columns) != bool(direction) or ("direction" in columns and not has_amount):
        raise _profile_problem(
            path, "a direction column goes with amount and a [direction] table of marks"
        )
    if set(direction) - {"credit", "debit"}:
        raise _profile_problem(path, "[direction] has only credit and debit lists")
    optional = frozenset(data.get("optional_columns", []))
    if unknown := optional - set(columns):
        raise _profile_problem(path, f"optional_columns names unmapped fields {sorted(unknown)}")
    if optional & {"booking_date", "amount", "debit", "credit", "direction"}:
        raise _profile_problem(path, "the date and amount columns cannot be optional")
    pattern = data.get("account_pattern", "")
    try:
        account_pattern = re.compile(pattern) if pattern else None
    except re.error as error:
        message = f"account_pattern is not a regular expression: {error}"
        raise _profile_problem(path, message) from None
    if account_pattern is not None and account_pattern.groups != 1:
        raise _profile_problem(path, "account_pattern must have exactly one group")
    profile = CsvProfile(
        name=path.stem,
        description=data.get("description", ""),
        encoding=data.get("encoding", AUTO),
        delimiter=data.get("delimiter", ","),
        skip_rows=data.get("skip_rows", 0),
        date_formats=_strings(path, "date_formats", data.get("date_formats", ["%Y-%m-%d"])),
        decimal_separator=data.get("decimal_separator", "."),
        thousands_separator=data.get("thousands_separator", ""),
        currency=data.get("currency", "CNY"),
        newest_first=data.get("newest_first", False),
        footer_markers=tuple(data.get("footer_markers", [])),
        account_pattern=account_pattern,
        columns=columns,
        optional=optional,
        credit_marks=frozenset(
            _strings(path, "direction.credit", direction.get("credit", [])) if direction else ()
        ),
        debit_marks=frozenset(
            _strings(path, "direction.debit", direction.get("debit", [])) if direction else ()
        ),
    )
    if len(profile.delimiter) != 1 or profile.skip_rows < 0:
        raise _profile_problem(path, "delimiter must be one character, skip_rows 0 or more")
    if profile.decimal_separator not in {".", ","} or profile.thousands_separator not in {
        "",
        ",",
        ".",
        " ",
        "'",
    }:
        raise _profile_problem(path, "unusual decimal or thousands separator")
    if profile.decimal_separator == profile.thousands_separator:
        raise _profile_problem(path, "the decimal and thousands separators must differ")
    return profile


def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, CsvProfile]:
    """Every *.toml profile in a directory, by name (the file name without .toml)."""
    return {path.stem: load_profile(path) for path in sorted(directory.glob("*.toml"))}


@functools.cache
def shipped_profiles() -> Mapping[str, CsvProfile]:
    return load_profiles()


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]


def _rows(
    text: str, profile: CsvProfile, filename: str = "", *, header_only: bool = False
) -> tuple[list[_Row], _Row | None, list[_Row]]:
    """(the rows before the header, the header, the data rows), each with its first line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=profile.delimiter)
    preamble: list[_Row] = []
    header: _Row | None = None
    data: list[_Row] = []
    next_line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # a NUL byte, an unterminated quote, a huge field
            problem = Problem(next_line, f"the CSV cannot be read: {error}")
            raise StatementError([problem], filename) from None
        row = _Row(next_line, [cell.strip() for cell in cells])
        next_line = reader.line_num + 1
        if header is None and len(preamble) < profile.skip_rows:
            preamble.append(row)
            continue
        if not any(row.cells):
            continue
        if header is None:
            header = row
            if header_only:
                break
            continue
        if any(row.cells[0].startswith(marker) for marker in profile.footer_markers):
            break
        if len(data) == MAX_LINES:  # refused as it reads, before the rows take their memory
            raise StatementError([too_many_lines(row.line)], filename)
        data.append(row)
    return preamble, header, data


def header_matches(content: bytes, profile: CsvProfile) -> bool:
    """Whether a file's header has every column the profile requires (for detection)."""
    try:
        text, _ = decode(content, profile.encoding)
        _, header, _ = _rows(text, profile, header_only=True)
    except StatementError:  # a file this profile cannot read is not this profile's
        return False
    if header is None:
        return False
    names = set(header.cells)
    return all(
        set(columns) <= names
        for field, columns in profile.columns.items()
        if field not in profile.optional
    )


def _amount(text: str, profile: CsvProfile, what: str) -> int:
    value = text
    separator = profile.thousands_separator
    whole = value.split(profile.decimal_separator)[0].lstrip("+-")
    if separator and separator in whole:
        if not re.fullmatch(rf"\d{{1,3}}({re.escape(separator)}\d{{3}})+", whole):
            raise ValueError(f"the {what} '{text}' has misplaced thousands separators")
        value = value.replace(separator, "")
    if profile.decimal_separator != ".":
        if "." in value:
            raise ValueError(f"the {what} '{text}' is not a number")
        value = value.replace(profile.decimal_separator, ".")
    return text_to_fen(value, what, shown=text)


def _date(text: str, profile: CsvProfile, what: str) -> date:
    for form in profile.date_formats:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    shown = " or ".join(profile.date_formats)
    raise ValueError(f"the {what} '{text}' is not a date in the form {shown}")


@dataclass(frozen=True)
class _Parsed:
    raw: RawLine
    balance_fen: int | None
    account: str


def _line(
    row: _Row, index: Mapping[str, list[int]], profile: CsvProfile, problems: Problems
) -> _Parsed | None:
    def cell(field: str) -> str:
        positions = index.get(field, [])
        parts = [row.cells[i] if i < len(row.cells) else "" for i in positions]
        return " ".join(part for part in parts if part)

    found = len(problems.items)

    def check(func: Callable[[str, CsvProfile, str], _T], text: str, what: str) -> _T | None:
        try:
            return func(text, profile, what)
        except ValueError as error:
            problems.add(row.line, str(error))
            return None

    booking_text = cell("booking_date")
    booking_date = check(_date, booking_text, "booking date") if booking_text else None
    if not booking_text:
        problems.add(row.line, "the booking date is empty")
    value_text = cell("value_date")
    value_date = check(_date, value_text, "value date") if value_text else None
    amount_fen: int | None
    if "amount" in profile.columns:
        amount_text = cell("amount")
        amount_fen = check(_amount, amount_text, "amount") if amount_text else None
        if not amount_text:
            problems.add(row.line, "the amount is empty")
        if amount_fen is not None and "direction" in profile.columns:
            mark = cell("direction")
            if mark in profile.debit_marks:
                amount_fen = -abs(amount_fen)
            elif mark in profile.credit_marks:
                amount_fen = abs(amount_fen)
            else:
                marks = sorted(profile.credit_marks | profile.debit_marks)
                problems.add(row.line, f"the direction '{mark}' is none of {', '.join(marks)}")
    else:
        amount_fen = _debit_credit(row, cell("debit"), cell("credit"), profile, problems)
    balance_text = cell("balance")
    balance_fen = None
    if "balance" in index:
        balance_fen = check(_amount, balance_text, "balance") if balance_text else None
        if not balance_text:
            problems.add(row.line, "the balance is empty")
    if len(problems.items) != found or booking_date is None or amount_fen is None:
        return None
    raw = RawLine(
        line=row.line,
        booking_date=booking_date,
        value_date=value_date,
        amount_fen=amount_fen,
        currency=cell("currency") or profile.currency,
        bank_reference=cell("bank_reference"),
        reference=cell("reference"),
        counterparty_name=cell("counterparty_name"),
        counterparty_account=cell("counterparty_account"),
        narrative=cell("narrative"),
    )
    return _Parsed(raw, balance_fen, cell("account"))


def _debit_credit(
    row: _Row, debit_text: str, credit_text: str, profile: CsvProfile, problems: Problems
) -> int | None:
    amounts = {}
    for what, text in (("debit", debit_text), ("credit", credit_text)):
        if text in _EMPTY:
            continue
        try:
            fen = _amount(text, profile, what)
        except ValueError as error:
            problems.add(row.line, str(error))
            return None
        if fen < 0:
            problems.add(
                row.line,
                f"the {what} '{text}' is negative; the debit and credit columns hold amounts "
                "without a sign",
            )
            return None
        if fen:
            amounts[what] = fen
    if len(amounts) != 1:
        problems.add(
            row.line,
            "the row has both a debit and a credit amount"
            if amounts
            else "the row has neither a debit nor a credit amount",
        )
        return None
    return amounts.get("credit", 0) - amounts.get("debit", 0)


def _check_running_balance(parsed: list[_Parsed], problems: Problems) -> tuple[int, int] | None:
    """(opening, closing) from a running balance column, each row checked against the last."""
    if not parsed or any(p.balance_fen is None for p in parsed):
        return None
    first = parsed[0]
    assert first.balance_fen is not None
    previous = first.balance_fen
    for row in parsed[1:]:
        assert row.balance_fen is not None
        expected = previous + row.raw.amount_fen
        if row.balance_fen != expected:
            problems.add(
                row.raw.line,
                f"the balance {format_yuan(row.balance_fen)} does not follow from the row "
                f"before ({format_yuan(previous)} and this row's amount "
                f"{format_yuan(row.raw.amount_fen)} make {format_yuan(expected)})",
            )
        previous = row.balance_fen
    return first.balance_fen - first.raw.amount_fen, previous


def read_statements(
    content: bytes, profile: CsvProfile, problems: Problems, filename: str = ""
) -> tuple[list[Statement], str]:
    """The statements of a CSV export (one per account column value, else one) and the
    encoding it was read with."""
    text, encoding = decode(content, profile.encoding, filename)
    preamble, header, rows = _rows(text, profile, filename)
    if header is None:
        problems.add(0, f"the file has no header row (profile {profile.name})")
        return [], encoding
    index: dict[str, list[int]] = {}
    for field, names in profile.columns.items():
        positions = []
        for name in names:
            if name in header.cells:
                positions.append(header.cells.index(name))
            elif field not in profile.optional:
                problems.add(
                    header.line, f"the header has no column '{name}' (profile {profile.name})"
                )
        if positions:
            index[field] = positions
    if problems:
        return [], encoding
    if not rows:
        problems.add(header.line, "the file has a header but no rows")
        return [], encoding
    file_account = ""
    if profile.account_pattern is not None:
        for row in preamble:
            if match := profile.account_pattern.search(" ".join(row.cells)):
                file_account = match.group(1).strip()
                break
    parsed = [_line(row, index, profile, problems) for row in rows]
    if problems:
        return [], encoding
    lines = [p for p in parsed if p is not None]
    if profile.newest_first:
        lines.reverse()
    by_account: dict[str, list[_Parsed]] = {}
    for p in lines:
        by_account.setdefault(p.account or file_account, []).append(p)
    statements = []
    for account, group in by_account.items():
        balances = _check_running_balance(group, problems) if "balance" in index else None
        currencies = {p.raw.currency for p in group}
        statements.append(
            build_statement(
                line=group[0].raw.line if len(by_account) > 1 else header.line,
                statement_id="",
                account=account,
                currency=currencies.pop() if len(currencies) == 1 else profile.currency,
                opening_balance_fen=balances[0] if balances else None,
                closing_balance_fen=balances[1] if balances else None,
                period_start=None,
                period_end=None,
                raw_lines=[p.raw for p in group],
            )
        )
    return statements, encoding
