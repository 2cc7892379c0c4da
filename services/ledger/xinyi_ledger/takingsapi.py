"""Takings recorded by systems the estate does not run, and income contracts: the outside's side
of the income the company posts.

A gate export is parsed and checked whole (takings.parse_takings) off the event loop, then merged
with what overlapping exports brought; any problem refuses all of it, by row. Each month and
source is checked against the income posted for it (takings.checks). Whatever changes a
finished month's figures (an import, a contract's change, income posted or reversed for it)
settles its flags: one found newly flagged raises `takings_flagged`, one no longer flagged emits
`takings_cleared`, and nothing is emitted while a flag stands or stays clear.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from xinyi.ledger.v1 import events_pb2, takings_pb2, takings_pb2_grpc
from xinyi_kit import audit, clock, idempotency
from xinyi_kit.db import Database, xact_lock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, authorize_estate
from xinyi_ledger import domain, journal, store
from xinyi_ledger.statements import StatementError
from xinyi_ledger.takings import (
    BELOW_RECORDED_MIN_FEN,
    BELOW_RECORDED_SHARE,
    MAX_BYTES,
    MAX_MONTHS,
    METERED,
    SOURCES,
    Check,
    Contract,
    KnownDay,
    KnownSession,
    Merged,
    TakingsFile,
    add_months,
    checks,
    expected,
    merge,
    months_between,
    parse_takings,
)


class TakingsImportRow(store.Base):
    __tablename__ = "takings_imports"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    layout: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    profile: Mapped[str] = mapped_column(String(60))
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows_new: Mapped[int] = mapped_column(Integer)
    rows_duplicate: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    imported_by: Mapped[uuid.UUID] = mapped_column(UUID)


class TakingsDayRow(store.Base):
    """A day's takings: the system's daily total, or the sum of the stays that left that day."""

    __tablename__ = "takings_days"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    layout: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    sessions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    import_id: Mapped[uuid.UUID] = mapped_column(UUID)  # the import that brought it first


class TakingsSessionRow(store.Base):
    """A paid stay, by the system's reference: what recognises it in an overlapping export."""

    __tablename__ = "takings_sessions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    import_id: Mapped[uuid.UUID] = mapped_column(UUID)


class IncomeContractRow(store.Base):
    __tablename__ = "income_contracts"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    counterparty: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    monthly_fen: Mapped[int] = mapped_column(BigInteger)
    first_month: Mapped[str] = mapped_column(String(7))
    last_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    saved_by: Mapped[uuid.UUID] = mapped_column(UUID)


class TakingsExplanationRow(store.Base):
    __tablename__ = "takings_explanations"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    explanation: Mapped[str] = mapped_column(Text)
    explained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    explained_by: Mapped[uuid.UUID] = mapped_column(UUID)


class TakingsFlagRow(store.Base):
    """A flag announced as an event: standing since raised_at, or cleared (and announced so)."""

    __tablename__ = "takings_flags"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    flag: Mapped[str] = mapped_column(String(30), primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def _current_month() -> str:
    return domain.period_of(journal.today())


def _month(value: str, what: str) -> str:
    try:
        return domain.check_period(value)
    except InvalidArgument:
        raise InvalidArgument(f"{what} is a month written YYYY-MM, e.g. 2026-01") from None


def _import_pb(row: TakingsImportRow) -> takings_pb2.TakingsImport:
    return takings_pb2.TakingsImport(
        import_id=str(row.import_id),
        source=row.source,
        filename=row.filename,
        profile=row.profile,
        layout=row.layout,
        file_sha256=row.file_sha256,
        rows_new=row.rows_new,
        rows_duplicate=row.rows_duplicate,
        first_day=row.first_day.isoformat(),
        last_day=row.last_day.isoformat(),
        total_fen=row.total_fen,
        imported_at=_stamp(row.imported_at),
        imported_by=str(row.imported_by),
    )


def _contract_pb(row: IncomeContractRow) -> takings_pb2.IncomeContract:
    return takings_pb2.IncomeContract(
        contract_id=str(row.contract_id),
        source=row.source,
        counterparty=row.counterparty,
        description=row.description,
        monthly_fen=row.monthly_fen,
        first_month=row.first_month,
        last_month=row.last_month or "",
        saved_at=_stamp(row.saved_at),
        saved_by=str(row.saved_by),
    )


def _check_pb(c: Check, words: TakingsExplanationRow | None) -> takings_pb2.TakingsCheck:
    return takings_pb2.TakingsCheck(
        month=c.month,
        source=c.source,
        recorded_fen=c.recorded_fen,
        recorded_days=c.recorded_days,
        expected_fen=c.expected_fen,
        posted_fen=c.posted_fen,
        shortfall_fen=c.shortfall_fen,
        state=c.state,
        flag=c.flag,
        reason=c.reason,
        explanation=words.explanation if words else "",
        explained_at=_stamp(words.explained_at) if words else None,
    )


def _refusal(error: StatementError) -> InvalidArgument:
    return InvalidArgument(f"nothing was imported: {error.summary()}")


def _first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:]), 1)


