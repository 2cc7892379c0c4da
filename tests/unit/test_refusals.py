"""The refusals' Chinese catalog: complete for the code as it stands, and applied as written."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from xinyi_gateway import refusals

ROOT = Path(__file__).resolve().parents[2]
# Where refusals are raised, and the catalog itself (not read for refusals).
SOURCES = [ROOT / "services", ROOT / "kit", ROOT / "gateway"]
CATALOG = ROOT / "gateway" / "xinyi_gateway" / "refusals"
# The calls whose first argument is a refusal's sentence (the kit's errors), and the gateway's
# own problems (`problem(status, detail)`), whose second is.
ERRORS = {
    "DomainError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "FailedPrecondition",
    "AlreadyExists",
    "Aborted",
    "Unavailable",
    "RateLimited",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _templates(node: ast.expr) -> list[str]:
    """The sentences an expression can make, as catalog templates (`{}` for each value)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value.replace("{", "{{").replace("}", "}}")]
    if isinstance(node, ast.JoinedStr):
        return [
            "".join(
                v.value.replace("{", "{{").replace("}", "}}")
                if isinstance(v, ast.Constant)
                else "{}"
                for v in node.values
            )
        ]
    if isinstance(node, ast.IfExp):
        return _templates(node.body) + _templates(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _templates(node.left) or ["{}"], _templates(node.right) or ["{}"]
        return [a + b for a in left for b in right]
    return []


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if "migrations" in path.parts or CATALOG in path.parents:
                continue
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _called(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else ""


def raised() -> dict[str, str]:
    """Every refusal template in the code, with where it is first raised."""
    found: dict[str, str] = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            if name in ERRORS and node.args:
                sentence = node.args[0]
            elif name == "problem" and len(node.args) > 1:
                sentence = node.args[1]
            else:
                continue
            for template in _templates(sentence):
                if template.replace("{}", "").strip():  # a bare value is no sentence
                    found.setdefault(template, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


# Calls whose sentences a refusal quotes: the parsers' problems and the domain's ValueErrors.
PROBLEM_CALLS = {"report", "Problem", "_problem", "_profile_problem", "ValueError"}


def problems_written() -> dict[str, str]:
    """Every sentence the services' parsers and domain checks report, with where."""
    found: dict[str, str] = {}
    for path, tree in _modules():
        if ROOT / "services" not in path.parents:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            added = name == "add" and ast.unparse(node.func).endswith("problems.add")
            if name not in PROBLEM_CALLS and not added:
                continue
            for arg in node.args:
                for template in _templates(arg):
                    if " " in template.replace("{}", "").strip():  # a sentence, not a code
                        found.setdefault(template, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def written() -> set[str]:
    """Every string and f-string of the code, as templates: what a catalog entry may word."""
    found: set[str] = set()
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.expr):
                found.update(_templates(node))
    return found


def test_every_refusal_in_the_code_has_its_chinese() -> None:
    missing = {t: where for t, where in raised().items() if t not in refusals.ZH}
    assert not missing, "refusals without Chinese wording (add them to refusals/zh_*.py):\n" + (
        "\n".join(f"{where}: {t!r}" for t, where in sorted(missing.items(), key=lambda i: i[1]))
    )


def test_no_entry_words_a_sentence_the_code_no_longer_has() -> None:
    code = written()
    stale = sorted(t for t in refusals.ZH if t not in code)
    assert not stale, f"catalog entries no code writes: {stale}"


def _entry_fault(english: str, chinese: str) -> str | None:
    if not CJK.search(chinese):
        return "not worded in Chinese"
    values = english.replace("{{", "").replace("}}", "").count("{}")
    named = re.findall(r"(?<!\{)\{(\d+)\}(?!\})", chinese.replace("{{", "").replace("}}", ""))
    if sorted(int(n) for n in named) != list(range(values)):
        return f"places {sorted(named)} for {values} value(s)"
    try:  # formatting it works: no stray brace
        chinese.format(*(f"<{n}>" for n in range(values)))
    except (IndexError, KeyError, ValueError) as exc:
        return f"does not format: {exc}"
    return None


def test_every_entry_places_each_value_once_and_reads_as_chinese() -> None:
    faults = {e: _entry_fault(e, c) for e, c in refusals.ZH.items()}
    assert not {e: f for e, f in faults.items() if f}


def test_an_entry_with_a_misplaced_value_is_found() -> None:
    assert _entry_fault("a {} of {}", "{0} 的 {0}") is not None
    assert _entry_fault("a {}", "a {0}") == "not worded in Chinese"
    assert _entry_fault("a {}", "{0} 个 {") is not None
    assert _entry_fault("a {} of {}", "{1} 的 {0}") is None


def test_catalog_parts_agree_where_they_share_a_sentence() -> None:
    seen: dict[str, str] = {}
    for part in refusals.PARTS:
        for english, chinese in part.items():
            assert seen.setdefault(english, chinese) == chinese, english


def test_every_file_problem_has_its_chinese() -> None:
    """The parsers' problems (a statement's, a gate export's, an estate CSV's) and the domain's
    ValueErrors are quoted by refusals: each has its wording too."""
    missing = {t: where for t, where in problems_written().items() if t not in refusals.ZH}
    assert not missing, "\n".join(f"{where}: {t!r}" for t, where in sorted(missing.items()))


def test_every_worded_value_is_written_in_the_code() -> None:
    code = written()
    escaped = {v: v.replace("{", "{{").replace("}", "}}") for v in refusals.VALUES}
    stale = sorted(v for v, template in escaped.items() if template not in code)
    assert not stale, f"values no code writes: {stale}"
    assert all(CJK.search(chinese) for chinese in refusals.VALUES.values())


# -- applying it ---------------------------------------------------------------------------------
def test_a_sentence_without_values_is_looked_up() -> None:
    assert refusals.to_chinese("no such estate") == refusals.ZH["no such estate"]


def test_values_are_placed_where_the_chinese_puts_them() -> None:
    english = next(t for t in refusals.ZH if t.count("{}") == 1 and "{{" not in t)
    sentence = english.replace("{}", "XYZ-42")
    chinese = refusals.to_chinese(sentence)
    assert chinese == refusals.ZH[english].format("XYZ-42")
    assert "XYZ-42" in chinese and CJK.search(chinese)


def test_a_value_that_is_itself_a_refusal_is_worded_too() -> None:
    outer = "the request is not valid: {}"
    inner = "no such estate"
    chinese = refusals.to_chinese(outer.format(inner))
    assert chinese == refusals.ZH[outer].format(refusals.ZH[inner])


def test_a_files_problems_are_each_worded() -> None:
    problem = next(t for t in problems_written() if "{" not in t and t in refusals.ZH)
    english = f"nothing was imported: line 3: {problem}; line 9: {problem}; and 4 more"
    line = refusals.ZH["line {}: {}"]
    parts = [line.format(n, refusals.ZH[problem]) for n in (3, 9)]
    parts.append(refusals.ZH["and {} more"].format(4))
    assert refusals.to_chinese(english) == refusals.ZH["nothing was imported: {}"].format(
        "；".join(parts)
    )


def test_the_wording_that_leaves_least_english_wins() -> None:
    """ "{} is empty" matches a line's problem too, and words it worse than "line {}: {}"
    does: "the booking date" is no value of the catalog, "booking date" is."""
    problem = "the booking date is empty"
    worded = refusals.ZH["the {} is empty"].format(refusals.VALUES["booking date"])
    assert refusals.to_chinese(problem) == worded.replace(" ", "")  # Chinese beside Chinese
    assert refusals.to_chinese(f"line 12: {problem}") == refusals.ZH["line {}: {}"].format(
        12, refusals.to_chinese(problem)
    )


def test_an_english_word_a_refusal_carries_is_worded() -> None:
    template = "the ballot is {}; its documents are fixed once voting opens"
    assert refusals.to_chinese(template.format("draft")) == refusals.ZH[template].format(
        refusals.VALUES["draft"]
    )
    # Data is not: a value that is no word of the catalog stays as it is.
    assert refusals.to_chinese(template.format("D-17")) == refusals.ZH[template].format("D-17")


def test_a_space_beside_a_value_stays_only_beside_latin() -> None:
    template = "{} must not be empty"
    assert refusals.ZH[template].startswith("{0} ")
    assert refusals.to_chinese(template.format("name")) == refusals.ZH[template].format("name")
    district = refusals.VALUES["the district's name"]
    assert refusals.to_chinese(template.format("the district's name")) == refusals.ZH[
        template
    ].format(district).replace(f"{district} ", district)


def test_an_unknown_sentence_passes_as_it_is() -> None:
    assert refusals.to_chinese("something no service says") == "something no service says"
    assert refusals.to_chinese("") == ""


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        ("zh-CN, zh;q=0.9", True),
        ("zh", True),
        ("zh-Hans-CN", True),
        ("en", False),
        ("en-US,en;q=0.9,zh-CN;q=0.8", False),
        ("zh-CN;q=0.5, en;q=0.9", False),
        ("fr", False),
        ("", False),
        ("*", False),
        ("zh;q=bogus", False),
        ("zh-TW;q=0.9, en;q=0.9", True),
    ],
)
def test_accept_language(header: str, chinese: bool) -> None:
    assert refusals.prefers_chinese(header) is chinese
