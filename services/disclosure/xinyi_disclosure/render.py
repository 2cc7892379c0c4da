"""Renders a month's disclosure report (its JSON read model) as CSV, PDF and a printable notice."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import segno
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from fpdf.fonts import FontFace
from pylopdf_fonts_zh_cn import sans_path

# fontTools tells of every table it prunes while subsetting: not the service's log's business.
logging.getLogger("fontTools").setLevel(logging.WARNING)

Report = Mapping[str, Any]

FUND: Final = "本月资金概况"
INCOME: Final = "收入明细"
EXPENSES: Final = "支出明细"
REMUNERATION: Final = "物业服务酬金"
FEES: Final = "物业费收缴"
BUDGET: Final = "预算执行"
DISBURSEMENTS: Final = "支付审批"
BANK: Final = "银行对账"
BALLOTS: Final = "表决"
MEETINGS: Final = "会议"
SUGGESTIONS: Final = "业主建议"
HEAD: Final = "账簿签署"
FLAGS: Final = "异常提示"

SOURCES: Final = {
    "property_fee": "物业费",
    "parking": "停车",
    "advertising": "广告",
    "venue": "场地",
    "other": "其他",
}
BOOKS: Final = {
    "open": "未结账",
    "closed": "已结账，待共同签署",
    "signed": "已结账，物业服务企业与业主委员会已共同签署",
}
FLAG_STATES: Final = {"open": "待说明", "explained": "已说明", "resolved": "已解决"}
FLAG_KINDS: Final = {
    "lump_sum_income": "整笔收入",
    "expense_without_voucher": "支出无凭证",
    "flat_income": "收入连续不变",
    "income_below_peers": "收入远低于同社区小区",
    "takings_below_recorded": "入账低于道闸记录",
    "takings_contract_unpaid": "合同收入未足额入账",
    "over_budget": "超出预算",
    "bank_alarm": "银行告警",
    "unreconciled": "未完成对账",
    "overdue_rectification": "整改逾期",
    "head_awaiting_cosign": "账簿待业委会签署",
}
DISBURSEMENT_STATES: Final = {
    "requested": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
    "cancelled": "已撤销",
    "paid": "已支付",
    "posted": "已入账",
}
BALLOT_STATES: Final = {
    "draft": "草稿",
    "announced": "已公告",
    "open": "投票中",
    "closed": "已截止",
    "decided": "已决定",
    "cancelled": "已取消",
}
MEETING_STATES: Final = {"scheduled": "已安排", "held": "已召开", "cancelled": "已取消"}
RESULTS: Final = {"passed": "通过", "approved": "通过", "rejected": "未通过", "failed": "未通过"}
ROLES: Final = {"company": "物业服务企业", "committee": "业主委员会"}

_FONT: Final = "NotoSansSC"
_INK: Final = (33, 33, 33)
_MUTED: Final = (110, 110, 110)
_LINK: Final = (21, 101, 192)
_HEADING_FILL: Final = (232, 236, 241)
_INCOME_TINT: Final = (232, 245, 233)
_EXPENSE_TINT: Final = (253, 236, 234)
_INCOME_BAR: Final = (46, 125, 50)
_INCOME_PART: Final = (129, 199, 132)
_EXPENSE_BAR: Final = (198, 40, 40)
_EXPENSE_PART: Final = (229, 115, 115)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"-?\d+(\.\d+)?%?")


def yuan(fen: int, *, grouped: bool = False) -> str:
    """Fen as yuan with two decimals, by integer arithmetic: 123456 -> "1234.56" ("1,234.56")."""
    whole, cents = divmod(abs(fen), 100)
    digits = f"{whole:,}" if grouped else str(whole)
    return f"{'-' if fen < 0 else ''}{digits}.{cents:02d}"


def percent(part: int, whole: int) -> str:
    """part/whole as a percentage with one decimal, rounded half up: (1, 3) -> "33.3%"."""
    if whole <= 0:
        return "—"
    tenths = (abs(part) * 2000 + whole) // (2 * whole)
    return f"{'-' if part < 0 else ''}{tenths // 10}.{tenths % 10}%"


def month_text(period: str) -> str:
    """A period as people write it: "2026-10" -> "2026年10月"."""
    year, month = period.split("-")
    return f"{int(year)}年{int(month)}月"


def date_text(instant: str) -> str:
    """An ISO date or date-time -> "2026年11月26日"."""
    day = datetime.fromisoformat(instant).date()
    return f"{day.year}年{day.month}月{day.day}日"


def time_text(instant: str) -> str:
    """An ISO date-time -> "2026-11-26 12:00", in the offset it was given in."""
    return datetime.fromisoformat(instant).strftime("%Y-%m-%d %H:%M")


def _label(labels: Mapping[str, str], key: str) -> str:
    return labels.get(key, key)


def _or_dash(value: str | None) -> str:
    return value if value else "—"


@dataclass(frozen=True)
class _Table:
    """A section laid out the same way in the CSV and the PDF."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    widths: tuple[int, ...]  # relative column widths in the PDF
    numeric: frozenset[int] = frozenset()  # columns the PDF aligns right
    empty: str = "本月无记录"