async def _posted(
    session: AsyncSession, estate_id: uuid.UUID, first: str, last: str
) -> dict[tuple[str, str], int]:
    """(month, source) -> income posted for it: income entries by the month of the day they are
    booked on; a reversal counts as the income it reverses, in that income's month."""
    original = aliased(store.Entry)
    day = func.coalesce(original.booked_on, store.Entry.booked_on)
    month = func.to_char(day, "YYYY-MM")
    source_of = {domain.INCOME_ACCOUNT[s]: s for s in SOURCES}
    rows = await session.execute(
        select(month, store.EntryLine.account_code, func.sum(store.EntryLine.amount_fen))
        .join(
            store.Entry,
            (store.Entry.estate_id == store.EntryLine.estate_id)
            & (store.Entry.entry_id == store.EntryLine.entry_id),
        )
        .outerjoin(
            original,
            (original.estate_id == store.Entry.estate_id)
            & (original.entry_id == store.Entry.reverses_entry_id),
        )
        .where(
            store.EntryLine.estate_id == estate_id,
            store.EntryLine.account_code.in_(source_of),
            func.coalesce(original.kind, store.Entry.kind) == journal.Kind.ENTRY_KIND_INCOME,
            day >= _first_day(first),
            day < _first_day(add_months(last, 1)),
        )
        .group_by(month, store.EntryLine.account_code)
    )
    # Income is credited: negative lines.
    return {(m, source_of[code]): -int(total) for m, code, total in rows.all()}


async def _checks(
    session: AsyncSession, estate_id: uuid.UUID, first: str, last: str
) -> list[Check]:
    month = func.to_char(TakingsDayRow.day, "YYYY-MM")
    recorded = await session.execute(
        select(month, TakingsDayRow.source, func.sum(TakingsDayRow.amount_fen), func.count())
        .where(
            TakingsDayRow.estate_id == estate_id,
            TakingsDayRow.day >= _first_day(first),
            TakingsDayRow.day < _first_day(add_months(last, 1)),
        )
        .group_by(month, TakingsDayRow.source)
    )
    contracts = await session.execute(
        select(IncomeContractRow).where(
            IncomeContractRow.estate_id == estate_id,
            IncomeContractRow.first_month <= last,
            IncomeContractRow.last_month.is_(None) | (IncomeContractRow.last_month >= first),
        )
    )
    months = months_between(first, last)
    return checks(
        months,
        recorded={(m, s): (int(fen), int(n)) for m, s, fen, n in recorded.all()},
        expected=expected(
            [
                Contract(c.source, c.monthly_fen, c.first_month, c.last_month)
                for c in contracts.scalars()
            ],
            months,
        ),
        posted=await _posted(session, estate_id, first, last),
        current_month=_current_month(),
    )


