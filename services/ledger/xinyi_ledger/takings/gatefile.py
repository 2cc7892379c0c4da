"""Gate exports (per day or per paid stay), read through column-mapping profiles kept as data.

A profile names the columns of each field and how the system writes days, times and amounts;
profiles/README.md documents the format. Text decoding and the problems that refuse a file are
the bank statements' own: a file is read whole, and any bad row refuses all of it, by line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from xinyi_ledger.statements.model import Problem, Problems, StatementError, text_to_fen
from xinyi_ledger.statements.textfile import AUTO, decode

PROFILE_DIR = Path(__file__).parent / "profiles"
MAX_BYTES = 8 * 1024 * 1024  # a year of a busy car park's stays, one per row
MAX_REFERENCE = 100

Layout = Literal["per_day", "per_session"]
LAYOUTS: tuple[Layout, ...] = ("per_day", "per_session")
FIELDS: Mapping[Layout, tuple[frozenset[str], frozenset[str]]] = {  # (required, may be omitted)
    "per_day": (frozenset({"day", "amount"}), frozenset({"sessions"})),
    "per_session": (frozenset({"session", "exited_at", "amount"}), frozenset({"entered_at"})),
}
_SETTINGS = {
    "description": str,
    "layout": str,
    "encoding": str,
    "delimiter": str,
    "skip_rows": int,
    "date_formats": list,
    "time_formats": list,
    "thousands_separator": str,
    "footer_markers": list,
    "optional_columns": list,
    "columns": dict,
}
_T = TypeVar("_T")


class ProfileError(ValueError):
    """A profile file is wrong: a mistake of whoever wrote it, not of the uploaded export."""


@dataclass(frozen=True)
class GateProfile:
    name: str
    description: str
    layout: Layout
    encoding: str  # "auto" (UTF-8, else GB18030) or a codec name
    delimiter: str
    skip_rows: int  # rows before the header
    date_formats: tuple[str, ...]  # strptime formats of a day, tried in order
    time_formats: tuple[str, ...]  # strptime formats of an entry or exit time
    thousands_separator: str  # "" or ","
    footer_markers: tuple[str, ...]  # a row whose first cell starts with one of these ends data
    columns: Mapping[str, str]  # field -> header name
    optional: frozenset[str]  # fields whose columns may be missing from a file


@dataclass(frozen=True, slots=True)
class DayRow:
    """A day's takings as the system totalled them."""

    line: int
    day: date
    amount_fen: int
    sessions: int | None  # stays that paid, when the export says


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One paid stay: its reference and fee, counted on its exit day. Nothing about the car."""

    line: int
    reference: str
    day: date
    amount_fen: int


@dataclass(frozen=True, slots=True)
class TakingsFile:
    filename: str
    profile: str
    layout: Layout
    encoding: str
    sha256: str
    days: tuple[DayRow, ...]  # per_day
    sessions: tuple[SessionRow, ...]  # per_session

    def all_days(self) -> list[date]:
        return [r.day for r in self.days] + [r.day for r in self.sessions]


def _problem(path: Path, message: str) -> ProfileError:
    return ProfileError(f"takings profile {path.name}: {message}")


def _strings(path: Path, data: Mapping[str, Any], key: str, default: list[str]) -> tuple[str, ...]:
    value = data.get(key, default)
    if not all(isinstance(v, str) for v in value):
        raise _problem(path, f"'{key}' must be a list of strings")
    return tuple(value)


def load_profile(path: Path) -> GateProfile:
    """Reads and checks one profile; ProfileError says what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise _problem(path, f"not valid TOML: {error}") from None
    for key, value in data.items():
        kind = _SETTINGS.get(key)
        if kind is None:
            raise _problem(path, f"unknown setting '{key}'")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _problem(path, f"'{key}' must be a {kind.__name__}")
    layout = data.get("layout")
    if layout not in LAYOUTS:
        raise _problem(path, "'layout' must be per_day or per_session")
    required, omissible = FIELDS[layout]
    columns = data.get("columns", {})
    for key, value in columns.items():
        if key not in required | omissible:
            known = ", ".join(sorted(required | omissible))
            raise _problem(path, f"[columns] of a {layout} profile are {known}, not '{key}'")
        if not isinstance(value, str) or not value:
            raise _problem(path, f"columns.{key} must be a header name")
    if missing := required - set(columns):
        raise _problem(path, f"[columns] must name {', '.join(sorted(missing))}")
    optional = frozenset(_strings(path, data, "optional_columns", []))
    if wrong := optional - (omissible & set(columns)):
        raise _problem(path, f"optional_columns may hold only mapped {sorted(omissible)}: {wrong}")
    profile = GateProfile(
        name=path.stem,
        description=data.get("description", ""),
        layout=layout,
        encoding=data.get("encoding", AUTO),
        delimiter=data.get("delimiter", ","),
        skip_rows=data.get("skip_rows", 0),
        date_formats=_strings(path, data, "date_formats", ["%Y-%m-%d"]),
        time_formats=_strings(path, data, "time_formats", ["%Y-%m-%d %H:%M:%S"]),
        thousands_separator=data.get("thousands_separator", ""),
        footer_markers=_strings(path, data, "footer_markers", []),
        columns=dict(columns),
        optional=optional,
    )
    if not profile.date_formats or not profile.time_formats:
        raise _problem(path, "date_formats and time_formats name at least one format")
    if len(profile.delimiter) != 1 or profile.skip_rows < 0:
        raise _problem(path, "delimiter must be one character, skip_rows 0 or more")
    if profile.thousands_separator not in {"", ","}:
        raise _problem(path, 'thousands_separator is "" or ","')
    if profile.encoding != AUTO:
        try:
            codecs.lookup(profile.encoding)
        except LookupError:
            raise _problem(path, f"unknown encoding '{profile.encoding}'") from None
    return profile


