"""Property fees: rates per unit type, monthly assessments by area, payments settling the oldest
arrears first, arrears (unit by unit only for those whose duties need it) and the payment rate."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import Message
from sqlalchemy import BigInteger, DateTime, Select, String, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.ledger.v1 import events_pb2, fees_pb2, fees_pb2_grpc
from xinyi_kit import audit, clock, idempotency
from xinyi_kit.db import Database, driver_connection, xact_lock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_kit.telemetry import inject_context
from xinyi_ledger import domain, journal, money, store

Kind = events_pb2.EntryKind
UNIT_TYPES = ("residential", "commercial", "parking", "other")
# A rate above 1,000 yuan per m² and month is a typing mistake (rates are in fen).
MAX_RATE_FEN = 100_000


# -- tables ------------------------------------------------------------------------------------
class Unit(store.Base):
    """A unit as identity last announced it (ownership_changed): what a fee is computed from."""

    __tablename__ = "units"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    building: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100))
    unit_type: Mapped[str] = mapped_column(String(20))
    area_centi_m2: Mapped[int] = mapped_column(BigInteger)


class UnitFacts(NamedTuple):
    """What a fee and a list of units need of a unit, read as a plain row: an estate has
    thousands of units, and an ORM object for each cost more than computing its fee."""

    unit_id: uuid.UUID
    building: str
    number: str
    unit_type: str
    area_centi_m2: int


class FeeRate(store.Base):
    __tablename__ = "fee_rates"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    effective_from: Mapped[str] = mapped_column(String(7), primary_key=True)
    rate_num: Mapped[int] = mapped_column(BigInteger)
    rate_den: Mapped[int] = mapped_column(BigInteger)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class FeeAssessment(store.Base):
    """One unit's fee for one month, with the area and rate it was computed from."""

    __tablename__ = "fee_assessments"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_type: Mapped[str] = mapped_column(String(20))
    area_centi_m2: Mapped[int] = mapped_column(BigInteger)
    rate_num: Mapped[int] = mapped_column(BigInteger)
    rate_den: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    # The reversal entry that took this assessment back; the month may then be assessed again.
    reversed_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


LIVE = FeeAssessment.reversed_by.is_(None)


class FeeSettlement(store.Base):
    """What an entry (a payment, or a prepaid balance applied) paid towards a month's fee; a
    reversal's rows are negative: what it took back."""

    __tablename__ = "fee_settlements"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


# A run of units as identity announced them, each as it last stands (a 10,000-unit import is
# 10,000 ownership changes: one statement per run of them, not one per unit).
_UPSERT_UNITS = (
    "INSERT INTO units (estate_id, unit_id, building, number, unit_type, area_centi_m2) "
    "SELECT $1, u.* FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[]) "
    "AS u ON CONFLICT (estate_id, unit_id) DO UPDATE SET building = EXCLUDED.building, "
    "number = EXCLUDED.number, unit_type = EXCLUDED.unit_type, "
    "area_centi_m2 = EXCLUDED.area_centi_m2"
)


async def upsert_units(
    session: AsyncSession, estate_id: uuid.UUID, units: Sequence[UnitFacts]
) -> None:
    """Stores `units` of one estate (in the order announced: a unit named twice keeps its last
    facts) in one statement."""
    last = {u.unit_id: u for u in units}  # one row per unit: a statement changes a row once
    raw = await driver_connection(session)
    await raw.execute(
        _UPSERT_UNITS,
        estate_id,
        list(last),
        [u.building[:100] for u in last.values()],
        [u.number[:100] for u in last.values()],
        [u.unit_type[:20] for u in last.values()],
        [u.area_centi_m2 for u in last.values()],
    )


# -- pure rules --------------------------------------------------------------------------------
def parse_rate(value: str) -> Fraction:
    """A rate in fen per m² and month, exact: "250", "212.5" or "425/2"."""
    try:
        rate = Fraction(value.strip()) if len(value) <= 40 else None
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None:
        raise InvalidArgument(
            f"the rate {value!r} is not a number of fen per m² and month, like 250, 212.5 or 425/2"
        )
    if not 0 < rate <= MAX_RATE_FEN:
        raise InvalidArgument(
            "a rate is more than 0 and at most 100000 fen (1,000 yuan) per m² and month"
        )
    if rate.denominator >= 2**31:
        raise InvalidArgument("give the rate with fewer decimals")
    return rate


def fraction_text(value: Fraction) -> str:
    """Always "numerator/denominator", so a reader parses one form: "37/40", "1/1", "0/1"."""
    return f"{value.numerator}/{value.denominator}"


def rate_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else fraction_text(value)