def _fund_table(report: Report, pretty: bool) -> _Table:
    fund = report["fund"]
    rows = [
        ("期初余额", fund["opening_fen"]),
        ("本月收入", fund["income_fen"]),
        ("本月支出", fund["expense_fen"]),
        ("期末余额", fund["closing_fen"]),
        ("其中维修资金期初余额", fund["maintenance_opening_fen"]),
        ("其中维修资金期末余额", fund["maintenance_closing_fen"]),
    ]
    return _Table(
        FUND,
        ("项目", "金额（元）"),
        [(name, yuan(fen, grouped=pretty)) for name, fen in rows],
        (3, 2),
        frozenset({1}),
    )


def _ballot_rows(report: Report) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for ballot in report["ballots"]:
        title, state = ballot["title"], _label(BALLOT_STATES, ballot["state"])
        rows += [
            (title, state, q["question"], _label(RESULTS, q["result"])) for q in ballot["decided"]
        ]
        if not ballot["decided"]:
            rows.append((title, state, "", ""))
    return rows


def _common_tables(report: Report, pretty: bool) -> list[_Table]:
    """Every section after income and expenses, in the order both formats print them; `pretty`
    groups thousands and shortens times for people, the CSV keeps them plain for programs."""

    def money(fen: int) -> str:
        return yuan(fen, grouped=pretty)

    def when(instant: str | None) -> str:
        return time_text(instant) if pretty and instant else _or_dash(instant)

    remuneration, fees, bank, suggestions = (
        report["remuneration"],
        report["fees"],
        report["bank"],
        report["suggestions"],
    )
    head = report["head"]
    head_rows: list[tuple[str, ...]] = []
    if head is not None:
        head_rows = [
            ("默克尔根", head["merkle_root"]),
            ("链头", head["chain_head"]),
            ("分录数", str(head["entry_count"])),
        ]
        head_rows += [
            (f"{_label(ROLES, s['role'])}签署时间", when(s["signed_at"]))
            for s in head["signatures"]
        ]
    return [
        _Table(
            REMUNERATION,
            ("本月计提（元）", "计提依据"),
            [(money(remuneration["accrued_fen"]), remuneration["basis"])],
            (1, 3),
            frozenset({0}),
        ),
        _Table(
            FEES,
            (
                "应收（元）",
                "实收（元）",
                "欠费（元）",
                "应缴户数",
                "已缴户数",
                "收缴率（按金额）",
                "收缴率（按户数）",
            ),
            [
                (
                    money(fees["assessed_fen"]),
                    money(fees["collected_fen"]),
                    money(fees["arrears_fen"]),
                    str(fees["units_assessed"]),
                    str(fees["units_paid"]),
                    fees["payment_rate_amount"],
                    fees["payment_rate_units"],
                )
            ],
            (5, 5, 5, 3, 3, 4, 4),
            frozenset(range(7)),
        ),
        _Table(
            BUDGET,
            ("编号", "预算项目", "预算（元）", "本月实际（元）", "本年累计（元）", "执行率"),
            [
                (
                    line["line_id"],
                    line["name"],
                    money(line["budget_fen"]),
                    money(line["actual_fen"]),
                    money(line["actual_year_fen"]),
                    percent(line["actual_year_fen"], line["budget_fen"]),
                )
                for line in report["budget"]
            ],
            (3, 6, 4, 4, 4, 3),
            frozenset({2, 3, 4, 5}),
        ),
        _Table(
            DISBURSEMENTS,
            ("编号", "状态", "收款方", "用途", "金额（元）"),
            [
                (
                    d["disbursement_id"],
                    _label(DISBURSEMENT_STATES, d["state"]),
                    d["payee"],
                    d["purpose"],
                    money(d["amount_fen"]),
                )
                for d in report["disbursements"]
            ],
            (4, 2, 5, 7, 3),
            frozenset({4}),
        ),
        _Table(
            BANK,
            ("对账单截至", "已对账至", "未对账流水（笔）", "告警（条）"),
            [
                (
                    _or_dash(bank["statement_through"]),
                    _or_dash(bank["reconciled_through"]),
                    str(bank["open_lines"]),
                    str(bank["alarms"]),
                )
            ],
            (1, 1, 1, 1),
            frozenset({2, 3}),
        ),
        _Table(
            BALLOTS,
            ("表决", "状态", "议题", "结果"),
            _ballot_rows(report),
            (5, 2, 6, 2),
        ),
        _Table(
            MEETINGS,
            ("会议", "状态", "召开时间"),
            [
                (m["title"], _label(MEETING_STATES, m["state"]), when(m["held_at"]))
                for m in report["meetings"]
            ],
            (6, 2, 4),
        ),
        _Table(
            SUGGESTIONS,
            ("本月提出", "本月办结", "未办结", "逾期未办结"),
            [
                (
                    str(suggestions["opened"]),
                    str(suggestions["resolved"]),
                    str(suggestions["open"]),
                    str(suggestions["overdue"]),
                )
            ],
            (1, 1, 1, 1),
            frozenset({0, 1, 2, 3}),
        ),
        _Table(HEAD, ("项目", "内容"), head_rows, (1, 4), empty="本月账簿尚未签署"),
        _Table(
            FLAGS,
            ("编号", "类型", "原因", "状态", "说明"),
            [
                (
                    f["flag_id"],
                    _label(FLAG_KINDS, f["kind"]),
                    f["reason"],
                    _label(FLAG_STATES, f["state"]),
                    f["explanation"] or "",
                )
                for f in report["flags"]
            ],
            (3, 3, 7, 2, 7),
            empty="本月无异常提示",
        ),
    ]


