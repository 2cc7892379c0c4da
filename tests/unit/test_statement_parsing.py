"""Bank statement parsing: camt.053, MT940 and CSV profiles, GBK, duplicates, balances, and
malformed files refused by line with nothing returned."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_ledger.statements import (
    MAX_BYTES,
    MAX_LINES,
    ParsedFile,
    ProfileError,
    StatementError,
    load_profile,
    parse_statement,
    shipped_profiles,
    split_new,
)
from xinyi_ledger.statements.model import text_to_fen

FIXTURES = Path(__file__).parent.parent / "fixtures" / "statements"
COMMON = "51050142620800001234"
MAINT = "51050142620800005678"
# The common fund's March movements, as every fixture of that month has them (fen, credit +).
MARCH_AMOUNTS = [128050, 256000, -860000, 300000, -1500, -432109, 240000, 95036]
MARCH_DAYS = [1, 1, 4, 5, 8, 15, 20, 29]


def parse(name: str, **kwargs: str) -> ParsedFile:
    return parse_statement((FIXTURES / name).read_bytes(), filename=name, **kwargs)


def problems_of(name: str, **kwargs: str) -> list[tuple[int, str]]:
    with pytest.raises(StatementError) as caught:
        parse(name, **kwargs)
    assert caught.value.filename == name
    return [(p.line, p.message) for p in caught.value.problems]


def line_of(name: str, needle: str, encoding: str = "utf-8") -> int:
    """The 1-based line of the first occurrence of needle: an oracle apart from the parser."""
    for number, text in enumerate(
        (FIXTURES / name).read_bytes().decode(encoding).split("\n"), start=1
    ):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {name}")


# camt.053


def test_camt_053_001_02_one_statement_with_a_batch_and_a_pending_entry() -> None:
    parsed = parse("camt053_v02.xml")
    assert (parsed.format, parsed.variant, parsed.encoding) == (
        "camt.053",
        "camt.053.001.02",
        "utf-8",
    )
    (statement,) = parsed.statements
    assert statement.account == COMMON
    assert statement.currency == "CNY"
    assert statement.statement_id == f"{COMMON}-202403"
    assert (statement.period_start, statement.period_end) == (date(2024, 3, 1), date(2024, 3, 31))
    assert statement.opening_balance_fen == 15_000_000
    # The batch of two fee payments is one line of 2,300.00; the pending 500.00 is not a line.
    amounts = [line.amount_fen for line in statement.lines]
    assert amounts == [*MARCH_AMOUNTS[:4], 230000, *MARCH_AMOUNTS[4:]]
    assert statement.closing_balance_fen == 15_000_000 + sum(amounts)
    first = statement.lines[0]
    assert first.line == line_of("camt053_v02.xml", "<Ntry>")
    assert first.booking_date == first.value_date == date(2024, 3, 1)
    assert first.bank_reference == "BOC240301000123"
    assert first.reference == "FEE-3-2-301-2403"
    assert (first.counterparty_name, first.counterparty_account) == ("张伟", "6222021001112223334")
    assert first.narrative == "物业费 3栋2-301 2024年3月"
    batch = statement.lines[4]
    assert (batch.counterparty_name, batch.reference) == ("", "")
    assert batch.narrative == "银联代收物业费批量入账 2笔"
    cleaning = statement.lines[2]
    assert cleaning.counterparty_name == "成都锦城保洁服务有限公司"  # the creditor of a debit


def test_camt_053_001_08_two_statements_in_one_document() -> None:
    parsed = parse("camt053_v08_two_statements.xml")
    assert parsed.variant == "camt.053.001.08"
    common, maintenance = parsed.statements
    assert (common.account, maintenance.account) == (COMMON, MAINT)
    assert [line.amount_fen for line in common.lines] == MARCH_AMOUNTS
    assert [line.booking_date.day for line in common.lines] == MARCH_DAYS
    assert [line.amount_fen for line in maintenance.lines] == [1_250_000, -368_000]
    assert maintenance.opening_balance_fen == 86_000_000
    assert maintenance.closing_balance_fen == 86_882_000
    # The <Stmt> element, on the line above its <Id>.
    assert maintenance.line == line_of("camt053_v08_two_statements.xml", f"<Id>{MAINT}-202403") - 1
    repair = maintenance.lines[1]
    assert repair.counterparty_name == "成都安泰电梯工程有限公司"
    assert repair.counterparty_account == "51050187654300002345"
    fee = common.lines[4]
    assert fee.reference == ""  # EndToEndId NOTPROVIDED is no reference
    assert fee.narrative == "对公账户管理费"


def test_camt_bad_amount_is_reported_at_its_line_and_nothing_is_returned() -> None:
    name = "camt053_bad_amount.xml"
    assert problems_of(name) == [
        (line_of(name, "3O00.00"), "the amount '3O00.00' in <Amt> is not a number")
    ]


def test_broken_xml_is_reported_at_the_line_of_the_syntax_error() -> None:
    ((line, message),) = problems_of("camt053_broken.xml")
    assert message.startswith("the XML is broken: Opening and ending tag mismatch")
    # <Prtry> is opened inside the first <BkTxCd> and never closed: </BkTxCd> mismatches.
    assert line == line_of("camt053_broken.xml", "</BkTxCd>")


def test_camt_without_balances_fails_its_schema_at_the_first_entry() -> None:
    name = "camt053_missing_balance.xml"
    ((line, message),) = problems_of(name)
    assert line == line_of(name, "<Ntry>")
    assert message == "<Ntry> is not expected here; expected <RltdAcct>, <Intrst>, <Bal>"


def test_camt_amount_with_a_fraction_of_a_fen_is_refused() -> None:
    content = (FIXTURES / "camt053_v02.xml").read_bytes().replace(b">1280.50<", b">1280.505<")
    with pytest.raises(StatementError) as caught:
        parse_statement(content)
    assert [str(p) for p in caught.value.problems] == [
        f"line {line_of('camt053_v02.xml', '>1280.50<')}: the amount '1280.505' has more than "
        "two decimals (a fraction of a fen)"
    ]


def test_a_dtd_is_refused_and_its_entities_never_expanded() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY secret SYSTEM "file:///etc/passwd">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&c;&secret;</Document>
"""
    with pytest.raises(StatementError) as caught:
        parse_statement(bomb)
    assert "declares a DTD" in str(caught.value)


