"""The monthly report's and the KPIs' read models, kept from identity's, the ledger's and
voting's events only.

Each handler is an upsert keyed by what the event is about, so an event applied again (a replay
into empty tables, or a redelivery the inbox did not catch) leaves the same rows (an entry's
amounts are added to its month's account totals only when the entry is new); the ledger's and
voting's streams may arrive in any order relative to each other.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_disclosure.store import Base
from xinyi_kit.consumer import Batched, Handler, Handlers
from xinyi_kit.db import PLATFORM, driver_connection

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESOLVED = ("answered", "rectified", "confirmed")


class Chart(Base):
    __tablename__ = "chart"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


def disclosed(code: str) -> bool:
    """Income (4…) and expense (5…) accounts: the lines a month's report lists and flags read.
    An entry keeps only these; every account's total per month is in `AccountMonth`, so the
    per-unit lines of an assessment or a payment are summed once, as they arrive."""
    return code.startswith(("4", "5"))


class Entry(Base):
    __tablename__ = "entries"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    chain_index: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[str] = mapped_column(String(7))
    booked_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    income_source: Mapped[str] = mapped_column(String(20))
    lump_sum: Mapped[bool] = mapped_column(Boolean)
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    disbursement_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    vouchers: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # [code, debit-positive fen] of the disclosed accounts only, in the entry's order.
    lines: Mapped[list[list[Any]]] = mapped_column(JSONB)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class AccountMonth(Base):
    """An account's net movement in a month (debit positive), summed over the entries of the
    month as they are applied: balances and the year's spending are read from these rows,
    never from the entries."""

    __tablename__ = "account_months"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Disbursement(Base):
    __tablename__ = "disbursements"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    disbursement_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    budget_line_id: Mapped[str] = mapped_column(String(64))
    approvals: Mapped[int] = mapped_column(Integer)
    approvals_required: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(20))
    first_period: Mapped[str] = mapped_column(String(7))
    last_period: Mapped[str] = mapped_column(String(7))


class FeeMonth(Base):
    __tablename__ = "fee_months"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    assessed_fen: Mapped[int] = mapped_column(BigInteger)
    collected_fen: Mapped[int] = mapped_column(BigInteger)
    units_assessed: Mapped[int] = mapped_column(Integer)
    units_fully_paid: Mapped[int] = mapped_column(Integer)


class Reconciliation(Base):
    __tablename__ = "reconciliation"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    account: Mapped[str] = mapped_column(String(20), primary_key=True)
    statement_through: Mapped[date | None] = mapped_column(Date, nullable=True)
    reconciled_through: Mapped[date | None] = mapped_column(Date, nullable=True)
    open_lines: Mapped[int] = mapped_column(Integer)
    open_alarms: Mapped[int] = mapped_column(Integer)


class Period(Base):
    __tablename__ = "periods"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    merkle_root: Mapped[str] = mapped_column(Text)
    chain_head: Mapped[str] = mapped_column(Text)
    entry_count: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signatures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class Budget(Base):
    __tablename__ = "budgets"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(UUID)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class TakingsFlag(Base):
    __tablename__ = "takings_flags"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    flag: Mapped[str] = mapped_column(String(30), primary_key=True)
    recorded_fen: Mapped[int] = mapped_column(BigInteger)
    expected_fen: Mapped[int] = mapped_column(BigInteger)
    posted_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)


class Ballot(Base):
    __tablename__ = "ballots"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    changed_period: Mapped[str] = mapped_column(String(7))
    decided: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class Meeting(Base):
    __tablename__ = "meetings"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Suggestion(Base):
    __tablename__ = "suggestions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Baseline(Base):
    """What an estate's onboarding case recorded when it joined: KPIs are read against it."""

    __tablename__ = "baselines"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID)
    arrangement: Mapped[str] = mapped_column(String(20))
    payment_rate_permille: Mapped[int] = mapped_column(Integer)
    open_disputes: Mapped[int] = mapped_column(Integer)
    satisfaction_permille: Mapped[int] = mapped_column(Integer)


class SurveyResult(Base):
    """A closed survey's satisfaction question: the month's satisfaction KPI sums these."""

    __tablename__ = "survey_results"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    question: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    respondents: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)  # the satisfaction question's answers
    satisfied: Mapped[int] = mapped_column(Integer)  # of which 4 or 5