# -- CSV -----------------------------------------------------------------------------------------


def _safe(cell: str) -> str:
    if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def to_csv(report: Report) -> bytes:
    """The report as CSV: UTF-8 with a BOM, CRLF, one section after another, one row per item."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([_safe(cell) for cell in row] for row in rows)
        writer.writerow([])

    section(
        "报告信息",
        ("项目", "内容"),
        [
            ("小区", report["estate"]["name"]),
            ("小区编号", report["estate"]["estate_id"]),
            ("报告期间", month_text(report["period"])),
            ("账簿状态", _label(BOOKS, report["state"])),
            ("生成时间", report["generated_at"]),
            ("在线记录", report["record_url"]),
        ],
    )
    fund = _fund_table(report, pretty=False)
    section(fund.title, fund.header, fund.rows)

    income_rows: list[tuple[str, ...]] = []
    for source in report["income"]:
        head = (
            _label(SOURCES, source["source"]),
            yuan(source["amount_fen"]),
            "是" if source["lump_sum"] else "否",
        )
        if not source["entries"]:
            income_rows.append((*head, *[""] * 7))
        for entry in source["entries"]:
            booked = (
                entry["entry_id"],
                entry["booked_on"],
                entry["description"],
                yuan(entry["amount_fen"]),
            )
            if not entry["items"]:
                income_rows.append((*head, *booked, "", "", ""))
            for item in entry["items"]:
                income_rows.append(
                    (
                        *head,
                        *booked,
                        item["description"],
                        item["occurred_on"],
                        yuan(item["amount_fen"]),
                    )
                )
    section(
        INCOME,
        (
            "来源",
            "来源合计（元）",
            "整笔收入",
            "分录编号",
            "记账日期",
            "分录摘要",
            "分录金额（元）",
            "明细摘要",
            "发生日期",
            "明细金额（元）",
        ),
        income_rows,
    )

    expense_rows: list[tuple[str, ...]] = []
    for kind in report["expenses"]:
        head = (kind["account"], kind["name"], yuan(kind["amount_fen"]))
        if not kind["entries"]:
            expense_rows.append((*head, *[""] * 5))
        for entry in kind["entries"]:
            expense_rows.append(
                (
                    *head,
                    entry["entry_id"],
                    entry["booked_on"],
                    entry["description"],
                    yuan(entry["amount_fen"]),
                    " ".join(entry["vouchers"]),
                )
            )
    section(
        EXPENSES,
        (
            "科目编号",
            "科目名称",
            "科目合计（元）",
            "分录编号",
            "记账日期",
            "摘要",
            "金额（元）",
            "凭证（SHA-256）",
        ),
        expense_rows,
    )

    for table in _common_tables(report, pretty=False):
        section(table.title, table.header, table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- PDF -----------------------------------------------------------------------------------------


class _Document(FPDF):
    """A4 portrait in mm, with the CJK font embedded as a subset of the glyphs used."""

    def __init__(self, report: Report, title: str, *, page_numbers: bool) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.page_numbers = page_numbers
        self.footer_text = f"{report['estate']['name']} · {month_text(report['period'])}"
        # fpdf2 subsets the font at output: only the glyphs the document uses are embedded.
        self.add_font(_FONT, fname=str(sans_path()))
        self.set_font(_FONT, size=10)
        self.set_text_color(*_INK)
        self.set_margins(15, 15, 15)
        self.set_title(title)
        self.set_lang("zh-CN")
        self.set_creator("Xinyi 信义")
        # The file depends on the report alone, so the same report always gives the same bytes.
        self.set_creation_date(datetime.fromisoformat(report["generated_at"]))

    def footer(self) -> None:
        if not self.page_numbers:
            return
        self.set_y(-12)
        self.set_font(_FONT, size=8)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, self.footer_text, align=Align.L)
        self.set_x(self.l_margin)
        self.cell(0, 5, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align=Align.R)
        self.set_text_color(*_INK)

    def text_line(self, text: str, size: float = 10, *, color: tuple[int, int, int] = _INK) -> None:
        self.set_font(_FONT, size=size)
        self.set_text_color(*color)
        self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*_INK)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """The text, cut short with an ellipsis where it is wider than `width` in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    fits, too_long = 0, len(text)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if pdf.get_string_width(text[:middle] + "…") <= width:
            fits = middle
        else:
            too_long = middle
    return text[:fits] + "…"


