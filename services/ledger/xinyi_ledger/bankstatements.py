"""Bank statements of the fund's accounts, imported line by line: the bank's side of the books.

A file is parsed and checked whole (statements.parse_statement) off the event loop; any problem
refuses all of it, by line. Lines an earlier, overlapping statement brought are recognised by
their fingerprint and not stored twice. Each new line is tied to the one entry that moves its
account by its amount around its day; where several fit they are proposed to the company's
accountant; where none does, a debit raises the alarm (money left with no payment behind it)
and a credit waits to be classified.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    any_,
    cast,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from xinyi.ledger.v1 import events_pb2, statements_pb2, statements_pb2_grpc
from xinyi_kit import audit, clock
from xinyi_kit.db import Database, xact_lock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_ledger import domain, splits, store
from xinyi_ledger.fees import Unit, append_events
from xinyi_ledger.money import format_yuan
from xinyi_ledger.statements import (
    MAX_BYTES,
    ParsedFile,
    StatementError,
    parse_statement,
    split_new,
)

ACCOUNTS = ("fund", "maintenance")


class StatementImportRow(store.Base):
    __tablename__ = "statement_imports"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    account: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str] = mapped_column(String(60))
    file_sha256: Mapped[str] = mapped_column(String(64))
    statements: Mapped[int] = mapped_column(Integer)
    lines_new: Mapped[int] = mapped_column(Integer)
    lines_duplicate: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    imported_by: Mapped[uuid.UUID] = mapped_column(UUID)
    statement_account: Mapped[str] = mapped_column(String(64), default="")
    account_checked: Mapped[bool] = mapped_column(Boolean, default=False)


class StatementLineRow(store.Base):
    __tablename__ = "statement_lines"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    line_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    account: Mapped[str] = mapped_column(String(20))
    import_id: Mapped[uuid.UUID] = mapped_column(UUID)
    booked_on: Mapped[date] = mapped_column(Date)
    value_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    bank_reference: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    counterparty_name: Mapped[str] = mapped_column(Text)
    counterparty_account: Mapped[str] = mapped_column(Text)
    narrative: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="open")
    flag: Mapped[str] = mapped_column(String(30), default="")
    proposals: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID), default=list)
    explanation: Mapped[str] = mapped_column(Text, default="")
    match_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    hand_only: Mapped[bool] = mapped_column(Boolean, default=False)


class MatchSetRow(store.Base):
    """Lines and entries that are the same money: one to one, or a split either way."""

    __tablename__ = "statement_match_sets"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    match_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    matched_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MatchEntryRow(store.Base):
    __tablename__ = "statement_match_entries"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    match_id: Mapped[uuid.UUID] = mapped_column(UUID)


class BankAccountRow(store.Base):
    __tablename__ = "bank_accounts"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    account: Mapped[str] = mapped_column(String(20), primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    bank_name: Mapped[str] = mapped_column(String(200))
    holder: Mapped[str] = mapped_column(String(200))
    registered_by: Mapped[uuid.UUID] = mapped_column(UUID)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(slots=True)
class OpenLine:
    """A line as the automatic matching reads and decides it. Not the mapped row: ten thousand
    mapped rows (a large statement's) added 20 MiB to the ledger's resident size, these 5, and
    the matching writes its decisions with statements of its own anyway."""

    estate_id: uuid.UUID
    line_id: uuid.UUID
    account: str
    booked_on: date
    value_on: date | None
    amount_fen: int
    reference: str
    narrative: str
    state: str
    flag: str
    proposals: list[uuid.UUID]
    match_id: uuid.UUID | None
    hand_only: bool


_OPEN_LINE = select(
    *(getattr(StatementLineRow, f.name) for f in dataclasses.fields(OpenLine))
).order_by(StatementLineRow.booked_on)


async def open_lines(session: AsyncSession, *where: ColumnElement[bool]) -> list[OpenLine]:
    """The lines `where` says, in booking order, to match."""
    result = await session.execute(_OPEN_LINE.where(*where))
    return [OpenLine(*row) for row in result]


BANK_ACCOUNT = {"fund": domain.FUND_BANK, "maintenance": domain.MAINTENANCE_BANK}
# An entry is booked on the day of the bank's evidence or a little before (the company posts the
# payment it saw; the bank books it the next working days).
BEFORE, AFTER = timedelta(days=5), timedelta(days=2)


async def _movements(
    session: AsyncSession, estate_id: uuid.UUID, account: str, first: date, last: date
) -> list[splits.Movement]:
    """Entries not yet tied to a line that move the account, booked from a little before `first`
    to a little after `last`: what lines of those days can be."""
    taken = select(MatchEntryRow.entry_id).where(MatchEntryRow.estate_id == estate_id)
    rows = await session.execute(
        select(
            store.Entry.entry_id,
            func.sum(store.EntryLine.amount_fen),
            store.Entry.booked_on,
        )
        .join(
            store.EntryLine,
            (store.EntryLine.estate_id == store.Entry.estate_id)
            & (store.EntryLine.entry_id == store.Entry.entry_id),
        )
        .where(
            store.Entry.estate_id == estate_id,
            store.EntryLine.account_code == BANK_ACCOUNT[account],
            store.Entry.booked_on >= first - BEFORE,
            store.Entry.booked_on <= last + AFTER,
            store.Entry.entry_id.not_in(taken),
        )
        .group_by(store.Entry.entry_id, store.Entry.booked_on, store.Entry.chain_index)
        .order_by(store.Entry.chain_index)
    )
    return [splits.Movement(e, int(amount), day) for e, amount, day in rows.all() if amount]


class _Books:
    """The untied entries that move one account around a matching's lines, read once: the
    statement lock is held, so only this matching ties them, and it notes each one it ties
    rather than asking the database again for every line."""

    def __init__(self, moves: list[splits.Movement]) -> None:
        self.moves = moves  # in chain order, as the proposals and the tie-breaks read them
        self.by_amount: dict[int, list[splits.Movement]] = {}
        for m in moves:
            self.by_amount.setdefault(m.amount_fen, []).append(m)
        self.taken: set[uuid.UUID] = set()
        self.units: dict[uuid.UUID, list[str]] | None = None  # read when first needed

    def around(self, day: date, amount_fen: int | None = None) -> list[splits.Movement]:
        """What a line of `day` can be (of `amount_fen` only, if given), in chain order."""
        pool = self.moves if amount_fen is None else self.by_amount.get(amount_fen, [])
        first, last = day - BEFORE, day + AFTER
        return [m for m in pool if first <= m.booked_on <= last and m.entry_id not in self.taken]

    async def naming(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        line: OpenLine,
        entries: list[uuid.UUID],
    ) -> list[uuid.UUID]:
        """The entries (fee payments) whose unit the line's narrative or reference names, as
        building and number ("2栋1-201")."""
        if self.units is None:
            self.units = await _units_of(session, estate_id, [m.entry_id for m in self.moves])
        text_of_line = " ".join((line.narrative, line.reference)).replace(" ", "")
        return [e for e in entries if any(unit in text_of_line for unit in self.units.get(e, ()))]


async def _units_of(
    session: AsyncSession, estate_id: uuid.UUID, entries: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The units (building and number, spaces dropped) each entry's lines name."""
    rows = await session.execute(
        select(store.EntryLine.entry_id, Unit.building, Unit.number)
        .join(
            Unit,
            (Unit.estate_id == store.EntryLine.estate_id)
            & (Unit.unit_id == store.EntryLine.unit_id),
        )
        .where(
            store.EntryLine.estate_id == estate_id,
            store.EntryLine.entry_id == any_(cast(entries, ARRAY(UUID))),
        )
    )
    out: dict[uuid.UUID, list[str]] = {}
    for entry_id, building, number in rows.all():
        if number:
            out.setdefault(entry_id, []).append(f"{building}{number}".replace(" ", ""))
    return out


def _match_event(
    match_id: uuid.UUID,
    lines: Sequence[StatementLineRow] | Sequence[OpenLine],
    entry_ids: Sequence[uuid.UUID],
    by: str | None,
    reason: str = "",
) -> events_pb2.StatementMatched:
    """A match made (statement_matched) or undone (statement_unmatched, with its reason)."""
    return events_pb2.StatementMatched(
        estate_id=str(lines[0].estate_id),
        match_id=str(match_id),
        account=lines[0].account,
        line_ids=[str(ln.line_id) for ln in lines],
        entry_ids=[str(e) for e in entry_ids],
        amount_fen=sum(ln.amount_fen for ln in lines),
        matched_by=by or "",
        reason=reason,
    )


async def _tie(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    lines: Sequence[StatementLineRow],
    entry_ids: Sequence[uuid.UUID],
    by: str | None,
) -> uuid.UUID:
    """Records that the lines and the entries are the same money, and says so."""
    match_id = uuid.uuid4()
    session.add(
        MatchSetRow(
            estate_id=estate_id,
            match_id=match_id,
            matched_by=uuid.UUID(by) if by else None,
            matched_at=clock.now(),
        )
    )
    await session.flush()
    session.add_all(
        MatchEntryRow(estate_id=estate_id, entry_id=e, match_id=match_id) for e in entry_ids
    )
    for line in lines:
        line.state, line.flag, line.proposals, line.match_id = "matched", "", [], match_id
    await session.flush()
    await outbox.emit(
        session, estate_id, "statement_matched", _match_event(match_id, lines, entry_ids, by)
    )
    return match_id


async def match(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    lines: Sequence[OpenLine],
) -> int:
    """Ties what can be tied, again while that settles more: an entry a later line took is no
    longer a candidate of the earlier lines it was proposed to. Returns how many were tied."""
    books: dict[str, _Books] = {}
    for account in sorted({ln.account for ln in lines if ln.state == "open" and not ln.hand_only}):
        days = [ln.booked_on for ln in lines if ln.account == account]
        moves = await _movements(session, estate_id, account, min(days), max(days))
        books[account] = _Books(moves)
    tied, pending = 0, list(lines)
    events: list[_Event] = []
    while pending:
        now = await _match_once(session, estate_id, pending, books, events)
        if not now:
            break
        tied += now
        pending = [ln for ln in pending if ln.state == "open" and ln.proposals]
    if events:
        # Numbered as written, as an assessment's: numbering thousands at commit (the outbox's
        # deferred trigger) writes each row twice, and the commit was most of a large import.
        # The estate's counter stays locked from here to the commit: the matching is done.
        await append_events(session, outbox, estate_id, (make() for make in events))
    return tied


# An event of the matching, made when it is written (`append_events`): a statement of ten
# thousand lines would otherwise hold ten thousand messages at once, about 12 MiB.
_Event = Callable[[], tuple[str, Message]]


def _matched(match_id: uuid.UUID, line: OpenLine, found: list[uuid.UUID]) -> tuple[str, Message]:
    return "statement_matched", _match_event(match_id, [line], found, None)


def _alarm(estate_id: uuid.UUID, line: OpenLine) -> tuple[str, Message]:
    return "bank_alarm", events_pb2.BankAlarm(
        estate_id=str(estate_id),
        line_id=str(line.line_id),
        account=line.account,
        amount_fen=line.amount_fen,
        booked_on=line.booked_on.isoformat(),
        narrative=line.narrative[:500],
    )


# A line's new state, flag, proposals and match.
_Change = tuple[OpenLine, str, str, list[uuid.UUID], uuid.UUID | None]


async def _match_once(
    session: AsyncSession,
    estate_id: uuid.UUID,
    lines: Sequence[OpenLine],
    books: dict[str, _Books],
    events: list[_Event],
) -> int:
    """Ties each open line to the one entry that is it (the only one of its amount around its
    day, or of those the only one whose unit it names, or the only one on its day); proposes
    what may be (several that fit, or the one set that adds up to it); flags the rest. Returns
    how many were tied; the events to emit are added to `events`, in order.

    Decided in memory, line by line, and written at the end in a few statements whatever the
    number of lines (a statement may have ten thousand)."""
    ties: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    changes: list[_Change] = []
    for line in lines:
        if line.state != "open" or line.hand_only:
            continue
        book = books[line.account]
        fits = book.around(line.booked_on, line.amount_fen)
        found = [m.entry_id for m in fits]
        if len(fits) > 1:
            # Of several that fit: the only one whose unit the bank's text names (owners write
            # their flat in the transfer's remark), else the only one booked on the line's day.
            named = await book.naming(session, estate_id, line, found)
            same_day = [m.entry_id for m in fits if m.booked_on in (line.booked_on, line.value_on)]
            found = named if len(named) == 1 else same_day if len(same_day) == 1 else found
        if len(found) == 1:
            match_id = uuid.uuid4()
            book.taken.update(found)
            ties.append((match_id, found))
            changes.append((line, "matched", "", [], match_id))
            events.append(functools.partial(_matched, match_id, line, found))
            continue
        if found:
            changes.append((line, line.state, "ambiguous", found, line.match_id))
            continue
        parts = splits.propose(line.amount_fen, line.booked_on, book.around(line.booked_on))
        if parts:
            changes.append((line, line.state, "split", parts, line.match_id))
            continue
        if line.amount_fen > 0:
            changes.append((line, line.state, "income_to_classify", [], line.match_id))
            continue
        if line.flag != "unauthorised_debit":
            events.append(functools.partial(_alarm, estate_id, line))
        changes.append((line, line.state, "unauthorised_debit", [], line.match_id))
    await _record(session, estate_id, ties, changes)
    return len(ties)


_INSERT_SETS = text(
    "INSERT INTO statement_match_sets (estate_id, match_id, matched_by, matched_at) "
    "SELECT CAST(:estate AS uuid), s.match_id, NULL, CAST(:at AS timestamptz) "
    "FROM unnest(CAST(:sets AS uuid[])) AS s (match_id)"
)
_INSERT_ENTRIES = text(
    "INSERT INTO statement_match_entries (estate_id, entry_id, match_id) "
    "SELECT CAST(:estate AS uuid), t.entry_id, t.match_id "
    "FROM unnest(CAST(:entries AS uuid[]), CAST(:sets AS uuid[])) AS t (entry_id, match_id)"
)
# A line's proposals travel as an array literal: unnest cannot take an array of arrays.
_UPDATE_LINES = text(
    "UPDATE statement_lines AS l SET state = u.state, flag = u.flag, "
    "proposals = CAST(u.proposals AS uuid[]), match_id = u.match_id "
    "FROM unnest(CAST(:lines AS uuid[]), CAST(:states AS text[]), CAST(:flags AS text[]), "
    "CAST(:proposals AS text[]), CAST(:sets AS uuid[])) "
    "AS u (line_id, state, flag, proposals, match_id) "
    "WHERE l.estate_id = CAST(:estate AS uuid) AND l.line_id = u.line_id"
)


async def _record(
    session: AsyncSession,
    estate_id: uuid.UUID,
    ties: Sequence[tuple[uuid.UUID, list[uuid.UUID]]],
    changes: Sequence[_Change],
) -> None:
    """Writes the matching's decisions, one statement per table, and sets them on the lines."""
    if ties:
        await session.execute(
            _INSERT_SETS, {"estate": estate_id, "sets": [m for m, _ in ties], "at": clock.now()}
        )
        pairs = [(e, m) for m, entries in ties for e in entries]
        await session.execute(
            _INSERT_ENTRIES,
            {"estate": estate_id, "entries": [e for e, _ in pairs], "sets": [m for _, m in pairs]},
        )
    changed = [
        c for c in changes if (c[0].state, c[0].flag, list(c[0].proposals), c[0].match_id) != c[1:]
    ]
    if not changed:
        return
    await session.execute(
        _UPDATE_LINES,
        {
            "estate": estate_id,
            "lines": [line.line_id for line, *_ in changed],
            "states": [state for _, state, _, _, _ in changed],
            "flags": [flag for _, _, flag, _, _ in changed],
            "proposals": ["{" + ",".join(map(str, p)) + "}" for _, _, _, p, _ in changed],
            "sets": [match_id for *_, match_id in changed],
        },
    )
    for line, state, flag, proposals, match_id in changed:
        line.state, line.flag, line.proposals, line.match_id = state, flag, proposals, match_id


def _stamp(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def _import_pb(row: StatementImportRow) -> statements_pb2.StatementImport:
    return statements_pb2.StatementImport(
        import_id=str(row.import_id),
        account=row.account,
        filename=row.filename,
        format=row.format,
        variant=row.variant,
        file_sha256=row.file_sha256,
        statements=row.statements,
        lines_new=row.lines_new,
        lines_duplicate=row.lines_duplicate,
        first_day=row.first_day.isoformat() if row.first_day else "",
        last_day=row.last_day.isoformat() if row.last_day else "",
        imported_at=_stamp(row.imported_at),
        imported_by=str(row.imported_by),
        statement_account=row.statement_account,
        account_checked=row.account_checked,
    )


class StatementApi(statements_pb2_grpc.StatementServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def ImportStatement(
        self, request: statements_pb2.ImportStatementRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.StatementImport:
        principal, estate_id = authorize_estate(Action.STATEMENT_IMPORT, request.estate_id)
        if request.account not in ACCOUNTS:
            raise InvalidArgument("account is fund (the common fund's) or maintenance")
        content = bytes(request.content)
        if len(content) > MAX_BYTES:
            raise InvalidArgument(f"a statement file is at most {MAX_BYTES // 2**20} MiB")
        filename = request.filename.strip()[:255]
        try:
            parsed = await asyncio.to_thread(
                parse_statement, content, filename=filename, profile=request.profile or None
            )
        except StatementError as exc:
            raise InvalidArgument(f"nothing was imported: {exc.summary()}") from None
        foreign = sorted({ln.currency for ln in parsed.lines() if ln.currency != "CNY"})
        if foreign:
            raise InvalidArgument(
                f"nothing was imported: the fund's accounts are in CNY, the file has "
                f"{', '.join(foreign)} lines"
            )
        async with self.db.estate_tx(estate_id) as session:
            # One import of an account at a time: the duplicate check must see the last one.
            await xact_lock(session, f"statements:{estate_id}:{request.account}")
            row, new_ids = await _write_import(
                session, principal.user_id, estate_id, request.account, filename, parsed
            )
            # Written: the matching reads the lines back as stored, and the parsed file (8 MiB
            # for ten thousand lines) is memory the matching can use instead.
            del parsed
            stored = await open_lines(
                session,
                StatementLineRow.estate_id == estate_id,
                StatementLineRow.line_id == any_(cast(new_ids, ARRAY(UUID))),
            )
            await _lock(session, estate_id)
            tied = await match(session, self.outbox, estate_id, stored)
            await self.outbox.emit(
                session,
                estate_id,
                "statement_imported",
                events_pb2.StatementImported(
                    estate_id=str(estate_id),
                    import_id=str(row.import_id),
                    account=row.account,
                    lines_new=row.lines_new,
                    lines_duplicate=row.lines_duplicate,
                    first_day=row.first_day.isoformat() if row.first_day else "",
                    last_day=row.last_day.isoformat() if row.last_day else "",
                ),
            )
            await audit.record(
                session,
                estate_id,
                "statement.import",
                str(row.import_id),
                {"file": row.file_sha256, "new": row.lines_new, "duplicate": row.lines_duplicate},
            )
            await announce(session, self.outbox, estate_id, [row.account])
            reply = _import_pb(row)
            reply.lines_matched, reply.lines_open = tied, len(stored) - tied
            return reply

    async def ListStatementImports(
        self,
        request: statements_pb2.ListStatementImportsRequest,
        context: grpc.aio.ServicerContext,
    ) -> statements_pb2.ListStatementImportsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(StatementImportRow)
                    .where(StatementImportRow.estate_id == estate_id)
                    .order_by(StatementImportRow.imported_at.desc())
                    .limit(500)
                )
            ).scalars()
            return statements_pb2.ListStatementImportsResponse(
                imports=[_import_pb(r) for r in rows]
            )

    async def ListStatementLines(
        self,
        request: statements_pb2.ListStatementLinesRequest,
        context: grpc.aio.ServicerContext,
    ) -> statements_pb2.ListStatementLinesResponse:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        # A payer may be a person: owners see the movement, not who made it.
        counterparties = allowed(principal, Action.VOUCHER_READ_ORIGINAL, estate_id)
        size = request.page_size or 200
        if not 1 <= size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        query = (
            select(StatementLineRow)
            .where(StatementLineRow.estate_id == estate_id)
            .order_by(StatementLineRow.booked_on.desc(), StatementLineRow.line_id)
            .limit(size + 1)
        )
        if request.account:
            if request.account not in ACCOUNTS:
                raise InvalidArgument("account is fund or maintenance")
            query = query.where(StatementLineRow.account == request.account)
        if request.state:
            if request.state not in ("open", "matched", "explained"):
                raise InvalidArgument("state is open, matched or explained")
            query = query.where(StatementLineRow.state == request.state)
        if request.page_token:
            day, _, line = request.page_token.partition("/")
            try:
                after = (date.fromisoformat(day), uuid.UUID(line))
            except ValueError:
                raise InvalidArgument("page_token is not one this service issued") from None
            query = query.where(
                (StatementLineRow.booked_on < after[0])
                | ((StatementLineRow.booked_on == after[0]) & (StatementLineRow.line_id > after[1]))
            )
        async with self.db.estate_tx(estate_id) as session:
            rows = list((await session.execute(query)).scalars())
            more = len(rows) > size
            rows = rows[:size]
            tied = await _entries_of(session, estate_id, rows)
            # A proposal another line has taken since is no longer one.
            proposed = {e for r in rows for e in r.proposals}
            taken = set(
                (
                    await session.execute(
                        select(MatchEntryRow.entry_id).where(
                            MatchEntryRow.estate_id == estate_id,
                            MatchEntryRow.entry_id.in_(proposed),
                        )
                    )
                ).scalars()
                if proposed
                else ()
            )
        return statements_pb2.ListStatementLinesResponse(
            lines=[
                _line_pb(r, counterparties, tied.get(r.match_id, []) if r.match_id else [], taken)
                for r in rows
            ],
            next_page_token=f"{rows[-1].booked_on.isoformat()}/{rows[-1].line_id}"
            if more and rows
            else "",
        )

    async def _line(
        self, session: AsyncSession, estate_id: uuid.UUID, raw: str
    ) -> StatementLineRow:
        try:
            line_id = uuid.UUID(raw)
        except ValueError:
            raise InvalidArgument("line_id is not a valid id") from None
        row = await session.get(StatementLineRow, (estate_id, line_id), with_for_update=True)
        if row is None:
            raise NotFound("no such statement line")
        return row

    async def ConfirmMatch(
        self, request: statements_pb2.ConfirmMatchRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.StatementLine:
        principal, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        (line,) = await self._match(
            estate_id, [request.line_id], [request.entry_id], principal.user_id
        )
        return line

    async def MatchLines(
        self, request: statements_pb2.MatchLinesRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.MatchLinesResponse:
        principal, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        lines = await self._match(
            estate_id, list(request.line_ids), list(request.entry_ids), principal.user_id
        )
        return statements_pb2.MatchLinesResponse(lines=lines)

    async def _match(
        self, estate_id: uuid.UUID, raw_lines: list[str], raw_entries: list[str], by: str
    ) -> list[statements_pb2.StatementLine]:
        line_ids, entry_ids = _ids(raw_lines, "line_ids", 50), _ids(raw_entries, "entry_ids", 200)
        async with self.db.estate_tx(estate_id) as session:
            await _lock(session, estate_id)
            lines = [await self._line(session, estate_id, str(x)) for x in line_ids]
            busy = [ln for ln in lines if ln.state != "open"]
            if busy:
                raise FailedPrecondition(
                    f"the line of {busy[0].booked_on} is {busy[0].state} already"
                )
            accounts = {ln.account for ln in lines}
            if len(accounts) > 1:
                raise InvalidArgument("lines of one account only: the fund's or the maintenance")
            days = [ln.booked_on for ln in lines]
            fits = {
                m.entry_id: m
                for m in await _movements(
                    session, estate_id, lines[0].account, min(days), max(days)
                )
            }
            strange = [e for e in entry_ids if e not in fits]
            if strange:
                raise FailedPrecondition(
                    f"entry {strange[0]} does not fit: an entry must move this bank account, be "
                    f"booked from {BEFORE.days} days before the lines to {AFTER.days} after, and "
                    f"not be tied to another line"
                )
            bank = sum(ln.amount_fen for ln in lines)
            books = sum(fits[e].amount_fen for e in entry_ids)
            if bank != books:
                raise FailedPrecondition(
                    f"the lines come to {format_yuan(bank)} yuan and the entries to "
                    f"{format_yuan(books)}: a match must be the same money on both sides"
                )
            await _tie(session, self.outbox, estate_id, lines, entry_ids, by)
            await audit.record(
                session,
                estate_id,
                "statement.match",
                str(lines[0].match_id),
                {"lines": [str(x) for x in line_ids], "entries": [str(e) for e in entry_ids]},
            )
            await announce(session, self.outbox, estate_id, [lines[0].account])
            return [_line_pb(ln, True, entry_ids) for ln in lines]

    async def UnmatchLine(
        self, request: statements_pb2.UnmatchLineRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.MatchLinesResponse:
        principal, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        reason = request.reason.strip()
        if not reason or len(reason) > 2000:
            raise InvalidArgument("say why the match was wrong (at most 2,000 characters)")
        async with self.db.estate_tx(estate_id) as session:
            await _lock(session, estate_id)
            line = await self._line(session, estate_id, request.line_id)
            if line.match_id is None:
                raise FailedPrecondition(f"the line is {line.state}, not matched")
            match_id = line.match_id
            lines = list(
                (
                    await session.execute(
                        select(StatementLineRow)
                        .where(
                            StatementLineRow.estate_id == estate_id,
                            StatementLineRow.match_id == match_id,
                        )
                        .with_for_update()
                    )
                ).scalars()
            )
            entry_ids = list(
                (
                    await session.execute(
                        select(MatchEntryRow.entry_id).where(
                            MatchEntryRow.estate_id == estate_id, MatchEntryRow.match_id == match_id
                        )
                    )
                ).scalars()
            )
            closed = await _closed_month(session, estate_id, lines, entry_ids)
            if closed:
                raise FailedPrecondition(
                    f"{closed} is closed and its head signed over these lines; correct it in an "
                    f"open month instead"
                )
            # Open again, for the accountant's hand: the service would tie them as before.
            for ln in lines:
                ln.state, ln.match_id, ln.flag, ln.proposals = "open", None, "", []
                ln.hand_only = True
            await session.flush()
            await session.execute(
                delete(MatchEntryRow).where(
                    MatchEntryRow.estate_id == estate_id, MatchEntryRow.match_id == match_id
                )
            )
            await session.execute(
                delete(MatchSetRow).where(
                    MatchSetRow.estate_id == estate_id, MatchSetRow.match_id == match_id
                )
            )
            await self.outbox.emit(
                session,
                estate_id,
                "statement_unmatched",
                _match_event(match_id, lines, entry_ids, principal.user_id, reason),
            )
            await audit.record(
                session,
                estate_id,
                "statement.unmatch",
                str(match_id),
                {"lines": [str(ln.line_id) for ln in lines], "reason": reason[:200]},
            )
            await announce(session, self.outbox, estate_id, [lines[0].account])
            return statements_pb2.MatchLinesResponse(lines=[_line_pb(ln, True, []) for ln in lines])

    async def ExplainLine(
        self, request: statements_pb2.ExplainLineRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.StatementLine:
        _, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        words = request.explanation.strip()
        if not words or len(words) > 2000:
            raise InvalidArgument("explain the line in words owners read (at most 2,000)")
        async with self.db.estate_tx(estate_id) as session:
            line = await self._line(session, estate_id, request.line_id)
            if line.state == "matched":
                raise FailedPrecondition("the line is tied to its entry; nothing to explain")
            # The flag stays: owners read why the line needed words, and the words.
            line.state, line.explanation = "explained", words
            await session.flush()
            await self.outbox.emit(
                session,
                estate_id,
                "statement_line_explained",
                events_pb2.StatementLineExplained(
                    estate_id=str(estate_id),
                    line_id=str(line.line_id),
                    account=line.account,
                    amount_fen=line.amount_fen,
                    booked_on=line.booked_on.isoformat(),
                    explanation=words,
                ),
            )
            await audit.record(
                session, estate_id, "statement.explain", str(line.line_id), {"text": words[:200]}
            )
            await announce(session, self.outbox, estate_id, [line.account])
            return _line_pb(line, True, [])

    async def RematchLines(
        self, request: statements_pb2.RematchLinesRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.RematchLinesResponse:
        _, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            await _lock(session, estate_id)
            lines = await open_lines(
                session, StatementLineRow.estate_id == estate_id, StatementLineRow.state == "open"
            )
            tied = await match(session, self.outbox, estate_id, lines)
            if tied:
                await announce(session, self.outbox, estate_id, [ln.account for ln in lines])
            return statements_pb2.RematchLinesResponse(matched=tied, still_open=len(lines) - tied)

    async def RegisterBankAccount(
        self, request: statements_pb2.RegisterBankAccountRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.BankAccount:
        principal, estate_id = authorize_estate(Action.BANK_ACCOUNT_REGISTER, request.estate_id)
        if request.account not in ACCOUNTS:
            raise InvalidArgument("account is fund (the common fund's) or maintenance")
        number = " ".join(request.number.split())
        if not 6 <= len(account_key(number)) <= 34 or not account_key(number).isalnum():
            raise InvalidArgument(
                "number is the account number as the bank writes it: 6 to 34 letters and digits"
            )
        bank_name, holder = request.bank_name.strip(), request.holder.strip()
        if not bank_name or len(bank_name) > 200 or not holder or len(holder) > 200:
            raise InvalidArgument("name the bank and the account's holder (at most 200 each)")
        async with self.db.estate_tx(estate_id) as session:
            await lock_bank_account(session, estate_id, request.account)
            row = await session.get(BankAccountRow, (estate_id, request.account))
            previous = row.number if row else ""
            if row is None:
                row = BankAccountRow(estate_id=estate_id, account=request.account)
                session.add(row)
            row.number, row.bank_name, row.holder = number, bank_name, holder
            row.registered_by, row.registered_at = uuid.UUID(principal.user_id), clock.now()
            await session.flush()
            await self.outbox.emit(
                session,
                estate_id,
                "bank_account_registered",
                events_pb2.BankAccountRegistered(
                    estate_id=str(estate_id),
                    account=request.account,
                    number=number,
                    bank_name=bank_name,
                    previous_number=previous,
                ),
            )
            await audit.record(
                session,
                estate_id,
                "bank_account.register",
                request.account,
                {"number": number, "bank": bank_name, "holder": holder, "previous": previous},
            )
            return _account_pb(row)

    async def ListBankAccounts(
        self, request: statements_pb2.ListBankAccountsRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.ListBankAccountsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(BankAccountRow)
                    .where(BankAccountRow.estate_id == estate_id)
                    .order_by(BankAccountRow.account)
                )
            ).scalars()
            return statements_pb2.ListBankAccountsResponse(accounts=[_account_pb(r) for r in rows])


def account_key(number: str) -> str:
    """An account number as compared: banks print them grouped by spaces or hyphens."""
    return "".join(ch for ch in number.upper() if ch not in " -")


def _account_pb(row: BankAccountRow) -> statements_pb2.BankAccount:
    return statements_pb2.BankAccount(
        account=row.account,
        number=row.number,
        bank_name=row.bank_name,
        holder=row.holder,
        registered_at=_stamp(row.registered_at),
        registered_by=str(row.registered_by),
    )


def _ids(raw: list[str], name: str, most: int) -> list[uuid.UUID]:
    if not raw:
        raise InvalidArgument(f"{name} must name at least one")
    if len(raw) > most:
        raise InvalidArgument(f"{name}: at most {most} in one match")
    try:
        ids = [uuid.UUID(x) for x in raw]
    except ValueError:
        raise InvalidArgument(f"{name} holds an id that is not valid") from None
    if len(set(ids)) != len(ids):
        raise InvalidArgument(f"{name} names one twice")
    return ids


async def _closed_month(
    session: AsyncSession,
    estate_id: uuid.UUID,
    lines: Sequence[StatementLineRow],
    entry_ids: Sequence[uuid.UUID],
) -> str | None:
    """The first closed month among the lines' days and the entries' periods, if any."""
    months = {domain.period_of(ln.booked_on) for ln in lines}
    if entry_ids:
        months |= set(
            (
                await session.execute(
                    select(store.Entry.period).where(
                        store.Entry.estate_id == estate_id, store.Entry.entry_id.in_(entry_ids)
                    )
                )
            ).scalars()
        )
    closed = (
        await session.execute(
            select(store.Period.period)
            .where(store.Period.estate_id == estate_id, store.Period.period.in_(months))
            .order_by(store.Period.period)
            .limit(1)
        )
    ).scalar_one_or_none()
    return closed


async def reconciliation(
    session: AsyncSession, estate_id: uuid.UUID, account: str
) -> tuple[date | None, date | None, int]:
    """The account against the bank: the statements' last day, the day before the first line
    still open (or that last day, none being open), and how many lines are open."""
    last, first_open, open_lines = (
        await session.execute(
            select(
                func.max(StatementLineRow.booked_on),
                func.min(StatementLineRow.booked_on).filter(StatementLineRow.state == "open"),
                func.count().filter(StatementLineRow.state == "open"),
            ).where(StatementLineRow.estate_id == estate_id, StatementLineRow.account == account)
        )
    ).one()
    if last is None:
        return None, None, 0
    reconciled = first_open - timedelta(days=1) if first_open is not None else last
    return last, reconciled, int(open_lines)


async def announce(
    session: AsyncSession, outbox: Outbox, estate_id: uuid.UUID, accounts: Sequence[str]
) -> None:
    """Tells readers (disclosure) how far each account now reconciles with the bank."""
    for account in sorted(set(accounts)):
        through, reconciled, open_lines = await reconciliation(session, estate_id, account)
        alarms = (
            await session.execute(
                select(func.count()).where(
                    StatementLineRow.estate_id == estate_id,
                    StatementLineRow.account == account,
                    StatementLineRow.state == "open",
                    StatementLineRow.flag == "unauthorised_debit",
                )
            )
        ).scalar_one()
        await outbox.emit(
            session,
            estate_id,
            "reconciliation_changed",
            events_pb2.ReconciliationChanged(
                estate_id=str(estate_id),
                account=account,
                statement_through=through.isoformat() if through else "",
                reconciled_through=reconciled.isoformat() if reconciled else "",
                open_lines=open_lines,
                open_alarms=int(alarms),
            ),
        )


# One array a column, whatever the number of lines: as a row of parameters a line, the driver's
# batches of a ten-thousand-line statement held several times its size at once.
_INSERT_LINES = text(
    "INSERT INTO statement_lines (estate_id, account, import_id, line_id, booked_on, value_on, "
    "amount_fen, bank_reference, reference, counterparty_name, counterparty_account, narrative, "
    "fingerprint) "
    "SELECT CAST(:estate AS uuid), :account, CAST(:import AS uuid), l.* FROM unnest("
    "CAST(:ids AS uuid[]), CAST(:booked AS date[]), CAST(:value AS date[]), "
    "CAST(:amounts AS bigint[]), CAST(:bank_refs AS text[]), CAST(:refs AS text[]), "
    "CAST(:names AS text[]), CAST(:accounts AS text[]), CAST(:narratives AS text[]), "
    "CAST(:fingerprints AS text[])) AS l"
)


async def _write_import(
    session: AsyncSession,
    user_id: str,
    estate_id: uuid.UUID,
    account: str,
    filename: str,
    parsed: ParsedFile,
) -> tuple[StatementImportRow, list[uuid.UUID]]:
    """Records the import of a parsed file and writes its lines not seen before (the account's
    import lock held); returns the import and the new lines' ids."""
    registered = await session.get(BankAccountRow, (estate_id, account))
    stated = sorted({s.account for s in parsed.statements if s.account.strip()})
    if registered is not None:
        wrong = [a for a in stated if account_key(a) != account_key(registered.number)]
        if wrong:
            raise FailedPrecondition(
                f"nothing was imported: the file holds a statement of account "
                f"{', '.join(wrong)}, but the estate's {account} account is "
                f"registered as {registered.number} ({registered.bank_name})"
            )
    lines = list(parsed.lines())
    known = set(
        (
            await session.execute(
                select(StatementLineRow.fingerprint).where(
                    StatementLineRow.estate_id == estate_id,
                    StatementLineRow.account == account,
                    # One array, not a parameter a line: a file may hold more lines than a
                    # statement may have parameters (32,767).
                    StatementLineRow.fingerprint
                    == any_(cast([ln.fingerprint for ln in lines], ARRAY(Text))),
                )
            )
        ).scalars()
    )
    split = split_new(lines, known)
    days = [ln.booking_date for ln in lines]
    row = StatementImportRow(
        estate_id=estate_id,
        import_id=uuid.uuid4(),
        account=account,
        filename=filename or "statement",
        format=parsed.format,
        variant=parsed.variant[:60],
        file_sha256=parsed.sha256,
        statements=len(parsed.statements),
        lines_new=len(split.new),
        lines_duplicate=len(split.duplicates),
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        imported_at=clock.now(),
        imported_by=uuid.UUID(user_id),
        statement_account=", ".join(stated)[:64],
        account_checked=registered is not None and bool(stated),
    )
    session.add(row)
    await session.flush()
    new_ids = [uuid.uuid4() for _ in split.new]
    if new_ids:
        new = split.new
        await session.execute(
            _INSERT_LINES,
            {
                "estate": estate_id,
                "account": account,
                "import": row.import_id,
                "ids": new_ids,
                "booked": [ln.booking_date for ln in new],
                "value": [ln.value_date for ln in new],
                "amounts": [ln.amount_fen for ln in new],
                "bank_refs": [ln.bank_reference for ln in new],
                "refs": [ln.reference for ln in new],
                "names": [ln.counterparty_name for ln in new],
                "accounts": [ln.counterparty_account for ln in new],
                "narratives": [ln.narrative for ln in new],
                "fingerprints": [ln.fingerprint for ln in new],
            },
        )
    return row, new_ids


async def lock_bank_account(session: AsyncSession, estate_id: uuid.UUID, account: str) -> None:
    """Writers of an estate's account take turns (a registration, a signed trust contract's
    account): a row lock cannot cover an account not registered yet, and two first writes at
    once both inserted it, one answering 500."""
    await xact_lock(session, f"bank-account:{estate_id}:{account}")


async def _lock(session: AsyncSession, estate_id: uuid.UUID) -> None:
    await xact_lock(session, f"statement-match:{estate_id}")


async def _entries_of(
    session: AsyncSession, estate_id: uuid.UUID, lines: Sequence[StatementLineRow]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The entries each matched line is (with the other lines of its set, if a split)."""
    sets = {ln.match_id for ln in lines if ln.match_id is not None}
    if not sets:
        return {}
    rows = await session.execute(
        select(MatchEntryRow.match_id, MatchEntryRow.entry_id).where(
            MatchEntryRow.estate_id == estate_id, MatchEntryRow.match_id.in_(sets)
        )
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for match_id, entry_id in rows.all():
        out.setdefault(match_id, []).append(entry_id)
    return out


def _line_pb(
    r: StatementLineRow,
    counterparties: bool,
    entries: Sequence[uuid.UUID],
    taken: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset(),
) -> statements_pb2.StatementLine:
    return statements_pb2.StatementLine(
        line_id=str(r.line_id),
        account=r.account,
        booked_on=r.booked_on.isoformat(),
        value_on=r.value_on.isoformat() if r.value_on else "",
        amount_fen=r.amount_fen,
        bank_reference=r.bank_reference,
        reference=r.reference,
        counterparty_name=r.counterparty_name if counterparties else "",
        counterparty_account=r.counterparty_account if counterparties else "",
        narrative=r.narrative,
        state=r.state,
        import_id=str(r.import_id),
        flag=r.flag,
        proposed_entry_ids=[]
        if r.flag == "split" and taken.intersection(r.proposals)
        else [str(e) for e in r.proposals if e not in taken],
        entry_ids=[str(e) for e in entries],
        explanation=r.explanation,
        match_id=str(r.match_id) if r.match_id else "",
    )