class Community(Base):
    """The city's communities with their streets, on the platform's key (no estate)."""

    __tablename__ = "communities"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    community_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    street_id: Mapped[uuid.UUID] = mapped_column(UUID)
    street_name: Mapped[str] = mapped_column(Text)
    district_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    district_name: Mapped[str] = mapped_column(Text)


class Flag(Base):
    __tablename__ = "flags"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    flag_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    entry_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))
    explanation: Mapped[str] = mapped_column(Text, default="")
    explained_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    explained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- reading ---------------------------------------------------------------------------------
# Kinds of entry a month's report reads even without a disclosed line: an income's lump sum and
# an expense's vouchers are flagged, a remuneration accrual states its basis.
MONTH_KINDS = (
    ledger_events.ENTRY_KIND_INCOME,
    ledger_events.ENTRY_KIND_EXPENSE,
    ledger_events.ENTRY_KIND_REMUNERATION,
)


async def month_entries(session: AsyncSession, estate_id: uuid.UUID, period: str) -> list[Entry]:
    """The month's entries in chain order that its report and flags read: those with disclosed
    lines or of `MONTH_KINDS`. The month's payments and the like (no income or expense line) are
    left out, however many units an estate has."""
    return list(
        (
            await session.execute(
                select(Entry)
                .where(
                    Entry.estate_id == estate_id,
                    Entry.period == period,
                    or_(func.jsonb_array_length(Entry.lines) > 0, Entry.kind.in_(MONTH_KINDS)),
                )
                .order_by(Entry.chain_index)
            )
        ).scalars()
    )


async def balances(
    session: AsyncSession, estate_id: uuid.UUID, codes: Collection[str], period: str
) -> dict[str, tuple[int, int]]:
    """Each account's balance before the month and at its end."""
    rows = await session.execute(
        select(
            AccountMonth.code,
            func.sum(AccountMonth.amount_fen).filter(AccountMonth.period < period),
            func.sum(AccountMonth.amount_fen),
        )
        .where(
            AccountMonth.estate_id == estate_id,
            AccountMonth.code.in_(codes),
            AccountMonth.period <= period,
        )
        .group_by(AccountMonth.code)
    )
    found = {code: (int(opening or 0), int(closing)) for code, opening, closing in rows.all()}
    return {code: found.get(code, (0, 0)) for code in codes}


async def totals(
    session: AsyncSession, estate_id: uuid.UUID, first: str, last: str
) -> dict[str, int]:
    """Each account's movement over the months `first` to `last`, both included."""
    rows = await session.execute(
        select(AccountMonth.code, func.sum(AccountMonth.amount_fen))
        .where(
            AccountMonth.estate_id == estate_id,
            AccountMonth.period >= first,
            AccountMonth.period <= last,
        )
        .group_by(AccountMonth.code)
    )
    return {code: int(fen) for code, fen in rows.all()}


