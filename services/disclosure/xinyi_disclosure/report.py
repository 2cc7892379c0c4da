"""The monthly report of an estate, assembled from disclosure's read models: what owners read,
check, download and post on the notice board. Amounts are integers of fen throughout."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi_disclosure import flags as flagging
from xinyi_disclosure.flags import month_end
from xinyi_disclosure.readmodels import (
    SHANGHAI,
    Ballot,
    Budget,
    Chart,
    Disbursement,
    FeeMonth,
    Meeting,
    Period,
    Reconciliation,
    Suggestion,
    balances,
    month_entries,
    totals,
)
from xinyi_disclosure.store import EstateOverview

FUND_BANK, MAINTENANCE_BANK = "1001", "1002"
SOURCE_OF = {
    "4001": "property_fee",
    "4002": "parking",
    "4003": "advertising",
    "4004": "venue",
    "4009": "other",
}
ORDER = list(SOURCE_OF.values())
REMUNERATION_EXPENSE = "5008"
REMUNERATION_KIND = 5
PENDING = ("requested", "approved", "paid")


def percent(value: Fraction) -> str:
    """A rate as shown to owners: two decimals, half up, as the ledger states it: "92.50%"."""
    hundredths = (value * 10_000 + Fraction(1, 2)).__floor__()
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _is_income(code: str) -> bool:
    return code.startswith("4")


def _is_expense(code: str) -> bool:
    return code.startswith("5")


async def build(
    session: AsyncSession, estate_id: uuid.UUID, period: str, now: datetime, record_url: str
) -> dict[str, Any]:
    estate = await session.get(EstateOverview, estate_id)
    names = {
        c.code: c.name
        for c in (
            await session.execute(select(Chart).where(Chart.estate_id == estate_id))
        ).scalars()
    }
    entries = await month_entries(session, estate_id, period)
    income: dict[str, dict[str, Any]] = {}
    expenses: dict[str, dict[str, Any]] = {}
    remuneration, basis = 0, ""
    for e in entries:
        for code, fen in e.lines:
            if _is_income(code):
                source = SOURCE_OF.get(code, "other")
                group = income.setdefault(
                    source, {"source": source, "amount_fen": 0, "lump_sum": False, "entries": []}
                )
                group["amount_fen"] -= fen
                group["lump_sum"] = group["lump_sum"] or e.lump_sum
                group["entries"].append(
                    {
                        "entry_id": str(e.entry_id),
                        "booked_on": e.booked_on.isoformat(),
                        "description": e.description,
                        "amount_fen": -fen,
                        "items": e.items,
                    }
                )
            elif _is_expense(code):
                group = expenses.setdefault(
                    code,
                    {
                        "account": code,
                        "name": names.get(code, code),
                        "amount_fen": 0,
                        "entries": [],
                    },
                )
                group["amount_fen"] += fen
                group["entries"].append(
                    {
                        "entry_id": str(e.entry_id),
                        "booked_on": e.booked_on.isoformat(),
                        "description": e.description,
                        "amount_fen": fen,
                        "vouchers": e.vouchers,
                    }
                )
                if code == REMUNERATION_EXPENSE:
                    remuneration += fen
        if e.kind == REMUNERATION_KIND:
            basis = e.description
    banks = await balances(session, estate_id, (FUND_BANK, MAINTENANCE_BANK), period)
    (opening, closing), (m_opening, m_closing) = banks[FUND_BANK], banks[MAINTENANCE_BANK]

    fees = await session.get(FeeMonth, (estate_id, period))
    assessed = fees.assessed_fen if fees else 0
    collected = fees.collected_fen if fees else 0
    units, paid_units = (fees.units_assessed, fees.units_fully_paid) if fees else (0, 0)

    year = int(period[:4])
    budget = await session.get(Budget, (estate_id, year))
    by_code_month: dict[str, int] = defaultdict(int)
    for group in expenses.values():
        by_code_month[group["account"]] += group["amount_fen"]
    by_code_year = {
        code: fen
        for code, fen in (await totals(session, estate_id, f"{year:04d}-01", period)).items()
        if _is_expense(code)
    }
    budget_lines = [
        {
            "line_id": ln["line_id"],
            "name": ln["name"],
            "expense_code": ln["expense_code"],
            "budget_fen": ln["amount_fen"],
            "actual_fen": by_code_month.get(ln["expense_code"], 0),
            "actual_year_fen": by_code_year.get(ln["expense_code"], 0),
        }
        for ln in (budget.lines if budget else [])
    ]

    disbursements = (
        await session.execute(
            select(Disbursement)
            .where(
                Disbursement.estate_id == estate_id,
                or_(
                    Disbursement.first_period == period,
                    Disbursement.last_period == period,
                    Disbursement.state.in_(PENDING),
                ),
            )
            .order_by(Disbursement.first_period, Disbursement.disbursement_id)
        )
    ).scalars()
    bank = await session.get(Reconciliation, (estate_id, "fund"))
    ballots = (
        await session.execute(
            select(Ballot)
            .where(Ballot.estate_id == estate_id, Ballot.changed_period == period)
            .order_by(Ballot.title)
        )
    ).scalars()
    start = datetime.combine(date.fromisoformat(f"{period}-01"), datetime.min.time(), SHANGHAI)
    end = start + (month_end(period) - start.date() + timedelta(days=1))
    suggestions = (
        await session.execute(
            select(
                func.count().filter(Suggestion.opened_at >= start, Suggestion.opened_at < end),
                func.count().filter(Suggestion.resolved_at >= start, Suggestion.resolved_at < end),
                func.count().filter(Suggestion.resolved_at.is_(None)),
                func.count().filter(
                    Suggestion.resolved_at.is_(None), Suggestion.due_at < now.astimezone(UTC)
                ),
            ).where(Suggestion.estate_id == estate_id)
        )
    ).one()
    meetings = (
        await session.execute(
            select(Meeting)
            .where(
                Meeting.estate_id == estate_id,
                Meeting.starts_at >= start,
                Meeting.starts_at < end,
            )
            .order_by(Meeting.starts_at)
        )
    ).scalars()
    head = await session.get(Period, (estate_id, period))
    state = "open"
    if head is not None:
        state = "signed" if any(s["role"] == "committee" for s in head.signatures) else "closed"
    raised = await flagging.evaluate(session, estate_id, period, now, entries)
    return {
        "estate": {"estate_id": str(estate_id), "name": estate.name if estate else ""},
        "period": period,
        "generated_at": now.astimezone(SHANGHAI).isoformat(timespec="seconds"),
        "state": state,
        "record_url": record_url,
        "fund": {
            "opening_fen": opening,
            "income_fen": sum(g["amount_fen"] for g in income.values()),
            "expense_fen": sum(g["amount_fen"] for g in expenses.values()),
            "closing_fen": closing,
            "maintenance_opening_fen": m_opening,
            "maintenance_closing_fen": m_closing,
        },
        "income": sorted(
            income.values(), key=lambda g: list(SOURCE_OF.values()).index(g["source"])
        ),
        "expenses": sorted(expenses.values(), key=lambda g: g["account"]),
        "remuneration": {"accrued_fen": remuneration, "basis": basis},
        "fees": {
            "assessed_fen": assessed,
            "collected_fen": collected,
            "arrears_fen": assessed - collected,
            "units_assessed": units,
            "units_paid": paid_units,
            "payment_rate_amount": percent(Fraction(collected, assessed)) if assessed else "",
            "payment_rate_units": percent(Fraction(paid_units, units)) if units else "",
        },
        "budget": budget_lines,
        "disbursements": [
            {
                "disbursement_id": str(d.disbursement_id),
                "state": d.state,
                "amount_fen": d.amount_fen,
                "payee": d.payee,
                "purpose": d.purpose,
                "approvals": d.approvals,
                "approvals_required": d.approvals_required,
                "origin": d.origin,
            }
            for d in disbursements
        ],
        "bank": {
            "statement_through": bank.statement_through.isoformat()
            if bank and bank.statement_through
            else None,
            "reconciled_through": bank.reconciled_through.isoformat()
            if bank and bank.reconciled_through
            else None,
            "open_lines": bank.open_lines if bank else 0,
            "alarms": bank.open_alarms if bank else 0,
        },
        "ballots": [
            {
                "ballot_id": str(b.ballot_id),
                "title": b.title,
                "state": b.state,
                "decided": [
                    {
                        "question": d["question"],
                        "result": "approved" if d["approved"] else "rejected",
                    }
                    for d in b.decided
                ],
            }
            for b in ballots
        ],
        "meetings": [
            {
                "meeting_id": str(m.meeting_id),
                "title": m.title,
                "state": m.state,
                "held_at": m.starts_at.astimezone(SHANGHAI).isoformat(timespec="minutes"),
            }
            for m in meetings
        ],
        "suggestions": {
            "opened": int(suggestions[0]),
            "resolved": int(suggestions[1]),
            "open": int(suggestions[2]),
            "overdue": int(suggestions[3]),
        },
        "head": {
            "merkle_root": head.merkle_root,
            "chain_head": head.chain_head,
            "entry_count": head.entry_count,
            "signatures": [
                {"role": s["role"], "signed_at": s["signed_at"]} for s in head.signatures
            ],
        }
        if head
        else None,
        "flags": [flagging.as_dict(f) for f in raised],
    }