def test_other_xml_and_unsupported_versions_are_refused_clearly() -> None:
    report = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>'
    with pytest.raises(StatementError, match=r"camt\.052 message, not an ISO 20022 camt\.053"):
        parse_statement(report)
    with pytest.raises(StatementError, match="XML in namespace 'urn:example'"):
        parse_statement(b'<invoice xmlns="urn:example"/>')
    newer = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.13"/>'
    with pytest.raises(StatementError, match=r"camt.053.001.13 is not a supported version"):
        parse_statement(newer)


# MT940


def test_mt940_two_statements_in_swift_envelopes() -> None:
    name = "mt940_two_statements.sta"
    parsed = parse(name)
    assert (parsed.format, parsed.encoding) == ("mt940", "utf-8")
    common, maintenance = parsed.statements
    assert (common.account, maintenance.account) == (COMMON, MAINT)
    assert common.statement_id == "STMT240331001 3/1"
    assert (common.opening_balance_fen, common.closing_balance_fen) == (
        15_000_000,
        15_000_000 + sum(MARCH_AMOUNTS),
    )
    assert [line.amount_fen for line in common.lines] == MARCH_AMOUNTS
    assert [line.booking_date.day for line in common.lines] == MARCH_DAYS
    assert [line.amount_fen for line in maintenance.lines] == [1_250_000, -368_000]
    assert maintenance.line == line_of(name, ":20:STMT240331002")
    assert maintenance.lines[0].line == line_of(name, ":61:2403110311C12500,00")
    assert common.period_end == date(2024, 3, 31)
    first = common.lines[0]
    assert first.bank_reference == "BOC240301000123"
    assert first.reference == "FEE-3-2-301-2403"
    assert first.narrative == "物业费 3栋2-301 2024年3月 张伟 6222021001112223334"