async def movements(
    session: AsyncSession, estate_id: uuid.UUID, codes: Collection[str], months: Collection[str]
) -> dict[str, dict[str, int]]:
    """Each of the accounts' movement in each of the months that has one: code -> month -> fen."""
    rows = await session.execute(
        select(AccountMonth.code, AccountMonth.period, AccountMonth.amount_fen).where(
            AccountMonth.estate_id == estate_id,
            AccountMonth.code.in_(codes),
            AccountMonth.period.in_(months),
        )
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for code, period, fen in rows.all():
        out[code][period] = int(fen)
    return out


# -- applying events ------------------------------------------------------------------------
def _when(envelope: common_pb2.EventEnvelope) -> datetime:
    return envelope.occurred_at.ToDatetime(tzinfo=UTC)


def _period(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def _uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def _upsert(
    session: AsyncSession, table: type[Base], values: dict[str, Any], keys: list[str]
) -> None:
    changes = {k: v for k, v in values.items() if k not in keys}
    statement = insert(table).values(**values)
    statement = (
        statement.on_conflict_do_update(index_elements=keys, set_=changes)
        if changes
        else statement.on_conflict_do_nothing(index_elements=keys)
    )
    await session.execute(statement)


async def books_opened(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.BooksOpened)
    for a in event.accounts:
        await account_added(
            session,
            envelope,
            ledger_events.ChartAccount(estate_id=event.estate_id, code=a.code, name=a.name),
        )


async def account_added(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.ChartAccount)
    await _upsert(
        session,
        Chart,
        {"estate_id": uuid.UUID(event.estate_id), "code": event.code, "name": event.name},
        ["estate_id", "code"],
    )


# A run of one estate's entries in one statement (a month's assessment, a day's takings or a
# busy estate's postings come as runs of EntryPosted); entries are immutable, so one applied
# again is left as it is, and only those written now count into their months.
_INSERT_ENTRIES = (
    "INSERT INTO entries (estate_id, entry_id, chain_index, kind, period, booked_on, "
    "description, income_source, lump_sum, reverses_entry_id, disbursement_id, vouchers, "
    "lines, items) "
    "SELECT $1, e.entry_id, e.chain_index, e.kind, e.period, e.booked_on, e.description, "
    "e.income_source, e.lump_sum, e.reverses, e.disbursement, "
    "ARRAY(SELECT jsonb_array_elements_text(e.vouchers)), e.lines, e.items "
    "FROM unnest($2::uuid[], $3::bigint[], $4::smallint[], $5::text[], $6::date[], $7::text[], "
    "$8::text[], $9::bool[], $10::uuid[], $11::uuid[], $12::jsonb[], $13::jsonb[], "
    "$14::jsonb[]) AS e (entry_id, chain_index, kind, period, booked_on, description, "
    "income_source, lump_sum, reverses, disbursement, vouchers, lines, items) "
    "ON CONFLICT (estate_id, entry_id) DO NOTHING RETURNING entry_id"
)
# Adds to a month's account totals: one row per account and month, however many entries and
# units moved it.
_ADD_TO_MONTHS = (
    "INSERT INTO account_months AS m (estate_id, code, period, amount_fen) "
    "SELECT $1, a.code, a.period, a.fen FROM unnest($2::text[], $3::text[], $4::bigint[]) "
    "AS a (code, period, fen) "
    "ON CONFLICT (estate_id, code, period) DO UPDATE SET amount_fen = m.amount_fen + "
    "EXCLUDED.amount_fen"
)


async def entries_posted(
    session: AsyncSession, run: Sequence[tuple[common_pb2.EventEnvelope, Message]]
) -> None:
    # An entry is counted once, however often its event comes, in this run or before.
    unique: dict[str, ledger_events.EntryPosted] = {}
    for _, event in run:
        assert isinstance(event, ledger_events.EntryPosted)
        unique.setdefault(event.entry_id, event)
    entries = list(unique.values())
    # A run is of one estate: the consumer applies each estate's events apart.
    estate_id = uuid.UUID(entries[0].estate_id)
    raw = await driver_connection(session)
    inserted = {
        row[0]
        for row in await raw.fetch(
            _INSERT_ENTRIES,
            estate_id,
            [uuid.UUID(e.entry_id) for e in entries],
            [e.chain_index for e in entries],
            [int(e.kind) for e in entries],
            [e.period for e in entries],
            [e.booked_at.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).date() for e in entries],
            [e.description for e in entries],
            [e.income_source for e in entries],
            [e.lump_sum for e in entries],
            [_uuid(e.reverses_entry_id) for e in entries],
            [_uuid(e.disbursement_id) for e in entries],
            [json.dumps(list(e.voucher_sha256)) for e in entries],
            [
                json.dumps(
                    [
                        [ln.account_code, ln.amount_fen]
                        for ln in e.lines
                        if disclosed(ln.account_code)
                    ]
                )
                for e in entries
            ],
            [json.dumps([_item(i) for i in e.items], ensure_ascii=False) for e in entries],
        )
    }
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        if uuid.UUID(e.entry_id) in inserted:
            for ln in e.lines:
                moved[(ln.account_code, e.period)] += ln.amount_fen
    if moved:
        await raw.execute(
            _ADD_TO_MONTHS,
            estate_id,
            [code for code, _ in moved],
            [period for _, period in moved],
            list(moved.values()),
        )


def _disclosed_lines(entry: ledger_events.EntryPosted) -> list[list[Any]]:
    return [[ln.account_code, ln.amount_fen] for ln in entry.lines if disclosed(ln.account_code)]


def _item(item: ledger_events.EntryItem) -> dict[str, Any]:
    return {
        "description": item.description,
        "amount_fen": item.amount_fen,
        "occurred_on": item.occurred_on,
    }


async def disbursement_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.DisbursementChanged)
    estate_id, disbursement_id = uuid.UUID(event.estate_id), uuid.UUID(event.disbursement_id)
    period = _period(_when(envelope))
    state = (
        ledger_events.DisbursementState.Name(event.state)
        .removeprefix("DISBURSEMENT_STATE_")
        .lower()
    )
    values = {
        "state": state,
        "amount_fen": event.amount_fen,
        "payee": event.payee,
        "purpose": event.purpose,
        "budget_line_id": event.budget_line_id,
        "approvals": event.approvals,
        "approvals_required": event.approvals_required,
        "origin": event.origin or "request",
        "last_period": period,
    }
    statement = insert(Disbursement).values(
        estate_id=estate_id, disbursement_id=disbursement_id, first_period=period, **values
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["estate_id", "disbursement_id"], set_=values
        )
    )


