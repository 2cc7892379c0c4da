"""The owners' assembly tally (Civil Code art. 278): persons from the roll, the thresholds, results.

Pure rules, no I/O. Areas are integers in hundredths of a square metre and every share is compared
as an exact Fraction, so a bound is met or missed by the law's arithmetic, never by a float's.

How a question is decided:

- Persons. Units held by the same owner, or by the same set of co-owners (the developer's unsold
  units carry its one owner id), are one person with their areas summed; co-owners of one unit
  vote together. A unit with no recorded owner is a person of its own.
- Participation: persons who voted, abstentions included, must hold at least 2/3 of the roll's
  exclusive area and be at least 2/3 of its headcount.
- Approval, of the participating area and of the participating headcount: at least 3/4 for items
  6-8 (raising maintenance funds, rebuilding, changing the use of common parts or using them for
  business), more than 1/2 for every other item. An abstention participates and does not approve.
- Candidates: each is approved by the persons whose choice contains it and counted like a yes/no
  question; it qualifies when participation is met and it reaches the approval threshold. When
  more qualify than there are seats, they rank by approving area, then approving headcount.
- Ties: if the candidate in the last seat ranks equal (same approving area and headcount) with the
  first candidate outside the seats, none of the candidates of that rank is chosen and their seats
  stay unfilled; the result names them. A tally has no fair way to pick among equals: that is for
  the assembly (a further vote), not for list order or chance.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final, NamedTuple, overload

RESULT_FORMAT: Final = "xinyi-assembly-result/1"

# Owner ids are joined with this into a person key, so no owner id may contain it.
_OWNER_SEPARATOR: Final = "+"


class InvalidRoll(ValueError):
    """The roll cannot be counted: a unit repeated, an area that is not a whole number of
    hundredths of m², an unusable id, or nothing to count."""


class InvalidQuestion(ValueError):
    """A question that cannot be put: an unknown matter, no seats, repeated candidates."""


class InvalidVote(ValueError):
    """A vote by someone not on the roll, or a choice the question does not offer."""


class Matter(IntEnum):
    """What a question decides: the items of Civil Code art. 278, numbered as there."""

    RULES_OF_PROCEDURE = 1
    MANAGEMENT_STATUTE = 2
    COMMITTEE = 3
    COMPANY = 4
    MAINTENANCE_FUND_USE = 5
    MAINTENANCE_FUND_RAISING = 6
    REBUILDING = 7
    COMMON_PARTS_USE = 8
    OTHER_MAJOR = 9


@dataclass(frozen=True)
class Bound:
    """A share a count must reach: "at least" the ratio when inclusive, else "more than" it."""

    ratio: Fraction
    inclusive: bool

    def reached(self, part: int, whole: int) -> bool:
        if whole <= 0:
            return False
        share = Fraction(part, whole)
        return share >= self.ratio if self.inclusive else share > self.ratio

    def __str__(self) -> str:
        return f"{'at least' if self.inclusive else 'more than'} {self.ratio}"


PARTICIPATION: Final = Bound(Fraction(2, 3), inclusive=True)
SPECIAL_MAJORITY: Final = Bound(Fraction(3, 4), inclusive=True)
MAJORITY: Final = Bound(Fraction(1, 2), inclusive=False)

_SPECIAL_MATTERS: Final = frozenset(
    {Matter.MAINTENANCE_FUND_RAISING, Matter.REBUILDING, Matter.COMMON_PARTS_USE}
)


def approval_bound(matter: Matter) -> Bound:
    """The share of the participating area and headcount that must approve a matter."""
    return SPECIAL_MAJORITY if matter in _SPECIAL_MATTERS else MAJORITY


# The roll
#
# A 100,000-unit roll is grouped on every close, so the roll's records are named tuples (built
# several times faster than frozen dataclasses, and as immutable), grouping makes one pass with
# one dict look-up per unit for its person, and the garbage collector waits until it is done.


class RollUnit(NamedTuple):
    """One unit of the frozen roll: its exclusive area and the owners holding it at the snapshot."""

    unit_id: str
    area_centi_m2: int
    owner_ids: frozenset[str]


class Person(NamedTuple):
    """One voter: the exact set of owners of some units (or one ownerless unit), areas summed."""

    person_key: str
    owner_ids: frozenset[str]
    unit_ids: tuple[str, ...]
    area_centi_m2: int


@dataclass(frozen=True)
class Roll:
    """The roll grouped into persons; persons keep the order of their first unit on the roll."""

    persons: Mapping[str, Person]
    person_of_unit: Mapping[str, str]
    total_area_centi_m2: int
    total_headcount: int


def person_key(unit: RollUnit) -> str:
    """The key of the person a unit belongs to: "owners:" and its sorted owner ids joined by "+",
    or "unit:" and its unit id when it has no recorded owner. Independent of any pseudonym."""
    if not unit.owner_ids:
        return "unit:" + unit.unit_id
    return _owners_key(unit.unit_id, unit.owner_ids)


def _owners_key(unit_id: str, owner_ids: Iterable[str]) -> str:
    for owner_id in owner_ids:
        if not isinstance(owner_id, str) or not owner_id or _OWNER_SEPARATOR in owner_id:
            raise InvalidRoll(
                f"unit {unit_id!r}: owner id {owner_id!r} must be a non-empty string "
                f"without {_OWNER_SEPARATOR!r}"
            )
    return "owners:" + _OWNER_SEPARATOR.join(sorted(owner_ids))


def group_roll(units: Iterable[RollUnit]) -> Roll:
    """Groups a roll's units into persons, summing the areas of each person's units. The units
    may come from a generator that makes them from rows as they are grouped."""
    with _collector_paused():
        return _group_roll(units)


def _group_roll(units: Iterable[RollUnit]) -> Roll:
    # A person's holding as the units come: [person key, summed area, unit ids, owner ids],
    # found by its exact set of owners (an ownerless unit's is its own), in the roll's order.
    holding_of: dict[frozenset[str], list[Any]] = {}
    holdings: list[list[Any]] = []
    person_of_unit: dict[str, str] = {}
    for unit_id, area, owner_ids in units:
        if not isinstance(unit_id, str) or not unit_id:
            raise InvalidRoll(f"unit id {unit_id!r} must be a non-empty string")
        if unit_id in person_of_unit:
            raise InvalidRoll(f"unit {unit_id!r} is on the roll twice")
        # bool is an int, and a float area would bring rounding into the count: refuse both.
        if type(area) is not int or area < 0:
            raise InvalidRoll(
                f"unit {unit_id!r}: area must be a non-negative int of hundredths of m², "
                f"not {area!r}"
            )
        if type(owner_ids) is not frozenset:
            if isinstance(owner_ids, str):
                raise InvalidRoll(f"unit {unit_id!r}: owner_ids must be a set of ids, not a string")
            owner_ids = frozenset(owner_ids)
        held = holding_of.get(owner_ids) if owner_ids else None
        if held is None:
            key = _owners_key(unit_id, owner_ids) if owner_ids else "unit:" + unit_id
            held = [key, area, [unit_id], owner_ids]
            holdings.append(held)
            if owner_ids:
                holding_of[owner_ids] = held
        else:
            held[1] += area
            held[2].append(unit_id)
        person_of_unit[unit_id] = held[0]
    if not holdings:
        raise InvalidRoll("the roll has no units")
    persons = {
        key: Person(key, owner_ids, tuple(unit_ids), area)
        for key, area, unit_ids, owner_ids in holdings
    }
    total_area = sum(person.area_centi_m2 for person in persons.values())
    if total_area == 0:
        raise InvalidRoll("the roll's total exclusive area is zero")
    return Roll(
        persons=MappingProxyType(persons),
        person_of_unit=MappingProxyType(person_of_unit),
        total_area_centi_m2=total_area,
        total_headcount=len(persons),
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a roll is grouped.

    A 100,000-unit roll makes some 10^6 objects (the units' owner sets and records as the caller
    makes them, the persons), none in a reference cycle, and the collector's passes over them
    (the more often, and each the longer, the more there are) took longer than the grouping
    itself. Reference counting frees what is dropped all the same; the collector resumes, if it
    was on, when the roll is made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Questions and votes


def _matter(value: object, question_id: str) -> Matter:
    if type(value) is not int and not isinstance(value, Matter):
        raise InvalidQuestion(f"{question_id}: the matter must be an item 1-9, not {value!r}")
    try:
        return Matter(value)
    except ValueError:
        raise InvalidQuestion(
            f"{question_id}: the matter must be an item 1-9 of art. 278, not {value!r}"
        ) from None


@dataclass(frozen=True)
class YesNoQuestion:
    """A motion: each person votes "yes", "no" or "abstain"."""

    question_id: str
    matter: Matter

    def __post_init__(self) -> None:
        if not isinstance(self.question_id, str) or not self.question_id:
            raise InvalidQuestion(f"question id {self.question_id!r} must be a non-empty string")
        object.__setattr__(self, "matter", _matter(self.matter, self.question_id))


@dataclass(frozen=True)
class CandidateQuestion:
    """A choice among candidates for some seats: each person votes for a set of at most `seats`
    candidates; the empty set abstains."""

    question_id: str
    matter: Matter
    seats: int
    candidates: tuple[str, ...]

    def __post_init__(self) -> None:
        qid = self.question_id
        if not isinstance(qid, str) or not qid:
            raise InvalidQuestion(f"question id {qid!r} must be a non-empty string")
        object.__setattr__(self, "matter", _matter(self.matter, qid))
        if type(self.seats) is not int or self.seats < 1:
            raise InvalidQuestion(f"{qid}: seats must be a positive int, not {self.seats!r}")
        candidates = tuple(self.candidates)
        if not candidates:
            raise InvalidQuestion(f"{qid}: a candidate question needs candidates")
        if any(not isinstance(c, str) or not c for c in candidates):
            raise InvalidQuestion(f"{qid}: candidate ids must be non-empty strings")
        if len(set(candidates)) != len(candidates):
            raise InvalidQuestion(f"{qid}: a candidate is listed twice")
        object.__setattr__(self, "candidates", candidates)


Question = YesNoQuestion | CandidateQuestion

# A person's vote: "yes" / "no" / "abstain" on a motion, a set of candidate ids on a choice.
Choice = str | AbstractSet[str]

YES_NO_CHOICES: Final = ("yes", "no", "abstain")


# Results


@dataclass(frozen=True)
class Turnout:
    """The figures every question has: the roll, who took part, and the thresholds applied."""

    question_id: str
    matter: Matter
    total_area_centi_m2: int
    total_headcount: int
    participating_area_centi_m2: int
    participating_headcount: int
    participation_threshold: Bound
    approval_threshold: Bound
    participation_met: bool


@dataclass(frozen=True)
class YesNoResult(Turnout):
    approving_area_centi_m2: int
    approving_headcount: int
    approved: bool
    reason: str


@dataclass(frozen=True)
class CandidateTally:
    candidate_id: str
    approving_area_centi_m2: int
    approving_headcount: int
    qualified: bool  # participation met and the approval threshold reached
    chosen: bool


@dataclass(frozen=True)
class CandidateResult(Turnout):
    seats: int
    candidates: tuple[CandidateTally, ...]  # in the question's order
    chosen: tuple[str, ...]  # in the question's order
    tied: tuple[str, ...]  # qualified, tied across the last seat, so not chosen
    reason: str


Result = YesNoResult | CandidateResult


def _m2(centi_m2: int) -> str:
    whole, hundredths = divmod(centi_m2, 100)
    return f"{whole:,}.{hundredths:02d} m²"


def _persons(count: int) -> str:
    return f"{count:,} person{'' if count == 1 else 's'}"


def _turnout_shortfall(area: int, head: int, roll: Roll) -> str:
    return (
        f"Nothing is decided: participation needs {PARTICIPATION} of the exclusive area and "
        f"{PARTICIPATION} of the headcount; those who voted hold {_m2(area)} of "
        f"{_m2(roll.total_area_centi_m2)} and are {head:,} of {_persons(roll.total_headcount)}."
    )


@overload
def tally(roll: Roll, question: YesNoQuestion, votes: Mapping[str, Choice]) -> YesNoResult: ...


@overload
def tally(
    roll: Roll, question: CandidateQuestion, votes: Mapping[str, Choice]
) -> CandidateResult: ...


def tally(roll: Roll, question: Question, votes: Mapping[str, Choice]) -> Result:
    """Counts one question. votes maps person keys (see person_key) to their final choice; a
    person who did not vote is absent. Raises InvalidVote for a key not on the roll or a choice
    the question does not offer."""
    if isinstance(question, YesNoQuestion):
        return _tally_yes_no(roll, question, votes)
    return _tally_candidates(roll, question, votes)


def _unknown_voter(question: Question, key: str) -> InvalidVote:
    return InvalidVote(f"{question.question_id}: {key!r} is not a person on the roll")


def _tally_yes_no(roll: Roll, question: YesNoQuestion, votes: Mapping[str, Choice]) -> YesNoResult:
    persons = roll.persons
    area = yes_area = yes_head = 0
    for key, choice in votes.items():
        person = persons.get(key)
        if person is None:
            raise _unknown_voter(question, key)
        area += person.area_centi_m2
        if choice == "yes":
            yes_area += person.area_centi_m2
            yes_head += 1
        elif choice != "no" and choice != "abstain":
            raise InvalidVote(
                f"{question.question_id}: the vote of {key!r} must be one of "
                f"{', '.join(YES_NO_CHOICES)}, not {choice!r}"
            )
    head = len(votes)
    bound = approval_bound(question.matter)
    turnout = PARTICIPATION.reached(area, roll.total_area_centi_m2) and PARTICIPATION.reached(
        head, roll.total_headcount
    )
    area_ok, head_ok = bound.reached(yes_area, area), bound.reached(yes_head, head)
    approved = turnout and area_ok and head_ok
    if not turnout:
        reason = _turnout_shortfall(area, head, roll)
    else:
        figures = (
            f"yes from {_m2(yes_area)} of {_m2(area)} participating and {yes_head:,} of "
            f"{_persons(head)}; approval needs {bound} of both"
        )
        if approved:
            reason = f"Approved: {figures}."
        else:
            short = " and ".join(
                what for what, ok in (("the area", area_ok), ("the headcount", head_ok)) if not ok
            )
            reason = f"Rejected: {figures}, and {short} fell short."
    return YesNoResult(
        question_id=question.question_id,
        matter=question.matter,
        total_area_centi_m2=roll.total_area_centi_m2,
        total_headcount=roll.total_headcount,
        participating_area_centi_m2=area,
        participating_headcount=head,
        participation_threshold=PARTICIPATION,
        approval_threshold=bound,
        participation_met=turnout,
        approving_area_centi_m2=yes_area,
        approving_headcount=yes_head,
        approved=approved,
        reason=reason,
    )


def _as_frozenset(choice: Choice) -> frozenset[str] | None:
    """A candidate vote's set as a frozenset, or None when the vote is not a set at all."""
    return frozenset(choice) if isinstance(choice, AbstractSet) else None


