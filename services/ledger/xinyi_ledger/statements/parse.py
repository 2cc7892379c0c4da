"""Reads an uploaded bank statement file, whatever its format, into checked statements."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Mapping

from xinyi_ledger.money import format_yuan
from xinyi_ledger.statements import camt, csvfile, swift
from xinyi_ledger.statements.csvfile import CsvProfile, shipped_profiles
from xinyi_ledger.statements.model import (
    MAX_LINES,
    Format,
    ParsedFile,
    Problem,
    Problems,
    Statement,
    StatementError,
    too_many_lines,
)
from xinyi_ledger.statements.textfile import AUTO, decode

MAX_BYTES = 20 * 1024 * 1024


def _refuse(message: str, filename: str) -> StatementError:
    return StatementError([Problem(0, message)], filename)


def _check_balances(statements: list[Statement], problems: Problems) -> None:
    """Each statement's lines must take its opening balance to its closing balance."""
    for statement in statements:
        opening, closing = statement.opening_balance_fen, statement.closing_balance_fen
        if opening is None or closing is None:
            continue
        total = sum(line.amount_fen for line in statement.lines)
        if opening + total != closing:
            name = (
                f"statement {statement.statement_id}" if statement.statement_id else "the statement"
            )
            if statement.account:
                name = f"{name} of account {statement.account}"
            problems.add(
                statement.line,
                f"{name} does not add up: the opening balance {format_yuan(opening)} "
                f"and its {len(statement.lines)} lines ({format_yuan(total)}) make "
                f"{format_yuan(opening + total)}, but the closing balance is "
                f"{format_yuan(closing)}",
            )


def parse_statement(
    content: bytes,
    *,
    filename: str = "",
    profile: str | None = None,
    profiles: Mapping[str, CsvProfile] | None = None,
) -> ParsedFile:
    """Every statement in a camt.053, MT940 or CSV file, or StatementError with every problem.

    The format is recognised from the content: XML in a camt.053 namespace, text with MT940's
    :20: and :25:/:60F: fields, else a CSV export whose header matches exactly one profile.
    Naming a profile reads the file as CSV with it. profiles replaces the shipped ones.
    Nothing is returned unless the whole file is sound and every statement adds up.
    """
    if len(content) > MAX_BYTES:
        raise _refuse(
            f"the file is {len(content) / 1024 / 1024:.1f} MiB; statements of at most "
            f"{MAX_BYTES // 1024 // 1024} MiB are accepted (export a shorter period)",
            filename,
        )
    body = content.removeprefix(codecs.BOM_UTF8).strip()
    if not body:
        raise _refuse("the file is empty", filename)
    known = shipped_profiles() if profiles is None else profiles
    problems = Problems()
    fmt: Format
    if profile is not None:
        chosen = known.get(profile)
        if chosen is None:
            names = ", ".join(sorted(known)) or "none"
            raise _refuse(f"there is no CSV profile '{profile}' (known: {names})", filename)
        fmt, variant = "csv", chosen.name
        statements, encoding = csvfile.read_statements(content, chosen, problems, filename)
    elif body.startswith(b"<"):
        root = camt.parse_xml(content, problems)
        problems.raise_if_any(filename)
        assert root is not None
        kind, variant = camt.camt_version(root)
        if kind != "camt.053":
            what = f"a {kind} message" if kind else f"XML in namespace '{variant}'"
            raise _refuse(f"this is {what}, not an ISO 20022 camt.053 bank statement", filename)
        camt.validate(root, variant, problems)
        problems.raise_if_any(filename)
        fmt = "camt.053"
        statements = camt.read_statements(root, problems)
        encoding = (root.getroottree().docinfo.encoding or "UTF-8").lower()
    else:
        text, encoding = decode(content, AUTO, filename)
        if swift.looks_like_mt940(text):
            # Counted before parsing, which would take the memory the limit is there to spare.
            if text.startswith(":61:") + text.count("\n:61:") > MAX_LINES:
                raise StatementError([too_many_lines()], filename)
            fmt, variant = "mt940", "mt940"
            statements = swift.read_statements(text, problems)
        else:
            matching = [p for p in known.values() if csvfile.header_matches(content, p)]
            if len(matching) != 1:
                names = ", ".join(sorted(known)) or "none"
                raise _refuse(
                    "the file is not a camt.053 or MT940 statement, and its header matches "
                    + (
                        f"no CSV profile (known: {names}); choose the profile of the bank's "
                        "layout, or add one"
                        if not matching
                        else "several CSV profiles ("
                        + ", ".join(p.name for p in matching)
                        + "); choose one"
                    ),
                    filename,
                )
            (chosen,) = matching
            fmt, variant = "csv", chosen.name
            statements, encoding = csvfile.read_statements(content, chosen, problems, filename)
    if sum(len(s.lines) for s in statements) > MAX_LINES:
        raise StatementError([too_many_lines()], filename)
    if not problems:
        _check_balances(statements, problems)
    if not statements and not problems:
        problems.add(0, "the file holds no statement")
    problems.raise_if_any(filename)
    return ParsedFile(
        filename=filename,
        format=fmt,
        variant=variant,
        encoding=encoding,
        sha256=hashlib.sha256(content).hexdigest(),
        statements=tuple(statements),
    )
