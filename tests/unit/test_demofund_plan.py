"""The demo estate's year as planned: the same whatever day of the month it is planned on (so a
later run repeats the earlier one's requests), nothing dated after today, payments out in their
month, budgets that cover them, and fees by the ledger's own rounding."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from xinyi_dev import democity, demofund
from xinyi_dev.demofund import Unit, YearPlan, plan_year
from xinyi_ledger import money

FIRST = "2025-11"


def _units() -> list[Unit]:
    estate = democity.plan(7, "small").estates[0]
    return [
        Unit(f"unit-{n}", u.building, u.number, u.unit_type, int(u.exclusive_area * 100))
        for n, u in enumerate(estate.units)
    ]


def _plan(today: date) -> YearPlan:
    return plan_year(7, _units(), FIRST, 12, today)


@pytest.fixture(scope="module")
def year() -> YearPlan:
    return _plan(date(2026, 11, 26))


def test_a_later_day_plans_the_same_year_and_adds_only_to_the_current_month() -> None:
    early, late = _plan(date(2026, 11, 3)), _plan(date(2026, 11, 26))
    assert early.months[:-1] == late.months[:-1]
    assert (early.fees, early.budgets) == (late.fees, late.budgets)
    now_early, now_late = early.months[-1], late.months[-1]
    assert set(now_early.receipts) < set(now_late.receipts)
    assert set(now_early.takings) < set(now_late.takings)
    assert now_early.payouts == now_late.payouts


def test_nothing_is_dated_after_today_and_payments_out_fall_in_their_month(
    year: YearPlan,
) -> None:
    today = date(2026, 11, 26)
    assert [m.period for m in year.closing] == [demofund.add_months(FIRST, n) for n in range(12)]
    assert not year.months[-1].closes
    assert [m.signed_by_committee for m in year.closing] == [True] * 11 + [False]
    for m in year.months:
        assert all(r.received_on <= today and demofund.period_of(r.received_on) == m.period
                   for r in m.receipts)  # fmt: skip
        for t in m.takings:
            assert demofund.period_of(t.booked_on) == m.period and t.booked_on < today
            assert all(o <= t.booked_on for _, _, o in t.items)
        for p in m.payouts:
            if m.closes:
                assert p.paid_on is not None and demofund.period_of(p.paid_on) == m.period
    (waiting,) = year.months[-1].payouts
    assert waiting.paid_on is None
    one_approver = demofund.THRESHOLDS[0]["up_to_fen"]
    assert one_approver is not None and waiting.amount_fen > one_approver
    assert [m.bank_debits != () for m in year.months] == [False] * 12 + [True]
    assert all(d.debited_on <= today for d in year.months[-1].bank_debits)


def test_most_pay_each_month_some_late_or_ahead_a_few_never(year: YearPlan) -> None:
    paying = set(year.fees)
    for m in year.closing:
        paid = {r.unit_id for r in m.receipts}
        assert 0.6 < len(paid) / len(paying) < 0.95, m.period
    ever = {r.unit_id for m in year.months for r in m.receipts}
    assert 0 < len(paying - ever) <= len(paying) // 10
    months_paid = {u: sum(r.unit_id == u for m in year.months for r in m.receipts) for u in ever}
    assert any(n <= 4 for n in months_paid.values())  # late payers and those paying ahead


def test_budgets_cover_each_year_s_payments(year: YearPlan) -> None:
    assert set(year.budgets) == {2025, 2026}
    for y, lines in year.budgets.items():
        for line, _, code, amount in lines:
            planned = sum(
                p.amount_fen
                for m in year.months
                for p in m.payouts
                if p.budget_line == line and m.period.startswith(f"{y}-")
            )
            assert amount >= planned and amount % 100_000 == 0, (y, line)
            assert code == next(c for i, _, c in demofund.BUDGET_LINES if i == line)


@pytest.mark.parametrize("rate", [Fraction(250), Fraction(400), Fraction(425, 2), Fraction(1, 3)])
def test_fees_round_as_the_ledger_rounds(rate: Fraction) -> None:
    for area in range(0, 20_000, 7):
        assert demofund.unit_fee(area, rate) == money.unit_fee(area, rate)