def test_mt940_in_gbk() -> None:
    parsed = parse("mt940_gbk.sta")
    assert parsed.encoding == "gb18030"
    (statement,) = parsed.statements
    assert [line.amount_fen for line in statement.lines] == MARCH_AMOUNTS
    assert statement.lines[2].narrative.startswith("保洁服务费 2024年2月")


def test_mt940_bad_amount_is_reported_at_its_line() -> None:
    name = "mt940_bad_amount.sta"
    ((line, message),) = problems_of(name)
    assert line == line_of(name, "C1.280,50")
    assert "has no transaction type" in message and "decimal comma" in message


def test_mt940_missing_closing_balance_is_reported_at_its_statement() -> None:
    name = "mt940_missing_balance.sta"
    assert problems_of(name) == [
        (
            line_of(name, ":20:STMT240331002"),
            "the statement has no closing balance (:62F: or :62M:)",
        )
    ]


def test_mt940_malformed_balance_and_fraction_of_a_fen() -> None:
    text = (FIXTURES / "mt940_gbk.sta").read_bytes().decode("gbk")
    bad_balance = text.replace(":60F:C240229CNY150000,00", ":60F:C240229CNY150.000,00")
    with pytest.raises(StatementError) as caught:
        parse_statement(bad_balance.encode())
    ((line, message),) = [(p.line, p.message) for p in caught.value.problems]
    assert line == 4
    assert message.startswith("the opening balance (:60F:) 'C240229CNY150.000,00' is not in")
    three_decimals = text.replace("C1280,50NTRF", "C1280,505NTRF")
    with pytest.raises(StatementError, match=r"line 5: the amount '1280.505' has more than two"):
        parse_statement(three_decimals.encode("gbk"))


def test_statement_that_does_not_add_up_is_named() -> None:
    assert problems_of("mt940_unbalanced.sta") == [
        (
            1,
            f"statement STMT240331001 3/1 of account {COMMON} does not add up: the opening "
            "balance 150,000.00 and its 8 lines (-2,745.23) make 147,254.77, but the closing "
            "balance is 147,254.78",
        )
    ]


# CSV


def test_generic_csv_with_bom_and_running_balance() -> None:
    parsed = parse("generic.csv")
    assert (parsed.format, parsed.variant, parsed.encoding) == ("csv", "generic", "utf-8-sig")
    (statement,) = parsed.statements
    assert statement.account == COMMON
    assert [line.amount_fen for line in statement.lines] == MARCH_AMOUNTS
    assert statement.opening_balance_fen == 15_000_000
    assert statement.closing_balance_fen == 15_000_000 + sum(MARCH_AMOUNTS)
    assert (statement.period_start, statement.period_end) == (date(2024, 3, 1), date(2024, 3, 29))
    assert [line.line for line in statement.lines] == list(range(2, 10))


def test_chinese_bank_csv_in_gbk() -> None:
    parsed = parse("cn_bank_gbk.csv")
    assert (parsed.variant, parsed.encoding) == ("cn-bank", "gb18030")
    (statement,) = parsed.statements
    assert statement.account == COMMON  # from the preamble's 账号
    assert [line.amount_fen for line in statement.lines] == MARCH_AMOUNTS  # 合计 row left out
    assert statement.closing_balance_fen == 15_000_000 + sum(MARCH_AMOUNTS)
    cleaning = statement.lines[2]
    assert cleaning.line == 8
    assert cleaning.narrative == "转账支出 保洁服务费 2024年2月 付款单DB-2024-017"
    assert cleaning.bank_reference == "BOC240304000042"
    assert cleaning.counterparty_name == "成都锦城保洁服务有限公司"


def test_csv_bad_amount_is_reported_at_its_row() -> None:
    assert problems_of("generic_bad_amount.csv") == [(6, "the amount 'abc' is not a number")]


def csv_problems(text: str, encoding: str = "utf-8", **kwargs: str) -> list[str]:
    with pytest.raises(StatementError) as caught:
        parse_statement(text.encode(encoding), **kwargs)
    return [str(p) for p in caught.value.problems]


