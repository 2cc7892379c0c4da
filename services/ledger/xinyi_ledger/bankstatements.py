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
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import BigInteger, Date, DateTime, Integer, String, Text, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.ledger.v1 import events_pb2, statements_pb2, statements_pb2_grpc
from xinyi_kit import audit, clock
from xinyi_kit.db import Database
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_ledger import domain, store
from xinyi_ledger.statements import MAX_BYTES, StatementError, parse_statement, split_new

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


class StatementMatchRow(store.Base):
    __tablename__ = "statement_matches"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    line_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    matched_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


BANK_ACCOUNT = {"fund": domain.FUND_BANK, "maintenance": domain.MAINTENANCE_BANK}
# An entry is booked on the day of the bank's evidence or a little before (the company posts the
# payment it saw; the bank books it the next working days).
BEFORE, AFTER = timedelta(days=5), timedelta(days=2)


async def _candidates(
    session: AsyncSession, estate_id: uuid.UUID, line: StatementLineRow
) -> list[uuid.UUID]:
    """Entries that move the line's account by exactly its amount, around its day, not yet tied
    to another line."""
    taken = select(StatementMatchRow.entry_id).where(StatementMatchRow.estate_id == estate_id)
    rows = await session.execute(
        select(store.Entry.entry_id)
        .join(
            store.EntryLine,
            (store.EntryLine.estate_id == store.Entry.estate_id)
            & (store.EntryLine.entry_id == store.Entry.entry_id),
        )
        .where(
            store.Entry.estate_id == estate_id,
            store.EntryLine.account_code == BANK_ACCOUNT[line.account],
            store.EntryLine.amount_fen == line.amount_fen,
            store.Entry.booked_on >= line.booked_on - BEFORE,
            store.Entry.booked_on <= line.booked_on + AFTER,
            store.Entry.entry_id.not_in(taken),
        )
        .order_by(store.Entry.chain_index)
    )
    return list(dict.fromkeys(rows.scalars()))


