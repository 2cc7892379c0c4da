"""The money rules, checked against exact Fraction oracles written here, apart from the code."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_ledger.money import (
    allocate_payment,
    approvals_required,
    check_thresholds,
    describe_thresholds,
    format_yuan,
    payment_rate,
    remuneration_accrual,
    round_half_up,
    split_by_area,
    unit_fee,
)

LADDER: list[tuple[int | None, int]] = [(200_000, 1), (2_000_000, 2), (None, 3)]

ratios = st.fractions(min_value=0, max_value=1, max_denominator=10_000)
fractions_ = st.fractions(max_denominator=1_000)
periods = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(2015, 2035), st.integers(1, 12))


def oracle_round(x: Fraction) -> int:
    """Half away from zero, by comparing with the two neighbouring integers."""
    lower = math.floor(x)
    if x - lower > Fraction(1, 2) or (x - lower == Fraction(1, 2) and x > 0):
        return lower + 1
    return lower


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(3, 2), 2),
        (Fraction(-3, 2), -2),
        (Fraction(249, 100), 2),
        (Fraction(-249, 100), -2),
        (Fraction(251, 100), 3),
        (Fraction(0), 0),
        (7, 7),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
    ],
)
def test_round_half_up_examples(x: Fraction, expected: int) -> None:
    assert round_half_up(x) == expected


@given(fractions_)
def test_round_half_up_matches_the_oracle_and_is_symmetric(x: Fraction) -> None:
    assert round_half_up(x) == oracle_round(x)
    assert round_half_up(-x) == -round_half_up(x)


def test_floats_never_get_into_money() -> None:
    with pytest.raises(TypeError):
        round_half_up(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        remuneration_accrual(100, 0.1, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        unit_fee(100, 2.5)  # type: ignore[arg-type]
    assert unit_fee(100_00, Decimal("2.35")) == 235


@settings(max_examples=300)
@given(st.lists(st.integers(0, 10**8), max_size=40), ratios)
def test_accruals_sum_to_the_ratio_of_the_total_rounded_once(
    incomes: list[int], ratio: Fraction
) -> None:
    cumulative = accrued = 0
    for income in incomes:
        old_target = oracle_round(cumulative * ratio)
        cumulative += income
        step = remuneration_accrual(cumulative, ratio, accrued)
        assert step == oracle_round(cumulative * ratio) - old_target
        accrued += step
    assert accrued == oracle_round(sum(incomes) * ratio)


@given(st.lists(st.integers(-(10**6), 10**6), max_size=30), ratios)
def test_reversed_income_reverses_remuneration(changes: list[int], ratio: Fraction) -> None:
    cumulative = accrued = 0
    for change in changes:
        if cumulative + change < 0:
            continue
        cumulative += change
        accrued += remuneration_accrual(cumulative, ratio, accrued)
        assert accrued == oracle_round(cumulative * ratio)


def test_accrual_example_drifts_nothing() -> None:
    # Ten receipts of 0.05 yuan at 10%: rounding each would accrue 10 × round(0.5) = 10 fen.
    accrued = 0
    for n in range(1, 11):
        accrued += remuneration_accrual(5 * n, Fraction(1, 10), accrued)
    assert accrued == 5


def test_accrual_refuses_impossible_terms() -> None:
    with pytest.raises(ValueError):
        remuneration_accrual(100, Fraction(11, 10), 0)
    with pytest.raises(ValueError):
        remuneration_accrual(100, Fraction(-1, 10), 0)
    with pytest.raises(ValueError):
        remuneration_accrual(-1, Fraction(1, 10), 0)


@given(
    st.integers(0, 10**7),
    st.one_of(st.integers(0, 10**4), st.fractions(0, 10**4, max_denominator=1000)),
)
def test_unit_fee_matches_the_fraction_oracle(area: int, rate: Fraction | int) -> None:
    exact = Fraction(area, 100) * Fraction(rate)
    fee = unit_fee(area, rate)
    assert fee == oracle_round(exact)
    assert abs(fee - exact) <= Fraction(1, 2)


def test_unit_fee_examples() -> None:
    # 89.35 m² at 2.35 yuan/m²: 209.9725 yuan -> 209.97; exactly half a fen rounds up.
    assert unit_fee(89_35, 235) == 209_97
    assert unit_fee(1_00, Fraction(1, 2)) == 1
    assert unit_fee(0, 235) == 0
    with pytest.raises(ValueError):
        unit_fee(-1, 235)


@settings(max_examples=300)
@given(st.integers(0, 10**6), st.lists(st.tuples(periods, st.integers(0, 10**5)), max_size=12))
def test_payments_settle_oldest_first_and_lose_no_fen(
    amount: int, arrears: list[tuple[str, int]]
) -> None:
    settlements, remainder = allocate_payment(amount, arrears)
    assert sum(paid for _, paid in settlements) + remainder == amount
    assert remainder >= 0
    assert [p for p, _ in settlements] == sorted(p for p, _ in settlements)
    assert all(paid > 0 for _, paid in settlements)
    total_owed = sum(owed for _, owed in arrears)
    assert remainder == max(0, amount - total_owed)
    # Oldest first: whatever is left unpaid, nothing older than it is.
    ordered = sorted(arrears, key=lambda a: a[0])
    paid_each = [paid for _, paid in settlements]
    owed_each = [owed for _, owed in ordered if owed > 0]
    if settlements:
        assert paid_each[:-1] == owed_each[: len(paid_each) - 1]


def test_payment_examples() -> None:
    arrears = [("2025-03", 300), ("2024-12", 100), ("2025-01", 200)]
    assert allocate_payment(250, arrears) == ([("2024-12", 100), ("2025-01", 150)], 0)
    assert allocate_payment(700, arrears) == (
        [("2024-12", 100), ("2025-01", 200), ("2025-03", 300)],
        100,
    )
    assert allocate_payment(0, arrears) == ([], 0)
    assert allocate_payment(50, []) == ([], 50)
    with pytest.raises(ValueError):
        allocate_payment(-1, arrears)
    with pytest.raises(ValueError):
        allocate_payment(1, [("2025-3", 1)])
    with pytest.raises(ValueError):
        allocate_payment(1, [("2025-03", -1)])


@settings(max_examples=300)
@given(
    st.integers(-(10**9), 10**9),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 10**7), min_size=1),
)
def test_split_allocates_every_fen_within_one_of_the_exact_share(
    total: int, areas: dict[str, int]
) -> None:
    whole = sum(areas.values())
    if whole == 0:
        with pytest.raises(ValueError):
            split_by_area(total, areas)
        return
    shares = split_by_area(total, areas)
    assert sum(shares.values()) == total
    assert set(shares) == set(areas)
    for key, area in areas.items():
        exact = Fraction(total * area, whole)
        assert abs(shares[key] - exact) < 1
        if area == 0:
            assert shares[key] == 0
    assert split_by_area(total, dict(reversed(list(areas.items())))) == shares
    assert split_by_area(-total, areas) == {k: -v for k, v in shares.items()}


def test_split_ties_go_to_the_first_key() -> None:
    assert split_by_area(100, {"b": 1, "a": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert split_by_area(2, {"c": 1, "b": 1, "a": 1}) == {"a": 1, "b": 1, "c": 0}
    # Largest remainder beats key order: 10 × 2/3 = 6.67 and 10 × 1/3 = 3.33.
    assert split_by_area(10, {"a": 1, "b": 2}) == {"a": 3, "b": 7}


def test_thresholds_hold_at_their_exact_bounds() -> None:
    assert approvals_required(0, LADDER) == 1
    assert approvals_required(200_000, LADDER) == 1
    assert approvals_required(200_001, LADDER) == 2
    assert approvals_required(2_000_000, LADDER) == 2
    assert approvals_required(2_000_001, LADDER) == 3
    assert approvals_required(10**12, LADDER) == 3
    assert approvals_required(5, [(None, 2)]) == 2


@given(st.integers(0, 10**9))
def test_thresholds_match_the_ladder(amount: int) -> None:
    expected = 1 if amount <= 200_000 else 2 if amount <= 2_000_000 else 3
    assert approvals_required(amount, LADDER) == expected


@pytest.mark.parametrize(
    "ladder",
    [
        [],
        [(200_000, 1)],
        [(None, 1), (200_000, 2)],
        [(200_000, 1), (None, 1), (None, 2)],
        [(200_000, 1), (200_000, 2), (None, 3)],
        [(2_000_000, 1), (200_000, 2), (None, 3)],
        [(200_000, 2), (None, 1)],
        [(200_000, 0), (None, 1)],
        [(-1, 1), (None, 2)],
    ],
)
def test_malformed_ladders_are_refused(ladder: list[tuple[int | None, int]]) -> None:
    with pytest.raises(ValueError):
        check_thresholds(ladder)


def test_threshold_descriptions_state_their_bounds() -> None:
    assert describe_thresholds(LADDER) == [
        "≤ 2,000.00 元：1 人批准",
        "> 2,000.00 元且 ≤ 20,000.00 元：2 人批准",
        "> 20,000.00 元：3 人批准",
    ]
    assert describe_thresholds(LADDER, "en") == [
        "at or below 2,000.00 yuan: 1 approver",
        "above 2,000.00 and at or below 20,000.00 yuan: 2 approvers",
        "above 20,000.00 yuan: 3 approvers",
    ]
    assert describe_thresholds([(None, 2)], "en") == ["any amount: 2 approvers"]
    assert describe_thresholds([(None, 2)]) == ["任何金额：2 人批准"]


def test_payment_rate_by_amount_and_by_units() -> None:
    assessed = {"1-101": 200_00, "1-102": 300_00, "1-103": 100_00, "1-104": 0}
    collected = {"1-101": 200_00, "1-102": 100_00, "1-103": 150_00, "9-999": 500_00}
    by_amount, by_units = payment_rate(assessed, collected)
    # 1-103's extra 50 yuan is a prepayment; 1-104 and 9-999 were not assessed.
    assert by_amount == Fraction(200_00 + 100_00 + 100_00, 600_00)
    assert by_units == Fraction(2, 3)
    assert payment_rate({}, collected) == (Fraction(0), Fraction(0))
    with pytest.raises(ValueError):
        payment_rate({"a": -1}, {})


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 10**5)),
    st.dictionaries(st.sampled_from("abcdefghij"), st.integers(0, 10**5)),
)
def test_payment_rate_matches_the_oracle(
    assessed: dict[str, int], collected: dict[str, int]
) -> None:
    owed = {u: a for u, a in assessed.items() if a > 0}
    by_amount, by_units = payment_rate(assessed, collected)
    if not owed:
        assert (by_amount, by_units) == (Fraction(0), Fraction(0))
        return
    paid = sum(min(collected.get(u, 0), a) for u, a in owed.items())
    assert by_amount == Fraction(paid, sum(owed.values()))
    assert by_units == Fraction(sum(collected.get(u, 0) >= a for u, a in owed.items()), len(owed))
    assert 0 <= by_amount <= 1
    assert 0 <= by_units <= 1


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (123_456, "1,234.56"),
        (100_000_000, "1,000,000.00"),
        (-123_456, "-1,234.56"),
        (-5, "-0.05"),
    ],
)
def test_format_yuan(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


@given(st.integers(-(10**15), 10**15))
def test_format_yuan_reads_back(fen: int) -> None:
    assert Decimal(format_yuan(fen).replace(",", "")) * 100 == fen
