"""The consumer's plan for a batch of an estate's events: the run after the cursor is applied,
what the cursor has passed is a duplicate, and what lies beyond a gap waits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from xinyi_kit.consumer import Outcome, plan

APPLIED, DUPLICATE, EARLY = Outcome.APPLIED, Outcome.DUPLICATE, Outcome.EARLY


def test_the_run_after_the_cursor_is_applied_and_a_gap_waits() -> None:
    assert plan(3, [2, 3, 4, 4, 5, 7, 8]) == [
        DUPLICATE,
        DUPLICATE,
        APPLIED,
        DUPLICATE,  # the same event delivered twice in one batch
        APPLIED,
        EARLY,
        EARLY,
    ]
    assert plan(0, [2]) == [EARLY]
    assert plan(0, []) == []


@given(st.integers(0, 20), st.lists(st.integers(1, 30), max_size=30))
def test_each_sequence_is_applied_once_and_only_right_after_the_cursor(
    last: int, sequences: list[int]
) -> None:
    ordered = sorted(sequences)
    outcomes = plan(last, ordered)
    applied = [s for s, o in zip(ordered, outcomes, strict=True) if o is APPLIED]
    # The applied ones continue the cursor without a gap or a repeat ...
    assert applied == list(range(last + 1, last + 1 + len(applied)))
    # ... as far as the batch allows: the next one is not in it.
    assert last + len(applied) + 1 not in sequences
    for sequence, outcome in zip(ordered, outcomes, strict=True):
        if sequence <= last:
            assert outcome is DUPLICATE
        elif sequence > last + len(applied):
            assert outcome is EARLY