async def _explanations(
    session: AsyncSession, estate_id: uuid.UUID, first: str, last: str
) -> dict[tuple[str, str], TakingsExplanationRow]:
    rows = await session.execute(
        select(TakingsExplanationRow).where(
            TakingsExplanationRow.estate_id == estate_id,
            TakingsExplanationRow.month >= first,
            TakingsExplanationRow.month <= last,
        )
    )
    return {(r.month, r.source): r for r in rows.scalars()}


async def settle_flags(
    session: AsyncSession, outbox: Outbox, estate_id: uuid.UUID, months: Iterable[str]
) -> None:
    """Announces the finished months' flags that changed: `takings_flagged` for each newly
    flagged (or flagged again after it cleared), `takings_cleared` for each that no longer
    holds. Called in the transaction that changed the months' figures."""
    finished = sorted({m for m in months if m < _current_month()})
    if not finished:
        return
    found = {
        (c.month, c.source): c
        for c in await _checks(session, estate_id, finished[0], finished[-1])
        if c.month in finished
    }
    flagged = [c for c in found.values() if c.flag]
    now = clock.now()
    raised: set[tuple[str, str, str]] = set()
    if flagged:
        statement = insert(TakingsFlagRow).values(
            [
                {
                    "estate_id": estate_id,
                    "month": c.month,
                    "source": c.source,
                    "flag": c.flag,
                    "raised_at": now,
                    "cleared_at": None,
                }
                for c in flagged
            ]
        )
        # A standing flag is left as it is; a cleared one is raised again.
        rows = await session.execute(
            statement.on_conflict_do_update(
                index_elements=["estate_id", "month", "source", "flag"],
                set_={"raised_at": now, "cleared_at": None},
                where=TakingsFlagRow.cleared_at.is_not(None),
            ).returning(TakingsFlagRow.month, TakingsFlagRow.source, TakingsFlagRow.flag)
        )
        raised = set(rows.tuples().all())
    holding = {(c.month, c.source, c.flag) for c in flagged}
    standing = await session.execute(
        select(TakingsFlagRow)
        .where(
            TakingsFlagRow.estate_id == estate_id,
            TakingsFlagRow.month.in_(finished),
            TakingsFlagRow.cleared_at.is_(None),
        )
        .with_for_update()
    )
    cleared = [r for r in standing.scalars() if (r.month, r.source, r.flag) not in holding]
    for r in cleared:
        r.cleared_at = now
    await session.flush()
    events: list[tuple[str, Message]] = [
        (
            "takings_flagged",
            events_pb2.TakingsFlagged(
                estate_id=str(estate_id),
                month=c.month,
                source=c.source,
                flag=c.flag,
                recorded_fen=c.recorded_fen,
                expected_fen=c.expected_fen,
                posted_fen=c.posted_fen,
                shortfall_fen=c.shortfall_fen,
                reason=c.reason,
            ),
        )
        for c in flagged
        if (c.month, c.source, c.flag) in raised
    ]
    for r in cleared:
        now_is = found.get((r.month, r.source))
        events.append(
            (
                "takings_cleared",
                events_pb2.TakingsCleared(
                    estate_id=str(estate_id),
                    month=r.month,
                    source=r.source,
                    flag=r.flag,
                    recorded_fen=now_is.recorded_fen if now_is else 0,
                    expected_fen=now_is.expected_fen if now_is else 0,
                    posted_fen=now_is.posted_fen if now_is else 0,
                ),
            )
        )
    await outbox.emit_many(session, estate_id, events)


