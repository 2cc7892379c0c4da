"""Recounts a published result of an owners' assembly (Civil Code art. 278) on its own.

Usage: python recount.py result.json

Needs only Python 3.11 and its standard library, and shares no code with the platform that
published the result, so anyone (an owner, a supervisor, an accountant) can check a decision.
It recomputes every figure and every decision from the counted receipts and compares them with
the published ones. What it cannot see is who is behind a voter key: each owner checks that
their own receipt is listed with their choice and area, and the committee checks the roll.

The published result (JSON, UTF-8):

    {
      "format": "xinyi-assembly-result/1",
      "questions": [
        {
          "question_id": "q1",                 non-empty string, unique in the document
          "matter": 4,                         the item 1-9 of art. 278 the question decides
          "kind": "yes_no",                    "yes_no" or "candidates"
          "seats": 2,                          candidates only: a positive integer
          "candidates": ["c1", "c2", "c3"],    candidates only: distinct non-empty strings
          "roll": {"total_area_centi_m2": 1234567, "total_headcount": 321},
          "receipts": [                        one per person whose vote was counted
            {"receipt": "R7K2...", "voter_key": "v:9f1c...", "area_centi_m2": 8912,
             "choice": "yes"}
          ],
          "result": { ...the published figures and decision, below... }
        }
      ]
    }

Areas are integers in hundredths of a square metre: a person's area is the sum of the exclusive
areas of their units (the units of one owner, or of one set of co-owners, are one person). A
yes/no choice is "yes", "no" or "abstain"; a candidate choice is a list of at most `seats`
distinct candidate ids, the empty list abstaining. Receipt codes and voter keys are distinct
within a question.

"result" holds:

    "participation_threshold": {"ratio": "2/3", "bound": "at_least"},
    "approval_threshold": {"ratio": "3/4", "bound": "at_least"} (items 6-8)
                          or {"ratio": "1/2", "bound": "more_than"} (every other item),
    "participating_area_centi_m2", "participating_headcount": sums over the receipts,
    "participation_met": participating area >= 2/3 of the total area and participating
        headcount >= 2/3 of the total headcount,
  for "yes_no":
    "approving_area_centi_m2", "approving_headcount": sums over the "yes" receipts,
    "approved": participation met and both approving shares of the participating ones reach
        the approval threshold ("abstain" participates and does not approve),
  for "candidates":
    "candidates": [{"candidate_id", "approving_area_centi_m2", "approving_headcount",
                    "qualified", "chosen"}] in the question's order; a candidate's approvers are
        the receipts whose choice contains it; it qualifies when participation is met and both
        its shares reach the approval threshold,
    "chosen": qualified candidates that win a seat, in the question's order. If no more qualify
        than there are seats, all of them; otherwise they rank by approving area, then approving
        headcount, and the best `seats` win, except that when the last seat's candidate ranks
        equal with the first one outside the seats, no candidate of that rank is chosen,
    "tied": the candidates of that rank (in the question's order), or [],
  and "reason", a sentence for people, which the recount does not check.

Exit status: 0 when every question agrees with the recount; 1 when any disagrees or cannot be
recounted (each such question is named); 2 when the file is not such a document at all.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

FORMAT = "xinyi-assembly-result/1"
YES_NO = ("yes", "no", "abstain")
# Thresholds are (numerator, denominator, inclusive): "at least" when inclusive, else "more than".
PARTICIPATION = (2, 3, True)
SPECIAL_ITEMS = (6, 7, 8)  # raising maintenance funds, rebuilding, common parts' use


class Unreadable(Exception):
    """The question (or the document) does not follow the format."""


@dataclass
class Receipt:
    area: int
    choice: str | frozenset[str]


def approval_threshold(matter: int) -> tuple[int, int, bool]:
    return (3, 4, True) if matter in SPECIAL_ITEMS else (1, 2, False)


def reaches(part: int, whole: int, threshold: tuple[int, int, bool]) -> bool:
    """part / whole against num / den, cross-multiplied: integers only, nothing rounded."""
    num, den, inclusive = threshold
    if whole <= 0:
        return False
    if inclusive:
        return part * den >= whole * num
    return part * den > whole * num


def threshold_json(threshold: tuple[int, int, bool]) -> dict[str, str]:
    num, den, inclusive = threshold
    return {"ratio": f"{num}/{den}", "bound": "at_least" if inclusive else "more_than"}


def integer(value: object, what: str, minimum: int = 0) -> int:
    # bool is an int to Python and 1.0 equals 1; neither is an integer in this format.
    if type(value) is not int or value < minimum:
        raise Unreadable(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


def text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise Unreadable(f"{what} must be a non-empty string, not {value!r}")
    return value


def obj(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise Unreadable(f"{what} must be an object")
    return value


def array(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise Unreadable(f"{what} must be a list")
    return value


def read_receipts(
    question: dict[str, object], candidates: list[str] | None, seats: int
) -> list[Receipt]:
    receipts = []
    codes: set[str] = set()
    voters: set[str] = set()
    for n, raw in enumerate(array(question.get("receipts"), "receipts"), start=1):
        entry = obj(raw, f"receipt #{n}")
        code = text(entry.get("receipt"), f"receipt #{n}'s code")
        voter = text(entry.get("voter_key"), f"receipt {code}'s voter_key")
        area = integer(entry.get("area_centi_m2"), f"receipt {code}'s area_centi_m2")
        if code in codes:
            raise Unreadable(f"receipt {code} is listed twice")
        if voter in voters:
            raise Unreadable(f"voter key {voter} has more than one counted receipt")
        codes.add(code)
        voters.add(voter)
        raw_choice = entry.get("choice")
        choice: str | frozenset[str]
        if candidates is None:
            if not isinstance(raw_choice, str) or raw_choice not in YES_NO:
                raise Unreadable(f"receipt {code}: choice must be yes, no or abstain")
            choice = raw_choice
        else:
            picked = array(raw_choice, f"receipt {code}'s choice")
            choice = frozenset(c for c in picked if isinstance(c, str))
            if len(choice) != len(picked) or not choice <= set(candidates):
                raise Unreadable(f"receipt {code}: choice must list distinct candidates")
            if len(choice) > seats:
                raise Unreadable(f"receipt {code}: choice names more than {seats} candidate(s)")
        receipts.append(Receipt(area, choice))
    return receipts


def recount(question: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """The result this question's receipts give, and lines describing it for people."""
    matter = integer(question.get("matter"), "matter", minimum=1)
    if matter > 9:
        raise Unreadable(f"matter must be an item 1-9 of art. 278, not {matter}")
    kind = question.get("kind")
    candidates: list[str] | None = None
    seats = 0
    if kind == "candidates":
        seats = integer(question.get("seats"), "seats", minimum=1)
        candidates = [
            text(c, "a candidate id") for c in array(question.get("candidates"), "candidates")
        ]
        if not candidates or len(set(candidates)) != len(candidates):
            raise Unreadable("candidates must be a non-empty list of distinct ids")
    elif kind != "yes_no":
        raise Unreadable(f'kind must be "yes_no" or "candidates", not {kind!r}')
    roll = obj(question.get("roll"), "roll")
    total_area = integer(roll.get("total_area_centi_m2"), "roll total_area_centi_m2", minimum=1)
    total_head = integer(roll.get("total_headcount"), "roll total_headcount", minimum=1)
    receipts = read_receipts(question, candidates, seats)

    area = sum(r.area for r in receipts)
    head = len(receipts)
    if area > total_area or head > total_head:
        raise Unreadable("the receipts hold more area or more persons than the whole roll")
    approval = approval_threshold(matter)
    met = reaches(area, total_area, PARTICIPATION) and reaches(head, total_head, PARTICIPATION)
    expected: dict[str, object] = {
        "participation_threshold": threshold_json(PARTICIPATION),
        "approval_threshold": threshold_json(approval),
        "participating_area_centi_m2": area,
        "participating_headcount": head,
        "participation_met": met,
    }
    bound = "at least" if approval[2] else "more than"
    lines = [
        f"  participation: {m2(area)} of {m2(total_area)}, {head} of {total_head} persons; "
        f"needs at least 2/3 of both: {'met' if met else 'NOT met'}"
    ]
    if candidates is None:
        yes = [r for r in receipts if r.choice == "yes"]
        yes_area, yes_head = sum(r.area for r in yes), len(yes)
        approved = met and reaches(yes_area, area, approval) and reaches(yes_head, head, approval)
        expected["approving_area_centi_m2"] = yes_area
        expected["approving_headcount"] = yes_head
        expected["approved"] = approved
        lines.append(
            f"  yes: {m2(yes_area)} of {m2(area)}, {yes_head} of {head} persons; needs {bound} "
            f"{approval[0]}/{approval[1]} of both: {'APPROVED' if approved else 'not approved'}"
        )
        return expected, lines

    approvers = {c: [r for r in receipts if c in r.choice] for c in candidates}
    figures = {c: (sum(r.area for r in rs), len(rs)) for c, rs in approvers.items()}
    qualified = [
        c
        for c in candidates
        if met and reaches(figures[c][0], area, approval) and reaches(figures[c][1], head, approval)
    ]
    # Candidates of equal figures share a rank and occupy positions better+1 .. better+equal:
    # all within the seats are chosen, all beyond are not, and a rank across the last seat ties.
    better = {c: sum(1 for d in qualified if figures[d] > figures[c]) for c in qualified}
    equal = {c: sum(1 for d in qualified if figures[d] == figures[c]) for c in qualified}
    chosen = []
    tied = []
    for c in qualified:
        if better[c] + equal[c] <= seats:
            chosen.append(c)
        elif better[c] < seats:
            tied.append(c)
    expected["candidates"] = [
        {
            "candidate_id": c,
            "approving_area_centi_m2": figures[c][0],
            "approving_headcount": figures[c][1],
            "qualified": c in qualified,
            "chosen": c in chosen,
        }
        for c in candidates
    ]
    expected["chosen"] = chosen
    expected["tied"] = tied
    for c in candidates:
        c_area, c_head = figures[c]
        if c in chosen:
            state = "chosen"
        elif c in tied:
            state = "TIED, not chosen"
        elif c in qualified:
            state = "qualified, outranked"
        else:
            state = "not qualified"
        lines.append(
            f"  {c}: {m2(c_area)} of {m2(area)}, {c_head} of {head} persons; needs {bound} "
            f"{approval[0]}/{approval[1]} of both: {state}"
        )
    lines.append(
        f"  chosen for {seats} seat(s): {', '.join(chosen) or 'none'}"
        + (f"; tied, not chosen: {', '.join(tied)}" if tied else "")
    )
    return expected, lines