def test_csv_rows_are_all_checked_and_every_problem_listed() -> None:
    text = (
        "booking_date,amount,balance\n"
        "2024-03-01,100.00,1100.00\n"
        "2024-03-32,1.005,1101.01\n"
        "2024-03-03,,1101.01\n"
        "2024-03-04,-1.00,1200.00\n"
    )
    assert csv_problems(text) == [
        "line 3: the booking date '2024-03-32' is not a date in the form %Y-%m-%d",
        "line 3: the amount '1.005' has more than two decimals (a fraction of a fen)",
        "line 4: the amount is empty",
    ]
    broken_chain = (
        "booking_date,amount,balance\n2024-03-01,100.00,1100.00\n2024-03-02,-1.00,1200.00\n"
    )
    assert csv_problems(broken_chain) == [
        "line 3: the balance 1,200.00 does not follow from the row before (1,100.00 and this "
        "row's amount -1.00 make 1,099.00)"
    ]


def test_csv_rows_of_several_accounts_become_several_statements() -> None:
    text = (
        "account,booking_date,amount,balance\n"
        f"{COMMON},2024-03-01,100.00,1100.00\n"
        f"{MAINT},2024-03-01,-50.00,450.00\n"
        f"{COMMON},2024-03-02,0.01,1100.01\n"
    )
    common, maintenance = parse_statement(text.encode()).statements
    assert (common.account, common.line, [line.line for line in common.lines]) == (
        COMMON,
        2,
        [2, 4],
    )
    assert (common.opening_balance_fen, common.closing_balance_fen) == (100000, 110001)
    assert (maintenance.account, maintenance.opening_balance_fen) == (MAINT, 50000)


def test_debit_and_credit_columns_take_exactly_one_amount_per_row() -> None:
    head = (
        "\n".join(["x"] * 4)
        + "\n交易日期,借方发生额,贷方发生额,余额,对方户名,对方账号,摘要,用途,流水号\n"
    )
    rows = [
        '20240301,"1,000.00",5.00,0,,,,,A1',
        "20240302,,,0,,,,,A2",
        "20240303,-5.00,,0,,,,,A3",
        "20240304,1.000.00,,0,,,,,A4",
    ]
    assert csv_problems(head + "\n".join(rows) + "\n", "gbk") == [
        "line 6: the row has both a debit and a credit amount",
        "line 7: the row has neither a debit nor a credit amount",
        "line 8: the debit '-5.00' is negative; the debit and credit columns hold amounts "
        "without a sign",
        "line 9: the debit '1.000.00' is not a number",
    ]


def test_a_new_layout_is_a_profile_file(tmp_path: Path) -> None:
    (tmp_path / "direction-bank.toml").write_text(
        """
description = "unsigned amounts with a 借/贷 mark, newest row first"
delimiter = ";"
date_formats = ["%Y/%m/%d"]
decimal_separator = ","
thousands_separator = "."
newest_first = true
[columns]
booking_date = "日期"
amount = "金额"
direction = "借贷"
balance = "余额"
narrative = "摘要"
[direction]
credit = ["贷"]
debit = ["借"]
""",
        encoding="utf-8",
    )
    profiles = {"direction-bank": load_profile(tmp_path / "direction-bank.toml")}
    text = (
        "日期;借贷;金额;余额;摘要\n"
        "2024/03/02;借;1.000,50;9.000,00;电费\n"
        "2024/03/01;贷;10,50;10.000,50;利息\n"
    )
    parsed = parse_statement(text.encode("gbk"), profiles=profiles)
    (statement,) = parsed.statements
    assert [(line.line, line.amount_fen) for line in statement.lines] == [(3, 1050), (2, -100050)]
    assert (statement.opening_balance_fen, statement.closing_balance_fen) == (999000, 900000)


