"""Pure rules for importing an estate's buildings, units and owners from an uploaded CSV file."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

UnitKey = tuple[str, str]  # (building, unit number)

DEFAULT_MAX_ROWS = 200_000
MAX_PROBLEMS = 500
MAX_OWNERS_PER_UNIT = 20
MAX_DETAIL_LINES = 200
MAX_AREA_CENTI_M2 = 100_000 * 100  # exclusive: no single unit is anywhere near 100,000 m²
QUOTE_LIMIT = 40

NOT_UTF8 = "the file is not UTF-8; save it as 'CSV UTF-8' and upload again"


@dataclass(frozen=True, slots=True)
class UnitRow:
    building: str
    number: str
    unit_type: str  # residential / commercial / parking / other
    area_centi_m2: int  # exclusive area in hundredths of a square metre


@dataclass(frozen=True, slots=True)
class OwnerRow:
    key: str
    kind: str  # person / organisation / developer
    name: str
    phone: str  # "" when absent
    id_number: str  # "" when absent


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # the header is line 1; 0 means the whole file
    column: str  # the column's header as written in the file; "" for the whole line or file
    message: str


class ImportRejected(Exception):
    """The file has problems; nothing of it may be imported."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(
            f"{len(problems)} problem(s) in the file; first: line {first.line}: {first.message}"
        )
        self.problems = problems


@dataclass(frozen=True)
class Holdings:
    """What a file (or the database) says about an estate's units and who owns them."""

    units: dict[UnitKey, UnitRow]
    owners: dict[str, OwnerRow]
    holders: dict[UnitKey, frozenset[str]]  # owner keys per unit


@dataclass(frozen=True)
class Transfer:
    unit: UnitKey
    before: frozenset[str]
    after: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    alias: str
    required: bool
    meaning: str


_COLUMNS = (
    _Column("building", "楼栋", True, 'building name or number, e.g. "3栋" or "3" (1–50 chars)'),
    _Column("unit", "房号", True, 'unit number within the building, e.g. "2-301" (1–50 chars)'),
    _Column(
        "unit_type",
        "类型",
        True,
        "residential / commercial / parking / other (or 住宅 / 商业 or 商铺 / 车位 / 其他)",
    ),
    _Column(
        "exclusive_area_m2",
        "专有面积",
        True,
        'registered exclusive area in m², e.g. "89.5": more than 0, less than 100000, '
        "at most 2 decimals",
    ),
    _Column("owner_name", "业主", True, "the owner's name (1–100 chars)"),
    _Column(
        "owner_kind",
        "业主类型",
        True,
        "person / organisation / developer (or 个人 / 单位 or 企业 / 开发商 or 开发企业)",
    ),
    _Column(
        "phone",
        "电话",
        False,
        "mainland mobile number, 11 digits starting 13–19; spaces, dashes and a +86 prefix "
        "are allowed",
    ),
    _Column(
        "id_number",
        "证件号",
        False,
        "persons only: 18-character resident ID number (GB 11643-1999), checksum verified",
    ),
)
_BY_NAME = {column.name: column for column in _COLUMNS}
_BY_LABEL = {label.casefold(): c for c in _COLUMNS for label in (c.name, c.alias)}

COLUMNS_DOC = "\n".join(
    [
        "| column | 中文 | required | meaning |",
        "|---|---|---|---|",
        *(
            f"| `{c.name}` | {c.alias} | {'yes' if c.required else 'no'} | {c.meaning} |"
            for c in _COLUMNS
        ),
        "",
        "- Save the file as CSV UTF-8 (with or without BOM). The first line is the header; "
        "columns are recognised by the English or Chinese name, in any order.",
        "- One row per unit and owner: several rows for the same unit are its co-owners "
        f"(at most {MAX_OWNERS_PER_UNIT}), who share one vote. The developer's unsold units are "
        "rows whose owner kind is developer.",
        "- An owner is recognised across rows by ID number, else by phone, else by name "
        "(organisations and developers always by name).",
        "- The whole file is checked first: if any row has a problem, nothing is imported and "
        "every problem is listed by line and column.",
        "- Importing the same file again changes nothing. Units and owners missing from the "
        "file are kept as they are, so a file may cover just part of an estate.",
        "- An empty phone or ID number cell never erases a phone or ID number already known.",
    ]
)