async def _known(
    session: AsyncSession, estate_id: uuid.UUID, source: str, parsed: TakingsFile
) -> tuple[dict[date, KnownDay], dict[str, KnownSession]]:
    """What earlier exports brought of the export's days, and of its stays."""
    days = parsed.all_days()
    known_days = await session.execute(
        select(
            TakingsDayRow.day,
            TakingsDayRow.layout,
            TakingsDayRow.amount_fen,
            TakingsImportRow.filename,
        )
        .join(
            TakingsImportRow,
            (TakingsImportRow.estate_id == TakingsDayRow.estate_id)
            & (TakingsImportRow.import_id == TakingsDayRow.import_id),
        )
        .where(
            TakingsDayRow.estate_id == estate_id,
            TakingsDayRow.source == source,
            TakingsDayRow.day >= min(days),
            TakingsDayRow.day <= max(days),
        )
    )
    references = [s.reference for s in parsed.sessions]
    known_sessions = await session.execute(
        select(
            TakingsSessionRow.reference, TakingsSessionRow.day, TakingsSessionRow.amount_fen
        ).where(
            TakingsSessionRow.estate_id == estate_id,
            TakingsSessionRow.source == source,
            # One array parameter, however many stays the export has.
            TakingsSessionRow.reference
            == any_(bindparam("references", references, type_=ARRAY(String))),
        )
    )
    return (
        {day: KnownDay(layout, fen, name) for day, layout, fen, name in known_days.all()},
        {ref: KnownSession(day, fen) for ref, day, fen in known_sessions.all()},
    )


# One array a column, whatever the number of stays: as a row of parameters a stay, the driver's
# batches of a full-size export (110,000 stays) took the ledger 80 MiB higher (370 MiB, 290 now:
# `python -m bench.uploads --lines 0`).
_INSERT_SESSIONS = text(
    "INSERT INTO takings_sessions (estate_id, source, import_id, reference, day, amount_fen) "
    "SELECT CAST(:estate_id AS uuid), :source, CAST(:import_id AS uuid), s.* FROM unnest("
    "CAST(:references AS text[]), CAST(:days AS date[]), CAST(:amounts AS bigint[])) AS s"
)


async def _store(session: AsyncSession, row: TakingsImportRow, merged: Merged) -> None:
    """The import's new days, or its new stays and what they add to their exit days."""
    common = {"estate_id": row.estate_id, "source": row.source, "import_id": row.import_id}
    if merged.days:
        await session.execute(
            insert(TakingsDayRow),
            [
                {
                    **common,
                    "day": r.day,
                    "layout": "per_day",
                    "amount_fen": r.amount_fen,
                    "sessions": r.sessions,
                }
                for r in merged.days
            ],
        )
    if not merged.sessions:
        return
    await session.execute(
        _INSERT_SESSIONS,
        {
            **common,
            "references": [s.reference for s in merged.sessions],
            "days": [s.day for s in merged.sessions],
            "amounts": [s.amount_fen for s in merged.sessions],
        },
    )
    added = insert(TakingsDayRow).values(
        [
            {**common, "day": day, "layout": "per_session", "amount_fen": fen, "sessions": count}
            for day, (fen, count) in sorted(merged.additions.items())
        ]
    )
    await session.execute(
        added.on_conflict_do_update(
            index_elements=["estate_id", "source", "day"],
            set_={
                "amount_fen": TakingsDayRow.amount_fen + added.excluded.amount_fen,
                "sessions": TakingsDayRow.sessions + added.excluded.sessions,
            },
        )
    )