def test_profiles_are_checked_when_loaded(tmp_path: Path) -> None:
    assert set(shipped_profiles()) == {"generic", "cn-bank"}
    bad = tmp_path / "typo.toml"
    bad.write_text('delimitr = ";"\n[columns]\nbooking_date = "d"\namount = "a"\n')
    with pytest.raises(ProfileError, match="unknown setting 'delimitr'"):
        load_profile(bad)
    bad.write_text('[columns]\nbooking_date = "d"\namount = "a"\ndebit = "x"\ncredit = "y"\n')
    with pytest.raises(ProfileError, match="either amount, or both debit and credit"):
        load_profile(bad)


def test_a_named_profile_that_does_not_exist_is_refused() -> None:
    assert csv_problems("a,b\n1,2\n", profile="nosuch") == [
        "there is no CSV profile 'nosuch' (known: cn-bank, generic)"
    ]


# Files refused as a whole


def test_empty_unknown_oversized_and_undecodable_files_are_refused() -> None:
    for empty in (b"", b"  \r\n", b"\xef\xbb\xbf\n"):
        with pytest.raises(StatementError, match="the file is empty"):
            parse_statement(empty)
    with pytest.raises(StatementError, match="matches no CSV profile"):
        parse_statement("日期,金额\n2024-03-01,1.00\n".encode())
    with pytest.raises(StatementError, match=r"at most 20 MiB"):
        parse_statement(b"x" * (MAX_BYTES + 1))
    with pytest.raises(StatementError) as caught:
        parse_statement(b"booking_date,amount\n2024-03-01,1.00\n\xff\xfe\xfd\n")
    assert str(caught.value.problems[0]).startswith(
        "line 3: the file is not UTF-8 or GBK/GB18030 text"
    )


TOO_MANY = (
    f"the file has more than {MAX_LINES:,} statement lines; at most {MAX_LINES:,} are imported "
    "at once (export a shorter period)"
)


def refused(content: bytes) -> list[str]:
    with pytest.raises(StatementError) as caught:
        parse_statement(content)
    return [str(p) for p in caught.value.problems]


def test_a_file_of_more_lines_than_one_import_takes_is_refused_in_every_format() -> None:
    rows = [f"2024-03-{1 + n % 28:02d},{n % 900 + 1}.00\n" for n in range(MAX_LINES)]
    csv = "booking_date,amount\n" + "".join(rows)
    assert len(parse_statement(csv.encode()).statements[0].lines) == MAX_LINES
    # One row more is refused where it is read.
    assert refused((csv + "2024-03-29,1.00\n").encode()) == [f"line {MAX_LINES + 2}: {TOO_MANY}"]
    head = ":20:STMT\n:25:51050142620800001234\n:28C:1\n:60F:C240301CNY0,00\n"
    entry = ":61:2403010301C1,00NTRFNONREF\n:86:FEE\n"
    assert refused((head + entry * (MAX_LINES + 1) + ":62F:C240331CNY0,00\n").encode()) == [
        TOO_MANY
    ]
    # camt.053: a sound document of the v02 fixture's statement with its entries made many.
    document = (FIXTURES / "camt053_v02.xml").read_text()
    first, last = document.index("<Ntry>"), document.rindex("</Ntry>") + len("</Ntry>")
    one = (
        '<Ntry><Amt Ccy="CNY">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        "<BookgDt><Dt>2024-03-01</Dt></BookgDt><BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd>"
        "</Ntry>"
    )
    many = document[:first] + one * (MAX_LINES + 1) + document[last:]
    assert len(many.encode()) < MAX_BYTES
    assert refused(many.encode()) == [TOO_MANY]


# Amounts


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1234.5", 123450), ("0.01", 1), ("-0.01", -1), ("+12", 1200), ("1.500", 150), (".5", 50)],
)
def test_amounts_are_exact_to_the_fen(text: str, fen: int) -> None:
    assert text_to_fen(text) == fen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.005", "more than two decimals"),
        ("0.001", "more than two decimals"),
        ("abc", "not a number"),
        ("1e3", "not a number"),
        ("NaN", "not a number"),
        ("1_000", "not a number"),
        ("1 000", "not a number"),
        ("", "not a number"),
        ("1000000000000000", "too large"),
    ],
)
def test_amounts_that_are_not_exact_fen_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        text_to_fen(text)


# Duplicates


