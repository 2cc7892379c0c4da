"""services/voting/recount.py, run as anyone would run it: it agrees with the results the tally
publishes, and names the question whose published figures, decision or receipts were altered."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyi_voting.tally import (
    YES_NO_CHOICES,
    CandidateQuestion,
    Choice,
    CountedQuestion,
    Matter,
    Question,
    RollUnit,
    YesNoQuestion,
    group_roll,
    result_document,
)

RECOUNT = Path(__file__).resolve().parents[2] / "services" / "voting" / "recount.py"


def recount(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RECOUNT), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def estate_result() -> dict[str, Any]:
    """Nine persons of 100.00 m² each: six owners, two co-owners of two units, the developer's
    three unsold units, and one unit with no recorded owner."""
    units = [RollUnit(f"u{i}", 10_000, frozenset({f"o{i}"})) for i in range(1, 7)]
    units += [
        RollUnit("u7", 5_000, frozenset({"o7", "o8"})),
        RollUnit("u8", 5_000, frozenset({"o8", "o7"})),
        RollUnit("d1", 4_000, frozenset({"developer"})),
        RollUnit("d2", 3_000, frozenset({"developer"})),
        RollUnit("d3", 3_000, frozenset({"developer"})),
        RollUnit("u9", 10_000, frozenset()),
    ]
    roll = group_roll(units)
    p = list(roll.persons)  # o1..o6, o7+o8, developer, unit:u9
    assert roll.total_headcount == 9

    def choices(picked: str) -> dict[str, Choice]:
        """One letter per person: y(es), n(o), a(bstain), or - for not voting."""
        words = {"y": "yes", "n": "no", "a": "abstain"}
        return {p[i]: words[c] for i, c in enumerate(picked) if c != "-"}

    def slate(*picked: str) -> dict[str, Choice]:
        return {p[i]: frozenset(c.split(",")) - {""} for i, c in enumerate(picked) if c != "-"}

    counted = [
        # Exactly 2/3 take part; 4 of 6 approve.
        (YesNoQuestion("statute", Matter.MANAGEMENT_STATUTE), choices("yyyyna---")),
        # Exactly 3/4 approve.
        (YesNoQuestion("maintenance", Matter.MAINTENANCE_FUND_RAISING), choices("yyyyyynn-")),
        (
            CandidateQuestion("company", Matter.COMPANY, 1, ("acme", "brightway", "cityclean")),
            slate("acme", "acme", "acme", "acme", "acme", "brightway", "brightway", "", "-"),
        ),
        # ann is chosen; ben and cai tie for the second seat.
        (
            CandidateQuestion("committee", Matter.COMMITTEE, 2, ("ann", "ben", "cai", "dai")),
            slate(
                "ann,ben",
                "ann,ben",
                "ann,ben",
                "ann,cai",
                "ann,cai",
                "ann,cai",
                "ben,cai",
                "ben,cai",
                "-",
            ),
        ),
        # 5 of 9 is not 2/3: nothing is decided.
        (YesNoQuestion("advertising", Matter.COMMON_PARTS_USE), choices("yyyyy----")),
    ]
    voter_keys = {key: f"vk-{(n * 7919) % 1000:03d}" for n, key in enumerate(p)}
    document = result_document(
        roll,
        [
            CountedQuestion(q, votes, {k: f"R-{q.question_id}-{n}" for n, k in enumerate(votes)})
            for q, votes in counted
        ],
        voter_keys,
    )
    parsed: dict[str, Any] = json.loads(document)
    return parsed


def question(document: dict[str, Any], qid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(q for q in document["questions"] if q["question_id"] == qid)
    return found


def receipt_choosing(document: dict[str, Any], qid: str, choice: object) -> dict[str, Any]:
    found: dict[str, Any] = next(
        r for r in question(document, qid)["receipts"] if r["choice"] == choice
    )
    return found


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_estate_result_is_what_the_law_says() -> None:
    document = estate_result()
    statute = question(document, "statute")["result"]
    assert (statute["participating_headcount"], statute["participation_met"]) == (6, True)
    assert statute["approved"] is True
    assert question(document, "maintenance")["result"]["approved"] is True
    assert question(document, "company")["result"]["chosen"] == ["acme"]
    committee = question(document, "committee")["result"]
    assert (committee["chosen"], committee["tied"]) == (["ann"], ["ben", "cai"])
    assert question(document, "advertising")["result"]["participation_met"] is False


def test_a_published_result_recounts_and_agrees(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(estate_result()), encoding="utf-8")
    run = recount(path)
    assert run.returncode == 0, run.stdout + run.stderr
    for qid in ("statute", "maintenance", "company", "committee", "advertising"):
        assert f"agrees: question {qid}'s" in run.stdout
    assert "all 5 question(s) agree" in run.stdout
    assert "ann: 600.00 m² of 800.00 m², 6 of 8 persons" in run.stdout
    assert (
        "ben: 500.00 m² of 800.00 m², 5 of 8 persons; needs more than 1/2 of both: TIED, not chosen"
        in (run.stdout)
    )


def flip_yes_to_no(d: dict[str, Any]) -> str:
    receipt_choosing(d, "statute", "yes")["choice"] = "no"
    return "statute"


def flip_a_candidate(d: dict[str, Any]) -> str:
    receipt_choosing(d, "company", ["acme"])["choice"] = ["cityclean"]
    return "company"


def heavier_receipt(d: dict[str, Any]) -> str:
    receipt_choosing(d, "maintenance", "no")["area_centi_m2"] += 1
    return "maintenance"


def lighter_receipt(d: dict[str, Any]) -> str:
    question(d, "committee")["receipts"][0]["area_centi_m2"] -= 1
    return "committee"


def receipt_dropped(d: dict[str, Any]) -> str:
    question(d, "maintenance")["receipts"].pop()
    return "maintenance"


def receipt_added(d: dict[str, Any]) -> str:
    question(d, "advertising")["receipts"].append(
        {"receipt": "R-new", "voter_key": "vk-new", "area_centi_m2": 10_000, "choice": "yes"}
    )
    return "advertising"


def voter_counted_twice(d: dict[str, Any]) -> str:
    receipts = question(d, "statute")["receipts"]
    receipts.append({**receipts[0], "receipt": "R-twice"})
    return "statute"


def participating_figure(d: dict[str, Any]) -> str:
    question(d, "company")["result"]["participating_headcount"] += 1
    return "company"


def approving_figure(d: dict[str, Any]) -> str:
    question(d, "statute")["result"]["approving_area_centi_m2"] -= 1
    return "statute"


def candidate_figure(d: dict[str, Any]) -> str:
    question(d, "committee")["result"]["candidates"][1]["approving_headcount"] += 1
    return "committee"


def decision_flipped(d: dict[str, Any]) -> str:
    question(d, "advertising")["result"]["approved"] = True
    return "advertising"


def tie_broken(d: dict[str, Any]) -> str:
    result = question(d, "committee")["result"]
    result["chosen"], result["tied"] = ["ann", "ben"], []
    result["candidates"][1]["chosen"] = True
    return "committee"


def roll_grown(d: dict[str, Any]) -> str:
    # 60,000 of 90,001 centi-m² is no longer 2/3: the statute was not decided.
    question(d, "statute")["roll"]["total_area_centi_m2"] += 1
    return "statute"


def threshold_lowered(d: dict[str, Any]) -> str:
    question(d, "maintenance")["result"]["approval_threshold"] = {
        "ratio": "1/2",
        "bound": "more_than",
    }
    return "maintenance"


def matter_changed(d: dict[str, Any]) -> str:
    question(d, "maintenance")["matter"] = 5
    return "maintenance"


def figure_as_text(d: dict[str, Any]) -> str:
    result = question(d, "statute")["result"]
    result["participating_headcount"] = str(result["participating_headcount"])
    return "statute"


def decision_as_number(d: dict[str, Any]) -> str:
    question(d, "maintenance")["result"]["approved"] = 1
    return "maintenance"


def unknown_candidate(d: dict[str, Any]) -> str:
    receipt_choosing(d, "company", ["brightway"])["choice"] = ["dodgy"]
    return "company"


def too_many_candidates(d: dict[str, Any]) -> str:
    receipt_choosing(d, "company", ["brightway"])["choice"] = ["acme", "brightway"]
    return "company"


def figure_missing(d: dict[str, Any]) -> str:
    del question(d, "advertising")["result"]["participation_met"]
    return "advertising"


TAMPERINGS = [
    flip_yes_to_no,
    flip_a_candidate,
    heavier_receipt,
    lighter_receipt,
    receipt_dropped,
    receipt_added,
    voter_counted_twice,
    participating_figure,
    approving_figure,
    candidate_figure,
    decision_flipped,
    tie_broken,
    roll_grown,
    threshold_lowered,
    matter_changed,
    figure_as_text,
    decision_as_number,
    unknown_candidate,
    too_many_candidates,
    figure_missing,
]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_a_tampered_result_fails_naming_the_question(
    tmp_path: Path, tamper: Callable[[dict[str, Any]], str]
) -> None:
    document = estate_result()
    tampered = tamper(document)
    run = recount(write(tmp_path, document))
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        f"DISAGREES: question {tampered}'s" in run.stdout
        or f"CANNOT RECOUNT question {tampered}:" in run.stdout
    )
    assert f"failed the recount: {tampered}\n" in run.stdout
    others = {q["question_id"] for q in document["questions"]} - {tampered}
    for qid in others:
        assert f"agrees: question {qid}'s" in run.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot recount"),
        ('{"format": "something-else/1", "questions": []}', "format must be"),
        ('{"format": "xinyi-assembly-result/1"}', "questions must be a list"),
        ("[]", "the document must be an object"),
    ],
)
def test_a_file_that_is_not_a_result_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    run = recount(path)
    assert run.returncode == 2
    assert message in run.stderr


def test_usage() -> None:
    run = subprocess.run(
        [sys.executable, str(RECOUNT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2 and "usage" in run.stderr


def test_the_recount_shares_no_code_with_the_platform() -> None:
    tree = ast.parse(RECOUNT.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module
            imported.add(node.module.split(".")[0])
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported


# Generated assemblies: whatever the tally publishes, the recount agrees.


@st.composite
def assemblies(draw: st.DrawFn) -> str:
    areas = st.one_of(st.integers(0, 3), st.integers(1, 50_000))
    owners = st.frozensets(st.sampled_from([f"o{i}" for i in range(10)]), max_size=2)
    raw = draw(st.lists(st.tuples(areas, owners), min_size=1, max_size=30))
    units = [RollUnit(f"u{i}", a, o) for i, (a, o) in enumerate(raw)]
    if not any(u.area_centi_m2 for u in units):
        units[0] = RollUnit("u0", 1, units[0].owner_ids)
    roll = group_roll(units)
    persons = list(roll.persons)
    counted = []
    for n in range(draw(st.integers(1, 4))):
        matter = Matter(draw(st.integers(1, 9)))
        voters = [p for p in persons if draw(st.integers(0, 5))]
        q: Question
        votes: dict[str, Choice]
        if draw(st.booleans()):
            q = YesNoQuestion(f"q{n}", matter)
            votes = {p: draw(st.sampled_from(YES_NO_CHOICES)) for p in voters}
        else:
            seats = draw(st.integers(1, 3))
            candidates = tuple(f"c{i}" for i in range(seats + draw(st.integers(0, 2))))
            q = CandidateQuestion(f"q{n}", matter, seats, candidates)
            slates = [frozenset(c) for c in combinations(candidates, seats)]
            ballot = st.one_of(
                st.sampled_from(slates), st.frozensets(st.sampled_from(candidates), max_size=seats)
            )
            votes = {p: draw(ballot) for p in voters}
        codes = draw(st.permutations(range(len(votes))))
        receipts = {p: f"R{code:05d}" for p, code in zip(votes, codes, strict=True)}
        counted.append(CountedQuestion(q, votes, receipts))
    voter_keys = {p: f"key-{n}" for n, p in enumerate(draw(st.permutations(persons)))}
    return result_document(roll, counted, voter_keys)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(assemblies())
def test_every_published_result_recounts(tmp_path: Path, document: str) -> None:
    path = tmp_path / "generated.json"
    path.write_text(document, encoding="utf-8")
    run = recount(path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "question(s) agree with the recount" in run.stdout