class TakingsApi(takings_pb2_grpc.TakingsServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def ImportTakings(
        self, request: takings_pb2.ImportTakingsRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.TakingsImport:
        principal, estate_id = authorize_estate(Action.TAKINGS_IMPORT, request.estate_id)
        if request.source not in METERED:
            raise InvalidArgument(
                "source is what system took the money: " + ", ".join(METERED) + " (gate exports)"
            )
        content = bytes(request.content)
        if len(content) > MAX_BYTES:
            raise InvalidArgument(f"a takings export is at most {MAX_BYTES // 2**20} MiB")
        filename = request.filename.strip()[:255]
        try:
            parsed = await asyncio.to_thread(
                parse_takings, content, filename=filename, profile=request.profile or None
            )
        except StatementError as exc:
            raise _refusal(exc) from None
        days = parsed.all_days()
        async with self.db.estate_tx(estate_id) as session:
            # One import of a source at a time: the duplicate check must see the last one.
            await xact_lock(session, f"takings:{estate_id}:{request.source}")
            try:
                merged = merge(
                    parsed,
                    *await _known(session, estate_id, request.source, parsed),
                    journal.today(),
                )
            except StatementError as exc:
                raise _refusal(exc) from None
            row = TakingsImportRow(
                estate_id=estate_id,
                import_id=uuid.uuid4(),
                source=request.source,
                layout=parsed.layout,
                filename=filename or "takings",
                profile=parsed.profile,
                file_sha256=parsed.sha256,
                rows_new=merged.rows_new,
                rows_duplicate=merged.duplicates,
                first_day=min(days),
                last_day=max(days),
                total_fen=merged.total_fen,
                imported_at=clock.now(),
                imported_by=uuid.UUID(principal.user_id),
            )
            session.add(row)
            await session.flush()
            await _store(session, row, merged)
            await self.outbox.emit(
                session,
                estate_id,
                "takings_imported",
                events_pb2.TakingsImported(
                    estate_id=str(estate_id),
                    import_id=str(row.import_id),
                    source=row.source,
                    layout=row.layout,
                    rows_new=row.rows_new,
                    rows_duplicate=row.rows_duplicate,
                    first_day=row.first_day.isoformat(),
                    last_day=row.last_day.isoformat(),
                    total_fen=row.total_fen,
                ),
            )
            await audit.record(
                session,
                estate_id,
                "takings.import",
                str(row.import_id),
                {
                    "file": parsed.sha256,
                    "source": row.source,
                    "new": row.rows_new,
                    "duplicate": row.rows_duplicate,
                    "total_fen": row.total_fen,
                },
            )
            await settle_flags(
                session,
                self.outbox,
                estate_id,
                months_between(domain.period_of(min(days)), domain.period_of(max(days))),
            )
            return _import_pb(row)

    async def ListTakingsImports(
        self, request: takings_pb2.ListTakingsImportsRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.ListTakingsImportsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(TakingsImportRow)
                    .where(TakingsImportRow.estate_id == estate_id)
                    .order_by(TakingsImportRow.imported_at.desc())
                    .limit(500)
                )
            ).scalars()
            return takings_pb2.ListTakingsImportsResponse(imports=[_import_pb(r) for r in rows])

    async def SaveIncomeContract(
        self, request: takings_pb2.SaveIncomeContractRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.IncomeContract:
        principal, estate_id = authorize_estate(Action.INCOME_CONTRACT_SAVE, request.estate_id)
        if request.source not in SOURCES:
            raise InvalidArgument("source is one of: " + ", ".join(SOURCES))
        counterparty = request.counterparty.strip()
        if not counterparty or len(counterparty) > 200:
            raise InvalidArgument("counterparty is the paying company's name (at most 200)")
        description = request.description.strip()
        if len(description) > 500:
            raise InvalidArgument("description is at most 500 characters")
        monthly = domain.check_amount(request.monthly_fen, "monthly_fen")
        first = _month(request.first_month, "first_month")
        last = _month(request.last_month, "last_month") if request.last_month else None
        if last is not None and last < first:
            raise InvalidArgument("last_month is first_month or later (empty: open-ended)")

        async def save(session: AsyncSession) -> takings_pb2.IncomeContract:
            before: dict[str, object] = {}
            if request.contract_id:
                try:
                    contract_id = uuid.UUID(request.contract_id)
                except ValueError:
                    raise InvalidArgument("contract_id is not a valid id") from None
                row = await session.get(
                    IncomeContractRow, (estate_id, contract_id), with_for_update=True
                )
                if row is None:
                    raise NotFound("no such income contract")
                before = _terms(row)
            else:
                row = IncomeContractRow(estate_id=estate_id, contract_id=uuid.uuid4())
                session.add(row)
            row.source = request.source
            row.counterparty = counterparty
            row.description = description
            row.monthly_fen = monthly
            row.first_month = first
            row.last_month = last
            row.saved_at = clock.now()
            row.saved_by = uuid.UUID(principal.user_id)
            await session.flush()
            await audit.record(
                session,
                estate_id,
                "income_contract.save",
                str(row.contract_id),
                {"before": before or None, "after": _terms(row)},
            )
            # The months the old terms or the new ones cover may have changed their flags.
            earliest = min(first, str(before["first_month"])) if before else first
            await settle_flags(
                session,
                self.outbox,
                estate_id,
                months_between(earliest, add_months(_current_month(), -1)),
            )
            return _contract_pb(row)

        async with self.db.estate_tx(estate_id) as session:
            # A retried creation with the same key returns the contract the first one made.
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:SaveIncomeContract",
                request.idempotency_key,
                request,
                takings_pb2.IncomeContract,
                lambda: save(session),
            )

    async def ListIncomeContracts(
        self, request: takings_pb2.ListIncomeContractsRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.ListIncomeContractsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(IncomeContractRow)
                    .where(IncomeContractRow.estate_id == estate_id)
                    .order_by(
                        IncomeContractRow.source,
                        IncomeContractRow.first_month,
                        IncomeContractRow.counterparty,
                    )
                )
            ).scalars()
            return takings_pb2.ListIncomeContractsResponse(
                contracts=[_contract_pb(r) for r in rows]
            )

    async def ListTakingsChecks(
        self, request: takings_pb2.ListTakingsChecksRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.ListTakingsChecksResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        last = _month(request.to_month, "to_month") if request.to_month else _current_month()
        first = (
            _month(request.from_month, "from_month")
            if request.from_month
            else add_months(last, -11)
        )
        if not first <= last <= add_months(first, MAX_MONTHS - 1):
            raise InvalidArgument(
                f"from_month is to_month or earlier, and the two span at most {MAX_MONTHS} "
                "months, both counted"
            )
        async with self.db.estate_tx(estate_id) as session:
            found = await _checks(session, estate_id, first, last)
            words = await _explanations(session, estate_id, first, last)
        return takings_pb2.ListTakingsChecksResponse(
            checks=[_check_pb(c, words.get((c.month, c.source))) for c in found],
            below_recorded_percent=int(BELOW_RECORDED_SHARE * 100),
            below_recorded_min_fen=BELOW_RECORDED_MIN_FEN,
        )

    async def ExplainTakingsCheck(
        self, request: takings_pb2.ExplainTakingsCheckRequest, context: grpc.aio.ServicerContext
    ) -> takings_pb2.TakingsCheck:
        # Whoever posts the income says where it is.
        principal, estate_id = authorize_estate(Action.LEDGER_POST_INCOME, request.estate_id)
        month = _month(request.month, "month")
        if request.source not in SOURCES:
            raise InvalidArgument("source is one of: " + ", ".join(SOURCES))
        words = request.explanation.strip()
        if not words or len(words) > 2000:
            raise InvalidArgument("explain the month in words owners read (at most 2,000)")
        if month >= _current_month():
            raise FailedPrecondition(f"{month} is not over: nothing is flagged before it ends")
        async with self.db.estate_tx(estate_id) as session:
            found = await _checks(session, estate_id, month, month)
            row = next((c for c in found if c.source == request.source), None)
            if row is None or row.state != "flagged":
                raise FailedPrecondition(
                    f"the {request.source} income of {month} is not flagged; nothing to explain"
                )
            await session.execute(
                insert(TakingsExplanationRow)
                .values(
                    estate_id=estate_id,
                    month=month,
                    source=request.source,
                    explanation=words,
                    explained_at=clock.now(),
                    explained_by=uuid.UUID(principal.user_id),
                )
                .on_conflict_do_update(
                    index_elements=["estate_id", "month", "source"],
                    set_={
                        "explanation": words,
                        "explained_at": clock.now(),
                        "explained_by": uuid.UUID(principal.user_id),
                    },
                )
            )
            await audit.record(
                session, estate_id, "takings.explain", f"{month}/{request.source}", {"text": words}
            )
            explained = await _explanations(session, estate_id, month, month)
            return _check_pb(row, explained.get((month, request.source)))


def _terms(row: IncomeContractRow) -> dict[str, object]:
    return {
        "source": row.source,
        "counterparty": row.counterparty,
        "description": row.description,
        "monthly_fen": row.monthly_fen,
        "first_month": row.first_month,
        "last_month": row.last_month,
    }
