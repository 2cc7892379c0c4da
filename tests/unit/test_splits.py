"""The search for the entries that together make one bank line: one set proposed, never a
guess between two."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xinyi_ledger.splits import Movement, propose

DAY = date(2026, 5, 7)


def moves(*amounts: int, day: date = DAY) -> list[Movement]:
    return [Movement(uuid.uuid4(), a, day) for a in amounts]


def test_a_days_settlement_of_many_payments_is_proposed_whole() -> None:
    day = moves(100_00, 200_00, 350_00, 120_00, 80_00, 95_50)
    other = moves(999_00, day=DAY - timedelta(days=3))
    found = propose(sum(m.amount_fen for m in day), DAY + timedelta(days=1), day + other)
    assert found is not None and set(found) == {m.entry_id for m in day}


def test_two_invoices_paid_by_one_transfer_are_proposed() -> None:
    a, b, c = moves(-4_321_09, -8_600_00, -1_500_00, day=DAY)
    noise = moves(-10_00, day=DAY - timedelta(days=2))
    assert propose(-12_921_09, DAY, [a, b, c, *noise]) == [a.entry_id, b.entry_id]


def test_two_sets_that_both_add_up_are_not_a_proposal() -> None:
    # 300 + 200 and 400 + 100 both make 500.
    assert (
        propose(500_00, DAY, moves(300_00, 200_00, 400_00, 100_00, day=DAY - timedelta(1))) is None
    )


def test_money_in_is_never_made_of_money_out_nor_of_one_equal_entry() -> None:
    assert propose(500_00, DAY, moves(700_00, -200_00)) is None
    assert propose(500_00, DAY, moves(500_00)) is None
    assert propose(500_00, DAY, []) is None


@given(st.lists(st.integers(min_value=1, max_value=10_000_00), min_size=2, max_size=4))
def test_a_proposal_always_adds_up_to_the_line(amounts: list[int]) -> None:
    # Whatever else is around, what is proposed is a set of distinct entries summing to the line.
    parts = moves(*amounts, day=DAY - timedelta(days=1))
    decoys = moves(*(a + 1 for a in amounts), day=DAY - timedelta(days=4))
    everything = {m.entry_id: m for m in parts + decoys}
    target = sum(amounts)
    found = propose(target, DAY, parts + decoys)
    if found is not None:
        assert len(set(found)) == len(found) >= 2
        assert sum(everything[e].amount_fen for e in found) == target