def _tally_candidates(
    roll: Roll, question: CandidateQuestion, votes: Mapping[str, Choice]
) -> CandidateResult:
    persons = roll.persons
    offered = frozenset(question.candidates)
    seats = question.seats
    # Voters' choices repeat (a few slates among thousands of voters): each distinct choice is
    # checked once and gathers its voters' area and headcount, which its candidates then share.
    by_choice: dict[frozenset[str], list[int]] = {}
    area = 0
    for key, choice in votes.items():
        person = persons.get(key)
        if person is None:
            raise _unknown_voter(question, key)
        as_set = choice if type(choice) is frozenset else _as_frozenset(choice)
        gathered = by_choice.get(as_set) if as_set is not None else None
        if gathered is None:
            if as_set is None or len(as_set) > seats or not as_set <= offered:
                raise InvalidVote(
                    f"{question.question_id}: the vote of {key!r} must be a set of at most "
                    f"{seats} of the candidates {', '.join(question.candidates)}, not {choice!r}"
                )
            gathered = by_choice[as_set] = [0, 0]
        weight = person.area_centi_m2
        area += weight
        gathered[0] += weight
        gathered[1] += 1
    cand_area = dict.fromkeys(question.candidates, 0)
    cand_head = dict.fromkeys(question.candidates, 0)
    for as_set, (set_area, set_head) in by_choice.items():
        for candidate in as_set:
            cand_area[candidate] += set_area
            cand_head[candidate] += set_head
    head = len(votes)
    bound = approval_bound(question.matter)
    turnout = PARTICIPATION.reached(area, roll.total_area_centi_m2) and PARTICIPATION.reached(
        head, roll.total_headcount
    )

    def rank(candidate: str) -> tuple[int, int]:
        return cand_area[candidate], cand_head[candidate]

    qualified = [
        c
        for c in question.candidates
        if turnout and bound.reached(cand_area[c], area) and bound.reached(cand_head[c], head)
    ]
    ranked = sorted(qualified, key=rank, reverse=True)
    tied_rank: tuple[int, int] | None = None
    if len(ranked) <= seats:
        chosen_set = set(ranked)
    elif rank(ranked[seats - 1]) == rank(ranked[seats]):
        tied_rank = rank(ranked[seats - 1])
        chosen_set = {c for c in ranked if rank(c) > tied_rank}
    else:
        chosen_set = set(ranked[:seats])
    chosen = tuple(c for c in question.candidates if c in chosen_set)
    tied = tuple(c for c in qualified if rank(c) == tied_rank)

    if not turnout:
        reason = _turnout_shortfall(area, head, roll)
    elif not qualified:
        reason = (
            f"Nothing is decided: no candidate is approved by {bound} of the participating area "
            f"({_m2(area)}) and {bound} of the participating headcount ({_persons(head)})."
        )
    else:
        parts = []
        if chosen:
            parts.append(
                f"Chosen: {', '.join(chosen)}, each approved by {bound} of the participating "
                f"area ({_m2(area)}) and headcount ({_persons(head)})."
            )
        outranked = [c for c in qualified if c not in chosen_set and c not in tied]
        if outranked:
            parts.append(f"Qualified but outranked for {seats} seat(s): {', '.join(outranked)}.")
        if tied:
            unfilled = seats - len(chosen)
            parts.append(
                f"Tied for the last {unfilled} seat(s) with equal approving area and headcount, "
                f"so not chosen: {', '.join(tied)}; {unfilled} seat(s) left undecided."
            )
        reason = " ".join(parts)

    return CandidateResult(
        question_id=question.question_id,
        matter=question.matter,
        total_area_centi_m2=roll.total_area_centi_m2,
        total_headcount=roll.total_headcount,
        participating_area_centi_m2=area,
        participating_headcount=head,
        participation_threshold=PARTICIPATION,
        approval_threshold=bound,
        participation_met=turnout,
        seats=seats,
        candidates=tuple(
            CandidateTally(
                candidate_id=c,
                approving_area_centi_m2=cand_area[c],
                approving_headcount=cand_head[c],
                qualified=c in qualified,
                chosen=c in chosen_set,
            )
            for c in question.candidates
        ),
        chosen=chosen,
        tied=tied,
        reason=reason,
    )