async def fees_month(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.FeesMonth)
    await _upsert(
        session,
        FeeMonth,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "period": event.period,
            "assessed_fen": event.assessed_fen,
            "collected_fen": event.collected_fen,
            "units_assessed": event.units_assessed,
            "units_fully_paid": event.units_fully_paid,
        },
        ["estate_id", "period"],
    )


async def reconciliation_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.ReconciliationChanged)
    await _upsert(
        session,
        Reconciliation,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "account": event.account,
            "statement_through": date.fromisoformat(event.statement_through)
            if event.statement_through
            else None,
            "reconciled_through": date.fromisoformat(event.reconciled_through)
            if event.reconciled_through
            else None,
            "open_lines": event.open_lines,
            "open_alarms": event.open_alarms,
        },
        ["estate_id", "account"],
    )


async def period_closed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.PeriodClosed)
    await session.execute(
        insert(Period)
        .values(
            estate_id=uuid.UUID(event.estate_id),
            period=event.period,
            merkle_root=event.merkle_root,
            chain_head=event.chain_head,
            entry_count=event.entry_count,
            closed_at=_when(envelope),
            signatures=[],
        )
        .on_conflict_do_nothing(index_elements=["estate_id", "period"])
    )


async def head_signed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.HeadSigned)
    row = await session.get(
        Period, (uuid.UUID(event.estate_id), event.period), with_for_update=True
    )
    if row is None:
        return
    signature = {
        "role": event.signer_role,
        "user_id": event.signer_user_id,
        "key_id": event.key_id,
        "signed_at": _when(envelope).isoformat(),
    }
    if all(s["role"] != event.signer_role for s in row.signatures):
        row.signatures = [*row.signatures, signature]


async def budget_approved(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.BudgetApproved)
    await _upsert(
        session,
        Budget,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "year": event.year,
            "budget_id": uuid.UUID(event.budget_id),
            "lines": [
                {
                    "line_id": ln.line_id,
                    "name": ln.name,
                    "expense_code": ln.expense_code,
                    "amount_fen": ln.amount_fen,
                }
                for ln in event.lines
            ],
        },
        ["estate_id", "year"],
    )


async def takings_flagged(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.TakingsFlagged)
    await _upsert(
        session,
        TakingsFlag,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "month": event.month,
            "source": event.source,
            "flag": event.flag,
            "recorded_fen": event.recorded_fen,
            "expected_fen": event.expected_fen,
            "posted_fen": event.posted_fen,
            "reason": event.reason,
        },
        ["estate_id", "month", "source", "flag"],
    )
    # Raised again after it cleared: the kept flag opens again (still explained, if it was).
    flag = await session.get(
        Flag,
        (uuid.UUID(event.estate_id), _takings_flag_id(event.month, event.source, event.flag)),
        with_for_update=True,
    )
    if flag is not None and flag.state == "resolved":
        flag.state, flag.reason = ("explained" if flag.explanation else "open"), event.reason


def _takings_flag_id(month: str, source: str, flag: str) -> str:
    return f"takings:{month}:{source}:{flag}"


async def takings_cleared(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    """The ledger's check passes again: the month's flag is resolved now, not only when the
    month's flags are next evaluated (its explanation, if any, stays on record)."""
    assert isinstance(event, ledger_events.TakingsCleared)
    estate_id = uuid.UUID(event.estate_id)
    row = await session.get(
        TakingsFlag, (estate_id, event.month, event.source, event.flag), with_for_update=True
    )
    if row is not None:
        await session.delete(row)
    flag = await session.get(
        Flag,
        (estate_id, _takings_flag_id(event.month, event.source, event.flag)),
        with_for_update=True,
    )
    if flag is not None:
        flag.state = "resolved"


async def ballot_state_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.BallotStateChanged)
    await _upsert(
        session,
        Ballot,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "ballot_id": uuid.UUID(event.ballot_id),
            "title": event.title,
            "state": event.state,
            "changed_period": _period(_when(envelope)),
        },
        ["estate_id", "ballot_id"],
    )