def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, GateProfile]:
    """Every *.toml profile in a directory, by name (the file name without .toml)."""
    return {path.stem: load_profile(path) for path in sorted(directory.glob("*.toml"))}


@functools.cache
def shipped_profiles() -> Mapping[str, GateProfile]:
    return load_profiles()


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]


def _rows(
    text: str, profile: GateProfile, filename: str, *, header_only: bool = False
) -> tuple[_Row | None, list[_Row]]:
    """(the header, the data rows), each with the file line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=profile.delimiter)
    header: _Row | None = None
    data: list[_Row] = []
    skipped = 0
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
        if header is None and skipped < profile.skip_rows:
            skipped += 1
        elif not any(row.cells):
            continue
        elif header is None:
            header = row
            if header_only:
                break
        elif any(row.cells[0].startswith(marker) for marker in profile.footer_markers):
            break
        else:
            data.append(row)
    return header, data


def header_matches(content: bytes, profile: GateProfile) -> bool:
    """Whether a file's header has every column the profile requires (for detection)."""
    try:
        text, _ = decode(content, profile.encoding)
        header, _ = _rows(text, profile, "", header_only=True)
    except StatementError:  # a file this profile cannot read is not this profile's
        return False
    return header is not None and all(
        name in header.cells
        for field, name in profile.columns.items()
        if field not in profile.optional
    )


def _amount(text: str, profile: GateProfile, what: str) -> int:
    value = text
    separator = profile.thousands_separator
    whole = value.split(".")[0].lstrip("+-")
    if separator and separator in whole:
        if not re.fullmatch(rf"\d{{1,3}}({re.escape(separator)}\d{{3}})+", whole):
            raise ValueError(f"the {what} '{text}' has misplaced thousands separators")
        value = value.replace(separator, "")
    fen = text_to_fen(value, what, shown=text)
    if fen < 0:
        raise ValueError(f"the {what} '{text}' is negative; takings are zero or more")
    return fen


def _parsed(formats: tuple[str, ...], text: str, what: str) -> datetime:
    for form in formats:
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    raise ValueError(f"the {what} '{text}' is not in the form {' or '.join(formats)}")


def _day_row(
    row: _Row, cell: Callable[[str], str], profile: GateProfile, problems: Problems
) -> DayRow | None:
    found = len(problems.items)
    check = _checker(row, problems)
    day_text, amount_text, sessions_text = cell("day"), cell("amount"), cell("sessions")
    day = check(lambda: _parsed(profile.date_formats, day_text, "day").date(), "day", day_text)
    amount = check(lambda: _amount(amount_text, profile, "amount"), "amount", amount_text)
    sessions = None
    if sessions_text:
        if sessions_text.isdecimal() and sessions_text.isascii():
            sessions = int(sessions_text)
        else:
            problems.add(row.line, f"the number of stays '{sessions_text}' is not a whole number")
    if len(problems.items) != found or day is None or amount is None:
        return None
    return DayRow(row.line, day, amount, sessions)


def _session_row(
    row: _Row, cell: Callable[[str], str], profile: GateProfile, problems: Problems
) -> SessionRow | None:
    found = len(problems.items)
    check = _checker(row, problems)
    reference, entered_text = cell("session"), cell("entered_at")
    exited_text, amount_text = cell("exited_at"), cell("amount")
    if not reference:
        problems.add(row.line, "the order number is empty")
    elif len(reference) > MAX_REFERENCE:
        problems.add(row.line, f"the order number is longer than {MAX_REFERENCE} characters")
    times = profile.time_formats
    exited = check(lambda: _parsed(times, exited_text, "exit time"), "exit time", exited_text)
    amount = check(lambda: _amount(amount_text, profile, "amount"), "amount", amount_text)
    if entered_text:
        entered = check(
            lambda: _parsed(times, entered_text, "entry time"), "entry time", entered_text
        )
        if entered is not None and exited is not None and entered > exited:
            problems.add(row.line, f"the stay leaves ({exited_text}) before it enters")
    if len(problems.items) != found or exited is None or amount is None:
        return None
    return SessionRow(row.line, reference, exited.date(), amount)


