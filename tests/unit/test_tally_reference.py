"""The roll's grouping and the published document against straightforward references written
here: a dict per person, and the document built as plain dicts and lists that json.dumps writes.
The tally is fast by grouping in one pass and by writing the document's text itself; these pin
that it gives the same persons and the same text, byte for byte, as the plain way."""

from __future__ import annotations

import gc
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_tally import scenarios
from xinyi_voting.tally import (
    YES_NO_CHOICES,
    CandidateQuestion,
    CandidateResult,
    Choice,
    CountedQuestion,
    InvalidRoll,
    Matter,
    Person,
    Question,
    Roll,
    RollUnit,
    YesNoQuestion,
    YesNoResult,
    _json_text,
    _Written,
    group_roll,
    result_document,
    tally,
)

# -- the references ---------------------------------------------------------------------------


def reference_persons(units: Sequence[RollUnit]) -> dict[str, Person]:
    """Persons in the order of their first unit: the units of one exact set of owners are one
    person, an ownerless unit a person of its own."""
    persons: dict[str, Person] = {}
    for unit in units:
        owners = frozenset(unit.owner_ids)
        key = "owners:" + "+".join(sorted(owners)) if owners else "unit:" + unit.unit_id
        if key in persons:
            held = persons[key]
            persons[key] = Person(
                key, owners, (*held.unit_ids, unit.unit_id), held.area_centi_m2 + unit.area_centi_m2
            )
        else:
            persons[key] = Person(key, owners, (unit.unit_id,), unit.area_centi_m2)
    return persons


def reference_document(
    roll: Roll, counted: Sequence[CountedQuestion], voter_keys: Mapping[str, str]
) -> str:
    """The published document as the format describes it, written by json.dumps."""
    questions = []
    for item in counted:
        question, votes = item.question, item.votes
        result = tally(roll, question, votes)
        receipts = [
            {
                "receipt": item.receipts[key],
                "voter_key": voter_keys[key],
                "area_centi_m2": roll.persons[key].area_centi_m2,
                "choice": choice if isinstance(choice, str) else sorted(choice),
            }
            for key, choice in votes.items()
        ]
        described: dict[str, Any] = {
            "question_id": question.question_id,
            "matter": int(question.matter),
            "kind": "yes_no" if isinstance(question, YesNoQuestion) else "candidates",
        }
        if isinstance(question, CandidateQuestion):
            described["seats"] = question.seats
            described["candidates"] = list(question.candidates)
        described["roll"] = {
            "total_area_centi_m2": roll.total_area_centi_m2,
            "total_headcount": roll.total_headcount,
        }
        described["receipts"] = sorted(receipts, key=lambda r: r["receipt"])
        described["result"] = reference_result(result)
        questions.append(described)
    document = {"format": "xinyi-assembly-result/1", "questions": questions}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def reference_result(result: YesNoResult | CandidateResult) -> dict[str, Any]:
    def bound(b: Any) -> dict[str, str]:
        return {"ratio": str(b.ratio), "bound": "at_least" if b.inclusive else "more_than"}

    out: dict[str, Any] = {
        "participation_threshold": bound(result.participation_threshold),
        "approval_threshold": bound(result.approval_threshold),
        "participating_area_centi_m2": result.participating_area_centi_m2,
        "participating_headcount": result.participating_headcount,
        "participation_met": result.participation_met,
    }
    if isinstance(result, YesNoResult):
        out["approving_area_centi_m2"] = result.approving_area_centi_m2
        out["approving_headcount"] = result.approving_headcount
        out["approved"] = result.approved
    else:
        out["candidates"] = [
            {
                "candidate_id": c.candidate_id,
                "approving_area_centi_m2": c.approving_area_centi_m2,
                "approving_headcount": c.approving_headcount,
                "qualified": c.qualified,
                "chosen": c.chosen,
            }
            for c in result.candidates
        ]
        out["chosen"] = list(result.chosen)
        out["tied"] = list(result.tied)
    out["reason"] = result.reason
    return out


# -- the roll ---------------------------------------------------------------------------------