async def ballot_decided(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.BallotDecided)
    key = (uuid.UUID(event.estate_id), uuid.UUID(event.ballot_id))
    row = await session.get(Ballot, key, with_for_update=True)
    if row is None:
        row = Ballot(
            estate_id=key[0],
            ballot_id=key[1],
            title="",
            state="final",
            decided=[],
            changed_period=_period(_when(envelope)),
        )
        session.add(row)
    decided = {
        "question_id": event.question_id,
        "question": event.question_text,
        "subject": event.subject_ref,
        "approved": event.approved,
        "chosen": list(event.chosen_candidate_ids),
    }
    row.state, row.changed_period = "final", _period(_when(envelope))
    row.decided = [d for d in row.decided if d["question_id"] != event.question_id] + [decided]


async def suggestion_updated(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.SuggestionUpdated)
    key = (uuid.UUID(event.estate_id), uuid.UUID(event.suggestion_id))
    when = _when(envelope)
    row = await session.get(Suggestion, key, with_for_update=True)
    if row is None:
        row = Suggestion(
            estate_id=key[0],
            suggestion_id=key[1],
            kind=event.kind,
            state=event.state,
            opened_at=when,
        )
        session.add(row)
    row.state = event.state
    row.due_at = event.due_at.ToDatetime(tzinfo=UTC) if event.HasField("due_at") else row.due_at
    # Answered, rectified or confirmed is resolved; a commitment to rectify or a reopening is
    # open again (and so is it resolved again later, at the later time).
    if event.state in RESOLVED:
        row.resolved_at = row.resolved_at or when
    else:
        row.resolved_at = None


async def case_recorded(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.OnboardingCaseRecorded)
    await _upsert(
        session,
        Baseline,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "case_id": uuid.UUID(event.case_id),
            "arrangement": event.arrangement,
            "payment_rate_permille": event.payment_rate_permille,
            "open_disputes": event.open_disputes,
            "satisfaction_permille": event.satisfaction_permille,
        },
        ["estate_id"],
    )


async def community_created(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.CommunityCreated)
    await _upsert(
        session,
        Community,
        {
            "estate_id": PLATFORM,
            "community_id": uuid.UUID(event.community_id),
            "name": event.name,
            "street_id": uuid.UUID(event.street_id),
            "street_name": event.street_name,
            "district_id": _uuid(event.district_id),
            "district_name": event.district_name,
        },
        ["estate_id", "community_id"],
    )


IDENTITY: Mapping[type[Message], Handler] = {
    identity_events.OnboardingCaseRecorded: case_recorded,
    identity_events.CommunityCreated: community_created,
}
LEDGER: Handlers = {
    ledger_events.BooksOpened: books_opened,
    ledger_events.ChartAccount: account_added,
    ledger_events.EntryPosted: Batched(entries_posted),
    ledger_events.DisbursementChanged: disbursement_changed,
    ledger_events.FeesMonth: fees_month,
    ledger_events.ReconciliationChanged: reconciliation_changed,
    ledger_events.PeriodClosed: period_closed,
    ledger_events.HeadSigned: head_signed,
    ledger_events.BudgetApproved: budget_approved,
    ledger_events.TakingsFlagged: takings_flagged,
    ledger_events.TakingsCleared: takings_cleared,
}


async def meeting_updated(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.MeetingUpdated)
    await _upsert(
        session,
        Meeting,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "meeting_id": uuid.UUID(event.meeting_id),
            "title": event.title,
            "state": event.state,
            "starts_at": event.starts_at.ToDatetime(tzinfo=UTC),
        },
        ["estate_id", "meeting_id"],
    )


async def survey_closed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.SurveyClosed)
    await _upsert(
        session,
        SurveyResult,
        {
            "estate_id": uuid.UUID(event.estate_id),
            "survey_id": uuid.UUID(event.survey_id),
            "title": event.title,
            "question": event.question_text,
            "closed_at": event.closed_at.ToDatetime(tzinfo=UTC),
            "respondents": event.respondents,
            "answered": sum(event.counts),
            "satisfied": event.satisfied,
        },
        ["estate_id", "survey_id"],
    )


VOTING: Mapping[type[Message], Handler] = {
    voting_events.SurveyClosed: survey_closed,
    voting_events.MeetingUpdated: meeting_updated,
    voting_events.BallotStateChanged: ballot_state_changed,
    voting_events.BallotDecided: ballot_decided,
    voting_events.SuggestionUpdated: suggestion_updated,
}