def _checker(row: _Row, problems: Problems) -> Callable[[Callable[[], _T], str, str], _T | None]:
    """Runs one cell's reader: its ValueError becomes the row's problem, an empty cell too."""

    def check(read: Callable[[], _T], what: str, text: str) -> _T | None:
        if not text:
            problems.add(row.line, f"the {what} is empty")
            return None
        try:
            return read()
        except ValueError as error:
            problems.add(row.line, str(error))
            return None

    return check


def read_takings(
    content: bytes, profile: GateProfile, problems: Problems, filename: str = ""
) -> tuple[list[DayRow], list[SessionRow], str]:
    """The rows of an export read with one profile (per day or per stay, by its layout) and the
    encoding it was read with; each row's problems go to problems."""
    text, encoding = decode(content, profile.encoding, filename)
    header, rows = _rows(text, profile, filename)
    days: list[DayRow] = []
    sessions: list[SessionRow] = []
    if header is None:
        problems.add(0, f"the file has no header row (profile {profile.name})")
        return days, sessions, encoding
    index: dict[str, int] = {}
    for field, name in profile.columns.items():
        if name in header.cells:
            index[field] = header.cells.index(name)
        elif field not in profile.optional:
            problems.add(header.line, f"the header has no column '{name}' (profile {profile.name})")
    if problems:
        return days, sessions, encoding
    if not rows:
        problems.add(header.line, "the file has a header but no rows")
    first_line: dict[object, int] = {}
    for row in rows:
        if any(row.cells[len(header.cells) :]):
            # An unquoted "1,280.00" splits into two cells: read as one, it would be 1 yuan.
            problems.add(
                row.line,
                f"the row has {len(row.cells)} cells, the header {len(header.cells)} "
                "(an amount with a thousands separator must be quoted)",
            )
            continue

        def cell(field: str, row: _Row = row) -> str:
            at = index.get(field)
            return row.cells[at] if at is not None and at < len(row.cells) else ""

        if profile.layout == "per_day":
            day = _day_row(row, cell, profile, problems)
            if day is None:
                continue
            if (seen := first_line.setdefault(day.day, row.line)) != row.line:
                problems.add(row.line, f"the day {day.day.isoformat()} is on line {seen} already")
            days.append(day)
        else:
            stay = _session_row(row, cell, profile, problems)
            if stay is None:
                continue
            if (seen := first_line.setdefault(stay.reference, row.line)) != row.line:
                problems.add(row.line, f"the order {stay.reference} is on line {seen} already")
            sessions.append(stay)
    return days, sessions, encoding


def _refuse(message: str, filename: str) -> StatementError:
    return StatementError([Problem(0, message)], filename)


def parse_takings(
    content: bytes,
    *,
    filename: str = "",
    profile: str | None = None,
    profiles: Mapping[str, GateProfile] | None = None,
) -> TakingsFile:
    """Every row of a gate export, or StatementError with every problem, by line.

    The profile is the one named, else the one whose header columns the file has. profiles
    replaces the shipped ones. Nothing is returned unless every row is sound.
    """
    if len(content) > MAX_BYTES:
        raise _refuse(
            f"the file is {len(content) / 1024 / 1024:.1f} MiB; exports of at most "
            f"{MAX_BYTES // 1024 // 1024} MiB are accepted (export a shorter period)",
            filename,
        )
    if not content.removeprefix(codecs.BOM_UTF8).strip():
        raise _refuse("the file is empty", filename)
    known = shipped_profiles() if profiles is None else profiles
    names = ", ".join(sorted(known)) or "none"
    if profile is not None:
        chosen = known.get(profile)
        if chosen is None:
            raise _refuse(f"there is no takings profile '{profile}' (known: {names})", filename)
    else:
        matching = [p for p in known.values() if header_matches(content, p)]
        if len(matching) != 1:
            raise _refuse(
                f"the file's header matches no takings profile (known: {names}); choose the "
                "profile of the system's layout, or add one"
                if not matching
                else "the file's header matches several takings profiles ("
                + ", ".join(p.name for p in matching)
                + "); choose one",
                filename,
            )
        (chosen,) = matching
    problems = Problems()
    days, sessions, encoding = read_takings(content, chosen, problems, filename)
    problems.raise_if_any(filename)
    return TakingsFile(
        filename=filename,
        profile=chosen.name,
        layout=chosen.layout,
        encoding=encoding,
        sha256=hashlib.sha256(content).hexdigest(),
        days=tuple(days),
        sessions=tuple(sessions),
    )