_UNIT_TYPES = {
    "residential": "residential",
    "住宅": "residential",
    "commercial": "commercial",
    "商业": "commercial",
    "商铺": "commercial",
    "parking": "parking",
    "车位": "parking",
    "other": "other",
    "其他": "other",
}
_OWNER_KINDS = {
    "person": "person",
    "个人": "person",
    "organisation": "organisation",
    "organization": "organisation",
    "单位": "organisation",
    "企业": "organisation",
    "developer": "developer",
    "开发商": "developer",
    "开发企业": "developer",
}

# ASCII only: str.isdigit() would let full-width and other Unicode digits through.
_AREA = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_PHONE_SEPARATORS = re.compile(r"[\s\-]")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of a resident ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def owner_key(kind: str, name: str, phone: str, id_number: str) -> str:
    """How an owner is recognised across rows and against the database."""
    if kind != "person":
        return f"org:{name}"
    if id_number:
        return f"id:{id_number}"
    if phone:
        return f"phone:{phone}"
    return f"name:{name}"


def format_area(area_centi_m2: int) -> str:
    return f"{area_centi_m2 // 100}.{area_centi_m2 % 100:02d}"


def _quote(value: str) -> str:
    return f'"{value[:QUOTE_LIMIT]}…"' if len(value) > QUOTE_LIMIT else f'"{value}"'


class _Full(Exception):
    """Enough problems collected: more would bury the first ones."""


