"""The maintenance fund (维修资金): kept apart from the common fund, raised by area only on the
owners' assembly's decision (art. 278 item 6), paid into its own bank account."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.ledger.v1 import events_pb2, ledger_pb2
from xinyi_kit.errors import FailedPrecondition, InvalidArgument
from xinyi_kit.outbox import Outbox
from xinyi_ledger import decisions, domain, fees, journal, money, store

Kind = events_pb2.EntryKind


async def _ensure_account(session: AsyncSession, estate_id: uuid.UUID) -> None:
    # Books opened before the account joined the default chart get it on first use.
    await session.execute(
        insert(store.Account)
        .values(
            estate_id=estate_id,
            code=domain.MAINTENANCE_RECEIVABLES,
            name="应收维修资金",
            type=int(domain.AccountType.ASSET),
        )
        .on_conflict_do_nothing()
    )


async def raise_fund(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    raise_id: str,
    fen_per_m2: int,
    booked_on: str,
    actor: str,
) -> store.Entry:
    if not raise_id or len(raise_id) > 64:
        raise InvalidArgument("name the raise the assembly decided (raise_id, at most 64 chars)")
    if not 0 < fen_per_m2 <= 1_000_000:
        raise InvalidArgument("fen_per_m2 is the amount per m² in fen, more than zero")
    if not await decisions.approved(session, estate_id, f"maintenance_raise:{raise_id}"):
        raise FailedPrecondition(
            f"the owners' assembly has not approved maintenance_raise:{raise_id}; raising the "
            "maintenance fund needs 3/4 of participating area and headcount (art. 278 item 6)"
        )
    done = await session.execute(
        select(store.Entry.entry_id).where(
            store.Entry.estate_id == estate_id,
            store.Entry.description.like(f"%[maintenance_raise:{raise_id}]"),
        )
    )
    if done.first() is not None:
        raise FailedPrecondition(f"maintenance_raise:{raise_id} has been raised already")
    await _ensure_account(session, estate_id)
    units = list(
        (
            await session.execute(
                select(fees.Unit)
                .where(fees.Unit.estate_id == estate_id)
                .order_by(fees.Unit.building, fees.Unit.number)
            )
        ).scalars()
    )
    owed = [(str(u.unit_id), money.unit_fee(u.area_centi_m2, fen_per_m2)) for u in units]
    owed = [(unit, fen) for unit, fen in owed if fen > 0]
    if not owed:
        raise FailedPrecondition("the estate has no units with an area yet; import them first")
    total = sum(fen for _, fen in owed)
    return await journal.post(
        session,
        outbox,
        estate_id,
        journal.Draft(
            kind=Kind.ENTRY_KIND_ASSESSMENT,
            booked_on=journal.parse_day(booked_on, "booked_on"),
            description=(
                f"筹集维修资金 {money.format_yuan(fen_per_m2)} 元/m² [maintenance_raise:{raise_id}]"
            ),
            lines=[
                *((domain.MAINTENANCE_RECEIVABLES, fen, unit) for unit, fen in owed),
                (domain.MAINTENANCE_EQUITY, -total, ""),
            ],
        ),
        actor,
    )


async def owed_by_unit(session: AsyncSession, estate_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(store.EntryLine.unit_id, func.sum(store.EntryLine.amount_fen))
        .where(
            store.EntryLine.estate_id == estate_id,
            store.EntryLine.account_code == domain.MAINTENANCE_RECEIVABLES,
        )
        .group_by(store.EntryLine.unit_id)
    )
    return {str(unit): int(fen) for unit, fen in rows.all() if unit is not None and fen}


async def record_payment(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    unit_id: str,
    amount_fen: int,
    received_on: str,
    actor: str,
) -> store.Entry:
    domain.check_amount(amount_fen)
    owed = (await owed_by_unit(session, estate_id)).get(unit_id, 0)
    if amount_fen > owed:
        raise FailedPrecondition(
            f"the unit owes {money.format_yuan(owed)} yuan to the maintenance fund; a payment "
            "cannot exceed it"
        )
    return await journal.post(
        session,
        outbox,
        estate_id,
        journal.Draft(
            kind=Kind.ENTRY_KIND_PAYMENT,
            booked_on=journal.parse_day(received_on, "received_on"),
            description="缴存维修资金",
            lines=[
                (domain.MAINTENANCE_BANK, amount_fen, ""),
                (domain.MAINTENANCE_RECEIVABLES, -amount_fen, unit_id),
            ],
        ),
        actor,
    )


async def summary(
    session: AsyncSession, estate_id: uuid.UUID, *, named_units: bool
) -> ledger_pb2.MaintenanceFund:
    balances = await store.balances(session, estate_id)
    owed = await owed_by_unit(session, estate_id)
    raised = await session.execute(
        select(func.coalesce(func.sum(store.EntryLine.amount_fen), 0)).where(
            store.EntryLine.estate_id == estate_id,
            store.EntryLine.account_code == domain.MAINTENANCE_RECEIVABLES,
            store.EntryLine.amount_fen > 0,
        )
    )
    return ledger_pb2.MaintenanceFund(
        estate_id=str(estate_id),
        bank_fen=balances.get(domain.MAINTENANCE_BANK, 0),
        raised_fen=int(raised.scalar_one()),
        outstanding_fen=sum(owed.values()),
        units_owing=len(owed),
        owed=[ledger_pb2.MaintenanceOwed(unit_id=u, owed_fen=f) for u, f in sorted(owed.items())]
        if named_units
        else [],
    )