async def match(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    lines: Sequence[StatementLineRow],
    actor: str | None,
) -> int:
    """Ties each open line to the one entry that is it; flags the rest. Returns how many tied."""
    tied = 0
    for line in lines:
        if line.state != "open":
            continue
        found = await _candidates(session, estate_id, line)
        if len(found) == 1:
            session.add(
                StatementMatchRow(
                    estate_id=estate_id,
                    line_id=line.line_id,
                    entry_id=found[0],
                    matched_by=None,
                    matched_at=clock.now(),
                )
            )
            line.state, line.flag, line.proposals = "matched", "", []
            tied += 1
            await session.flush()
            continue
        if found:
            line.flag, line.proposals = "ambiguous", found
            continue
        line.proposals = []
        if line.amount_fen > 0:
            line.flag = "income_to_classify"
            continue
        if line.flag != "unauthorised_debit":
            line.flag = "unauthorised_debit"
            await outbox.emit(
                session,
                estate_id,
                "bank_alarm",
                events_pb2.BankAlarm(
                    estate_id=str(estate_id),
                    line_id=str(line.line_id),
                    account=line.account,
                    amount_fen=line.amount_fen,
                    booked_on=line.booked_on.isoformat(),
                    narrative=line.narrative[:500],
                ),
            )
    await session.flush()
    return tied


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
            shown = "; ".join(str(p) for p in exc.problems[:10])
            more = f" (and {len(exc.problems) - 10} more)" if len(exc.problems) > 10 else ""
            raise InvalidArgument(f"nothing was imported: {shown}{more}") from None
        lines = list(parsed.lines())
        foreign = sorted({ln.currency for ln in lines if ln.currency != "CNY"})
        if foreign:
            raise InvalidArgument(
                f"nothing was imported: the fund's accounts are in CNY, the file has "
                f"{', '.join(foreign)} lines"
            )
        async with self.db.estate_tx(estate_id) as session:
            # One import of an account at a time: the duplicate check must see the last one.
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                {"k": f"statements:{estate_id}:{request.account}"},
            )
            known = set(
                (
                    await session.execute(
                        select(StatementLineRow.fingerprint).where(
                            StatementLineRow.estate_id == estate_id,
                            StatementLineRow.account == request.account,
                            StatementLineRow.fingerprint.in_([ln.fingerprint for ln in lines]),
                        )
                    )
                ).scalars()
            )
            split = split_new(lines, known)
            days = [ln.booking_date for ln in lines]
            row = StatementImportRow(
                estate_id=estate_id,
                import_id=uuid.uuid4(),
                account=request.account,
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
                imported_by=uuid.UUID(principal.user_id),
            )
            session.add(row)
            await session.flush()
            new_ids = [uuid.uuid4() for _ in split.new]
            if split.new:
                await session.execute(
                    insert(StatementLineRow),
                    [
                        {
                            "estate_id": estate_id,
                            "line_id": line_id,
                            "account": request.account,
                            "import_id": row.import_id,
                            "booked_on": ln.booking_date,
                            "value_on": ln.value_date,
                            "amount_fen": ln.amount_fen,
                            "bank_reference": ln.bank_reference,
                            "reference": ln.reference,
                            "counterparty_name": ln.counterparty_name,
                            "counterparty_account": ln.counterparty_account,
                            "narrative": ln.narrative,
                            "fingerprint": ln.fingerprint,
                            "state": "open",
                        }
                        for line_id, ln in zip(new_ids, split.new, strict=True)
                    ],
                )
            stored = list(
                (
                    await session.execute(
                        select(StatementLineRow)
                        .where(
                            StatementLineRow.estate_id == estate_id,
                            StatementLineRow.line_id.in_(new_ids),
                        )
                        .order_by(StatementLineRow.booked_on)
                    )
                ).scalars()
            )
            await _lock(session, estate_id)
            tied = await match(session, self.outbox, estate_id, stored, principal.user_id)
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
                {"file": parsed.sha256, "new": row.lines_new, "duplicate": row.lines_duplicate},
            )
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
            tied = await _entries_of(session, estate_id, [r.line_id for r in rows])
        return statements_pb2.ListStatementLinesResponse(
            lines=[_line_pb(r, counterparties, tied.get(r.line_id, [])) for r in rows],
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
        try:
            entry_id = uuid.UUID(request.entry_id)
        except ValueError:
            raise InvalidArgument("entry_id is not a valid id") from None
        async with self.db.estate_tx(estate_id) as session:
            await _lock(session, estate_id)
            line = await self._line(session, estate_id, request.line_id)
            if line.state != "open":
                raise FailedPrecondition(f"the line is {line.state} already")
            fits = await _candidates(session, estate_id, line)
            if entry_id not in fits:
                raise FailedPrecondition(
                    "that entry does not fit this line: it must move the same account by the "
                    "same amount within a few days, and not be tied to another line"
                )
            session.add(
                StatementMatchRow(
                    estate_id=estate_id,
                    line_id=line.line_id,
                    entry_id=entry_id,
                    matched_by=uuid.UUID(principal.user_id),
                    matched_at=clock.now(),
                )
            )
            line.state, line.flag, line.proposals = "matched", "", []
            await session.flush()
            await audit.record(
                session, estate_id, "statement.match", str(line.line_id), {"entry": str(entry_id)}
            )
            return _line_pb(line, True, [entry_id])

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
            line.state, line.explanation = "explained", words
            await session.flush()
            await audit.record(
                session, estate_id, "statement.explain", str(line.line_id), {"text": words[:200]}
            )
            return _line_pb(line, True, [])

    async def RematchLines(
        self, request: statements_pb2.RematchLinesRequest, context: grpc.aio.ServicerContext
    ) -> statements_pb2.RematchLinesResponse:
        principal, estate_id = authorize_estate(Action.STATEMENT_MATCH, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            await _lock(session, estate_id)
            lines = list(
                (
                    await session.execute(
                        select(StatementLineRow)
                        .where(
                            StatementLineRow.estate_id == estate_id,
                            StatementLineRow.state == "open",
                        )
                        .order_by(StatementLineRow.booked_on)
                    )
                ).scalars()
            )
            tied = await match(session, self.outbox, estate_id, lines, principal.user_id)
            return statements_pb2.RematchLinesResponse(matched=tied, still_open=len(lines) - tied)


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


async def _lock(session: AsyncSession, estate_id: uuid.UUID) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"statement-match:{estate_id}"}
    )


async def _entries_of(
    session: AsyncSession, estate_id: uuid.UUID, line_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not line_ids:
        return {}
    rows = await session.execute(
        select(StatementMatchRow.line_id, StatementMatchRow.entry_id).where(
            StatementMatchRow.estate_id == estate_id, StatementMatchRow.line_id.in_(line_ids)
        )
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for line_id, entry_id in rows.all():
        out.setdefault(line_id, []).append(entry_id)
    return out


def _line_pb(
    r: StatementLineRow, counterparties: bool, entries: list[uuid.UUID]
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
        proposed_entry_ids=[str(e) for e in r.proposals],
        entry_ids=[str(e) for e in entries],
        explanation=r.explanation,
    )