def test_overlapping_statements_repeat_only_the_shared_days() -> None:
    first = parse("mt940_overlap_1.sta")
    second = parse("mt940_overlap_2.sta")
    known = {line.fingerprint for line in first.lines()}
    assert len(known) == 7  # the two identical parking deposits of the 18th are two movements
    result = split_new(second.lines(), known)
    assert [(line.booking_date.day, line.amount_fen) for line in result.duplicates] == [
        (16, 256000),
        (18, 20000),
        (18, 20000),
        (20, -1500),
    ]
    assert [(line.booking_date.day, line.amount_fen) for line in result.new] == [
        (22, 300000),
        (25, 20000),
        (29, 95036),
    ]
    both = split_new([*first.lines(), *second.lines()], set())
    assert len(both.new) == 10 and len(both.duplicates) == 4


def test_the_same_movements_have_the_same_fingerprints_in_every_format() -> None:
    prints = [
        [line.fingerprint for line in parse(name).statements[0].lines]
        for name in (
            "camt053_v08_two_statements.xml",
            "mt940_two_statements.sta",
            "mt940_gbk.sta",
            "generic.csv",
            "cn_bank_gbk.csv",
        )
    ]
    assert all(p == prints[0] for p in prints)
    assert len(set(prints[0])) == len(MARCH_AMOUNTS)


# parse(render(x)) == x


@st.composite
def statements(draw: st.DrawFn) -> tuple[int, list[tuple[date, date, int]]]:
    opening = draw(st.integers(-(10**9), 10**10))
    start = draw(st.dates(date(2001, 1, 1), date(2098, 12, 1)))
    days = sorted(draw(st.lists(st.integers(0, 27), min_size=1, max_size=12)))
    lines = []
    for day in days:
        booked = start + timedelta(days=day)
        value = booked + timedelta(days=draw(st.integers(-3, 3)))
        amount = draw(st.integers(-(10**9), 10**9).filter(bool))
        lines.append((booked, value, amount))
    return opening, lines


def swift_amount(fen: int) -> str:
    return f"{abs(fen) // 100},{abs(fen) % 100:02d}"


def render_mt940(opening: int, lines: list[tuple[date, date, int]]) -> str:
    closing = opening + sum(amount for _, _, amount in lines)
    out = [":20:PROP", f":25:{COMMON}", ":28C:1/1"]
    first = lines[0][0] - timedelta(days=1)
    out.append(f":60F:{'D' if opening < 0 else 'C'}{first:%y%m%d}CNY{swift_amount(opening)}")
    for number, (booked, value, amount) in enumerate(lines):
        mark = "D" if amount < 0 else "C"
        out.append(
            f":61:{value:%y%m%d}{booked:%m%d}{mark}{swift_amount(amount)}NTRFNONREF//R{number}"
        )
        out.append(f":86:物业费 第{number}笔")
    out.append(f":62F:{'D' if closing < 0 else 'C'}{lines[-1][0]:%y%m%d}CNY{swift_amount(closing)}")
    return "\r\n".join(out) + "\r\n"


def yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def render_csv(opening: int, lines: list[tuple[date, date, int]]) -> str:
    out = ["booking_date,value_date,amount,balance,narrative"]
    balance = opening
    for booked, value, amount in lines:
        balance += amount
        out.append(f"{booked},{value},{yuan(amount)},{yuan(balance)},物业费")
    return "\n".join(out) + "\n"


@settings(max_examples=60, deadline=None)
@given(statements(), st.sampled_from(["utf-8", "gbk"]))
def test_rendered_statements_parse_back_exactly(
    statement: tuple[int, list[tuple[date, date, int]]], encoding: str
) -> None:
    opening, lines = statement
    closing = opening + sum(amount for _, _, amount in lines)
    for content in (render_mt940(opening, lines), render_csv(opening, lines)):
        parsed = parse_statement(content.encode(encoding))
        (result,) = parsed.statements
        assert (result.opening_balance_fen, result.closing_balance_fen) == (opening, closing)
        assert [(line.booking_date, line.value_date, line.amount_fen) for line in result.lines] == (
            lines
        )