def percent(value: Fraction) -> str:
    """A share as a percentage with two decimals, half up: 37/40 -> "92.50"."""
    hundredths = money.round_half_up(value * 10_000)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def rate_for(rates: Sequence[FeeRate], unit_type: str, period: str) -> Fraction | None:
    """The rate of a unit type in force in a month: the latest that starts on or before it."""
    found = None
    for rate in rates:
        if (
            rate.unit_type == unit_type
            and rate.effective_from <= period
            and (found is None or rate.effective_from > found.effective_from)
        ):
            found = rate
    return Fraction(found.rate_num, found.rate_den) if found else None


def dues(
    units: Sequence[UnitFacts], done: set[uuid.UUID], rates: Sequence[FeeRate], period: str
) -> tuple[list[tuple[UnitFacts, Fraction, int]], set[str]]:
    """The month's fee of each unit not yet assessed for it, with the rate it came from, and
    the unit types without a rate in force. A unit without registered area owes nothing by
    area, so it is left out."""
    in_force = {kind: rate_for(rates, kind, period) for kind in {u.unit_type for u in units}}
    # Units of one floor plan share their area, so an estate has far fewer fees to compute
    # (exactly, with fractions: the slowest step per unit) than units.
    fee_of: dict[tuple[str, int], int] = {}
    due: list[tuple[UnitFacts, Fraction, int]] = []
    missing: set[str] = set()
    for unit in units:
        if unit.unit_id in done:
            continue
        rate = in_force[unit.unit_type]
        if rate is None:
            missing.add(unit.unit_type)
            continue
        plan = (unit.unit_type, unit.area_centi_m2)
        amount = fee_of.get(plan)
        if amount is None:
            amount = fee_of[plan] = money.unit_fee(unit.area_centi_m2, rate)
        if amount > 0:
            due.append((unit, rate, amount))
    return due, missing


@dataclass(frozen=True)
class Fee:
    unit: Unit | UnitFacts
    rate: Fraction
    amount_fen: int
    prepaid_applied_fen: int


def assessment_lines(fees: Sequence[Fee]) -> list[tuple[str, int, str]]:
    """Debit each unit's receivable, credit fee income once; then a unit's prepaid balance
    settles its new fee (debit prepaid, credit that unit's receivable)."""
    lines = [(domain.RECEIVABLES, f.amount_fen, str(f.unit.unit_id)) for f in fees]
    lines.append((domain.INCOME_ACCOUNT["property_fee"], -sum(f.amount_fen for f in fees), ""))
    for f in fees:
        if f.prepaid_applied_fen:
            lines.append((domain.PREPAID, f.prepaid_applied_fen, str(f.unit.unit_id)))
            lines.append((domain.RECEIVABLES, -f.prepaid_applied_fen, str(f.unit.unit_id)))
    return lines


def payment_lines(
    amount_fen: int, unit_id: str, settled: Sequence[tuple[str, int]], prepaid_fen: int
) -> list[tuple[str, int, str]]:
    """Debit the fund's bank; credit the unit's receivable per month settled, the rest prepaid."""
    lines = [(domain.FUND_BANK, amount_fen, "")]
    lines += [(domain.RECEIVABLES, -paid, unit_id) for _, paid in settled]
    if prepaid_fen:
        lines.append((domain.PREPAID, -prepaid_fen, unit_id))
    return lines


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:]), 1)


# -- queries -----------------------------------------------------------------------------------
async def _lock_fees(session: AsyncSession, estate_id: uuid.UUID) -> None:
    # Assessments and payments of an estate take turns: both read arrears and prepaid balances
    # before they write, and a race would settle one month twice.
    await xact_lock(session, f"fees:{estate_id}")


async def arrears_of(
    session: AsyncSession, estate_id: uuid.UUID, unit_id: uuid.UUID | None = None
) -> dict[uuid.UUID, list[tuple[str, int]]]:
    """What each unit still owes per month (only months with something owed), oldest first."""
    paid = (
        select(
            FeeSettlement.unit_id,
            FeeSettlement.period,
            func.sum(FeeSettlement.amount_fen).label("paid"),
        )
        .where(FeeSettlement.estate_id == estate_id)
        .group_by(FeeSettlement.unit_id, FeeSettlement.period)
        .subquery()
    )
    owed = FeeAssessment.amount_fen - func.coalesce(paid.c.paid, 0)
    query = (
        select(FeeAssessment.unit_id, FeeAssessment.period, owed)
        .outerjoin(
            paid,
            (paid.c.unit_id == FeeAssessment.unit_id) & (paid.c.period == FeeAssessment.period),
        )
        .where(FeeAssessment.estate_id == estate_id, LIVE, owed > 0)
        .order_by(FeeAssessment.unit_id, FeeAssessment.period)
    )
    if unit_id is not None:
        query = query.where(FeeAssessment.unit_id == unit_id)
    result: dict[uuid.UUID, list[tuple[str, int]]] = {}
    for unit, period, amount in (await session.execute(query)).all():
        result.setdefault(unit, []).append((period, int(amount)))
    return result


