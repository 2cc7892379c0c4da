"""The assembly tally (Civil Code art. 278) at every boundary, and against an exact Fraction oracle
written here, apart from the code."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_voting.tally import (
    MAJORITY,
    PARTICIPATION,
    SPECIAL_MAJORITY,
    YES_NO_CHOICES,
    CandidateQuestion,
    CandidateResult,
    Choice,
    CountedQuestion,
    InvalidQuestion,
    InvalidRoll,
    InvalidVote,
    Matter,
    Question,
    Roll,
    RollUnit,
    YesNoQuestion,
    YesNoResult,
    approval_bound,
    group_roll,
    person_key,
    result_document,
    tally,
)

SPECIAL = (6, 7, 8)
ORDINARY = (1, 2, 3, 4, 5, 9)


def roll_of(*areas: int) -> Roll:
    """One unit and one owner per area: unit u<i> held by owner o<i>."""
    return group_roll(RollUnit(f"u{i}", a, frozenset({f"o{i}"})) for i, a in enumerate(areas))


def votes_of(*choices: Choice | None) -> dict[str, Choice]:
    """The i-th choice is owner o<i>'s; None: o<i> did not vote."""
    return {f"owners:o{i}": c for i, c in enumerate(choices) if c is not None}


# Participation: at least 2/3 of the exclusive area and at least 2/3 of the headcount.
PARTICIPATION_CASES = [
    ("exactly 2/3 of area and headcount", [100, 100, 100], ["yes", "yes", None], True),
    ("area 0.01 m² below 2/3", [100, 99, 101], ["yes", "yes", None], False),
    ("area 0.01 m² above 2/3", [100, 101, 99], ["yes", "yes", None], True),
    ("2/3 of 1.00 m² is 0.6667: 0.67 m² reaches it", [34, 33, 33], ["yes", "yes", None], True),
    ("2/3 of 1.00 m² is 0.6667: 0.66 m² does not", [33, 33, 34], ["yes", "yes", None], False),
    (
        "headcount exactly 2/3 (4 of 6)",
        [400, 50, 50, 50, 50, 50],
        ["yes", "yes", "yes", "no", None, None],
        True,
    ),
    (
        "headcount one person below 2/3 (3 of 6), area met",
        [400, 50, 50, 50, 50, 50],
        ["yes", "yes", "yes", None, None, None],
        False,
    ),
    ("headcount met, area below", [10, 10, 10, 70], ["yes", "yes", "yes", None], False),
    ("abstentions participate", [100, 100, 100], ["abstain", "abstain", "yes"], True),
    ("nobody voted", [100, 200], [None, None], False),
]


@pytest.mark.parametrize("matter", range(1, 10))
@pytest.mark.parametrize(
    ("areas", "choices", "met"),
    [pytest.param(a, c, m, id=name) for name, a, c, m in PARTICIPATION_CASES],
)
def test_participation_bounds(
    matter: int, areas: list[int], choices: list[Choice | None], met: bool
) -> None:
    result = tally(roll_of(*areas), YesNoQuestion("q", Matter(matter)), votes_of(*choices))
    assert result.participation_met is met
    assert result.participation_threshold == PARTICIPATION
    assert result.participation_threshold.ratio == Fraction(2, 3)
    assert result.participation_threshold.inclusive
    if not met:
        assert not result.approved
        assert result.reason.startswith("Nothing is decided")


# Items 6-8: at least 3/4 of the participating area and headcount. Everyone votes unless None.
SPECIAL_CASES = [
    ("exactly 3/4 of both", [100] * 4, ["yes", "yes", "yes", "no"], True),
    ("area 0.01 m² below 3/4", [100, 100, 99, 101], ["yes", "yes", "yes", "no"], False),
    (
        "headcount one person below 3/4 (5 of 8)",
        [300, 300, 300, 300, 300, 10, 10, 10],
        ["yes"] * 5 + ["no"] * 3,
        False,
    ),
    (
        "headcount exactly 3/4 (6 of 8)",
        [300, 300, 300, 300, 300, 10, 10, 10],
        ["yes"] * 6 + ["no"] * 2,
        True,
    ),
    ("an abstention is in the denominator", [100] * 5, ["yes"] * 3 + ["abstain"] * 2, False),
    ("3 of 4 with one abstaining", [100] * 5, ["yes"] * 3 + ["abstain", None], True),
    ("3/5 is a majority, not 3/4", [100] * 5, ["yes"] * 3 + ["no"] * 2, False),
    ("everyone", [100] * 3, ["yes"] * 3, True),
]