def m2(centi_m2: int) -> str:
    whole, hundredths = divmod(centi_m2, 100)
    return f"{whole:,}.{hundredths:02d} m²"


def canonical(value: object) -> str:
    # Strict equality: in Python True == 1 and 1.0 == 1, but not in the published format.
    return json.dumps(value, sort_keys=True)


def differences(
    expected: dict[str, object], published: dict[str, object], prefix: str = ""
) -> list[str]:
    """Each published field that is not what the recount gives, candidate by candidate."""
    found = []
    for field, value in expected.items():
        name = prefix + field
        shown = published.get(field)
        if field not in published:
            found.append(f"{name}: missing from the published result, recounted {value!r}")
        elif (
            isinstance(value, list)
            and isinstance(shown, list)
            and len(shown) == len(value)
            and all(
                isinstance(e, dict) and isinstance(s, dict)
                for e, s in zip(value, shown, strict=True)
            )
        ):
            for n, (mine, theirs) in enumerate(zip(value, shown, strict=True)):
                label = f"{name}[{mine.get('candidate_id', n)}]."
                found += differences(mine, theirs, label)
        elif canonical(shown) != canonical(value):
            found.append(f"{name}: published {shown!r}, recounted {value!r}")
    return found


def check(document: object) -> int:
    """Prints the recount of every question; returns the exit status."""
    doc = obj(document, "the document")
    if doc.get("format") != FORMAT:
        raise Unreadable(f'format must be "{FORMAT}", not {doc.get("format")!r}')
    questions = array(doc.get("questions"), "questions")
    seen: set[str] = set()
    failed = []
    for n, raw in enumerate(questions, start=1):
        question = raw if isinstance(raw, dict) else {}
        qid = question.get("question_id")
        name = qid if isinstance(qid, str) and qid else f"#{n}"
        print(f"question {name} (matter {question.get('matter')}, {question.get('kind')})")
        try:
            obj(raw, f"question {name}")
            if name in seen:
                raise Unreadable(f"question id {name} appears twice")
            seen.add(name)
            expected, lines = recount(question)
            diffs = differences(expected, obj(question.get("result"), "result"))
        except Unreadable as err:
            print(f"  CANNOT RECOUNT question {name}: {err}")
            failed.append(name)
            continue
        print("\n".join(lines))
        if diffs:
            print(f"  DISAGREES: question {name}'s published result differs from the recount:")
            print("\n".join(f"    {d}" for d in diffs))
            failed.append(name)
        else:
            print(f"  agrees: question {name}'s published figures and decision are right")
    if failed:
        print(
            f"{len(failed)} of {len(questions)} question(s) failed the recount: {', '.join(failed)}"
        )
        return 1
    print(f"all {len(questions)} question(s) agree with the recount")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python recount.py result.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            document = json.load(f)
        return check(document)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, Unreadable) as err:
        print(f"cannot recount {argv[1]}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
