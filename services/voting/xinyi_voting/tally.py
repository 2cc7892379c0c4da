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

import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, overload

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


@dataclass(frozen=True, slots=True)
class RollUnit:
    """One unit of the frozen roll: its exclusive area and the owners holding it at the snapshot."""

    unit_id: str
    area_centi_m2: int
    owner_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Person:
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
    for owner_id in unit.owner_ids:
        if not isinstance(owner_id, str) or not owner_id or _OWNER_SEPARATOR in owner_id:
            raise InvalidRoll(
                f"unit {unit.unit_id!r}: owner id {owner_id!r} must be a non-empty string "
                f"without {_OWNER_SEPARATOR!r}"
            )
    return "owners:" + _OWNER_SEPARATOR.join(sorted(unit.owner_ids))


def group_roll(units: Iterable[RollUnit]) -> Roll:
    """Groups a roll's units into persons, summing the areas of each person's units."""
    key_of_owners: dict[frozenset[str], str] = {}
    person_of_unit: dict[str, str] = {}
    owners_of: dict[str, frozenset[str]] = {}
    units_of: dict[str, list[str]] = {}
    area_of: dict[str, int] = {}
    for unit in units:
        unit_id, area = unit.unit_id, unit.area_centi_m2
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
        if isinstance(unit.owner_ids, str):
            raise InvalidRoll(f"unit {unit_id!r}: owner_ids must be a set of ids, not a string")
        owners = frozenset(unit.owner_ids)
        if owners:
            key = key_of_owners.get(owners)
            if key is None:
                key = key_of_owners[owners] = person_key(unit)
        else:
            key = person_key(unit)
        person_of_unit[unit_id] = key
        if key in area_of:
            area_of[key] += area
            units_of[key].append(unit_id)
        else:
            area_of[key] = area
            units_of[key] = [unit_id]
            owners_of[key] = owners
    if not person_of_unit:
        raise InvalidRoll("the roll has no units")
    total_area = sum(area_of.values())
    if total_area == 0:
        raise InvalidRoll("the roll's total exclusive area is zero")
    persons = {
        key: Person(key, owners_of[key], tuple(units_of[key]), area)
        for key, area in area_of.items()
    }
    return Roll(
        persons=MappingProxyType(persons),
        person_of_unit=MappingProxyType(person_of_unit),
        total_area_centi_m2=total_area,
        total_headcount=len(persons),
    )


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


def _tally_candidates(
    roll: Roll, question: CandidateQuestion, votes: Mapping[str, Choice]
) -> CandidateResult:
    persons = roll.persons
    offered = frozenset(question.candidates)
    seats = question.seats
    cand_area = dict.fromkeys(question.candidates, 0)
    cand_head = dict.fromkeys(question.candidates, 0)
    area = 0
    for key, choice in votes.items():
        person = persons.get(key)
        if person is None:
            raise _unknown_voter(question, key)
        if not isinstance(choice, AbstractSet) or len(choice) > seats or not choice <= offered:
            raise InvalidVote(
                f"{question.question_id}: the vote of {key!r} must be a set of at most {seats} "
                f"of the candidates {', '.join(question.candidates)}, not {choice!r}"
            )
        weight = person.area_centi_m2
        area += weight
        for candidate in choice:
            cand_area[candidate] += weight
            cand_head[candidate] += 1
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
    questions = []
    for item in counted:
        question, votes, receipts = item.question, item.votes, item.receipts
        qid = question.question_id
        result = tally(roll, question, votes)
        if receipts.keys() != votes.keys():
            raise ValueError(f"{qid}: every counted vote, and only those, needs a receipt")
        if len(set(receipts.values())) != len(receipts) or not all(receipts.values()):
            raise ValueError(f"{qid}: receipt codes must be distinct and non-empty")
        missing = [key for key in votes if not voter_keys.get(key)]
        if missing:
            raise ValueError(f"{qid}: no voter key for {missing[0]!r}")
        entries = [
            {
                "receipt": receipts[key],
                "voter_key": voter_keys[key],
                "area_centi_m2": roll.persons[key].area_centi_m2,
                "choice": choice if isinstance(choice, str) else sorted(choice),
            }
            for key, choice in votes.items()
        ]
        # Sorted by receipt code, so the list's order reveals neither the roll's nor the voting's.
        entries.sort(key=lambda entry: entry["receipt"])
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
        described["receipts"] = entries
        described["result"] = _result_json(result)
        questions.append(described)
    document = {"format": RESULT_FORMAT, "questions": questions}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