# Every other item: more than half of the participating area and headcount.
ORDINARY_CASES = [
    ("exactly half of both fails", [100] * 4, ["yes", "yes", "no", "no"], False),
    ("area exactly half fails", [100, 100, 100, 300], ["yes", "yes", "yes", "no"], False),
    ("headcount exactly half fails", [101, 100, 100, 99], ["yes", "yes", "no", "no"], False),
    ("area 0.01 m² above half", [5001, 1, 5000], ["yes", "yes", "no"], True),
    ("area exactly half by 0.01 m² less", [5000, 1, 5001], ["yes", "yes", "no"], False),
    ("abstentions in the denominator", [100] * 4, ["yes", "yes", "abstain", "abstain"], False),
    ("abstention, still more than half", [100] * 4, ["yes", "yes", "abstain", None], True),
    ("3/5 is more than half", [100] * 5, ["yes"] * 3 + ["no"] * 2, True),
    ("all abstain", [100] * 3, ["abstain"] * 3, False),
]


@pytest.mark.parametrize("matter", SPECIAL)
@pytest.mark.parametrize(
    ("areas", "choices", "approved"),
    [pytest.param(a, c, ok, id=name) for name, a, c, ok in SPECIAL_CASES],
)
def test_items_6_to_8_need_at_least_three_quarters(
    matter: int, areas: list[int], choices: list[Choice | None], approved: bool
) -> None:
    result = tally(roll_of(*areas), YesNoQuestion("q", Matter(matter)), votes_of(*choices))
    assert result.participation_met
    assert result.approval_threshold == SPECIAL_MAJORITY
    assert (result.approval_threshold.ratio, result.approval_threshold.inclusive) == (
        Fraction(3, 4),
        True,
    )
    assert result.approved is approved
    assert result.reason.startswith("Approved" if approved else "Rejected")


@pytest.mark.parametrize("matter", ORDINARY)
@pytest.mark.parametrize(
    ("areas", "choices", "approved"),
    [pytest.param(a, c, ok, id=name) for name, a, c, ok in ORDINARY_CASES],
)
def test_other_items_need_more_than_half(
    matter: int, areas: list[int], choices: list[Choice | None], approved: bool
) -> None:
    result = tally(roll_of(*areas), YesNoQuestion("q", Matter(matter)), votes_of(*choices))
    assert result.participation_met
    assert result.approval_threshold == MAJORITY
    assert (result.approval_threshold.ratio, result.approval_threshold.inclusive) == (
        Fraction(1, 2),
        False,
    )
    assert result.approved is approved


def test_every_figure_is_in_the_result() -> None:
    result = tally(
        roll_of(100, 200, 300, 500, 400),
        YesNoQuestion("q7", Matter.COMPANY),
        votes_of("yes", "no", "abstain", "yes", None),
    )
    assert result == YesNoResult(
        question_id="q7",
        matter=Matter.COMPANY,
        total_area_centi_m2=1500,
        total_headcount=5,
        participating_area_centi_m2=1100,
        participating_headcount=4,
        participation_threshold=PARTICIPATION,
        approval_threshold=MAJORITY,
        participation_met=True,
        approving_area_centi_m2=600,
        approving_headcount=2,
        approved=False,
        reason=result.reason,
    )
    # 600 of 1,100 m² is more than half; 2 of 4 persons is not.
    assert result.reason.startswith("Rejected")
    assert "and the headcount fell short" in result.reason
    assert "the area and" not in result.reason


def test_matters_and_their_thresholds() -> None:
    assert [approval_bound(Matter(m)) for m in range(1, 10)] == [
        MAJORITY if m not in SPECIAL else SPECIAL_MAJORITY for m in range(1, 10)
    ]
    assert str(PARTICIPATION) == "at least 2/3"
    assert str(SPECIAL_MAJORITY) == "at least 3/4"
    assert str(MAJORITY) == "more than 1/2"