async def reminders(
    session: AsyncSession, estate_id: uuid.UUID, period: str
) -> list[tuple[str, Message]]:
    """Fee reminders after a month's assessment: what each unit owes for the month, and each
    unit's older arrears. Reminders only: nothing is ever cut (Civil Code art. 944)."""
    out: list[tuple[str, Message]] = []
    for unit, months in sorted((await arrears_of(session, estate_id)).items()):
        this = sum(fen for p, fen in months if p == period)
        older = [(p, fen) for p, fen in months if p < period]
        if this:
            out.append(
                (
                    "fee_reminder",
                    events_pb2.FeeReminder(
                        estate_id=str(estate_id),
                        unit_id=str(unit),
                        kind="due",
                        period=period,
                        owed_fen=this,
                    ),
                )
            )
        if older:
            out.append(
                (
                    "fee_reminder",
                    events_pb2.FeeReminder(
                        estate_id=str(estate_id),
                        unit_id=str(unit),
                        kind="arrears",
                        period=period,
                        owed_fen=sum(fen for _, fen in older),
                        oldest_period=older[0][0],
                    ),
                )
            )
    return out


async def prepaid_of(
    session: AsyncSession, estate_id: uuid.UUID, unit_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, int]:
    """Each unit's prepaid balance in fen (the credit balance of its prepaid fee lines); of
    every unit of the estate that has one when `unit_ids` is None (a month's assessment: naming
    thousands of units would cost more than reading the few prepaid lines)."""
    if unit_ids is not None and not unit_ids:
        return {}
    query = (
        select(store.EntryLine.unit_id, func.sum(store.EntryLine.amount_fen))
        .where(
            store.EntryLine.estate_id == estate_id,
            store.EntryLine.account_code == domain.PREPAID,
        )
        .group_by(store.EntryLine.unit_id)
    )
    if unit_ids is not None:
        query = query.where(store.EntryLine.unit_id.in_(unit_ids))
    rows = await session.execute(query)
    return {unit: -int(total) for unit, total in rows.all() if unit is not None and total < 0}


# A month's assessment writes each table in one statement however many units the estate has
# (an ORM object per unit was half of an assessment's time).
_INSERT_ASSESSMENTS = text(
    "INSERT INTO fee_assessments (estate_id, period, unit_id, unit_type, area_centi_m2, "
    "rate_num, rate_den, amount_fen, entry_id) "
    "SELECT CAST(:estate AS uuid), CAST(:period AS text), unit, kind, area, num, den, fen, "
    "CAST(:entry AS uuid) "
    "FROM unnest(CAST(:units AS uuid[]), CAST(:kinds AS text[]), CAST(:areas AS bigint[]), "
    "CAST(:nums AS bigint[]), CAST(:dens AS bigint[]), CAST(:fens AS bigint[])) "
    "AS fee (unit, kind, area, num, den, fen)"
)
_INSERT_SETTLEMENTS = text(
    "INSERT INTO fee_settlements (estate_id, entry_id, unit_id, period, amount_fen) "
    "SELECT CAST(:estate AS uuid), CAST(:entry AS uuid), unit, CAST(:period AS text), fen "
    "FROM unnest(CAST(:units AS uuid[]), CAST(:fens AS bigint[])) AS paid (unit, fen)"
)


async def _record_assessments(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    entry_id: uuid.UUID,
    fees: Sequence[Fee],
) -> None:
    """Each unit's fee for the month, with the area and rate it came from, and the prepaid
    balance its assessment entry applied to it (a settlement of the month)."""
    keys = {"estate": estate_id, "period": period, "entry": entry_id}
    await session.execute(
        _INSERT_ASSESSMENTS,
        {
            **keys,
            "units": [f.unit.unit_id for f in fees],
            "kinds": [f.unit.unit_type for f in fees],
            "areas": [f.unit.area_centi_m2 for f in fees],
            "nums": [f.rate.numerator for f in fees],
            "dens": [f.rate.denominator for f in fees],
            "fens": [f.amount_fen for f in fees],
        },
    )
    applied = [f for f in fees if f.prepaid_applied_fen]
    if applied:
        await session.execute(
            _INSERT_SETTLEMENTS,
            {
                **keys,
                "units": [f.unit.unit_id for f in applied],
                "fens": [f.prepaid_applied_fen for f in applied],
            },
        )


