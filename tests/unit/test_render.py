"""The disclosure renderers: the CSV parses back to the report's figures, the PDF and the notice
carry the Chinese text in an embedded font subset, and the notice's QR code decodes to the record.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import re
from decimal import Decimal
from typing import Any

import pypdf
import pypdfium2 as pdfium
import pytest
import zxingcpp

from xinyi_disclosure.render import (
    BALLOTS,
    BANK,
    BUDGET,
    DISBURSEMENTS,
    EXPENSES,
    FEES,
    FLAGS,
    FUND,
    HEAD,
    INCOME,
    MEETINGS,
    REMUNERATION,
    SUGGESTIONS,
    percent,
    to_csv,
    to_notice,
    to_pdf,
    yuan,
)

HEADINGS = [FUND, INCOME, EXPENSES, REMUNERATION, FEES, BUDGET, DISBURSEMENTS, BANK, BALLOTS]
HEADINGS += [MEETINGS, SUGGESTIONS, HEAD, FLAGS]
A4_POINTS = (595.28, 841.89)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entry(entry_id: str, booked_on: str, description: str, items: list[tuple[str, int, str]]):
    return {
        "entry_id": entry_id,
        "booked_on": booked_on,
        "description": description,
        "amount_fen": sum(fen for _, fen, _ in items),
        "items": [{"description": d, "amount_fen": f, "occurred_on": o} for d, f, o in items],
    }


def source(name: str, entries: list[dict[str, Any]], *, lump_sum: bool = False):
    amount = sum(e["amount_fen"] for e in entries)
    return {"source": name, "amount_fen": amount, "lump_sum": lump_sum, "entries": entries}


def expense(account: str, name: str, entries: list[tuple[str, str, str, int, list[str]]]):
    rows = [
        {"entry_id": i, "booked_on": b, "description": d, "amount_fen": f, "vouchers": v}
        for i, b, d, f, v in entries
    ]
    amount = sum(r["amount_fen"] for r in rows)
    return {"account": account, "name": name, "amount_fen": amount, "entries": rows}


def make_report() -> dict[str, Any]:
    income = [
        source(
            "property_fee",
            [
                entry(
                    "E-1001",
                    "2026-10-31",
                    "10月物业费收缴",
                    [
                        ("1栋101 10月物业费", 32_450, "2026-10-08"),
                        ("1栋102 10月物业费", 28_900, "2026-10-09"),
                        ("其余 296 户 10月物业费", 8_912_650, "2026-10-31"),
                    ],
                )
            ],
        ),
        source(
            "parking",
            [
                entry(
                    "E-1002",
                    "2026-10-16",
                    "东门道闸临时停车费",
                    [
                        ("10月1日至15日", 61_728, "2026-10-15"),
                        ("10月16日至31日", 61_728, "2026-10-31"),
                    ],
                ),
                entry(
                    "E-1003",
                    "2026-10-05",
                    "月租车位 A区",
                    [("A区 12 个车位", 360_000, "2026-10-05")],
                ),
            ],
        ),
        source(
            "advertising",
            [
                entry(
                    "E-1004",
                    "2026-10-10",
                    "电梯广告位年度租金",
                    [("3部电梯 全年", 500_000, "2026-10-10")],
                )
            ],
            lump_sum=True,
        ),
        source(
            "venue",
            [entry("E-1005", "2026-10-03", "会所场地租用", [("业主婚宴", 80_000, "2026-10-03")])],
        ),
    ]
    expenses = [
        expense(
            "5002",
            "保洁",
            [
                (
                    "E-2001",
                    "2026-10-31",
                    "10月保洁外包服务费",
                    1_800_000,
                    [sha("保洁合同"), sha("发票 0012")],
                )
            ],
        ),
        expense(
            "5004",
            "维修",
            [
                ("E-2002", "2026-10-21", "3栋电梯门机更换", 356_789, [sha("维修发票")]),
                ("E-2003", "2026-10-25", "地下车库照明灯管", 12_345, []),
            ],
        ),
        expense("5006", "绿化", [("E-2004", "2026-10-12", "秋季补植", 150_000, [sha("绿化")])]),
    ]
    income_fen = sum(s["amount_fen"] for s in income)
    expense_fen = sum(k["amount_fen"] for k in expenses)
    opening = 123_456_789
    return {
        "estate": {"estate_id": "est-7f3a", "name": "阳光花园"},
        "period": "2026-10",
        "generated_at": "2026-11-26T12:00:00+08:00",
        "state": "signed",
        "record_url": "https://xinyi.example/estates/est-7f3a/reports/2026-10",
        "fund": {
            "opening_fen": opening,
            "income_fen": income_fen,
            "expense_fen": expense_fen,
            "closing_fen": opening + income_fen - expense_fen,
            "maintenance_opening_fen": 50_000_000,
            "maintenance_closing_fen": 49_643_211,
        },
        "income": income,
        "expenses": expenses,
        "remuneration": {"accrued_fen": 991_745, "basis": "收入 × 1/10（物业费、停车）"},
        "fees": {
            "assessed_fen": 9_800_000,
            "collected_fen": 8_974_000,
            "arrears_fen": 826_000,
            "units_assessed": 300,
            "units_paid": 264,
            "payment_rate_amount": "91.6%",
            "payment_rate_units": "88.0%",
        },
        "budget": [
            {
                "line_id": "B-01",
                "name": "保洁服务",
                "budget_fen": 21_600_000,
                "actual_fen": 1_800_000,
                "actual_year_fen": 18_000_000,
            },
            {
                "line_id": "B-02",
                "name": "电梯维修",
                "budget_fen": 3_000_000,
                "actual_fen": 356_789,
                "actual_year_fen": 2_100_000,
            },
        ],
        "disbursements": [
            {
                "disbursement_id": "D-301",
                "state": "approved",
                "amount_fen": 356_789,
                "payee": "杭州安达电梯有限公司",
                "purpose": "3栋电梯门机更换",
            },
            {
                "disbursement_id": "D-302",
                "state": "requested",
                "amount_fen": 88_000,
                "payee": "绿城园艺",
                "purpose": '=HYPERLINK("http://evil.example")',
            },
        ],
        "bank": {
            "statement_through": "2026-10-31",
            "reconciled_through": "2026-10-31",
            "open_lines": 1,
            "alarms": 0,
        },
        "ballots": [
            {
                "ballot_id": "V-12",
                "title": "2027年度预算表决",
                "state": "decided",
                "decided": [{"question": "是否同意2027年度预算", "result": "passed"}],
            },
            {"ballot_id": "V-13", "title": "更换门禁系统", "state": "open", "decided": []},
        ],
        "meetings": [
            {
                "meeting_id": "M-4",
                "title": "第三届业主大会第二次会议",
                "state": "held",
                "held_at": "2026-10-18T19:00:00+08:00",
            }
        ],
        "suggestions": {"opened": 7, "resolved": 5, "open": 4, "overdue": 1},
        "head": {
            "merkle_root": sha("root"),
            "chain_head": sha("head"),
            "entry_count": 1284,
            "signatures": [
                {"role": "company", "signed_at": "2026-11-03T10:00:00+08:00"},
                {"role": "committee", "signed_at": "2026-11-05T20:30:00+08:00"},
            ],
        },
        "flags": [
            {
                "flag_id": "F-2026-10-01",
                "kind": "expense_without_voucher",
                "reason": "地下车库照明灯管 123.45 元无凭证",
                "state": "explained",
                "explanation": "小额零星采购，收据已交物业服务中心存档",
            }
        ],
    }


def empty_report() -> dict[str, Any]:
    report = make_report()
    for key in ("income", "expenses", "budget", "disbursements", "ballots", "meetings", "flags"):
        report[key] = []
    report["head"] = None
    report["state"] = "open"
    report["bank"] = {**report["bank"], "statement_through": None, "reconciled_through": None}
    return report


def fen(cell: str) -> int:
    """The CSV's yuan back to fen, exactly: always two decimals, never a float."""
    assert re.fullmatch(r"-?\d+\.\d{2}", cell), cell
    return int(Decimal(cell) * 100)