# Persons


def test_units_of_one_owner_are_one_person_with_summed_area() -> None:
    roll = group_roll(
        [
            RollUnit("u1", 100, frozenset({"alice"})),
            RollUnit("u2", 250, frozenset({"alice"})),
            RollUnit("u3", 100, frozenset({"bob"})),
            RollUnit("u4", 100, frozenset({"carol"})),
        ]
    )
    assert roll.total_headcount == 3
    assert roll.total_area_centi_m2 == 550
    alice = roll.persons["owners:alice"]
    assert (alice.area_centi_m2, alice.unit_ids, alice.owner_ids) == (
        350,
        ("u1", "u2"),
        frozenset({"alice"}),
    )
    assert roll.person_of_unit["u2"] == "owners:alice"
    # Alice's one vote carries both units' area and counts one head: 350 of 450 is more than
    # half of the area, 1 of 2 is not more than half of the headcount.
    result = tally(roll, YesNoQuestion("q", 1), {"owners:alice": "yes", "owners:bob": "no"})
    assert (result.participating_area_centi_m2, result.participating_headcount) == (450, 2)
    assert (result.approving_area_centi_m2, result.approving_headcount) == (350, 1)
    assert result.participation_met and not result.approved


def test_co_owners_are_one_person_per_exact_set_of_owners() -> None:
    roll = group_roll(
        [
            RollUnit("u1", 100, frozenset({"alice", "bob"})),
            RollUnit("u2", 120, frozenset({"bob", "alice"})),
            RollUnit("u3", 100, frozenset({"alice"})),
            RollUnit("u4", 100, frozenset({"bob"})),
        ]
    )
    assert sorted(roll.persons) == ["owners:alice", "owners:alice+bob", "owners:bob"]
    assert roll.persons["owners:alice+bob"].area_centi_m2 == 220
    assert roll.persons["owners:alice+bob"].unit_ids == ("u1", "u2")
    assert roll.total_headcount == 3
    result = tally(
        roll,
        YesNoQuestion("q", 4),
        {"owners:alice+bob": "yes", "owners:alice": "yes", "owners:bob": "no"},
    )
    assert (result.approving_area_centi_m2, result.approving_headcount) == (320, 2)
    assert result.approved


def test_the_developers_unsold_units_are_one_person() -> None:
    developer = [RollUnit(f"d{i}", 100, frozenset({"developer"})) for i in range(10)]
    owners = [RollUnit(f"u{i}", 100, frozenset({f"o{i}"})) for i in range(3)]
    roll = group_roll(developer + owners)
    assert roll.total_headcount == 4
    assert roll.persons["owners:developer"].area_centi_m2 == 1000
    question = YesNoQuestion("q", Matter.COMPANY)
    # The developer alone holds 10/13 of the area, but is 1 of 4 persons.
    alone = tally(roll, question, {"owners:developer": "yes"})
    assert not alone.participation_met
    # With two owners voting no: 1000 of 1200 m² approve, but only 1 of 3 persons.
    result = tally(
        roll, question, {"owners:developer": "yes", "owners:o0": "no", "owners:o1": "no"}
    )
    assert result.participation_met
    assert (result.approving_area_centi_m2, result.approving_headcount) == (1000, 1)
    assert not result.approved


def test_a_unit_with_no_recorded_owner_is_its_own_person() -> None:
    roll = group_roll(
        [
            RollUnit("u1", 100, frozenset()),
            RollUnit("u2", 100, frozenset()),
            RollUnit("u3", 100, frozenset({"alice"})),
        ]
    )
    assert sorted(roll.persons) == ["owners:alice", "unit:u1", "unit:u2"]
    assert roll.total_headcount == 3
    assert person_key(RollUnit("u1", 100, frozenset())) == "unit:u1"
    assert person_key(RollUnit("u1", 1, frozenset({"z", "a", "m"}))) == "owners:a+m+z"


