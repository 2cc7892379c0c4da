"""The money rules: rounding, remuneration, fees, payment allocation, shares, thresholds, rates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Literal

Thresholds = Sequence[tuple[int | None, int]]

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _exact(x: Fraction | Decimal | int, what: str) -> Fraction:
    # A float would silently carry binary rounding error into money, so it never gets in.
    if isinstance(x, bool) or not isinstance(x, Fraction | Decimal | int):
        raise TypeError(f"{what} must be an int, Fraction or Decimal, not {type(x).__name__}")
    return Fraction(x)


def round_half_up(x: Fraction | int) -> int:
    """To the nearest fen, halves away from zero: 2.5 -> 3 and -2.5 -> -3.

    Away from zero rather than toward +infinity, so that reversing an amount reverses its
    rounding exactly: round_half_up(-x) == -round_half_up(x).
    """
    value = _exact(x, "the amount")
    whole, rest = divmod(abs(value.numerator), value.denominator)
    if 2 * rest >= value.denominator:
        whole += 1
    return whole if value >= 0 else -whole


def remuneration_accrual(
    cumulative_income_fen: int, ratio: Fraction | Decimal, accrued_so_far_fen: int
) -> int:
    """The remuneration to accrue now, given the period's income received so far (this income
    included) and what was already accrued in the period.

    The target is computed on the cumulative total and rounded once, so however the income
    arrives, the accruals sum to exactly round_half_up(total × ratio); rounding each receipt
    would drift by up to half a fen per receipt. If income falls (a reversed receipt), the
    target falls too and the answer is negative: a reversal of part of the remuneration.
    """
    share = _exact(ratio, "the ratio")
    if not 0 <= share <= 1:
        raise ValueError("the remuneration ratio must be between 0 and 1")
    if cumulative_income_fen < 0:
        raise ValueError("cumulative income cannot be negative")
    return round_half_up(cumulative_income_fen * share) - accrued_so_far_fen


def unit_fee(area_centi_m2: int, rate_fen_per_m2_month: Fraction | Decimal | int) -> int:
    """One unit's fee for one month: exclusive area (hundredths of m²) × rate, half up."""
    rate = _exact(rate_fen_per_m2_month, "the rate")
    if area_centi_m2 < 0 or rate < 0:
        raise ValueError("area and rate cannot be negative")
    return round_half_up(Fraction(area_centi_m2, 100) * rate)


def allocate_payment(
    amount_fen: int, arrears: Sequence[tuple[str, int]]
) -> tuple[list[tuple[str, int]], int]:
    """Settles (period "YYYY-MM", amount owed) arrears oldest first.

    Returns the settlements, oldest first and only those that receive something, and what is
    left over (a prepayment). Arrears of the same period keep the order they were given in.
    """
    if amount_fen < 0:
        raise ValueError("a payment cannot be negative; a refund is its own entry")
    for period, owed in arrears:
        if not _PERIOD.fullmatch(period):
            raise ValueError(f"period must be YYYY-MM, not {period!r}")
        if owed < 0:
            raise ValueError(f"arrears of {period} cannot be negative")
    left = amount_fen
    settlements = []
    # "YYYY-MM" strings sort in time order; sorted() is stable for equal periods.
    for period, owed in sorted(arrears, key=lambda a: a[0]):
        paid = min(left, owed)
        if paid:
            settlements.append((period, paid))
            left -= paid
    return settlements, left


def split_by_area(total_fen: int, areas: Mapping[str, int]) -> dict[str, int]:
    """Shares total_fen by area so that every fen is allocated (largest remainder method).

    Each key gets the floor of its exact share; the fen left over go one each to the largest
    remainders, ties to the key that sorts first, so the result never depends on dict order.
    A negative total (a credit) is shared as its opposite and negated, symmetrically.
    """
    if any(a < 0 for a in areas.values()):
        raise ValueError("areas cannot be negative")
    whole_area = sum(areas.values())
    if whole_area == 0:
        raise ValueError("there is no area to share by")
    sign, total = (-1, -total_fen) if total_fen < 0 else (1, total_fen)
    keys = sorted(areas)
    shares = {k: divmod(total * areas[k], whole_area) for k in keys}
    leftover = total - sum(q for q, _ in shares.values())
    by_remainder = sorted(keys, key=lambda k: -shares[k][1])  # stable: ties keep key order
    extra = set(by_remainder[:leftover])
    return {k: sign * (shares[k][0] + (k in extra)) for k in keys}