def _heading(pdf: _Document, number: int, title: str) -> None:
    if pdf.will_page_break(24):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(_FONT, size=13)
    pdf.set_fill_color(*_HEADING_FILL)
    pdf.cell(0, 8, f" {_chinese_numeral(number)}、{title}", fill=True)
    pdf.ln(10)
    pdf.set_font(_FONT, size=9)


def _chinese_numeral(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


_HEADINGS_STYLE: Final = FontFace(emphasis="", fill_color=_HEADING_FILL)


def _table(pdf: _Document, table: _Table) -> None:
    if not table.rows:
        pdf.text_line(table.empty, 9, color=_MUTED)
        return
    with pdf.table(
        col_widths=table.widths,
        headings_style=_HEADINGS_STYLE,
        line_height=5,
        padding=(1, 1.5),
        wrapmode=WrapMode.CHAR,
    ) as grid:
        header = grid.row()
        for text in table.header:
            header.cell(text, align=Align.C)
        for values in table.rows:
            row = grid.row()
            for column, text in enumerate(values):
                row.cell(text, align=Align.R if column in table.numeric else Align.L)


def _short(digest: str) -> str:
    return digest[:12] + "…" if len(digest) > 12 else digest


def _income_table(pdf: _Document, report: Report) -> None:
    if not report["income"]:
        pdf.text_line("本月无收入", 9, color=_MUTED)
        return
    group = FontFace(fill_color=_INCOME_TINT)
    with pdf.table(
        col_widths=(22, 100, 24, 30),
        headings_style=_HEADINGS_STYLE,
        line_height=5,
        padding=(1, 1.5),
        wrapmode=WrapMode.CHAR,
    ) as grid:
        header = grid.row()
        for text in ("记账日期", "摘要", "发生日期", "金额（元）"):
            header.cell(text, align=Align.C)
        for source in report["income"]:
            row = grid.row(style=group)
            lump = "（整笔收入）" if source["lump_sum"] else ""
            row.cell(f"{_label(SOURCES, source['source'])}收入{lump}", colspan=3)
            row.cell(yuan(source["amount_fen"], grouped=True), align=Align.R)
            for entry in source["entries"]:
                row = grid.row()
                row.cell(entry["booked_on"])
                row.cell(entry["description"], colspan=2)
                row.cell(yuan(entry["amount_fen"], grouped=True), align=Align.R)
                for item in entry["items"]:
                    row = grid.row(style=FontFace(color=_MUTED))
                    row.cell("")
                    row.cell("· " + item["description"])
                    row.cell(item["occurred_on"])
                    row.cell(yuan(item["amount_fen"], grouped=True), align=Align.R)


def _expense_table(pdf: _Document, report: Report) -> None:
    if not report["expenses"]:
        pdf.text_line("本月无支出", 9, color=_MUTED)
        return
    group = FontFace(fill_color=_EXPENSE_TINT)
    with pdf.table(
        col_widths=(22, 90, 34, 30),
        headings_style=_HEADINGS_STYLE,
        line_height=5,
        padding=(1, 1.5),
        wrapmode=WrapMode.CHAR,
    ) as grid:
        header = grid.row()
        for text in ("记账日期", "摘要", "凭证（SHA-256）", "金额（元）"):
            header.cell(text, align=Align.C)
        for kind in report["expenses"]:
            row = grid.row(style=group)
            row.cell(f"{kind['account']} {kind['name']}", colspan=3)
            row.cell(yuan(kind["amount_fen"], grouped=True), align=Align.R)
            for entry in kind["entries"]:
                row = grid.row()
                row.cell(entry["booked_on"])
                row.cell(entry["description"])
                row.cell("\n".join(_short(v) for v in entry["vouchers"]) or "—")
                row.cell(yuan(entry["amount_fen"], grouped=True), align=Align.R)


def _chart(pdf: _Document, report: Report) -> None:
    """Horizontal bars: income in total and by source, expenses in total and by kind."""
    fund = report["fund"]
    bars: list[tuple[str, int, tuple[int, int, int]]] = [
        ("收入合计", fund["income_fen"], _INCOME_BAR)
    ]
    bars += [
        (_label(SOURCES, s["source"]), s["amount_fen"], _INCOME_PART) for s in report["income"]
    ]
    bars.append(("支出合计", fund["expense_fen"], _EXPENSE_BAR))
    bars += [(k["name"], k["amount_fen"], _EXPENSE_PART) for k in report["expenses"]]
    bar_height, gap, label_width, track = 5.0, 1.2, 32.0, 115.0
    if pdf.will_page_break(10 + len(bars) * (bar_height + gap)):
        pdf.add_page()
    pdf.ln(3)
    pdf.text_line("收支图（元）", 10)
    pdf.ln(1)
    top = max((amount for _, amount, _ in bars), default=0) or 1
    left = pdf.l_margin
    axis_top = pdf.get_y()
    pdf.set_font(_FONT, size=8.5)
    for label, amount, colour in bars:
        y = pdf.get_y()
        pdf.set_xy(left, y)
        pdf.cell(label_width - 2, bar_height, _fit(pdf, label, label_width - 4), align=Align.R)
        length = track * max(amount, 0) / top
        pdf.set_fill_color(*colour)
        pdf.rect(left + label_width, y + 0.6, length, bar_height - 1.2, style="F")
        pdf.set_xy(left + label_width + length + 1.5, y)
        pdf.cell(30, bar_height, yuan(amount, grouped=True))
        pdf.set_y(y + bar_height + gap)
    pdf.set_draw_color(*_MUTED)
    pdf.line(left + label_width, axis_top, left + label_width, pdf.get_y())
    pdf.set_draw_color(0)


def _head_note(report: Report) -> str:
    flags = report["flags"]
    unexplained = sum(1 for f in flags if f["state"] == "open")
    return f"本月异常提示 {len(flags)} 条，其中待说明 {unexplained} 条。" if flags else ""


def to_pdf(report: Report) -> bytes:
    """The full monthly report as an A4 PDF: every section, tables and a chart of the month."""
    name, period = report["estate"]["name"], month_text(report["period"])
    pdf = _Document(report, f"{name} {period} 共有资金月度报告", page_numbers=True)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font(_FONT, size=18)
    pdf.multi_cell(0, 9, f"{name}\n{period} 共有资金月度报告", align=Align.C)
    pdf.ln(2)
    pdf.text_line(
        f"小区编号：{report['estate']['estate_id']}　　报告期间：{report['period']}　　"
        f"账簿状态：{_label(BOOKS, report['state'])}",
        9,
        color=_MUTED,
    )
    pdf.text_line(
        f"生成时间：{time_text(report['generated_at'])}　　{_head_note(report)}", 9, color=_MUTED
    )
    pdf.set_font(_FONT, size=9)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 4.5, "在线记录：")
    pdf.set_x(pdf.l_margin + pdf.get_string_width("在线记录："))
    pdf.set_text_color(*_LINK)
    pdf.multi_cell(
        0,
        4.5,
        report["record_url"],
        link=report["record_url"],
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(*_INK)
    pdf.ln(1.5)

    number = 0

    def section(title: str) -> None:
        nonlocal number
        number += 1
        _heading(pdf, number, title)

    section(FUND)
    _table(pdf, _fund_table(report, pretty=True))
    _chart(pdf, report)
    section(INCOME)
    _income_table(pdf, report)
    section(EXPENSES)
    _expense_table(pdf, report)
    for table in _common_tables(report, pretty=True):
        section(table.title)
        _table(pdf, table)
    return bytes(pdf.output())


# -- the public notice ---------------------------------------------------------------------------

_NOTICE_LINES: Final = 7  # rows per side of the income/expense table, so the notice stays one page
_NOTICE_FLAGS: Final = 4
_NOTICE_FOOT: Final = 80.0  # mm from the bottom edge: the QR code, where to read more, signatures


def _top(rows: Sequence[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The largest `limit` rows, the rest summed into one line so that the total still adds up."""
    if len(rows) <= limit:
        return list(rows)
    ranked = sorted(rows, key=lambda r: -r[1])
    kept, rest = ranked[: limit - 1], ranked[limit - 1 :]
    return [*kept, (f"其余 {len(rest)} 项", sum(fen for _, fen in rest))]


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles (one per run of dark modules): vector, crisp at any size."""
    matrix = segno.make(url, error="m", micro=False).matrix
    module = size / len(matrix)
    pdf.set_fill_color(0)
    for r, line in enumerate(matrix):
        c = 0
        while c < len(line):
            if not line[c]:
                c += 1
                continue
            start = c
            while c < len(line) and line[c]:
                c += 1
            # A hair of overlap keeps rasterisers from leaving seams between neighbouring rows.
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module + 0.02, "F")


def to_notice(report: Report) -> bytes:
    """A one-page A4 public notice (公示) of the month, with a QR code to the online record."""
    name, period = report["estate"]["name"], month_text(report["period"])
    fund, fees = report["fund"], report["fees"]
    pdf = _Document(report, f"{name} {period} 共有资金收支公示", page_numbers=False)
    pdf.set_auto_page_break(False)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()

    width, foot = pdf.epw, pdf.h - _NOTICE_FOOT
    pdf.set_font(_FONT, size=20)
    pdf.multi_cell(0, 10, f"{_fit(pdf, name, width)}\n{period} 共有资金收支公示", align=Align.C)
    pdf.ln(4)
    pdf.text_line(
        f"全体业主：现将本小区{period}共有资金收支情况公示如下，请予监督。"
        f"本月账簿{_label(BOOKS, report['state'])}。",
        11,
    )
    pdf.ln(3)

    big = FontFace(size_pt=13)
    with pdf.table(
        col_widths=(1, 1, 1, 1),
        headings_style=_HEADINGS_STYLE,
        line_height=7,
        padding=(1.5, 2),
    ) as grid:
        header = grid.row()
        for text in ("期初余额（元）", "本月收入（元）", "本月支出（元）", "期末余额（元）"):
            header.cell(text, align=Align.C)
        row = grid.row(style=big)
        for key in ("opening_fen", "income_fen", "expense_fen", "closing_fen"):
            row.cell(yuan(fund[key], grouped=True), align=Align.C)
    pdf.ln(2)
    pdf.set_font(_FONT, size=10)
    with pdf.table(
        col_widths=(3, 2, 3, 2), first_row_as_headings=False, line_height=6, padding=(0.5, 1.5)
    ) as grid:
        for cells in (
            (
                "维修资金期末余额（元）",
                yuan(fund["maintenance_closing_fen"], grouped=True),
                "物业服务酬金本月计提（元）",
                yuan(report["remuneration"]["accrued_fen"], grouped=True),
            ),
            (
                "物业费收缴率（按金额）",
                fees["payment_rate_amount"],
                "物业费收缴率（按户数）",
                fees["payment_rate_units"],
            ),
            (
                "物业费实收（元）",
                yuan(fees["collected_fen"], grouped=True),
                "物业费欠费（元）",
                yuan(fees["arrears_fen"], grouped=True),
            ),
        ):
            row = grid.row()
            for column, text in enumerate(cells):
                row.cell(text, align=Align.R if column % 2 else Align.L)

    pdf.ln(4)
    income = _top(
        [(_label(SOURCES, s["source"]), s["amount_fen"]) for s in report["income"]],
        _NOTICE_LINES,
    )
    expenses = _top([(k["name"], k["amount_fen"]) for k in report["expenses"]], _NOTICE_LINES)
    with pdf.table(
        col_widths=(3, 2, 3, 2), headings_style=_HEADINGS_STYLE, line_height=6, padding=(0.5, 1.5)
    ) as grid:
        header = grid.row()
        for text in ("收入项目", "金额（元）", "支出项目", "金额（元）"):
            header.cell(text, align=Align.C)
        for i in range(max(len(income), len(expenses), 1)):
            row = grid.row()
            for side in (income, expenses):
                label, fen = side[i] if i < len(side) else ("", None)
                row.cell(_fit(pdf, label, width * 0.3 - 4))
                row.cell("" if fen is None else yuan(fen, grouped=True), align=Align.R)

    pdf.ln(4)
    pdf.set_font(_FONT, size=12)
    pdf.cell(0, 7, "异常提示", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    flags, shown, line = report["flags"], 0, 5.5
    pdf.set_font(_FONT, size=10)
    if not flags:
        pdf.cell(0, line, "本月无异常提示。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for flag in flags[:_NOTICE_FLAGS]:
        # Two lines for this flag and one for the note below must stay clear of the foot.
        if pdf.get_y() + 3 * line > foot - 2:
            break
        state = _label(FLAG_STATES, flag["state"])
        kind = _label(FLAG_KINDS, flag["kind"])
        reason = _fit(pdf, f"·［{state}］{kind}：{flag['reason']}", width - 2 * pdf.c_margin)
        pdf.cell(0, line, reason, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if flag["explanation"]:
            pdf.set_text_color(*_MUTED)
            explanation = _fit(pdf, f"　　说明：{flag['explanation']}", width - 2 * pdf.c_margin)
            pdf.cell(0, line, explanation, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_text_color(*_INK)
        shown += 1
    if len(flags) > shown:
        pdf.set_text_color(*_MUTED)
        pdf.cell(0, line, f"另有 {len(flags) - shown} 条，详见在线记录。")
        pdf.set_text_color(*_INK)

    # The foot sits at a fixed place, whatever the length of the lists above.
    qr_size = 38.0
    left, right = pdf.l_margin, pdf.w - pdf.r_margin
    pdf.set_draw_color(*_MUTED)
    pdf.line(left, foot, right, foot)
    _qr(pdf, report["record_url"], right - qr_size, foot + 6, qr_size)
    pdf.set_xy(right - qr_size - 6, foot + 6 + qr_size + 1)
    pdf.set_font(_FONT, size=8.5)
    pdf.cell(qr_size + 6, 5, "扫码查看完整记录", align=Align.C)
    text_width = right - left - qr_size - 12
    pdf.set_xy(left, foot + 6)
    pdf.set_font(_FONT, size=10)
    pdf.multi_cell(
        text_width,
        5.5,
        "每笔收支的明细、凭证与账簿签署均可在线查阅：",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(_FONT, size=9)
    pdf.set_text_color(*_LINK)
    # One line of it however long it is: the QR code carries all of it.
    pdf.cell(
        text_width,
        5,
        _fit(pdf, report["record_url"], text_width - 2 * pdf.c_margin),
        link=report["record_url"],
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(*_INK)
    pdf.set_font(_FONT, size=10)
    pdf.multi_cell(
        text_width,
        5.5,
        "如有疑问，请在平台提交建议或向业主委员会反映。",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_xy(left, foot + 36)
    pdf.set_font(_FONT, size=11)
    for signer in ("物业服务企业（盖章）：", "业主委员会（盖章）："):
        pdf.cell(text_width, 9, signer + "_" * 16, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(text_width, 8, f"公示日期：{date_text(report['generated_at'])}")
    return bytes(pdf.output())