@pytest.mark.parametrize(
    "units",
    [
        pytest.param([], id="no units"),
        pytest.param([RollUnit("u1", 0, frozenset({"a"}))], id="no area"),
        pytest.param(
            [RollUnit("u1", 1, frozenset({"a"})), RollUnit("u1", 1, frozenset({"b"}))],
            id="a unit twice",
        ),
        pytest.param([RollUnit("u1", -1, frozenset({"a"}))], id="negative area"),
        pytest.param([RollUnit("u1", 1.5, frozenset({"a"}))], id="float area"),  # type: ignore[arg-type]
        pytest.param([RollUnit("u1", True, frozenset({"a"}))], id="bool area"),
        pytest.param([RollUnit("", 1, frozenset({"a"}))], id="empty unit id"),
        pytest.param([RollUnit("u1", 1, frozenset({"a+b"}))], id="separator in an owner id"),
        pytest.param([RollUnit("u1", 1, frozenset({""}))], id="empty owner id"),
        pytest.param([RollUnit("u1", 1, "alice")], id="owner ids as a string"),  # type: ignore[arg-type]
    ],
)
def test_an_uncountable_roll_is_refused(units: list[RollUnit]) -> None:
    with pytest.raises(InvalidRoll):
        group_roll(units)


# Questions and votes


@pytest.mark.parametrize(
    "make",
    [
        lambda: YesNoQuestion("q", 0),  # type: ignore[arg-type]
        lambda: YesNoQuestion("q", 10),  # type: ignore[arg-type]
        lambda: YesNoQuestion("q", True),  # type: ignore[arg-type]
        lambda: YesNoQuestion("q", "4"),  # type: ignore[arg-type]
        lambda: YesNoQuestion("", 4),  # type: ignore[arg-type]
        lambda: CandidateQuestion("q", 3, 0, ("a",)),  # type: ignore[arg-type]
        lambda: CandidateQuestion("q", 3, 1, ()),  # type: ignore[arg-type]
        lambda: CandidateQuestion("q", 3, 1, ("a", "a")),  # type: ignore[arg-type]
        lambda: CandidateQuestion("q", 3, 1, ("a", "")),  # type: ignore[arg-type]
    ],
)
def test_a_question_that_cannot_be_put_is_refused(make: Callable[[], Question]) -> None:
    with pytest.raises(InvalidQuestion):
        make()


def test_a_matter_given_as_its_number_becomes_the_matter() -> None:
    assert YesNoQuestion("q", 6).matter is Matter.MAINTENANCE_FUND_RAISING  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "votes"),
    [
        (YesNoQuestion("q", Matter.COMPANY), {"owners:nobody": "yes"}),
        (YesNoQuestion("q", Matter.COMPANY), {"o0": "yes"}),
        (YesNoQuestion("q", Matter.COMPANY), {"owners:o0": "maybe"}),
        (YesNoQuestion("q", Matter.COMPANY), {"owners:o0": "YES"}),
        (YesNoQuestion("q", Matter.COMPANY), {"owners:o0": frozenset({"yes"})}),
        (CandidateQuestion("q", Matter.COMPANY, 1, ("a", "b")), {"owners:o0": "a"}),
        (CandidateQuestion("q", Matter.COMPANY, 1, ("a", "b")), {"owners:o0": frozenset("c")}),
        (CandidateQuestion("q", Matter.COMPANY, 1, ("a", "b")), {"owners:o0": frozenset("ab")}),
        (CandidateQuestion("q", Matter.COMPANY, 2, ("a", "b")), {"owners:o0": ["a"]}),
        (CandidateQuestion("q", Matter.COMPANY, 2, ("a", "b")), {"unit:u0": frozenset()}),
    ],
)
def test_a_vote_that_cannot_be_counted_is_refused_not_ignored(
    question: Question, votes: dict[str, Choice]
) -> None:
    with pytest.raises(InvalidVote, match=r"^q: ") as raised:
        tally(roll_of(100, 100), question, votes)
    assert isinstance(raised.value, ValueError)


# Candidates