def check_thresholds(thresholds: Thresholds) -> None:
    """Refuses an approval ladder that leaves an amount uncovered or is out of order.

    Bounds are inclusive and strictly increasing, the last is None ("above all"), and a larger
    amount never needs fewer approvals: otherwise splitting a payment could dodge approvers.
    """
    if not thresholds or thresholds[-1][0] is not None:
        raise ValueError("the last threshold must be (None, approvals): above every bound")
    previous_bound, previous_count = -1, 1
    for position, (bound, count) in enumerate(thresholds):
        if count < previous_count:
            raise ValueError("approvals must be at least 1 and never fall as amounts rise")
        if bound is None:
            if position != len(thresholds) - 1:
                raise ValueError("only the last threshold may be unbounded")
        elif bound <= previous_bound:
            raise ValueError("threshold bounds must be non-negative and increasing")
        else:
            previous_bound = bound
        previous_count = count


def approvals_required(amount_fen: int, thresholds: Thresholds) -> int:
    """How many approvals a disbursement of amount_fen needs: the first bound it is at or below."""
    check_thresholds(thresholds)
    if amount_fen < 0:
        raise ValueError("a disbursement cannot be negative")
    for bound, count in thresholds:
        if bound is None or amount_fen <= bound:
            return count
    raise AssertionError("check_thresholds guarantees an unbounded last tier")


def describe_thresholds(thresholds: Thresholds, language: Literal["zh", "en"] = "zh") -> list[str]:
    """One line per tier that states its bounds, e.g. "≤ 2,000.00 元：1 人批准" or
    "at or below 2,000.00 yuan: 1 approver"."""
    check_thresholds(thresholds)
    lines = []
    lower: int | None = None
    for bound, count in thresholds:
        if language == "zh":
            if bound is None:
                limits = f"> {format_yuan(lower)} 元" if lower is not None else "任何金额"
            elif lower is None:
                limits = f"≤ {format_yuan(bound)} 元"
            else:
                limits = f"> {format_yuan(lower)} 元且 ≤ {format_yuan(bound)} 元"
            lines.append(f"{limits}：{count} 人批准")
        else:
            if bound is None:
                limits = f"above {format_yuan(lower)} yuan" if lower is not None else "any amount"
            elif lower is None:
                limits = f"at or below {format_yuan(bound)} yuan"
            else:
                limits = f"above {format_yuan(lower)} and at or below {format_yuan(bound)} yuan"
            lines.append(f"{limits}: {count} approver{'' if count == 1 else 's'}")
        lower = bound
    return lines


def payment_rate(
    assessed: Mapping[str, int], collected: Mapping[str, int]
) -> tuple[Fraction, Fraction]:
    """缴费率 of one month's assessments, (by amount, by units), both Fraction(0) when nothing
    was assessed.

    assessed maps each unit to what it was assessed for the month; collected maps units to
    what they have paid towards those assessments. A unit's payment counts only up to its
    assessment (anything beyond is a prepayment for other months), and units that were not
    assessed are left out of both rates.
    """
    if any(v < 0 for v in (*assessed.values(), *collected.values())):
        raise ValueError("assessed and collected amounts cannot be negative")
    units = [u for u, owed in assessed.items() if owed > 0]
    if not units:
        return Fraction(0), Fraction(0)
    owed_total = sum(assessed[u] for u in units)
    paid_total = sum(min(collected.get(u, 0), assessed[u]) for u in units)
    fully_paid = sum(1 for u in units if collected.get(u, 0) >= assessed[u])
    return Fraction(paid_total, owed_total), Fraction(fully_paid, len(units))


def format_yuan(fen: int) -> str:
    """Fen as yuan with thousands separators and two decimals: 123456 -> "1,234.56"."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole:,}.{cents:02d}"
