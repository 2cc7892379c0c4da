"""Takings: gate exports parsed through profiles (per day, per stay, UTF-8 and GBK, plate numbers
never read), merged with overlapping exports, and the monthly flag rule."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyi_ledger.statements import StatementError
from xinyi_ledger.takings import (
    BELOW_RECORDED_MIN_FEN,
    Contract,
    KnownDay,
    KnownSession,
    ProfileError,
    TakingsFile,
    add_months,
    checks,
    expected,
    load_profile,
    merge,
    months_between,
    parse_takings,
    shipped_profiles,
)
from xinyi_ledger.takings.checks import check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "takings"


def parse(name: str, **kwargs: str) -> TakingsFile:
    return parse_takings((FIXTURES / name).read_bytes(), filename=name, **kwargs)


def problems_of(content: bytes, **kwargs: str) -> list[tuple[int, str]]:
    with pytest.raises(StatementError) as caught:
        parse_takings(content, filename="x.csv", **kwargs)
    return [(p.line, p.message) for p in caught.value.problems]


def daily_totals(name: str) -> dict[str, int]:
    """Fen by month, read with nothing but the csv module: an oracle apart from the parser."""
    out: dict[str, int] = {}
    text = (FIXTURES / name).read_bytes().decode("utf-8-sig")
    for row in csv.DictReader(io.StringIO(text)):
        if row["日期"] != "合计":
            yuan, cents = row["金额"].split(".")
            out[row["日期"][:7]] = out.get(row["日期"][:7], 0) + int(yuan) * 100 + int(cents)
    return out


def test_the_shipped_profiles_load() -> None:
    profiles = shipped_profiles()
    assert {"gate-daily", "gate-sessions"} <= set(profiles)
    assert profiles["gate-daily"].layout == "per_day"
    assert profiles["gate-sessions"].layout == "per_session"
    assert all("车牌" not in name for p in profiles.values() for name in p.columns.values())


def test_a_daily_export_with_bom_and_a_totals_row() -> None:
    parsed = parse("gate_daily_2024q1.csv")
    assert (parsed.profile, parsed.layout, parsed.encoding) == (
        "gate-daily",
        "per_day",
        "utf-8-sig",
    )
    assert len(parsed.days) == 91 and not parsed.sessions
    assert (parsed.days[0].day, parsed.days[-1].day) == (date(2024, 1, 1), date(2024, 3, 31))
    assert parsed.days[0].line == 2 and parsed.days[0].sessions is not None
    by_month: dict[str, int] = {}
    for row in parsed.days:
        key = row.day.isoformat()[:7]
        by_month[key] = by_month.get(key, 0) + row.amount_fen
    assert by_month == daily_totals("gate_daily_2024q1.csv")
    assert all(fen > 1_000_000 for fen in by_month.values())  # over 10,000 yuan every month


def test_a_gbk_session_export_counts_each_stay_on_its_exit_day_and_drops_the_plate() -> None:
    parsed = parse("gate_sessions_2023-09_gbk.csv")
    assert (parsed.profile, parsed.layout, parsed.encoding) == (
        "gate-sessions",
        "per_session",
        "gb18030",
    )
    assert len(parsed.sessions) == 9
    overnight = parsed.sessions[0]
    assert (overnight.reference, overnight.day, overnight.amount_fen) == (
        "P2023083100917",
        date(2023, 9, 1),
        1500,
    )
    assert sum(s.amount_fen for s in parsed.sessions) == 13_000  # 实收, not 应收
    assert parsed.sessions[1].amount_fen == 0  # a free short stay is a stay
    assert "川A" not in repr(parsed) and "渝B" not in repr(parsed)


def test_a_bad_row_refuses_the_file_and_names_every_bad_row() -> None:
    found = problems_of((FIXTURES / "gate_daily_bad_rows.csv").read_bytes())
    assert [line for line, _ in found] == [3, 5]
    assert "'12O.00' is not a number" in found[0][1]
    assert "'2023-13-04'" in found[1][1]


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("日期,金额\n2023-11-01,-5.00\n", 2, "negative"),
        ("日期,金额\n2023-11-01,1.005\n", 2, "fraction of a fen"),
        ("日期,金额\n2023-11-01,\n", 2, "the amount is empty"),
        # An unquoted thousands separator makes a cell more, and must not be read as 1 yuan.
        ("日期,金额\n2023-11-01,1,2345.00\n", 2, "3 cells, the header 2"),
        ("日期,金额,\n2023-11-01,1.00,,\n", 0, ""),  # trailing empty cells are fine
        ("日期,金额\n2023-11-01,1.00\n2023-11-01,2.00\n", 3, "on line 2 already"),
        ("日期,车次,金额\n2023-11-01,三十,1.00\n", 2, "not a whole number"),
        ('日期,金额\n2023-11-01,"12,34.00"\n', 2, "misplaced thousands separators"),
        (
            "订单号,入场时间,出场时间,实收金额\nA1,2023-11-02 10:00:00,2023-11-01 10:00:00,5\n",
            2,
            "leaves",
        ),
        ("订单号,出场时间,实收金额\n,2023-11-01 10:00:00,5\n", 2, "order number is empty"),
        ("订单号,出场时间,实收金额\nA1,2023-11-01,5\n", 2, "exit time '2023-11-01'"),
        (
            "订单号,出场时间,实收金额\nA1,2023-11-01 10:00:00,5\nA1,2023-11-01 11:00:00,5\n",
            3,
            "the order A1 is on line 2 already",
        ),
    ],
)
def test_row_problems(content: str, line: int, words: str) -> None:
    if not words:
        parse_takings(content.encode(), filename="x.csv")
        return
    found = problems_of(content.encode())
    assert found[0][0] == line and words in found[0][1], found


def test_files_no_profile_reads() -> None:
    assert "matches no takings profile" in problems_of(b"date,amount\n2023-11-01,1\n")[0][1]
    assert problems_of(b"") == [(0, "the file is empty")]
    assert "no takings profile 'nope'" in problems_of(b"x", profile="nope")[0][1]
    header_only = problems_of("日期,金额\n".encode(), profile="gate-daily")
    assert header_only == [(1, "the file has a header but no rows")]
    missing = problems_of("日期,车次\n2023-11-01,3\n".encode(), profile="gate-daily")
    assert missing == [(1, "the header has no column '金额' (profile gate-daily)")]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('layout = "per_week"\n[columns]\nday = "d"\namount = "a"\n', "per_day or per_session"),
        ('layout = "per_day"\ncolour = "red"\n', "unknown setting 'colour'"),
        ('layout = "per_day"\n[columns]\nday = "d"\n', "must name amount"),
        ('layout = "per_day"\n[columns]\nday = "d"\namount = "a"\nplate = "车牌号"\n', "'plate'"),
        (
            'layout = "per_day"\noptional_columns = ["amount"]\n'
            '[columns]\nday = "d"\namount = "a"\n',
            "optional_columns",
        ),
        (
            'layout = "per_day"\nencoding = "klingon"\n[columns]\nday = "d"\namount = "a"\n',
            "klingon",
        ),
    ],
)
def test_a_wrong_profile_says_what_is_wrong(tmp_path: Path, toml: str, words: str) -> None:
    path = tmp_path / "vendor.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ProfileError, match=words):
        load_profile(path)


def test_overlapping_exports_merge_once() -> None:
    first = parse("gate_daily_2023-06a.csv")
    second = parse("gate_daily_2023-06b.csv")
    known = {r.day: KnownDay("per_day", r.amount_fen, "a.csv") for r in first.days}
    merged = merge(second, known, {}, date(2024, 1, 1))
    assert (merged.rows_new, merged.duplicates) == (10, 6)
    assert [r.day.day for r in merged.days] == list(range(21, 31))
    changed = parse("gate_daily_2023-06_changed.csv")
    with pytest.raises(StatementError) as caught:
        merge(changed, known, {}, date(2024, 1, 1))
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert problem.message == (
        "the day 2023-06-10 was imported with 447.53 yuan (a.csv), this file says 512.00"
    )


def test_stays_merge_by_reference_and_add_to_their_days() -> None:
    first = parse("gate_sessions_2023-09_gbk.csv")
    second = parse("gate_sessions_2023-09_overlap.csv")
    stays = {s.reference: KnownSession(s.day, s.amount_fen) for s in first.sessions}
    days = {s.day: KnownDay("per_session", 0, "gbk.csv") for s in first.sessions}
    merged = merge(second, days, stays, date(2024, 1, 1))
    assert (merged.rows_new, merged.duplicates, merged.total_fen) == (3, 2, 3_000)
    assert merged.additions == {date(2023, 9, 3): (1_500, 2), date(2023, 9, 4): (1_500, 1)}


def test_a_day_keeps_the_layout_it_came_in() -> None:
    stays = parse("gate_sessions_2023-09_gbk.csv")
    by_stay = {s.day: KnownDay("per_session", 0, "gbk.csv") for s in stays.sessions}
    with pytest.raises(StatementError) as caught:
        merge(parse("gate_daily_2023-09.csv"), by_stay, {}, date(2024, 1, 1))
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (
            2,
            "the day 2023-09-02 was imported stay by stay (gbk.csv); it cannot come as a daily "
            "total as well",
        ),
        (
            3,
            "the day 2023-09-03 was imported stay by stay (gbk.csv); it cannot come as a daily "
            "total as well",
        ),
    ]
    by_day = {date(2023, 6, 5): KnownDay("per_day", 100, "june.csv")}
    with pytest.raises(StatementError, match=r"as a daily total \(june.csv\)"):
        merge(parse("gate_sessions_2023-06.csv"), by_day, {}, date(2024, 1, 1))


def test_a_day_not_over_has_no_final_total_but_its_finished_stays_count() -> None:
    daily = parse("gate_daily_2023-09.csv")
    with pytest.raises(StatementError) as caught:
        merge(daily, {}, {}, date(2023, 9, 4))
    assert [p.line for p in caught.value.problems] == [4, 5]
    assert "is not over" in caught.value.problems[0].message
    assert "has not come yet" in caught.value.problems[1].message
    stays = merge(parse("gate_sessions_2023-09_gbk.csv"), {}, {}, date(2023, 9, 3))
    assert stays.rows_new == 9


# The flag rule


def test_the_chengdu_case_is_flagged_and_a_day_boundary_difference_is_not() -> None:
    chengdu = check(
        "2024-01",
        "parking",
        recorded_fen=1_083_000,
        recorded_days=31,
        expected_fen=0,
        posted_fen=240_000,
        over=True,
    )
    assert (chengdu.state, chengdu.flag, chengdu.shortfall_fen) == (
        "flagged",
        "below_recorded",
        843_000,
    )
    assert chengdu.reason == (
        "the parking income posted, 2,400.00 yuan, is 8,430.00 yuan short of the 10,830.00 yuan "
        "the gates recorded"
    )
    # The month's last night banked and posted on the 1st: 4% short.
    boundary = check(
        "2024-01",
        "parking",
        recorded_fen=1_083_000,
        recorded_days=31,
        expected_fen=0,
        posted_fen=1_040_000,
        over=True,
    )
    assert (boundary.state, boundary.flag, boundary.shortfall_fen) == ("ok", "", 43_000)

    # A small car park: 100 yuan short is within the bound, a fen more is not.
    def small(posted: int) -> str:
        return check(
            "2024-01",
            "parking",
            recorded_fen=50_000,
            recorded_days=3,
            expected_fen=0,
            posted_fen=posted,
            over=True,
        ).flag

    assert (small(40_000), small(39_999)) == ("", "below_recorded")
    unfinished = check(
        "2024-01",
        "parking",
        recorded_fen=1_083_000,
        recorded_days=31,
        expected_fen=0,
        posted_fen=0,
        over=False,
    )
    assert (unfinished.state, unfinished.flag, unfinished.reason) == ("in_progress", "", "")


def test_a_contract_unpaid_is_flagged_until_paid() -> None:
    contract = Contract("advertising", 300_000, "2023-10", "2023-11")
    wanted = expected([contract], months_between("2023-09", "2023-12"))
    assert wanted == {("2023-10", "advertising"): 300_000, ("2023-11", "advertising"): 300_000}
    rows = checks(
        months_between("2023-09", "2023-12"),
        recorded={},
        expected=wanted,
        posted={("2023-11", "advertising"): 300_000, ("2023-12", "other"): 5_000},
        current_month="2024-01",
    )
    assert [(r.month, r.source, r.state, r.flag) for r in rows] == [
        ("2023-10", "advertising", "flagged", "contract_unpaid"),
        ("2023-11", "advertising", "ok", ""),
        ("2023-12", "other", "ok", ""),
    ]
    assert rows[0].reason == (
        "the advertising income posted, 0.00 yuan, is below the 3,000.00 yuan the contracts "
        "expect for the month"
    )


def test_months() -> None:
    assert add_months("2023-12", 1) == "2024-01"
    assert add_months("2024-01", -1) == "2023-12"
    assert add_months("2024-03", -27) == "2021-12"
    assert months_between("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert months_between("2024-02", "2024-01") == []


fen = st.integers(0, 10**9)


@given(fen, fen, fen, fen)
def test_posting_what_was_recorded_and_expected_never_flags(
    recorded: int, expected_fen: int, posted: int, extra: int
) -> None:
    whole = check(
        "2024-01",
        "parking",
        recorded_fen=recorded,
        recorded_days=1,
        expected_fen=expected_fen,
        posted_fen=recorded + expected_fen + extra,
        over=True,
    )
    assert (whole.flag, whole.shortfall_fen) == ("", 0)
    less = check(
        "2024-01",
        "parking",
        recorded_fen=recorded,
        recorded_days=1,
        expected_fen=expected_fen,
        posted_fen=posted,
        over=True,
    )
    if less.flag == "below_recorded":
        assert less.shortfall_fen > max(recorded // 10, BELOW_RECORDED_MIN_FEN)
    more = check(
        "2024-01",
        "parking",
        recorded_fen=recorded,
        recorded_days=1,
        expected_fen=expected_fen,
        posted_fen=posted + extra,
        over=True,
    )
    assert not more.flag or less.flag  # posting more never raises a flag