def candidates_of(
    areas: Sequence[int], seats: int, choices: Sequence[str | None], matter: int = 3
) -> CandidateResult:
    """choices[i] is owner o<i>'s set of candidates as a string of one-letter ids ("" abstains)."""
    question = CandidateQuestion("q", Matter(matter), seats, ("a", "b", "c", "d"))
    votes = votes_of(*(None if c is None else frozenset(c) for c in choices))
    return tally(roll_of(*areas), question, votes)


CANDIDATE_CASES = [
    # (name, areas, seats, choices, matter, chosen, tied)
    ("qualifying fill the seats", [100] * 5, 2, ["ab", "ab", "ac", "b", "c"], 3, "ab", ""),
    # At most `seats` choices each and more than half of the persons to qualify: fewer than
    # 2 × seats candidates can qualify, so ranking and ties need two seats or more.
    (
        "more approving area wins the last seat",
        [100, 100, 100, 101, 100],
        2,
        ["ab", "ac", "ab", "ac", "bc"],
        3,
        "ac",
        "",
    ),
    (
        "equal area: more approving headcount wins the last seat",
        [200] + [100] * 6,
        2,
        ["ab", "ab", "bc", "bc", "ac", "ac", "ac"],
        3,
        "ac",
        "",
    ),
    ("a tie for the last of two seats", [100] * 5, 2, ["ab", "ac", "ab", "ac", "bc"], 3, "a", "bc"),
    (
        "a three-way tie for two seats chooses none",
        [100] * 6,
        2,
        ["ab", "ab", "bc", "bc", "ac", "ac"],
        3,
        "",
        "abc",
    ),
    ("a tie within the seats chooses both", [100] * 4, 2, ["ab", "ab", "ab", ""], 3, "ab", ""),
    ("none qualifies", [100] * 4, 1, ["a", "b", "c", ""], 3, "", ""),
    ("empty choices abstain, in the denominator", [100] * 4, 1, ["a", "a", "", ""], 3, "", ""),
    ("participation not met", [100] * 3, 1, ["a", None, None], 3, "", ""),
    ("item 8: exactly 3/4 qualifies", [100] * 4, 1, ["a", "a", "a", "b"], 8, "a", ""),
    ("item 8: 3/5 does not", [100] * 5, 1, ["a", "a", "a", "b", ""], 8, "", ""),
    ("fewer qualifying than seats", [100] * 3, 3, ["ab", "a", "a"], 4, "a", ""),
]


@pytest.mark.parametrize(
    ("areas", "seats", "choices", "matter", "chosen", "tied"),
    [pytest.param(*case[1:], id=case[0]) for case in CANDIDATE_CASES],
)
def test_candidates(
    areas: list[int], seats: int, choices: list[str | None], matter: int, chosen: str, tied: str
) -> None:
    result = candidates_of(areas, seats, choices, matter)
    assert result.chosen == tuple(chosen)
    assert result.tied == tuple(tied)
    assert [c.candidate_id for c in result.candidates if c.chosen] == list(chosen)
    if tied:
        assert "Tied" in result.reason and "left undecided" in result.reason
    if not chosen and not tied:
        assert result.reason.startswith("Nothing is decided")


def test_candidate_figures() -> None:
    result = candidates_of([100, 200, 300, 400], 2, ["ab", "b", "", "bc"])
    by_id = {c.candidate_id: c for c in result.candidates}
    assert (result.participating_area_centi_m2, result.participating_headcount) == (1000, 4)
    assert (by_id["a"].approving_area_centi_m2, by_id["a"].approving_headcount) == (100, 1)
    assert (by_id["b"].approving_area_centi_m2, by_id["b"].approving_headcount) == (700, 3)
    assert (by_id["c"].approving_area_centi_m2, by_id["c"].approving_headcount) == (400, 1)
    assert (by_id["d"].approving_area_centi_m2, by_id["d"].approving_headcount) == (0, 0)
    assert [c.candidate_id for c in result.candidates if c.qualified] == ["b"]
    assert result.chosen == ("b",) and result.seats == 2


# Properties, against an oracle written here

