"""KPIs as monthly series, for an estate, a community or the city, beside the baseline recorded
when the estate joined: the payment rate (by amount and by units), disputes (suggestions,
complaints and inquiries opened and resolved, and the median days to resolve), computed from
the read models, never typed in."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi_disclosure.readmodels import SHANGHAI, Baseline, FeeMonth, Suggestion


def months_back(last: str, count: int) -> list[str]:
    index = int(last[:4]) * 12 + int(last[5:]) - 1
    return [f"{(index - n) // 12:04d}-{(index - n) % 12 + 1:02d}" for n in range(count - 1, -1, -1)]


def _rate(part: int, whole: int) -> str | None:
    """Per cent with two decimals, half up; None when there is nothing to divide."""
    if not whole:
        return None
    hundredths = (Fraction(part, whole) * 10_000 + Fraction(1, 2)).__floor__()
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _month(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


async def series(
    session: AsyncSession, estate_ids: Sequence[uuid.UUID], months: Sequence[str]
) -> dict[str, Any]:
    """The months' figures summed over the estates (rates from the sums, not averaged)."""
    fees = (
        await session.execute(
            select(FeeMonth).where(FeeMonth.estate_id.in_(estate_ids), FeeMonth.period.in_(months))
        )
    ).scalars()
    money: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for f in fees:
        row = money[f.period]
        row[0] += f.assessed_fen
        row[1] += f.collected_fen
        row[2] += f.units_assessed
        row[3] += f.units_fully_paid
    suggestions = (
        await session.execute(select(Suggestion).where(Suggestion.estate_id.in_(estate_ids)))
    ).scalars()
    opened: dict[str, int] = defaultdict(int)
    resolved: dict[str, list[float]] = defaultdict(list)
    for s in suggestions:
        opened[_month(s.opened_at)] += 1
        if s.resolved_at is not None:
            resolved[_month(s.resolved_at)].append(
                (s.resolved_at - s.opened_at) / timedelta(days=1)
            )
    points = []
    for m in months:
        assessed, collected, units, paid = money.get(m, [0, 0, 0, 0])
        days = resolved.get(m, [])
        points.append(
            {
                "month": m,
                "assessed_fen": assessed,
                "collected_fen": collected,
                "payment_rate_amount": _rate(collected, assessed),
                "payment_rate_units": _rate(paid, units),
                "disputes_opened": opened.get(m, 0),
                "disputes_resolved": len(days),
                "median_days_to_resolve": round(statistics.median(days), 1) if days else None,
            }
        )
    baselines = (
        await session.execute(select(Baseline).where(Baseline.estate_id.in_(estate_ids)))
    ).scalars()
    base = list(baselines)
    known = [b for b in base if b.payment_rate_permille >= 0]
    disputes = [b.open_disputes for b in base if b.open_disputes >= 0]
    satisfied = [b for b in base if b.satisfaction_permille >= 0]
    return {
        "estates": len(estate_ids),
        "baseline": {
            "estates_with_baseline": len(base),
            # Averages of the estates' own baselines, per mille → per cent text.
            "payment_rate": _rate(sum(b.payment_rate_permille for b in known), 1000 * len(known)),
            "open_disputes": sum(disputes) if disputes else None,
            "satisfaction": _rate(
                sum(b.satisfaction_permille for b in satisfied), 1000 * len(satisfied)
            ),
        },
        "months": points,
    }