# -- corrections -------------------------------------------------------------------------------
@dataclass
class Correction:
    """What reversing a fee entry takes back: the reversal's lines, the settlements it undoes
    (negative), the assessments it withdraws, and a sentence for owners."""

    lines: list[tuple[str, int, str]]
    settlements: list[tuple[uuid.UUID, str, int]]  # unit, month, fen (negative: taken back)
    note: str
    assessments: list[FeeAssessment]


async def _settled(
    session: AsyncSession, estate_id: uuid.UUID, unit_ids: Sequence[uuid.UUID], period: str = ""
) -> dict[tuple[uuid.UUID, str], int]:
    """What stands settled per unit and month of the live assessments."""
    query = (
        select(FeeSettlement.unit_id, FeeSettlement.period, func.sum(FeeSettlement.amount_fen))
        .where(FeeSettlement.estate_id == estate_id, FeeSettlement.unit_id.in_(unit_ids))
        .group_by(FeeSettlement.unit_id, FeeSettlement.period)
    )
    if period:
        query = query.where(FeeSettlement.period == period)
    rows = (await session.execute(query)).all()
    return {(u, p): int(fen) for u, p, fen in rows if fen}


async def payment_correction(
    session: AsyncSession, estate_id: uuid.UUID, lines: Sequence[store.EntryLine]
) -> Correction:
    """Taking back a payment (it bounced, or belonged to another unit). The money leaves the
    unit's account the way it came, mirrored: its prepaid credit first, then the newest months
    it settled, so what the unit's other payments cover stays the oldest months."""
    await _lock_fees(session, estate_id)
    amount = sum(ln.amount_fen for ln in lines if ln.account_code == domain.FUND_BANK)
    units = {ln.unit_id for ln in lines if ln.unit_id is not None}
    if len(units) != 1 or amount <= 0:
        raise FailedPrecondition("this entry is not one unit's payment")
    (unit_id,) = units
    take_prepaid = min(amount, (await prepaid_of(session, estate_id, [unit_id])).get(unit_id, 0))
    rest = amount - take_prepaid
    out: list[tuple[str, int, str]] = [(domain.FUND_BANK, -amount, "")]
    if take_prepaid:
        out.append((domain.PREPAID, take_prepaid, str(unit_id)))
    settlements: list[tuple[uuid.UUID, str, int]] = []
    settled = await _settled(session, estate_id, [unit_id])
    for (_, period), fen in sorted(settled.items(), key=lambda kv: kv[0][1], reverse=True):
        if rest == 0:
            break
        back = min(fen, rest)
        rest -= back
        out.append((domain.RECEIVABLES, back, str(unit_id)))
        settlements.append((unit_id, period, -back))
    if rest:
        raise FailedPrecondition(
            "the unit's account no longer holds this payment (its fees were corrected since); "
            "correct those first"
        )
    months = sorted(p for _, p, _ in settlements)
    note = f"退回物业费 {money.format_yuan(amount)} 元" + (
        f"，重新计欠 {_months(months)}" if months else ""
    )
    return Correction(out, settlements, note, [])


async def assessment_correction(
    session: AsyncSession, estate_id: uuid.UUID, entry_id: uuid.UUID
) -> Correction:
    """Taking back a month's assessment (a wrong rate or area), so it can be assessed again:
    every unit's fee is withdrawn, and whatever was already paid towards it becomes the unit's
    prepaid credit, which the new assessment applies first."""
    await _lock_fees(session, estate_id)
    rows = list(
        (
            await session.execute(
                select(FeeAssessment).where(
                    FeeAssessment.estate_id == estate_id,
                    FeeAssessment.entry_id == entry_id,
                    LIVE,
                )
            )
        ).scalars()
    )
    if not rows:
        raise FailedPrecondition("this entry holds no fees that stand; nothing to take back")
    (period,) = {r.period for r in rows}
    settled = await _settled(session, estate_id, [r.unit_id for r in rows], period)
    total = sum(r.amount_fen for r in rows)
    out: list[tuple[str, int, str]] = [(domain.INCOME_ACCOUNT["property_fee"], total, "")]
    settlements: list[tuple[uuid.UUID, str, int]] = []
    for r in rows:
        paid = settled.get((r.unit_id, period), 0)
        out.append((domain.RECEIVABLES, paid - r.amount_fen, str(r.unit_id)))
        if paid:
            out.append((domain.PREPAID, -paid, str(r.unit_id)))
            settlements.append((r.unit_id, period, -paid))
    credited = -sum(fen for _, _, fen in settlements)
    note = f"撤销 {period} 物业费计费 {len(rows)} 户，合计 {money.format_yuan(total)} 元" + (
        f"；已收 {money.format_yuan(credited)} 元转为预收" if credited else ""
    )
    return Correction([ln for ln in out if ln[1]], settlements, note, rows)