OWNERS = tuple(f"owner-{i}" for i in range(12))


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[RollUnit], Question, dict[frozenset[str] | str, Choice]]:
    """A roll, a question and votes keyed by the oracle's own idea of a person: the frozenset
    of owners, or the unit id of an ownerless unit. Small areas make exact bounds common."""
    areas = st.one_of(st.integers(0, 4), st.integers(0, 100_000))
    if draw(st.booleans()):
        areas = st.just(draw(st.integers(1, 3)))  # equal units: ties and exact bounds
    owner = st.sampled_from(OWNERS)
    owners = st.one_of(
        owner.map(lambda o: frozenset({o})),  # mostly one owner per unit
        st.frozensets(owner, max_size=3),  # co-owners, or no recorded owner
    )
    raw = draw(st.lists(st.tuples(areas, owners), min_size=1, max_size=30))
    units = [RollUnit(f"u{i}", area, owners) for i, (area, owners) in enumerate(raw)]
    if sum(u.area_centi_m2 for u in units) == 0:
        units[0] = RollUnit("u0", 1, units[0].owner_ids)
    matter = Matter(draw(st.integers(1, 9)))
    persons = list(dict.fromkeys(u.owner_ids or u.unit_id for u in units))
    voters = [p for p in persons if draw(st.integers(0, 4))]  # most vote: turnout is often met
    question: Question
    if draw(st.booleans()):
        question = YesNoQuestion("q", matter)
        return units, question, {p: draw(st.sampled_from(YES_NO_CHOICES)) for p in voters}
    if draw(st.booleans()):
        # One candidate more than seats, full ballots taken in turn from every combination: each
        # candidate is on seats/(seats + 1) of the ballots, so more qualify than there are seats
        # and they often tie, as when owners' slates split evenly.
        seats = draw(st.integers(2, 4))
        candidates = tuple(f"c{i}" for i in range(seats + 1))
        slates = [frozenset(c) for c in combinations(candidates, seats)]
        start = draw(st.integers(0, seats))
        question = CandidateQuestion("q", matter, seats, candidates)
        return units, question, {p: slates[(start + n) % len(slates)] for n, p in enumerate(voters)}
    candidates = tuple(f"c{i}" for i in range(draw(st.integers(1, 5))))
    seats = draw(st.integers(1, len(candidates) + 1))
    question = CandidateQuestion("q", matter, seats, candidates)
    choices = st.frozensets(st.sampled_from(candidates), max_size=seats)
    return units, question, {p: draw(choices) for p in voters}


def key_of(person: frozenset[str] | str) -> str:
    return "unit:" + person if isinstance(person, str) else "owners:" + "+".join(sorted(person))


def oracle(
    units: list[RollUnit], question: Question, votes: dict[frozenset[str] | str, Choice]
) -> dict[str, object]:
    area: dict[frozenset[str] | str, int] = {}
    for u in units:
        person = u.owner_ids or u.unit_id
        area[person] = area.get(person, 0) + u.area_centi_m2
    total_area, total_head = sum(area.values()), len(area)
    voted_area, voted_head = sum(area[p] for p in votes), len(votes)
    turnout = Fraction(voted_area, total_area) >= Fraction(2, 3) and Fraction(
        voted_head, total_head
    ) >= Fraction(2, 3)

    def approves(yes_area: int, yes_head: int) -> bool:
        if not turnout:
            return False
        shares = (Fraction(yes_area, voted_area), Fraction(yes_head, voted_head))
        if question.matter in (6, 7, 8):
            return all(s >= Fraction(3, 4) for s in shares)
        return all(s > Fraction(1, 2) for s in shares)

    out: dict[str, object] = {
        "participating": (voted_area, voted_head),
        "total": (total_area, total_head),
        "participation_met": turnout,
    }
    if isinstance(question, YesNoQuestion):
        yes = [p for p, c in votes.items() if c == "yes"]
        figures = (sum(area[p] for p in yes), len(yes))
        out["approving"] = figures
        out["approved"] = approves(*figures)
        return out
    approving = {
        c: (sum(area[p] for p, v in votes.items() if c in v), sum(c in v for v in votes.values()))
        for c in question.candidates
    }
    qualified = [c for c in question.candidates if approves(*approving[c])]
    chosen: list[str] = []
    tied: list[str] = []
    seats_left = question.seats
    for figures in sorted({approving[c] for c in qualified}, reverse=True):
        group = [c for c in qualified if approving[c] == figures]
        if len(group) <= seats_left:
            chosen += group
            seats_left -= len(group)
        else:
            if seats_left:
                tied = group
            break
    out["approving"] = approving
    out["qualified"] = set(qualified)
    out["chosen"] = set(chosen)
    out["tied"] = set(tied)
    return out