# The published result


@dataclass(frozen=True)
class CountedQuestion:
    """A question with its final votes and the receipt code of each counted vote, by person key."""

    question: Question
    votes: Mapping[str, Choice]
    receipts: Mapping[str, str]


def _bound_json(bound: Bound) -> dict[str, str]:
    return {"ratio": str(bound.ratio), "bound": "at_least" if bound.inclusive else "more_than"}


def _result_json(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "participation_threshold": _bound_json(result.participation_threshold),
        "approval_threshold": _bound_json(result.approval_threshold),
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


def result_document(
    roll: Roll, counted: Sequence[CountedQuestion], voter_keys: Mapping[str, str]
) -> str:
    """The published result of an assembly as JSON text, in the format services/voting/recount.py
    documents and recounts: per question its matter, kind, roll totals, every counted receipt
    (code, pseudonymous voter key, area, choice) and the result's figures and decision.

    voter_keys maps person keys to pseudonymous voter keys, one per person and all distinct;
    each question's receipts map exactly its voters to distinct receipt codes. The same inputs
    give the same text, byte for byte, so the document can be hashed and signed.
    """
    if len(set(voter_keys.values())) != len(voter_keys):
        raise ValueError("two persons share a voter key")
    question_ids = [c.question.question_id for c in counted]
    if len(set(question_ids)) != len(question_ids):
        raise ValueError("a question id appears twice")
    receipts_text = _ReceiptsText(roll, voter_keys)
    questions = []
    for item in counted:
        question, votes, receipts = item.question, item.votes, item.receipts
        qid = question.question_id
        result = tally(roll, question, votes)
        if receipts.keys() != votes.keys():
            raise ValueError(f"{qid}: every counted vote, and only those, needs a receipt")
        if len(set(receipts.values())) != len(receipts) or not all(receipts.values()):
            raise ValueError(f"{qid}: receipt codes must be distinct and non-empty")
        described: dict[str, Any] = {
            "question_id": qid,
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
        described["receipts"] = receipts_text(qid, votes, receipts)
        described["result"] = _result_json(result)
        questions.append(described)
    document = {"format": RESULT_FORMAT, "questions": questions}
    return _json_text(document, 0) + "\n"


# The document's text. json.dumps(indent=2) renders in pure Python (its C encoder does not
# indent), which took most of a large assembly's close: the text is written here instead, the
# same to the byte (tests/unit/test_tally_reference.py holds it to json.dumps).

_INDENT: Final = "  "
_string: Final = json.encoder.encode_basestring  # the C escaper json.dumps uses, ASCII kept


# Where the receipts stand in the document: its "questions" list, a question, its "receipts".
_RECEIPTS_LEVEL: Final = 3


@dataclass(frozen=True)
class _Written:
    """A part of the document already written as JSON text, nested `level` deep."""

    text: str
    level: int

    def at(self, level: int) -> str:
        """The text nested `level` deep: JSON text has no raw line breaks but those between
        its lines, so indenting each line break moves it."""
        if level == self.level:
            return self.text
        return self.text.replace("\n" + _INDENT * self.level, "\n" + _INDENT * level)


class _ReceiptsText:
    """Writes a question's receipts as a JSON list of objects (receipt, voter_key,
    area_centi_m2, choice: a candidate vote's set as a sorted list) sorted by receipt code.

    The same persons vote on every question of a ballot: each one's voter key and area are
    written once for all of them, and each distinct choice once per question."""

    def __init__(self, roll: Roll, voter_keys: Mapping[str, str]) -> None:
        self._persons = roll.persons
        self._voter_keys = voter_keys
        self._of_person: dict[str, str] = {}

    def __call__(
        self, qid: str, votes: Mapping[str, Choice], receipts: Mapping[str, str]
    ) -> _Written:
        """The receipts of question `qid`; a ValueError when a voter has no voter key."""
        level = _RECEIPTS_LEVEL
        if not votes:
            return _Written("[]", level)
        entry, field = "\n" + _INDENT * (level + 1), "\n" + _INDENT * (level + 2)
        of_person = self._of_person
        choices: dict[Choice, str] = {}
        written: list[tuple[str, str]] = []
        for key, choice in votes.items():
            person = of_person.get(key)
            if person is None:
                voter_key = self._voter_keys.get(key)
                if not voter_key:
                    raise ValueError(f"{qid}: no voter key for {key!r}")
                person = of_person[key] = (
                    f'{field}"voter_key": {_string(voter_key)},'
                    f'{field}"area_centi_m2": {self._persons[key].area_centi_m2:d},'
                    f'{field}"choice": '
                )
            try:
                shown = choices[choice]
            except KeyError:
                shown = choices[choice] = _choice_text(choice, level + 2)
            except TypeError:  # a set, not a frozenset: unhashable
                shown = _choice_text(choice, level + 2)
            code = receipts[key]
            written.append(
                (code, f'{entry}{{{field}"receipt": {_string(code)},{person}{shown}{entry}}}')
            )
        # Sorted by receipt code, so the list's order reveals neither the roll's nor the voting's.
        written.sort(key=itemgetter(0))
        closing = "\n" + _INDENT * level + "]"
        return _Written("[" + ",".join([text for _, text in written]) + closing, level)


def _choice_text(choice: Choice, level: int) -> str:
    """A receipt's choice: an answer, or a candidate vote's set as a sorted list."""
    return _json_text(choice if isinstance(choice, str) else sorted(choice), level)


def _json_text(value: Any, level: int) -> str:
    """The text json.dumps(value, ensure_ascii=False, indent=2) gives, for a value nested
    `level` deep: dicts with string keys, lists and tuples, strings, ints, booleans, None, and
    _Written parts."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        items = [f"{_string(key)}: {_json_text(item, level + 1)}" for key, item in value.items()]
        return _json_block("{", items, "}", level)
    if isinstance(value, list | tuple):
        return _json_block("[", [_json_text(item, level + 1) for item in value], "]", level)
    if isinstance(value, _Written):
        return value.at(level)
    return json.dumps(value)  # a number, true, false or null, as json.dumps writes it


def _json_block(opening: str, items: list[str], closing: str, level: int) -> str:
    if not items:
        return opening + closing
    inner = "\n" + _INDENT * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + _INDENT * level + closing