async def apply_correction(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    correction: Correction,
    reversal: store.Entry,
    original: store.Entry,
) -> None:
    """Records what a fee reversal took back, once its entry is posted."""
    session.add_all(
        FeeSettlement(
            estate_id=estate_id,
            entry_id=reversal.entry_id,
            unit_id=unit,
            period=period,
            amount_fen=fen,
        )
        for unit, period, fen in correction.settlements
    )
    for row in correction.assessments:
        row.reversed_by = reversal.entry_id
    await session.flush()
    periods = sorted(
        {r.period for r in correction.assessments} | {p for _, p, _ in correction.settlements}
    )
    await outbox.emit(
        session,
        estate_id,
        "fees_corrected",
        events_pb2.FeesCorrected(
            estate_id=str(estate_id),
            entry_id=str(reversal.entry_id),
            reverses_entry_id=str(original.entry_id),
            kind="assessment" if correction.assessments else "payment",
            periods=periods,
            unit_ids=sorted(
                {str(r.unit_id) for r in correction.assessments}
                | {str(u) for u, _, _ in correction.settlements}
            ),
            withdrawn_fen=sum(r.amount_fen for r in correction.assessments),
            unsettled_fen=-sum(fen for _, _, fen in correction.settlements),
        ),
    )
    await emit_months(session, outbox, estate_id, periods)


async def _units(session: AsyncSession, estate_id: uuid.UUID) -> list[UnitFacts]:
    rows = await session.execute(
        select(Unit.unit_id, Unit.building, Unit.number, Unit.unit_type, Unit.area_centi_m2)
        .where(Unit.estate_id == estate_id)
        .order_by(Unit.building, Unit.number)
    )
    return [UnitFacts(*row) for row in rows.tuples()]


async def _rates(session: AsyncSession, estate_id: uuid.UUID) -> list[FeeRate]:
    rows = await session.execute(
        select(FeeRate)
        .where(FeeRate.estate_id == estate_id)
        .order_by(FeeRate.unit_type, FeeRate.effective_from)
    )
    return list(rows.scalars())


def _rates_pb(estate_id: uuid.UUID, rates: Sequence[FeeRate]) -> fees_pb2.FeeRates:
    return fees_pb2.FeeRates(
        estate_id=str(estate_id),
        rates=[
            fees_pb2.FeeRate(
                unit_type=r.unit_type,
                fen_per_m2_month=rate_text(Fraction(r.rate_num, r.rate_den)),
                effective_from=r.effective_from,
            )
            for r in rates
        ],
    )


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID") from None


def _months(periods: Sequence[str]) -> str:
    return "、".join(periods)