def observed(result: YesNoResult | CandidateResult) -> dict[str, object]:
    out: dict[str, object] = {
        "participating": (result.participating_area_centi_m2, result.participating_headcount),
        "total": (result.total_area_centi_m2, result.total_headcount),
        "participation_met": result.participation_met,
    }
    if isinstance(result, YesNoResult):
        out["approving"] = (result.approving_area_centi_m2, result.approving_headcount)
        out["approved"] = result.approved
        return out
    out["approving"] = {
        c.candidate_id: (c.approving_area_centi_m2, c.approving_headcount)
        for c in result.candidates
    }
    out["qualified"] = {c.candidate_id for c in result.candidates if c.qualified}
    out["chosen"] = set(result.chosen)
    out["tied"] = set(result.tied)
    return out


def counted(
    units: list[RollUnit], question: Question, votes: dict[frozenset[str] | str, Choice]
) -> YesNoResult | CandidateResult:
    return tally(group_roll(units), question, {key_of(p): c for p, c in votes.items()})


@settings(max_examples=500)
@given(scenarios())
def test_the_tally_agrees_with_the_oracle(
    scenario: tuple[list[RollUnit], Question, dict[frozenset[str] | str, Choice]],
) -> None:
    units, question, votes = scenario
    assert observed(counted(units, question, votes)) == oracle(units, question, votes)


@settings(max_examples=300)
@given(scenarios())
def test_approving_never_exceeds_participating_nor_participating_the_roll(
    scenario: tuple[list[RollUnit], Question, dict[frozenset[str] | str, Choice]],
) -> None:
    result = counted(*scenario)
    assert 0 <= result.participating_area_centi_m2 <= result.total_area_centi_m2
    assert 0 <= result.participating_headcount <= result.total_headcount
    if isinstance(result, YesNoResult):
        approving = [(result.approving_area_centi_m2, result.approving_headcount)]
    else:
        approving = [(c.approving_area_centi_m2, c.approving_headcount) for c in result.candidates]
        assert len(result.chosen) <= result.seats
        assert not set(result.chosen) & set(result.tied)
    for area, head in approving:
        assert 0 <= area <= result.participating_area_centi_m2
        assert 0 <= head <= result.participating_headcount


@settings(max_examples=200)
@given(scenarios(), st.data())
def test_the_result_depends_only_on_the_final_votes(
    scenario: tuple[list[RollUnit], Question, dict[frozenset[str] | str, Choice]],
    data: st.DataObject,
) -> None:
    units, question, votes = scenario
    roll = group_roll(units)
    final = {key_of(p): c for p, c in votes.items()}
    expected = tally(roll, question, final)

    shuffled = dict(data.draw(st.permutations(list(final.items())), label="vote order"))
    assert tally(roll, question, shuffled) == expected

    # Votes changed along the way: earlier choices by the same persons, then everyone's final
    # choice, in some order. Applied in turn, the last vote of each person stands.
    offered: st.SearchStrategy[Choice] = (
        st.sampled_from(YES_NO_CHOICES)
        if isinstance(question, YesNoQuestion)
        else st.frozensets(st.sampled_from(question.candidates), max_size=question.seats)
    )
    earlier = data.draw(st.lists(st.tuples(st.sampled_from(list(final) or ["-"]), offered)))
    history = [e for e in earlier if e[0] in final]
    history += data.draw(st.permutations(list(final.items())), label="final votes")
    current: dict[str, Choice] = {}
    for key, choice in history:
        current[key] = choice
    assert tally(roll, question, current) == expected

    receipts = {key: f"R{n:04d}" for n, key in enumerate(sorted(final))}
    voters = {key: f"v{n:04d}" for n, key in enumerate(sorted(roll.persons))}
    assert result_document(roll, [CountedQuestion(question, current, receipts)], voters) == (
        result_document(roll, [CountedQuestion(question, final, receipts)], voters)
    )


