"""KPIs as monthly series, for an estate, a community, a street or the city, beside the baseline
recorded when the estate joined: the payment rate (by amount and by units), disputes
(suggestions, complaints and inquiries opened, resolved, open at the month's end, and the median
days to resolve) and satisfaction (the share of satisfied answers to the closed surveys'
satisfaction question), each month also against the baseline, as the pilot reports them. All
computed from the read models, never typed in.

Rates over several estates come from their summed figures, never from averaged rates; the
baseline of several estates is the average of their own baselines.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi_disclosure.readmodels import SHANGHAI, Baseline, FeeMonth, Suggestion, SurveyResult
from xinyi_disclosure.store import EstateOverview


def months_back(last: str, count: int) -> list[str]:
    index = int(last[:4]) * 12 + int(last[5:]) - 1
    return [f"{(index - n) // 12:04d}-{(index - n) % 12 + 1:02d}" for n in range(count - 1, -1, -1)]


def _hundredths(value: Fraction) -> str:
    """Two decimals, half up, with a sign when negative."""
    n = (value * 100 + Fraction(1, 2)).__floor__()
    sign, n = ("-", -n) if n < 0 else ("", n)
    return f"{sign}{n // 100}.{n % 100:02d}"


def _rate(part: int, whole: int) -> str | None:
    """Per cent with two decimals, half up; None when there is nothing to divide."""
    if not whole:
        return None
    return _hundredths(Fraction(part * 100, whole))


def _month(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def month_start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), 1, tzinfo=SHANGHAI)


def _shift(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Facts:
    """The read models behind the KPIs of a set of estates and months, loaded once and summed
    for any subset of the estates (a street's communities, the city's)."""

    months: tuple[str, ...]
    now: datetime
    fees: tuple[FeeMonth, ...]
    suggestions: tuple[Suggestion, ...]
    surveys: tuple[SurveyResult, ...]
    baselines: tuple[Baseline, ...]
    registered: dict[uuid.UUID, datetime]  # when each estate joined the platform


async def load(
    session: AsyncSession, estate_ids: Sequence[uuid.UUID], months: Sequence[str], now: datetime
) -> Facts:
    first, after = month_start(months[0]), month_start(_shift(months[-1], 1))
    fees = await session.execute(
        select(FeeMonth).where(FeeMonth.estate_id.in_(estate_ids), FeeMonth.period.in_(months))
    )
    # Disputes opened before the months may be open, or resolved, within them.
    suggestions = await session.execute(
        select(Suggestion).where(Suggestion.estate_id.in_(estate_ids), Suggestion.opened_at < after)
    )
    surveys = await session.execute(
        select(SurveyResult).where(
            SurveyResult.estate_id.in_(estate_ids),
            SurveyResult.closed_at >= first,
            SurveyResult.closed_at < after,
        )
    )
    baselines = await session.execute(select(Baseline).where(Baseline.estate_id.in_(estate_ids)))
    registered = await session.execute(
        select(EstateOverview.estate_id, EstateOverview.registered_at).where(
            EstateOverview.estate_id.in_(estate_ids), EstateOverview.registered_at.is_not(None)
        )
    )
    return Facts(
        months=tuple(months),
        now=now,
        fees=tuple(fees.scalars()),
        suggestions=tuple(suggestions.scalars()),
        surveys=tuple(surveys.scalars()),
        baselines=tuple(baselines.scalars()),
        registered={e: at for e, at in registered.tuples().all() if at is not None},
    )


def series(facts: Facts, estates: Collection[uuid.UUID]) -> dict[str, Any]:
    """The months' figures of `estates` (a subset of those loaded) and their baseline."""
    wanted = set(estates)
    base = [b for b in facts.baselines if b.estate_id in wanted]
    known_rate = [b.payment_rate_permille for b in base if b.payment_rate_permille >= 0]
    known_disputes = [b.open_disputes for b in base if b.open_disputes >= 0]
    known_satisfaction = [b.satisfaction_permille for b in base if b.satisfaction_permille >= 0]
    # Exact per cent: the average of the estates' per mille figures.
    base_rate = Fraction(sum(known_rate), 10 * len(known_rate)) if known_rate else None
    base_satisfaction = (
        Fraction(sum(known_satisfaction), 10 * len(known_satisfaction))
        if known_satisfaction
        else None
    )
    base_disputes = sum(known_disputes) if known_disputes else None

    money: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for f in facts.fees:
        if f.estate_id in wanted:
            row = money[f.period]
            row[0] += f.assessed_fen
            row[1] += f.collected_fen
            row[2] += f.units_assessed
            row[3] += f.units_fully_paid
    disputes = [s for s in facts.suggestions if s.estate_id in wanted]
    opened: dict[str, int] = defaultdict(int)
    resolved: dict[str, list[float]] = defaultdict(list)
    for s in disputes:
        opened[_month(s.opened_at)] += 1
        if s.resolved_at is not None:
            resolved[_month(s.resolved_at)].append(
                (s.resolved_at - s.opened_at) / timedelta(days=1)
            )
    voiced: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in facts.surveys:
        if r.estate_id in wanted:
            row = voiced[_month(r.closed_at)]
            row[0] += 1
            row[1] += r.answered
            row[2] += r.satisfied

    points = []
    for m in facts.months:
        assessed, collected, units, paid = money.get(m, [0, 0, 0, 0])
        days = resolved.get(m, [])
        surveys, answered, satisfied = voiced.get(m, [0, 0, 0])
        # Open at the month's end, by each item's latest resolution (now, for this month);
        # unknown for a month that ended before any of the estates joined.
        end = min(month_start(_shift(m, 1)), facts.now)
        joined = any(facts.registered.get(e, end) < end for e in wanted)
        still_open = (
            sum(
                1
                for s in disputes
                if s.opened_at < end and (s.resolved_at is None or s.resolved_at >= end)
            )
            if joined
            else None
        )
        rate = Fraction(collected, assessed) * 100 if assessed else None
        satisfaction = Fraction(satisfied, answered) * 100 if answered else None
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
                "disputes_open": still_open,
                "surveys": surveys,
                "satisfaction_answers": answered,
                "satisfaction": _rate(satisfied, answered),
                # Against the baseline: percentage points, and the change of open disputes in
                # per cent of the baseline's.
                "payment_rate_points": (
                    _hundredths(rate - base_rate)
                    if rate is not None and base_rate is not None
                    else None
                ),
                "disputes_open_change": (
                    _rate(still_open - base_disputes, base_disputes)
                    if base_disputes and still_open is not None
                    else None
                ),
                "satisfaction_points": (
                    _hundredths(satisfaction - base_satisfaction)
                    if satisfaction is not None and base_satisfaction is not None
                    else None
                ),
            }
        )
    return {
        "estates": len(wanted),
        "baseline": {
            "estates_with_baseline": len(base),
            "payment_rate": _hundredths(base_rate) if base_rate is not None else None,
            "open_disputes": base_disputes,
            "satisfaction": (
                _hundredths(base_satisfaction) if base_satisfaction is not None else None
            ),
        },
        "months": points,
    }
