"""A trust contract's financial terms, applied when identity says it took effect, and the days a
company earns nothing because it refused to hand the estate over.

The contract itself (its parties, signatures and handovers) is identity's; what reaches the
ledger is the signed payload: the remuneration terms from the start day, the approval
thresholds, the fund's bank account and the fee rates (from the first month not yet assessed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi_kit import audit, clock
from xinyi_kit.consumer import Handler
from xinyi_ledger import domain, money, store
from xinyi_ledger.bankstatements import BankAccountRow, lock_bank_account
from xinyi_ledger.fees import LIVE, FeeAssessment, FeeRate

# A contract's terms were validated and signed in identity; the ledger applies them as given.
NOBODY = uuid.UUID(int=0)


async def apply_terms(
    session: AsyncSession, estate_id: uuid.UUID, contract_id: str, starts: date, terms: Any
) -> None:
    ratio = Fraction(terms["remuneration_ratio"]) if terms["remuneration_ratio"] else None
    sources = sorted(s for s in terms["remuneration_sources"] if s in domain.INCOME_ACCOUNT)
    await session.merge(
        store.ContractTerms(
            estate_id=estate_id,
            effective_from=starts,
            ratio_num=ratio.numerator if ratio else None,
            ratio_den=ratio.denominator if ratio else None,
            fixed_monthly_fen=terms["remuneration_fixed_monthly_fen"] or None,
            sources=sources,
        )
    )
    ladder: list[tuple[int | None, int]] = [
        (t["up_to_fen"] or None, t["approvals"]) for t in terms["approval_thresholds"]
    ]
    money.check_thresholds(ladder)
    await session.merge(
        store.ApprovalThresholds(estate_id=estate_id, thresholds=[[b, c] for b, c in ladder])
    )
    await lock_bank_account(session, estate_id, "fund")
    await session.merge(
        BankAccountRow(
            estate_id=estate_id,
            account="fund",
            number=terms["bank_account_number"],
            bank_name=terms["bank_name"],
            holder=terms["bank_account_holder"],
            registered_by=NOBODY,
            registered_at=clock.now(),
        )
    )
    month = domain.period_of(starts)
    for rate in terms["fee_rates"]:
        assessed = (
            await session.execute(
                select(func.max(FeeAssessment.period)).where(
                    FeeAssessment.estate_id == estate_id,
                    FeeAssessment.unit_type == rate["unit_type"],
                    LIVE,
                )
            )
        ).scalar_one()
        first = month if assessed is None or assessed < month else _next(assessed)
        value = Fraction(rate["fen_per_m2_month"])
        await session.merge(
            FeeRate(
                estate_id=estate_id,
                unit_type=rate["unit_type"],
                effective_from=first,
                rate_num=value.numerator,
                rate_den=value.denominator,
                set_at=clock.now(),
                set_by=None,
            )
        )
    await audit.record(
        session,
        estate_id,
        "contract_terms.from_contract",
        contract_id,
        {"effective_from": starts.isoformat(), "ratio": terms["remuneration_ratio"]},
    )


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def identity_handlers() -> Mapping[type[Message], Handler]:
    async def effective(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, identity_events.TrustContractEffective)
        payload = json.loads(event.payload_json)
        await apply_terms(
            session,
            uuid.UUID(event.estate_id),
            event.contract_id,
            date.fromisoformat(event.starts_on),
            payload["terms"],
        )

    async def refused(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, identity_events.HandoverRefused)
        estate_id, handover_id = uuid.UUID(event.estate_id), uuid.UUID(event.handover_id)
        if await session.get(store.SuspensionRow, (estate_id, handover_id)) is None:
            session.add(
                store.SuspensionRow(
                    estate_id=estate_id,
                    handover_id=handover_id,
                    company_id=uuid.UUID(event.company_id),
                    from_day=date.fromisoformat(event.refused_from),
                )
            )

    async def completed(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, identity_events.HandoverCompleted)
        row = await session.get(
            store.SuspensionRow, (uuid.UUID(event.estate_id), uuid.UUID(event.handover_id))
        )
        if row is not None:
            row.until_day = max(row.from_day, date.fromisoformat(event.handed_over_on))

    return {
        identity_events.TrustContractEffective: effective,
        identity_events.HandoverRefused: refused,
        identity_events.HandoverCompleted: completed,
    }