# The published document (recounted by tests/unit/test_recount.py)


def test_the_document_lists_every_counted_receipt_sorted_by_code() -> None:
    roll = group_roll(
        [
            RollUnit("u1", 100, frozenset({"alice"})),
            RollUnit("u2", 250, frozenset({"alice"})),
            RollUnit("u3", 100, frozenset({"bob", "carol"})),
            RollUnit("u4", 100, frozenset()),
        ]
    )
    motion = YesNoQuestion("motion", Matter.REBUILDING)
    election = CandidateQuestion("election", Matter.COMMITTEE, 2, ("zed", "amy", "kim"))
    voters = {"owners:alice": "vk-1", "owners:bob+carol": "vk-2", "unit:u4": "vk-3"}
    text = result_document(
        roll,
        [
            CountedQuestion(
                motion,
                {"owners:alice": "yes", "owners:bob+carol": "no", "unit:u4": "abstain"},
                {"owners:alice": "R-9", "owners:bob+carol": "R-1", "unit:u4": "R-5"},
            ),
            CountedQuestion(
                election,
                {"owners:alice": frozenset({"zed", "amy"}), "unit:u4": frozenset()},
                {"owners:alice": "R-3", "unit:u4": "R-2"},
            ),
        ],
        voters,
    )
    document = json.loads(text)
    assert document["format"] == "xinyi-assembly-result/1"
    first, second = document["questions"]
    assert first["question_id"] == "motion" and first["matter"] == 7 and first["kind"] == "yes_no"
    assert "seats" not in first
    assert first["roll"] == {"total_area_centi_m2": 550, "total_headcount": 3}
    assert first["receipts"] == [
        {"receipt": "R-1", "voter_key": "vk-2", "area_centi_m2": 100, "choice": "no"},
        {"receipt": "R-5", "voter_key": "vk-3", "area_centi_m2": 100, "choice": "abstain"},
        {"receipt": "R-9", "voter_key": "vk-1", "area_centi_m2": 350, "choice": "yes"},
    ]
    assert first["result"]["approval_threshold"] == {"ratio": "3/4", "bound": "at_least"}
    assert first["result"]["participation_threshold"] == {"ratio": "2/3", "bound": "at_least"}
    assert first["result"]["approved"] is False
    assert second["kind"] == "candidates" and second["seats"] == 2
    assert second["candidates"] == ["zed", "amy", "kim"]
    assert [r["choice"] for r in second["receipts"]] == [[], ["amy", "zed"]]
    assert second["result"]["approval_threshold"] == {"ratio": "1/2", "bound": "more_than"}
    # 450 of 550 m² and 2 of 3 persons took part; amy and zed have 350 of 450 m², but 1 of 2
    # persons is not more than half.
    assert second["result"]["participation_met"] is True
    assert [c["qualified"] for c in second["result"]["candidates"]] == [False] * 3
    assert second["result"]["chosen"] == [] and second["result"]["tied"] == []
    assert "owners:" not in text and "alice" not in text


@pytest.mark.parametrize(
    ("receipts", "voters", "message"),
    [
        ({"owners:o0": "R1"}, {"owners:o0": "v0", "owners:o1": "v1"}, "needs a receipt"),
        ({"owners:o0": "R1", "owners:o1": "R1"}, {"owners:o0": "v0", "owners:o1": "v1"}, "dist"),
        ({"owners:o0": "R1", "owners:o1": "R2"}, {"owners:o0": "v0"}, "no voter key"),
        ({"owners:o0": "R1", "owners:o1": "R2"}, {"owners:o0": "v", "owners:o1": "v"}, "share"),
    ],
)
def test_the_document_refuses_missing_or_repeated_receipts_and_keys(
    receipts: dict[str, str], voters: dict[str, str], message: str
) -> None:
    votes: dict[str, Choice] = {"owners:o0": "yes", "owners:o1": "no"}
    question = YesNoQuestion("q", Matter.COMPANY)
    with pytest.raises(ValueError, match=message):
        result_document(roll_of(1, 1), [CountedQuestion(question, votes, receipts)], voters)