@settings(max_examples=400)
@given(scenarios(), st.booleans())
def test_grouping_agrees_with_the_reference(
    scenario: tuple[list[RollUnit], Question, dict[Any, Choice]], plain_sets: bool
) -> None:
    units = scenario[0]
    if plain_sets:  # owners given as a set or list, not a frozenset
        units = [RollUnit(u.unit_id, u.area_centi_m2, set(u.owner_ids)) for u in units]  # type: ignore[arg-type]
    roll = group_roll(units)
    expected = reference_persons(units)
    assert list(roll.persons.items()) == list(expected.items())
    assert dict(roll.person_of_unit) == {
        unit_id: key for key, person in expected.items() for unit_id in person.unit_ids
    }
    assert list(roll.person_of_unit) == [u.unit_id for u in units]
    assert roll.total_area_centi_m2 == sum(p.area_centi_m2 for p in expected.values())
    assert roll.total_headcount == len(expected)


def test_grouping_leaves_the_garbage_collector_as_it_found_it() -> None:
    unit = RollUnit("u1", 100, frozenset({"o1"}))
    assert gc.isenabled()
    group_roll([unit])
    assert gc.isenabled()
    with pytest.raises(InvalidRoll):
        group_roll([unit, unit])
    assert gc.isenabled()
    gc.disable()
    try:
        group_roll([unit])
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- the document -----------------------------------------------------------------------------

# Codes and keys with what JSON must escape or keep as is: quotes, backslashes, control
# characters, non-ASCII text.
TEXTS = st.text(alphabet=st.sampled_from('aZ09-"\\\n\t\x00é中/ '), min_size=1, max_size=6)


@st.composite
def ballots(draw: st.DrawFn) -> tuple[Roll, list[CountedQuestion], dict[str, str]]:
    """A roll, one to three questions each voted on by some of its persons, distinct voter keys
    and receipt codes (one mapping for every question, as a ballot's receipts are, or one per
    question); candidate votes as frozensets or as plain sets."""
    units = draw(scenarios())[0]
    roll = group_roll(units)
    persons = list(roll.persons)
    keys = draw(st.lists(TEXTS, min_size=len(persons), max_size=len(persons), unique=True))
    voter_keys = dict(zip(persons, keys, strict=True))
    codes = draw(st.lists(TEXTS, min_size=len(persons), max_size=len(persons), unique=True))
    shared = dict(zip(persons, codes, strict=True))
    plain_sets = draw(st.booleans())
    counted = []
    for n in range(draw(st.integers(1, 3))):
        voters = [p for p in persons if draw(st.integers(0, 3))]
        question: Question
        choice: st.SearchStrategy[Choice]
        if draw(st.booleans()):
            question = YesNoQuestion(f"q{n}", Matter(draw(st.integers(1, 9))))
            choice = st.sampled_from(YES_NO_CHOICES)
        else:
            candidates = tuple(draw(st.lists(TEXTS, min_size=1, max_size=4, unique=True)))
            seats = draw(st.integers(1, len(candidates)))
            question = CandidateQuestion(f"q{n}", Matter(3), seats, candidates)
            choice = st.frozensets(st.sampled_from(candidates), max_size=seats)
            if plain_sets:
                choice = choice.map(set)
        votes = {p: draw(choice) for p in voters}
        receipts = shared if draw(st.booleans()) else {p: shared[p] + "/" + str(n) for p in voters}
        counted.append(CountedQuestion(question, votes, {p: receipts[p] for p in voters}))
    return roll, counted, voter_keys


@settings(max_examples=400)
@given(ballots())
def test_the_document_is_the_reference_text(
    ballot: tuple[Roll, list[CountedQuestion], dict[str, str]],
) -> None:
    roll, counted, voter_keys = ballot
    assert result_document(roll, counted, voter_keys) == reference_document(
        roll, counted, voter_keys
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXTS | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=500)
@given(JSON, st.integers(0, 4))
def test_the_documents_writer_writes_what_json_dumps_writes(value: Any, level: int) -> None:
    expected = json.dumps(value, ensure_ascii=False, indent=2)
    assert _json_text(value, 0) == expected
    # Nested deeper, every line but the first moves right by the nesting's indent.
    assert _json_text(value, level) == expected.replace("\n", "\n" + "  " * level)
    # Text written ahead for one nesting is moved to another.
    assert _json_text(_Written(_json_text(value, 2), 2), level) == _json_text(value, level)