def sections(data: bytes) -> dict[str, list[list[str]]]:
    """Section title -> [header, *rows]; sections are a title row, a header and a blank row."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    out: dict[str, list[list[str]]] = {}
    i = 0
    while i < len(rows):
        title = rows[i][0]
        end = rows.index([], i)
        out[title] = rows[i + 1 : end]
        i = end + 1
    return out


def pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


def qr_codes(data: bytes) -> list[str]:
    page = pdfium.PdfDocument(data)[0]
    image = page.render(scale=3).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return make_report()


@pytest.fixture(scope="module")
def pdf(report: dict[str, Any]) -> bytes:
    return to_pdf(report)


@pytest.fixture(scope="module")
def notice(report: dict[str, Any]) -> bytes:
    return to_notice(report)


def test_yuan_and_percent_are_exact() -> None:
    assert yuan(0) == "0.00"
    assert yuan(5) == "0.05"
    assert yuan(-123_456) == "-1234.56"
    assert yuan(123_456_789, grouped=True) == "1,234,567.89"
    assert yuan(10**20 + 1) == "1000000000000000000.01"
    assert percent(1, 3) == "33.3%"
    assert percent(2, 3) == "66.7%"
    assert percent(1, 2000) == "0.1%"
    assert percent(5, 0) == "—"


def test_csv_is_utf8_with_bom_and_crlf(report: dict[str, Any]) -> None:
    data = to_csv(report)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\n") == data.count(b"\r\n") > 20
    assert "阳光花园" in data.decode("utf-8-sig")


def test_csv_parses_back_to_the_reports_figures(report: dict[str, Any]) -> None:
    got = sections(to_csv(report))
    assert list(got) == ["报告信息", FUND, INCOME, EXPENSES, *HEADINGS[3:]]
    assert dict(map(tuple, got["报告信息"][1:]))["在线记录"] == report["record_url"]

    fund = {name: fen(amount) for name, amount in got[FUND][1:]}
    assert fund["期初余额"] == report["fund"]["opening_fen"]
    assert fund["本月收入"] == report["fund"]["income_fen"]
    assert fund["本月支出"] == report["fund"]["expense_fen"]
    assert fund["期末余额"] == report["fund"]["closing_fen"]
    assert fund["其中维修资金期末余额"] == report["fund"]["maintenance_closing_fen"]

    header, *items = got[INCOME]
    col = {name: i for i, name in enumerate(header)}
    expected = [
        (s["source"], e["entry_id"], i["description"], i["amount_fen"])
        for s in report["income"]
        for e in s["entries"]
        for i in e["items"]
    ]
    assert len(items) == len(expected)
    assert sum(fen(r[col["明细金额（元）"]]) for r in items) == report["fund"]["income_fen"]
    for row, (_, entry_id, description, amount) in zip(items, expected, strict=True):
        assert (row[col["分录编号"]], row[col["明细摘要"]]) == (entry_id, description)
        assert fen(row[col["明细金额（元）"]]) == amount
    parking = [r for r in items if r[col["来源"]] == "停车"]
    assert len(parking) == 3
    assert {fen(r[col["来源合计（元）"]]) for r in parking} == {483_456}
    assert {r[col["整笔收入"]] for r in items if r[col["来源"]] == "广告"} == {"是"}

    header, *entries = got[EXPENSES]
    col = {name: i for i, name in enumerate(header)}
    assert len(entries) == 4
    assert sum(fen(r[col["金额（元）"]]) for r in entries) == report["fund"]["expense_fen"]
    cleaning = entries[0]
    assert (cleaning[col["科目编号"]], cleaning[col["科目名称"]]) == ("5002", "保洁")
    assert (
        cleaning[col["凭证（SHA-256）"]].split() == report["expenses"][0]["entries"][0]["vouchers"]
    )

    fees = dict(zip(*got[FEES], strict=True))
    assert fen(fees["欠费（元）"]) == report["fees"]["arrears_fen"]
    assert fees["收缴率（按金额）"] == "91.6%"
    budget = got[BUDGET][1]
    assert (fen(budget[3]), budget[5]) == (1_800_000, "83.3%")
    assert fen(got[REMUNERATION][1][0]) == report["remuneration"]["accrued_fen"]
    assert got[FLAGS][1][1:4] == ["支出无凭证", report["flags"][0]["reason"], "已说明"]
    assert [r[0] for r in got[HEAD][1:]] == [
        "默克尔根",
        "链头",
        "分录数",
        "物业服务企业签署时间",
        "业主委员会签署时间",
    ]
    assert got[BALLOTS][1:] == [
        ["2027年度预算表决", "已决定", "是否同意2027年度预算", "通过"],
        ["更换门禁系统", "投票中", "", ""],
    ]


def test_csv_defuses_spreadsheet_formulas(report: dict[str, Any]) -> None:
    rows = sections(to_csv(report))[DISBURSEMENTS]
    assert rows[2][3] == '\'=HYPERLINK("http://evil.example")'
    assert fen(rows[2][4]) == 88_000


def test_pdf_contains_the_chinese_text_and_figures(pdf: bytes, report: dict[str, Any]) -> None:
    text = pdf_text(pdf)
    for expected in [
        "阳光花园",
        "2026年10月 共有资金月度报告",
        *HEADINGS,
        "停车",
        "东门道闸临时停车费",
        "整笔收入",
        "3栋电梯门机更换",
        "收支图",
        yuan(report["fund"]["closing_fen"], grouped=True),
        yuan(report["fund"]["income_fen"], grouped=True),
        "4,834.56",  # parking in total
        "3,567.89",  # the lift repair
        "91.6%",
        report["expenses"][0]["entries"][0]["vouchers"][0][:12],
        "支出无凭证",
        "地下车库照明灯管 123.45 元无凭证",
        report["head"]["merkle_root"],
        "第 1 页 / 共",
    ]:
        assert expected in text, expected
    assert report["expenses"][0]["entries"][0]["vouchers"][0] not in text  # shortened


def embedded_fonts(data: bytes) -> list[tuple[str, set[str]]]:
    """(BaseFont, font-file keys) of every font any page uses."""
    fonts = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                files = {k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor}
                fonts.append((str(descendant.get_object()["/BaseFont"]), files))
    return fonts


@pytest.mark.parametrize("which", ["pdf", "notice"])
def test_the_cjk_font_is_embedded_as_a_subset(which: str, request: pytest.FixtureRequest) -> None:
    data: bytes = request.getfixturevalue(which)
    fonts = embedded_fonts(data)
    assert fonts
    for base_font, files in fonts:
        assert re.fullmatch(r"/[A-Z]{6}\+NotoSansSC", base_font), base_font
        assert files & {"/FontFile2", "/FontFile3"}, base_font
    # The whole font is 8 MB; a subset of a few hundred glyphs is tens of kilobytes.
    assert len(data) < 200_000, len(data)


def test_the_pdf_is_a4(pdf: bytes) -> None:
    document = pdfium.PdfDocument(pdf)
    assert len(document) >= 2
    for page in document:
        assert page.get_size() == pytest.approx(A4_POINTS, abs=0.5)


def test_notice_is_one_a4_page_with_the_figures(notice: bytes, report: dict[str, Any]) -> None:
    document = pdfium.PdfDocument(notice)
    assert len(document) == 1
    assert document[0].get_size() == pytest.approx(A4_POINTS, abs=0.5)
    text = pdf_text(notice)
    for expected in [
        "阳光花园",
        "2026年10月 共有资金收支公示",
        "期末余额",
        yuan(report["fund"]["closing_fen"], grouped=True),
        yuan(report["fund"]["expense_fen"], grouped=True),
        "停车",
        "保洁",
        "91.6%",
        "异常提示",
        "支出无凭证：地下车库照明灯管 123.45 元无凭证",
        "物业服务企业（盖章）",
        "业主委员会（盖章）",
        "公示日期：2026年11月26日",
        "扫码查看完整记录",
    ]:
        assert expected in text, expected


def test_notice_qr_code_decodes_to_the_record(notice: bytes, report: dict[str, Any]) -> None:
    assert qr_codes(notice) == [report["record_url"]]


def test_a_busy_month_still_fits_the_notice_on_one_page() -> None:
    report = make_report()
    report["estate"]["name"] = "滨江区幸福里花园小区二期东苑"
    report["expenses"] = [
        copy.deepcopy(report["expenses"][0]) | {"account": f"50{i:02d}", "name": f"支出科目{i}"}
        for i in range(20)
    ]
    report["flags"] = [
        {**report["flags"][0], "flag_id": f"F-{i}", "reason": "很长的原因" * 20} for i in range(12)
    ]
    report["record_url"] += "?" + "x" * 150
    notice = to_notice(report)
    assert len(pdfium.PdfDocument(notice)) == 1
    text = pdf_text(notice)
    assert "其余 14 项" in text
    assert re.search(r"另有 \d+ 条，详见在线记录", text)
    assert qr_codes(notice) == [report["record_url"]]


def test_an_empty_month_renders_and_the_same_report_gives_the_same_bytes() -> None:
    report = empty_report()
    got = sections(to_csv(report))
    assert got[INCOME] == [got[INCOME][0]] and got[FLAGS] == [got[FLAGS][0]]
    text = pdf_text(to_pdf(report))
    assert "本月无收入" in text and "本月账簿尚未签署" in text and "本月无异常提示" in text
    notice = to_notice(report)
    assert qr_codes(notice) == [report["record_url"]]
    assert to_notice(copy.deepcopy(report)) == notice