# -- the servicer ------------------------------------------------------------------------------
class FeesApi(fees_pb2_grpc.FeesServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def SetFeeRates(
        self, request: fees_pb2.SetFeeRatesRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.FeeRates:
        principal, estate_id = authorize_estate(Action.FEES_SET_RATES, request.estate_id)
        if not request.rates:
            raise InvalidArgument("give at least one rate: a unit type, fen per m², and a month")
        wanted: dict[tuple[str, str], Fraction] = {}
        for r in request.rates:
            if r.unit_type not in UNIT_TYPES:
                raise InvalidArgument("unit_type is one of: " + ", ".join(UNIT_TYPES))
            starts = domain.check_period(r.effective_from)
            if (r.unit_type, starts) in wanted:
                raise InvalidArgument(f"two rates for {r.unit_type} from {starts}; give one")
            wanted[(r.unit_type, starts)] = parse_rate(r.fen_per_m2_month)
        async with self.db.estate_tx(estate_id) as session:
            await _lock_fees(session, estate_id)
            for (unit_type, starts), rate in sorted(wanted.items()):
                assessed = (
                    await session.execute(
                        select(func.max(FeeAssessment.period)).where(
                            FeeAssessment.estate_id == estate_id,
                            FeeAssessment.unit_type == unit_type,
                            FeeAssessment.period >= starts,
                            LIVE,
                        )
                    )
                ).scalar_one()
                if assessed is not None:
                    raise FailedPrecondition(
                        f"{unit_type} units are assessed for {assessed} already; "
                        "a new rate takes effect from a later month"
                    )
                await session.merge(
                    FeeRate(
                        estate_id=estate_id,
                        unit_type=unit_type,
                        effective_from=starts,
                        rate_num=rate.numerator,
                        rate_den=rate.denominator,
                        set_at=clock.now(),
                        set_by=uuid.UUID(principal.user_id),
                    )
                )
            await session.flush()
            await audit.record(
                session,
                estate_id,
                "fees.set_rates",
                "",
                {
                    "rates": [
                        {"unit_type": t, "effective_from": s, "fen_per_m2_month": rate_text(r)}
                        for (t, s), r in sorted(wanted.items())
                    ]
                },
            )
            return _rates_pb(estate_id, await _rates(session, estate_id))

    async def GetFeeRates(
        self, request: fees_pb2.GetFeeRatesRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.FeeRates:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            return _rates_pb(estate_id, await _rates(session, estate_id))

    async def AssessFees(
        self, request: fees_pb2.AssessFeesRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.Assessment:
        principal, estate_id = authorize_estate(Action.FEES_ASSESS, request.estate_id)
        period = domain.check_period(request.period)
        if period > domain.period_of(journal.today()):
            raise FailedPrecondition(
                f"{period} has not begun; a month's fees are assessed from its first day"
            )
        async with self.db.estate_tx(estate_id) as session:
            await _lock_fees(session, estate_id)
            units = await _units(session, estate_id)
            if not units:
                raise FailedPrecondition(
                    "the ledger knows no units of this estate yet; import the units and owners "
                    "first (they arrive from identity within moments)"
                )
            done = set(
                (
                    await session.execute(
                        select(FeeAssessment.unit_id).where(
                            FeeAssessment.estate_id == estate_id,
                            FeeAssessment.period == period,
                            LIVE,
                        )
                    )
                ).scalars()
            )
            due, missing = dues(units, done, await _rates(session, estate_id), period)
            if not due and not done:
                raise FailedPrecondition(
                    f"no fee rate applies to {period} for "
                    f"{', '.join(sorted(missing)) or 'any unit'}; set the rates first"
                )
            reply = fees_pb2.Assessment(
                estate_id=str(estate_id),
                period=period,
                units_assessed=len(done) + len(due),
                unit_types_without_rate=sorted(missing),
            )
            if not due:
                return reply
            prepaid = await prepaid_of(session, estate_id, None)
            fees = [
                Fee(unit, rate, amount, min(prepaid.get(unit.unit_id, 0), amount))
                for unit, rate, amount in due
            ]
            total = sum(f.amount_fen for f in fees)
            applied = sum(f.prepaid_applied_fen for f in fees)
            description = (
                f"{period} 物业费计费：{len(fees)} 户，合计 {money.format_yuan(total)} 元"
                + (f"；预收物业费抵扣 {money.format_yuan(applied)} 元" if applied else "")
            )
            entry = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_ASSESSMENT,
                    booked_on=first_day(period),
                    description=description,
                    lines=assessment_lines(fees),
                    income_source="property_fee",
                ),
                principal.user_id,
            )
            await _record_assessments(session, estate_id, period, entry.entry_id, fees)
            assessed = events_pb2.FeesAssessed(
                estate_id=str(estate_id), period=period, unit_count=len(fees), total_fen=total
            )
            await append_events(
                session,
                self.outbox,
                estate_id,
                [
                    ("fees_assessed", assessed),
                    *await month_events(session, estate_id, [period]),
                    *await reminders(session, estate_id, period),
                ],
            )
            await audit.record(
                session,
                estate_id,
                "fees.assess",
                period,
                {"units": len(fees), "total_fen": total, "entry": str(entry.entry_id)},
            )
            reply.entry_id = str(entry.entry_id)
            reply.total_fen = total
            reply.fees.extend(
                fees_pb2.UnitFee(
                    unit_id=str(f.unit.unit_id),
                    building=f.unit.building,
                    number=f.unit.number,
                    unit_type=f.unit.unit_type,
                    area_centi_m2=f.unit.area_centi_m2,
                    fen_per_m2_month=rate_text(f.rate),
                    amount_fen=f.amount_fen,
                    prepaid_applied_fen=f.prepaid_applied_fen,
                )
                for f in fees
            )
            return reply

    async def RecordPayment(
        self, request: fees_pb2.RecordPaymentRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.Payment:
        principal, estate_id = authorize_estate(Action.PAYMENT_RECORD, request.estate_id)
        unit_id = _uuid(request.unit_id, "unit_id")
        amount = domain.check_amount(request.amount_fen)
        day = journal.parse_day(request.received_on, "received_on")
        if day > journal.today():
            raise InvalidArgument("received_on is in the future; record a payment once received")

        async def run() -> fees_pb2.Payment:
            await _lock_fees(session, estate_id)
            unit = await session.get(Unit, (estate_id, unit_id))
            if unit is None:
                raise NotFound("no such unit in this estate's ledger")
            owed = (await arrears_of(session, estate_id, unit_id)).get(unit_id, [])
            settled, prepaid = money.allocate_payment(amount, owed)
            parts = [f"结清 {_months([p for p, _ in settled])}"] if settled else []
            if prepaid:
                parts.append(f"预收 {money.format_yuan(prepaid)} 元")
            entry = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_PAYMENT,
                    booked_on=day,
                    description=f"物业费收款 {money.format_yuan(amount)} 元：{'；'.join(parts)}",
                    lines=payment_lines(amount, str(unit_id), settled, prepaid),
                    income_source="property_fee",
                ),
                principal.user_id,
            )
            session.add_all(
                FeeSettlement(
                    estate_id=estate_id,
                    entry_id=entry.entry_id,
                    unit_id=unit_id,
                    period=period,
                    amount_fen=paid,
                )
                for period, paid in settled
            )
            await session.flush()
            await self.outbox.emit(
                session,
                estate_id,
                "payment_received",
                events_pb2.PaymentReceived(
                    estate_id=str(estate_id),
                    unit_id=str(unit_id),
                    amount_fen=amount,
                    entry_id=str(entry.entry_id),
                ),
            )
            await emit_months(session, self.outbox, estate_id, [p for p, _ in settled])
            # Remuneration accrues on fees received, so on this payment.
            await journal.accrue_remuneration(
                session, self.outbox, estate_id, entry.period, day, principal.user_id
            )
            await audit.record(
                session,
                estate_id,
                "payment.record",
                str(unit_id),
                {"amount_fen": amount, "entry": str(entry.entry_id)},
            )
            return fees_pb2.Payment(
                estate_id=str(estate_id),
                unit_id=str(unit_id),
                entry_id=str(entry.entry_id),
                amount_fen=amount,
                received_on=day.isoformat(),
                settled=[fees_pb2.Settlement(period=p, amount_fen=a) for p, a in settled],
                prepaid_fen=prepaid,
                arrears_fen=sum(a for _, a in owed) - sum(a for _, a in settled),
            )

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:RecordPayment",
                request.idempotency_key,
                request,
                fees_pb2.Payment,
                run,
            )

    async def ListArrears(
        self, request: fees_pb2.ListArrearsRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.Arrears:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        # A named unit's arrears are personal data: owners see them only as aggregates.
        detail = allowed(principal, Action.ARREARS_READ_UNITS, estate_id)
        async with self.db.estate_tx(estate_id) as session:
            owed = await arrears_of(session, estate_id)
            units = await _units(session, estate_id)
        by_period: dict[str, int] = {}
        for months in owed.values():
            for period, amount in months:
                by_period[period] = by_period.get(period, 0) + amount
        reply = fees_pb2.Arrears(
            estate_id=str(estate_id),
            total_fen=sum(by_period.values()),
            units_in_arrears=len(owed),
            units_total=len(units),
            by_period=[
                fees_pb2.Settlement(period=p, amount_fen=a) for p, a in sorted(by_period.items())
            ],
            unit_detail=detail,
        )
        if detail:
            reply.units.extend(
                fees_pb2.UnitArrears(
                    unit_id=str(u.unit_id),
                    building=u.building,
                    number=u.number,
                    unit_type=u.unit_type,
                    owed_fen=sum(a for _, a in owed[u.unit_id]),
                    by_period=[
                        fees_pb2.Settlement(period=p, amount_fen=a) for p, a in owed[u.unit_id]
                    ],
                )
                for u in units
                if u.unit_id in owed
            )
        return reply

    async def GetPaymentRate(
        self, request: fees_pb2.GetPaymentRateRequest, context: grpc.aio.ServicerContext
    ) -> fees_pb2.PaymentRate:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        period = domain.check_period(request.period)
        async with self.db.estate_tx(estate_id) as session:
            assessed, collected = await _month(session, estate_id, period)
        month = _figures(estate_id, period, assessed, collected)
        by_amount, by_units = money.payment_rate(assessed, collected)
        return fees_pb2.PaymentRate(
            estate_id=str(estate_id),
            period=period,
            assessed_fen=month.assessed_fen,
            collected_fen=month.collected_fen,
            units_assessed=month.units_assessed,
            units_fully_paid=month.units_fully_paid,
            by_amount=fraction_text(by_amount),
            by_amount_percent=percent(by_amount),
            by_units=fraction_text(by_units),
            by_units_percent=percent(by_units),
        )


async def _month(
    session: AsyncSession, estate_id: uuid.UUID, period: str
) -> tuple[Mapping[str, int], Mapping[str, int]]:
    """A month's live assessments by unit, and what each unit paid towards its month."""
    assessed = await _by_unit(
        session,
        select(FeeAssessment.unit_id, FeeAssessment.amount_fen).where(
            FeeAssessment.estate_id == estate_id, FeeAssessment.period == period, LIVE
        ),
    )
    collected = await _by_unit(
        session,
        select(FeeSettlement.unit_id, func.sum(FeeSettlement.amount_fen))
        .where(FeeSettlement.estate_id == estate_id, FeeSettlement.period == period)
        .group_by(FeeSettlement.unit_id),
    )
    return assessed, collected


def _figures(
    estate_id: uuid.UUID, period: str, assessed: Mapping[str, int], collected: Mapping[str, int]
) -> events_pb2.FeesMonth:
    """The sums behind money.payment_rate: a unit's payment counts up to its assessment."""
    units = [u for u, owed in assessed.items() if owed > 0]
    return events_pb2.FeesMonth(
        estate_id=str(estate_id),
        period=period,
        assessed_fen=sum(assessed[u] for u in units),
        collected_fen=sum(min(collected.get(u, 0), assessed[u]) for u in units),
        units_assessed=len(units),
        units_fully_paid=sum(1 for u in units if collected.get(u, 0) >= assessed[u]),
    )


async def month_events(
    session: AsyncSession, estate_id: uuid.UUID, periods: Iterable[str]
) -> list[tuple[str, Message]]:
    """The months' figures as they stand, as events to emit."""
    events: list[tuple[str, Message]] = []
    for period in sorted(set(periods)):
        assessed, collected = await _month(session, estate_id, period)
        events.append(("fees_month", _figures(estate_id, period, assessed, collected)))
    return events


async def emit_months(
    session: AsyncSession, outbox: Outbox, estate_id: uuid.UUID, periods: Iterable[str]
) -> None:
    """Tells readers (disclosure) the months' figures after they changed."""
    await outbox.emit_many(session, estate_id, await month_events(session, estate_id, periods))


# A month's assessment emits an event per unit (its reminder): they are written in one statement
# and numbered as they are written, since numbering them at commit (the outbox's deferred
# trigger) would write every row a second time. Taking the numbers locks the estate's counter
# until the commit, as the trigger would at commit, so the estate's other writers still take
# theirs after this transaction's; little else happens before the commit. The group commit
# of incomes numbers its events the same way (`posting_write`).
_APPEND_EVENTS = text(
    "WITH counter AS ("
    "INSERT INTO outbox_sequence AS s (estate_id, last_seq) "
    "VALUES (CAST(:estate AS uuid), CAST(:count AS bigint)) "
    "ON CONFLICT (estate_id) DO UPDATE SET last_seq = s.last_seq + CAST(:count AS bigint) "
    "RETURNING s.last_seq) "
    "INSERT INTO outbox (estate_id, seq, event_id, subject, event_type, envelope, "
    "trace_headers, occurred_at) "
    "SELECT CAST(:estate AS uuid), counter.last_seq - CAST(:count AS bigint) + e.n, e.id, "
    "e.subject, e.kind, e.envelope, CAST(:headers AS jsonb), CAST(:at AS timestamptz) "
    "FROM counter, unnest(CAST(:ids AS uuid[]), CAST(:subjects AS text[]), "
    "CAST(:kinds AS text[]), CAST(:envelopes AS bytea[])) "
    "WITH ORDINALITY AS e (id, subject, kind, envelope, n) "
    "ORDER BY e.n"
)


# Events written a statement at a time: the driver encodes a statement's arrays in one buffer
# beside them, 8 MiB for a statement's ten thousand matches at once.
_APPEND_CHUNK = 1_000


async def append_events(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    events: Iterable[tuple[str, Message]],
) -> None:
    """Writes the estate's events, numbered in order after those the transaction wrote so far
    (`journal.post`'s entry_posted), which take their numbers first.

    Each event is serialized as it comes and only its bytes are kept, a thousand at a time: a
    message costs about three times its bytes in memory, so a caller with thousands (a
    statement's matches) hands a generator that makes them one at a time."""
    await session.execute(text("SELECT outbox_number_now(:e)"), {"e": estate_id})
    occurred_at = clock.now()
    headers = json.dumps(inject_context())
    written, pending = 0, iter(events)
    while chunk := list(itertools.islice(pending, _APPEND_CHUNK)):
        rows = [outbox.row(estate_id, name, event, occurred_at, headers) for name, event in chunk]
        await session.execute(
            _APPEND_EVENTS,
            {
                "estate": estate_id,
                "count": len(rows),
                "headers": headers,
                "at": occurred_at,
                "ids": [row["id"] for row in rows],
                "subjects": [row["subj"] for row in rows],
                "kinds": [row["t"] for row in rows],
                "envelopes": [row["env"] for row in rows],
            },
        )
        written += len(rows)
    if written:
        # Delivered at commit, so the relay wakes only for events that exist.
        await session.execute(text("SELECT pg_notify(:c, '')"), {"c": outbox.channel})


async def _by_unit(session: AsyncSession, query: Select[Any]) -> Mapping[str, int]:
    rows = await session.execute(query)
    return {str(unit): int(amount) for unit, amount in rows.all()}
