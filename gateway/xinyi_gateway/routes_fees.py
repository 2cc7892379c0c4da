"""REST routes of property fees: rates, monthly assessments, payments, arrears, payment rate."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from xinyi.ledger.v1 import fees_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["fees"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Field(pattern=PERIOD, description="A month, YYYY-MM")]
UnitType = Literal["residential", "commercial", "parking", "other"]


class RateIO(BaseModel):
    unit_type: UnitType
    fen_per_m2_month: str = Field(
        max_length=40,
        pattern=r"^\s*\d+(\.\d+)?(/\d+)?\s*$",
        description='Fen per m² of exclusive area per month, exact: "250" (2.50 yuan), '
        '"212.5" or "425/2"',
    )
    effective_from: Period


class RatesIO(BaseModel):
    rates: list[RateIO] = Field(min_length=1, max_length=20)


class RatesOut(BaseModel):
    """The rates set so far: empty until the company sets the first."""

    rates: list[RateIO]


def _rates(reply: fees_pb2.FeeRates) -> RatesOut:
    return RatesOut(
        rates=[
            RateIO(
                unit_type=r.unit_type,
                fen_per_m2_month=r.fen_per_m2_month,
                effective_from=r.effective_from,
            )
            for r in reply.rates
        ]
    )


@router.put(
    "/fees/rates",
    response_model=RatesOut,
    summary="Set fee rates per unit type from a month on (company manager or operator)",
)
async def set_rates(estate_id: EstateId, body: RatesIO, who: Authed, svc: Svc) -> RatesOut:
    reply = await svc.fees.SetFeeRates(
        fees_pb2.SetFeeRatesRequest(
            estate_id=estate_id,
            rates=[
                fees_pb2.FeeRate(
                    unit_type=r.unit_type,
                    fen_per_m2_month=r.fen_per_m2_month.strip(),
                    effective_from=r.effective_from,
                )
                for r in body.rates
            ],
        ),
        metadata=who.metadata,
    )
    return _rates(reply)


@router.get("/fees/rates", response_model=RatesOut, summary="Every fee rate set, per unit type")
async def get_rates(estate_id: EstateId, who: Authed, svc: Svc) -> RatesOut:
    reply = await svc.fees.GetFeeRates(
        fees_pb2.GetFeeRatesRequest(estate_id=estate_id), metadata=who.metadata
    )
    return _rates(reply)


class AssessIn(BaseModel):
    period: Period


class UnitFeeOut(BaseModel):
    unit_id: str
    building: str
    number: str
    unit_type: str
    area_centi_m2: int
    fen_per_m2_month: str
    amount_fen: int
    prepaid_applied_fen: int


class AssessmentOut(BaseModel):
    period: str
    entry_id: str | None = Field(description="The entry posted; null when nothing was added")
    fees: list[UnitFeeOut]
    total_fen: int
    units_assessed: int
    unit_types_without_rate: list[str]


@router.post(
    "/fees/assessments",
    response_model=AssessmentOut,
    status_code=201,
    summary="Assess a month's fees by area × rate (company); again adds nothing (200)",
)
async def assess(
    estate_id: EstateId, body: AssessIn, who: Authed, svc: Svc, response: Response
) -> AssessmentOut:
    a = await svc.fees.AssessFees(
        fees_pb2.AssessFeesRequest(estate_id=estate_id, period=body.period),
        metadata=who.metadata,
    )
    if not a.entry_id:
        response.status_code = 200
    return AssessmentOut(
        period=a.period,
        entry_id=a.entry_id or None,
        fees=[
            UnitFeeOut(
                unit_id=f.unit_id,
                building=f.building,
                number=f.number,
                unit_type=f.unit_type,
                area_centi_m2=f.area_centi_m2,
                fen_per_m2_month=f.fen_per_m2_month,
                amount_fen=f.amount_fen,
                prepaid_applied_fen=f.prepaid_applied_fen,
            )
            for f in a.fees
        ],
        total_fen=a.total_fen,
        units_assessed=a.units_assessed,
        unit_types_without_rate=list(a.unit_types_without_rate),
    )


class PaymentIn(BaseModel):
    unit_id: str = Field(pattern=UUID_PATTERN)
    amount_fen: int = Field(gt=0, le=10**13, description="Amount in fen (100 fen = 1 yuan)")
    received_on: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Today when omitted"
    )


class MonthAmount(BaseModel):
    period: str
    amount_fen: int


class PaymentOut(BaseModel):
    unit_id: str
    entry_id: str
    amount_fen: int
    received_on: str
    settled: list[MonthAmount] = Field(description="Arrears settled, oldest month first")
    prepaid_fen: int
    arrears_fen: int = Field(description="What the unit still owes after this payment")


def _months(items: list[fees_pb2.Settlement]) -> list[MonthAmount]:
    return [MonthAmount(period=s.period, amount_fen=s.amount_fen) for s in items]


@router.post(
    "/payments",
    response_model=PaymentOut,
    status_code=201,
    summary="Record a unit's fee payment: oldest arrears first, the rest prepaid (company)",
)
async def record_payment(
    estate_id: EstateId,
    body: PaymentIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> PaymentOut:
    p = await svc.fees.RecordPayment(
        fees_pb2.RecordPaymentRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            unit_id=body.unit_id,
            amount_fen=body.amount_fen,
            received_on=body.received_on or "",
        ),
        metadata=who.metadata,
    )
    return PaymentOut(
        unit_id=p.unit_id,
        entry_id=p.entry_id,
        amount_fen=p.amount_fen,
        received_on=p.received_on,
        settled=_months(list(p.settled)),
        prepaid_fen=p.prepaid_fen,
        arrears_fen=p.arrears_fen,
    )


class UnitArrearsOut(BaseModel):
    unit_id: str
    building: str
    number: str
    unit_type: str
    owed_fen: int
    by_period: list[MonthAmount]


class ArrearsOut(BaseModel):
    total_fen: int
    units_in_arrears: int
    units_total: int
    by_period: list[MonthAmount]
    units: list[UnitArrearsOut] | None = Field(
        description="Unit by unit for the approving body, supervisors and the company; "
        "null for everyone else (a named unit's arrears are personal data)"
    )


@router.get(
    "/fees/arrears",
    response_model=ArrearsOut,
    summary="Arrears: totals for everyone, unit by unit for those whose duties need it",
)
async def arrears(estate_id: EstateId, who: Authed, svc: Svc) -> ArrearsOut:
    a = await svc.fees.ListArrears(
        fees_pb2.ListArrearsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return ArrearsOut(
        total_fen=a.total_fen,
        units_in_arrears=a.units_in_arrears,
        units_total=a.units_total,
        by_period=_months(list(a.by_period)),
        units=[
            UnitArrearsOut(
                unit_id=u.unit_id,
                building=u.building,
                number=u.number,
                unit_type=u.unit_type,
                owed_fen=u.owed_fen,
                by_period=_months(list(u.by_period)),
            )
            for u in a.units
        ]
        if a.unit_detail
        else None,
    )


class PaymentRateOut(BaseModel):
    period: str
    assessed_fen: int
    collected_fen: int
    units_assessed: int
    units_fully_paid: int
    by_amount: str = Field(description='Collected ÷ assessed, exact, e.g. "37/40"')
    by_amount_percent: str = Field(description='Two decimals, half up, e.g. "92.50"')
    by_units: str = Field(description='Units fully paid ÷ units assessed, e.g. "2/3"')
    by_units_percent: str


@router.get(
    "/fees/payment-rate",
    response_model=PaymentRateOut,
    summary="缴费率 of a month's assessments, by amount and by units",
)
async def payment_rate(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    period: Annotated[str, Query(pattern=PERIOD, description="YYYY-MM")],
) -> PaymentRateOut:
    r = await svc.fees.GetPaymentRate(
        fees_pb2.GetPaymentRateRequest(estate_id=estate_id, period=period),
        metadata=who.metadata,
    )
    return PaymentRateOut(
        period=r.period,
        assessed_fen=r.assessed_fen,
        collected_fen=r.collected_fen,
        units_assessed=r.units_assessed,
        units_fully_paid=r.units_fully_paid,
        by_amount=r.by_amount,
        by_amount_percent=r.by_amount_percent,
        by_units=r.by_units,
        by_units_percent=r.by_units_percent,
    )