class _Parser:
    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.problems: list[Problem] = []
        self.index: dict[str, int] = {}  # column name -> cell position
        self.labels: dict[str, str] = {}  # column name -> header as written
        self.position_labels: dict[int, str] = {}  # cell position -> header as written
        self.width = 0  # cells up to the last named column
        self.unnamed: list[int] = []  # positions of blank header cells before `width`
        self.units: dict[UnitKey, UnitRow] = {}
        self.unit_lines: dict[UnitKey, int] = {}
        self.owners: dict[str, OwnerRow] = {}
        self.owner_lines: dict[str, int] = {}
        self.holders: dict[UnitKey, set[str]] = {}
        self.holding_lines: dict[tuple[UnitKey, str], int] = {}
        self.rows = 0

    def report(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(line, column, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Full

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def run(self, text: str) -> None:
        records = _records(text)
        try:
            for line, cells in records:
                if not self.index:
                    if not self.read_header(line, cells):
                        return
                    continue
                self.rows += 1
                if self.rows > self.max_rows:
                    self.report(
                        line,
                        "",
                        f"too many rows: at most {self.max_rows} per file; "
                        "split it into several files",
                    )
                    return
                self.read_row(line, cells)
            if not self.index:
                self.report(1, "", "the file is empty; the first line must be the header")
        except _BadCsv as bad:
            self.report(bad.line, "", bad.message)
        except _Full:
            pass

    def read_header(self, line: int, cells: list[str]) -> bool:
        blank: list[int] = []
        for position, raw in enumerate(cells):
            label = raw.strip()
            if not label:
                # Spreadsheets pad the header to the widest row they ever saw.
                blank.append(position)
                continue
            column = _BY_LABEL.get(label.casefold())
            if column is None:
                known = ", ".join(c.name for c in _COLUMNS)
                self.report(line, label, f"unknown column {_quote(label)}; the columns are {known}")
            elif column.name in self.index:
                self.report(line, label, f"column {column.name} appears twice")
            else:
                self.index[column.name] = position
                self.labels[column.name] = label
                self.position_labels[position] = label
        for column in _COLUMNS:
            if column.required and column.name not in self.index:
                self.report(
                    line,
                    column.name,
                    f"missing column {column.name} ({column.alias}) in the header",
                )
        if self.problems or not self.index:
            return False
        self.width = max(self.index.values()) + 1
        self.unnamed = [position for position in blank if position < self.width]
        return True

    def read_row(self, line: int, cells: list[str]) -> None:
        for position, value in enumerate(cells):
            if "\n" in value or "\r" in value:
                # An unclosed quote swallows the following lines into one cell.
                self.report(
                    line,
                    self.position_labels.get(position, ""),
                    "value spans several lines; check for a missing closing quote",
                )
                return
        if len(cells) < self.width or any(cell.strip() for cell in cells[self.width :]):
            found = len(cells)
            while found > self.width and not cells[found - 1].strip():
                found -= 1
            self.report(line, "", f"expected {self.width} cells like the header, found {found}")
            return
        before = len(self.problems)
        for position in self.unnamed:
            if cells[position].strip():
                self.report(
                    line,
                    "",
                    f"value {_quote(cells[position].strip())} in column {position + 1}, "
                    "which has no header",
                )
        if len(self.problems) > before:
            return

        def cell(name: str) -> str:
            return cells[self.index[name]].strip() if name in self.index else ""

        building = self.text(line, "building", cell("building"), 50)
        number = self.text(line, "unit", cell("unit"), 50)
        unit_type = self.choice(line, "unit_type", cell("unit_type"), _UNIT_TYPES)
        area = self.area(line, cell("exclusive_area_m2"))
        name = self.text(line, "owner_name", cell("owner_name"), 100)
        kind = self.choice(line, "owner_kind", cell("owner_kind"), _OWNER_KINDS)
        phone = self.phone(line, cell("phone"))
        id_number = self.id_number(line, cell("id_number"), kind)
        if (
            building is None
            or number is None
            or unit_type is None
            or area is None
            or name is None
            or kind is None
            or phone is None
            or id_number is None
        ):
            # Cross-row checks on a half-read row would only add noise.
            return
        unit = UnitRow(building, number, unit_type, area)
        owner = OwnerRow(owner_key(kind, name, phone, id_number), kind, name, phone, id_number)
        self.add_unit(line, unit)
        self.add_owner(line, owner)
        self.add_holding(line, unit, owner)

    def text(self, line: int, name: str, value: str, limit: int) -> str | None:
        if not value:
            self.report(line, self.label(name), f"{name} is empty")
            return None
        if len(value) > limit:
            self.report(
                line, self.label(name), f"{name} {_quote(value)} is longer than {limit} characters"
            )
            return None
        return value

    def choice(self, line: int, name: str, value: str, allowed: Mapping[str, str]) -> str | None:
        if not value:
            self.report(line, self.label(name), f"{name} is empty")
            return None
        chosen = allowed.get(value.casefold())
        if chosen is None:
            options = " / ".join(dict.fromkeys(allowed.values()))
            self.report(line, self.label(name), f"{name} {_quote(value)} is not one of {options}")
        return chosen

    def area(self, line: int, value: str) -> int | None:
        column = self.label("exclusive_area_m2")
        if not value:
            self.report(line, column, "exclusive_area_m2 is empty")
            return None
        if not _AREA.fullmatch(value):
            self.report(
                line, column, f"area {_quote(value)} is not a number of m² like 89.5 (no units)"
            )
            return None
        try:
            area = Decimal(value)
        except InvalidOperation:
            self.report(line, column, f"area {_quote(value)} is not a number")
            return None
        centi = area * 100
        if centi != centi.to_integral_value():
            self.report(line, column, f"area {_quote(value)} has more than 2 decimals")
            return None
        if not 0 < centi < MAX_AREA_CENTI_M2:
            self.report(
                line, column, f"area {_quote(value)} must be more than 0 and less than 100000 m²"
            )
            return None
        return int(centi)

    def phone(self, line: int, value: str) -> str | None:
        if not value:
            return ""
        digits = value.removeprefix("+86")
        digits = _PHONE_SEPARATORS.sub("", digits)
        if not _MOBILE.fullmatch(digits):
            self.report(
                line,
                self.label("phone"),
                f"phone {_quote(value)} is not a mobile number of 11 digits starting 13–19",
            )
            return None
        return digits

    def id_number(self, line: int, value: str, kind: str | None) -> str | None:
        column = self.label("id_number")
        if not value:
            return ""
        if kind is not None and kind != "person":
            self.report(line, column, f"ID number is for persons only; leave it empty for a {kind}")
            return None
        normal = value.upper()
        if not _ID_SHAPE.fullmatch(normal):
            hint = (
                "; format the column as text so the spreadsheet keeps all digits"
                if "E+" in normal
                else ""
            )
            self.report(
                line,
                column,
                f"ID number {_quote(value)} must be 17 digits then a digit or X{hint}",
            )
            return None
        if id_check_char(normal[:17]) != normal[17]:
            self.report(
                line, column, f"ID number {_quote(value)} fails its checksum; check for a typo"
            )
            return None
        return normal

    def add_unit(self, line: int, unit: UnitRow) -> None:
        key = (unit.building, unit.number)
        known = self.units.get(key)
        if known is None:
            self.units[key] = unit
            self.unit_lines[key] = line
            return
        first = self.unit_lines[key]
        where = f"unit {unit.building} {unit.number}"
        if known.unit_type != unit.unit_type:
            self.report(
                line,
                self.label("unit_type"),
                f"{where} is {known.unit_type} on line {first} but {unit.unit_type} here",
            )
        if known.area_centi_m2 != unit.area_centi_m2:
            self.report(
                line,
                self.label("exclusive_area_m2"),
                f"{where} has area {format_area(known.area_centi_m2)} on line {first} "
                f"but {format_area(unit.area_centi_m2)} here",
            )

    def add_owner(self, line: int, owner: OwnerRow) -> None:
        known = self.owners.get(owner.key)
        if known is None:
            self.owners[owner.key] = owner
            self.owner_lines[owner.key] = line
            return
        first = self.owner_lines[owner.key]
        who = _describe_key(owner.key)
        if known.name != owner.name:
            self.report(
                line,
                self.label("owner_name"),
                f"{who} is named {_quote(known.name)} on line {first} but {_quote(owner.name)} "
                "here",
            )
        elif known.kind != owner.kind:
            self.report(
                line,
                self.label("owner_name"),
                f"{who} is a {known.kind} on line {first} but a {owner.kind} here",
            )
        elif known.phone and owner.phone and known.phone != owner.phone:
            self.report(
                line,
                self.label("phone"),
                f"{who} has phone {known.phone} on line {first} but {owner.phone} here",
            )
        elif owner.phone and not known.phone:
            # A phone given on any of the owner's rows counts; repeating it is not required.
            self.owners[owner.key] = OwnerRow(
                known.key, known.kind, known.name, owner.phone, known.id_number
            )

    def add_holding(self, line: int, unit: UnitRow, owner: OwnerRow) -> None:
        key = (unit.building, unit.number)
        first = self.holding_lines.get((key, owner.key))
        if first is not None:
            self.report(
                line,
                self.label("owner_name"),
                f"duplicate row: same unit and owner as line {first}",
            )
            return
        self.holding_lines[(key, owner.key)] = line
        holders = self.holders.setdefault(key, set())
        holders.add(owner.key)
        if len(holders) == MAX_OWNERS_PER_UNIT + 1:
            self.report(
                line,
                self.label("owner_name"),
                f"unit {unit.building} {unit.number} has more than {MAX_OWNERS_PER_UNIT} owners",
            )

    def holdings(self) -> Holdings:
        return Holdings(
            units=self.units,
            owners=self.owners,
            holders={key: frozenset(keys) for key, keys in self.holders.items()},
        )


def _describe_key(key: str) -> str:
    kind, _, value = key.partition(":")
    return {
        "id": f"the owner with ID {value}",
        "phone": f"the owner with phone {value}",
        "name": f"the person {_quote(value)}",
        "org": f"the organisation {_quote(value)}",
    }[kind]


class _BadCsv(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            message = f"cannot read this line as CSV ({error}); check its quotes"
            raise _BadCsv(start, message) from error
        line, start = start, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield line, cells


def parse(data: bytes, *, max_rows: int = DEFAULT_MAX_ROWS) -> Holdings:
    """Read a whole file; raise ImportRejected listing every problem (up to 500) if any."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([Problem(0, "", NOT_UTF8)]) from None
    parser = _Parser(max_rows)
    parser.run(text)
    if parser.problems:
        raise ImportRejected(parser.problems)
    return parser.holdings()


@dataclass(frozen=True)
class ChangeSet:
    """What importing a file changes; units and owners absent from the file are left alone."""

    buildings_added: tuple[str, ...]
    units_added: tuple[UnitRow, ...]
    new_unit_holders: tuple[tuple[UnitKey, frozenset[str]], ...]  # owner keys of units_added
    units_changed: tuple[tuple[UnitRow, UnitRow], ...]  # (old, new)
    owners_added: tuple[OwnerRow, ...]
    owners_changed: tuple[tuple[OwnerRow, OwnerRow], ...]  # (old, new), same key
    transfers: tuple[Transfer, ...]  # existing units whose holders changed
    units_unchanged: int

    @property
    def empty(self) -> bool:
        return not (
            self.buildings_added
            or self.units_added
            or self.units_changed
            or self.owners_added
            or self.owners_changed
            or self.transfers
        )

    def details(self, owner_names: Mapping[str, str]) -> list[str]:
        """Lines for people, at most 200; owner_names maps owner keys known before the import."""
        names = dict(owner_names)
        names.update((owner.key, owner.name) for owner in self.owners_added)
        names.update((new.key, new.name) for _, new in self.owners_changed)

        def who(keys: Iterable[str]) -> str:
            return ", ".join(sorted(_name_of(key, names) for key in keys)) or "no owner"

        new_holders = dict(self.new_unit_holders)
        lines = [f"new building {building}" for building in self.buildings_added]
        lines += [
            f"new unit {u.building} {u.number} ({u.unit_type}, {format_area(u.area_centi_m2)} m²): "
            + who(new_holders.get((u.building, u.number), frozenset()))
            for u in self.units_added
        ]
        for old, new in self.units_changed:
            parts = []
            if old.unit_type != new.unit_type:
                parts.append(f"type {old.unit_type} → {new.unit_type}")
            if old.area_centi_m2 != new.area_centi_m2:
                parts.append(
                    f"area {format_area(old.area_centi_m2)} → {format_area(new.area_centi_m2)} m²"
                )
            lines.append(f"{new.building} {new.number}: {'; '.join(parts)}")
        lines += [f"new owner {owner.name} ({owner.kind})" for owner in self.owners_added]
        for old_owner, new_owner in self.owners_changed:
            # Phone and ID values stay out: these lines end up in logs and notices.
            changes = []
            if old_owner.name != new_owner.name:
                changes.append(f"name → {new_owner.name}")
            if old_owner.kind != new_owner.kind:
                changes.append(f"kind {old_owner.kind} → {new_owner.kind}")
            if old_owner.phone != new_owner.phone:
                changes.append("phone updated")
            if old_owner.id_number != new_owner.id_number:
                changes.append("ID number updated")
            lines.append(f"owner {old_owner.name}: {'; '.join(changes)}")
        lines += [
            f"{t.unit[0]} {t.unit[1]}: {who(t.before)} → {who(t.after)}" for t in self.transfers
        ]
        if len(lines) > MAX_DETAIL_LINES:
            more = len(lines) - (MAX_DETAIL_LINES - 1)
            lines = [*lines[: MAX_DETAIL_LINES - 1], f"… and {more} more changes"]
        return lines


def _name_of(key: str, names: Mapping[str, str]) -> str:
    known = names.get(key)
    if known is not None:
        return known
    kind, _, value = key.partition(":")
    # A name key carries the name; an ID or phone key must not leak into a notice.
    return value if kind in ("name", "org") else "(unnamed owner)"


def diff(current: Holdings, incoming: Holdings) -> ChangeSet:
    """What applying `incoming` to `current` changes; re-applying the same file changes nothing."""
    known_buildings = {building for building, _ in current.units}
    units_added: list[UnitRow] = []
    units_changed: list[tuple[UnitRow, UnitRow]] = []
    transfers: list[Transfer] = []
    unchanged = 0
    for key in sorted(incoming.units):
        new = incoming.units[key]
        after = incoming.holders.get(key, frozenset())
        old = current.units.get(key)
        if old is None:
            units_added.append(new)
            continue
        before = current.holders.get(key, frozenset())
        if old != new:
            units_changed.append((old, new))
        if before != after:
            transfers.append(Transfer(key, before, after))
        if old == new and before == after:
            unchanged += 1

    owners_added: list[OwnerRow] = []
    owners_changed: list[tuple[OwnerRow, OwnerRow]] = []
    for owner_id in sorted(incoming.owners):
        incoming_owner = incoming.owners[owner_id]
        known = current.owners.get(owner_id)
        if known is None:
            owners_added.append(incoming_owner)
            continue
        merged = OwnerRow(
            known.key,
            incoming_owner.kind,
            incoming_owner.name,
            # An empty cell means "not given here", not "forget it".
            incoming_owner.phone or known.phone,
            incoming_owner.id_number or known.id_number,
        )
        if merged != known:
            owners_changed.append((known, merged))

    return ChangeSet(
        buildings_added=tuple(sorted({u.building for u in units_added} - known_buildings)),
        units_added=tuple(units_added),
        new_unit_holders=tuple(
            ((u.building, u.number), incoming.holders.get((u.building, u.number), frozenset()))
            for u in units_added
        ),
        units_changed=tuple(units_changed),
        owners_added=tuple(owners_added),
        owners_changed=tuple(owners_changed),
        transfers=tuple(transfers),
        units_unchanged=unchanged,
    )
