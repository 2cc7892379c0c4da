"""Ledger's tables (schema `ledger`) and the queries on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinyi_ledger.domain import DEFAULT_CHART


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[int] = mapped_column(SmallInteger)


async def open_books(session: AsyncSession, estate_id: uuid.UUID) -> int:
    """Creates the default chart for an estate; opening twice adds nothing."""
    result = await session.execute(
        insert(Account)
        .values(
            [
                {"estate_id": estate_id, "code": a.code, "name": a.name, "type": int(a.type)}
                for a in DEFAULT_CHART
            ]
        )
        .on_conflict_do_nothing()
        .returning(Account.code)
    )
    return len(result.all())


async def accounts(session: AsyncSession, estate_id: uuid.UUID) -> list[Account]:
    rows = await session.execute(
        select(Account).where(Account.estate_id == estate_id).order_by(Account.code)
    )
    return list(rows.scalars())


class ContractTerms(Base):
    __tablename__ = "contract_terms"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    ratio_num: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ratio_den: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fixed_monthly_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sources: Mapped[list[str]] = mapped_column(ARRAY(Text))


class ChainHead(Base):
    __tablename__ = "chain_heads"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    last_index: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)


class Entry(Base):
    __tablename__ = "entries"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    chain_index: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[str] = mapped_column(String(7))
    booked_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    income_source: Mapped[str] = mapped_column(String(20), default="")
    lump_sum: Mapped[bool] = mapped_column(Boolean, default=False)
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    late_for_period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    disbursement_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    voucher_sha256: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    canonical: Mapped[str] = mapped_column(Text)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary)
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class EntryLine(Base):
    __tablename__ = "entry_lines"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    line_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_code: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class EntryItem(Base):
    __tablename__ = "entry_items"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    item_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class Period(Base):
    __tablename__ = "periods"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary)
    chain_head: Mapped[bytes] = mapped_column(LargeBinary)
    entry_count: Mapped[int] = mapped_column(BigInteger)


class SuspensionRow(Base):
    """Days no remuneration accrues on: an outgoing company refused to hand over (art. 949)."""

    __tablename__ = "remuneration_suspensions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    handover_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(UUID)
    from_day: Mapped[date] = mapped_column(Date)
    until_day: Mapped[date | None] = mapped_column(Date, nullable=True)


class HeadSignature(Base):
    __tablename__ = "head_signatures"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    key_id: Mapped[str] = mapped_column(String(64))
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApprovalThresholds(Base):
    __tablename__ = "approval_thresholds"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    thresholds: Mapped[list[list[int | None]]] = mapped_column(JSONB)


class Disbursement(Base):
    __tablename__ = "disbursements"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    disbursement_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    state: Mapped[int] = mapped_column(SmallInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    expense_code: Mapped[str] = mapped_column(String(20))
    budget_line_id: Mapped[str] = mapped_column(String(64), default="")
    voucher_sha256: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    approvals_required: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[uuid.UUID] = mapped_column(UUID)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rejected_reason: Mapped[str] = mapped_column(Text, default="")
    bank_evidence: Mapped[str] = mapped_column(Text, default="")
    paid_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    maintenance_use_id: Mapped[str] = mapped_column(String(64), default="")
    origin: Mapped[str] = mapped_column(String(20), default="request")
    suspense_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class DisbursementApproval(Base):
    __tablename__ = "disbursement_approvals"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    disbursement_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def balances(
    session: AsyncSession, estate_id: uuid.UUID, *, up_to_period: str | None = None
) -> dict[str, int]:
    """Debit-positive balance per account, over the whole journal or up to a month's end."""
    query = (
        select(EntryLine.account_code, func.sum(EntryLine.amount_fen))
        .join(
            Entry, (Entry.estate_id == EntryLine.estate_id) & (Entry.entry_id == EntryLine.entry_id)
        )
        .where(EntryLine.estate_id == estate_id)
        .group_by(EntryLine.account_code)
    )
    if up_to_period is not None:
        query = query.where(Entry.period <= up_to_period)
    return {code: int(total) for code, total in (await session.execute(query)).all()}


async def lines_of(
    session: AsyncSession, estate_id: uuid.UUID, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[EntryLine]]:
    if not entry_ids:
        return {}
    rows = await session.execute(
        select(EntryLine)
        .where(EntryLine.estate_id == estate_id, EntryLine.entry_id.in_(entry_ids))
        .order_by(EntryLine.entry_id, EntryLine.line_no)
    )
    result: dict[uuid.UUID, list[EntryLine]] = {}
    for line in rows.scalars():
        result.setdefault(line.entry_id, []).append(line)
    return result


async def items_of(
    session: AsyncSession, estate_id: uuid.UUID, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[EntryItem]]:
    if not entry_ids:
        return {}
    rows = await session.execute(
        select(EntryItem)
        .where(EntryItem.estate_id == estate_id, EntryItem.entry_id.in_(entry_ids))
        .order_by(EntryItem.entry_id, EntryItem.item_no)
    )
    result: dict[uuid.UUID, list[EntryItem]] = {}
    for item in rows.scalars():
        result.setdefault(item.entry_id, []).append(item)
    return result


class Decision(Base):
    """An owners' assembly decision that concerns the ledger, from voting's ballot_decided."""

    __tablename__ = "decisions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    approved: Mapped[bool] = mapped_column(Boolean)
    ballot_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Budget(Base):
    __tablename__ = "budgets"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    expense_code: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class EstateSecret(Base):
    __tablename__ = "estate_secrets"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_pepper: Mapped[bytes] = mapped_column(LargeBinary)


async def account_type(session: AsyncSession, estate_id: uuid.UUID, code: str) -> int | None:
    row = await session.get(Account, (estate_id, code))
    return row.type if row is not None else None
