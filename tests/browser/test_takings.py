"""The takings check in a real browser: last month's parking income was posted far below what the
gates recorded; the accountant imports the gate export through the page (a malformed one is
refused by row), sees the month flagged with its reason, adds and changes an advertising
contract and explains the flagged month; an owner then reads the flag and the explanation, with
no import form."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, WebApp
from tests.browser.steps import (
    create_ledger_estate,
    server_time,
    sign_in,
    sign_out,
    user_client,
)
from tests.browser.test_ledger import HAN, estate_path, expect_ledger_statuses, open_fund

if TYPE_CHECKING:
    from xinyi_dev.platform import Platform

SHANGHAI = ZoneInfo("Asia/Shanghai")
POSTED_FEN = 240_000
AD_COMPANY = "成都星光广告传媒有限公司"
EXPLANATION = "上月停车费已由道闸公司代收，尚未转入公共收益账户，已催收。"


def months(platform: Platform) -> tuple[str, str, int]:
    """The ledger's current month (Asia/Shanghai), the month before it (over, so checked) and
    that month's number of days."""
    today = datetime.fromtimestamp(server_time(platform), SHANGHAI).date()
    before = today.replace(day=1) - timedelta(days=1)
    return today.strftime("%Y-%m"), before.strftime("%Y-%m"), before.day


def gate_export(month: str, days: int) -> tuple[str, int]:
    """A daily export of the gates (the gate-daily profile) for every day of `month`, and its
    total in fen."""
    rows = [(f"{month}-{d:02d}", 20 + d % 9, 38_000 + d % 7 * 1_250) for d in range(1, days + 1)]
    text = "日期,车次,金额\n" + "".join(
        f"{day},{cars},{fen // 100}.{fen % 100:02d}\n" for day, cars, fen in rows
    )
    return text, sum(fen for _, _, fen in rows)


def digits(fen: int) -> str:
    """Fen as the takings table shows them, in yuan as its headers say."""
    return f"{fen // 100:,}.{fen % 100:02d}"


def yuan(fen: int) -> str:
    return f"{digits(fen)} 元"


async def spill(web: WebApp) -> list[str]:
    """The panel's elements that reach past the screen's right edge, or are wider than it."""
    found: list[str] = await web.page.evaluate(
        """[...document.querySelectorAll('#takings, #takings *')]
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth
            || el.scrollWidth > window.innerWidth)
          .map((el) => `${el.tagName}#${el.id}.${el.className}`)"""
    )
    return found


def csv_file(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


async def test_accountant_imports_gates_and_explains_a_flagged_month_the_owner_reads_it(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    current, month, days = months(platform)
    export, recorded = gate_export(month, days)
    with user_client(platform, users["accountant"]) as acc:
        posted = acc.post(
            estate_path(world, "/ledger/entries"),
            json={"source": "parking", "amount_fen": POSTED_FEN, "booked_on": f"{month}-{days}"},
        )
        assert posted.status_code == 201, posted.text
    expect_ledger_statuses(web, world)
    web.expect_status(estate_path(world, "/takings-imports"), 400)
    page = web.page
    live = page.locator("#feedback")
    panel = page.locator("#takings")
    await web.open()

    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await expect(panel).to_be_visible()
    await expect(page.locator("#takings-rule")).to_contain_text("10%")
    await expect(page.locator("#takings-rule")).to_contain_text("100.00 元")
    parking = page.locator(f"#takings-table tr[data-month='{month}'][data-source='parking']")
    # Posted income and no gate records yet: nothing to hold it against.
    await expect(parking).to_contain_text("相符")
    await expect(page.locator("#takings-flags")).to_contain_text("没有标出的月份")

    # A malformed export imports nothing, and the page says which row is wrong.
    bad = f"日期,车次,金额\n{month}-01,31,12O.00\n"
    await panel.get_by_label("道闸导出文件").set_input_files(csv_file("bad.csv", bad))
    await panel.get_by_role("button", name="导入", exact=True).click()
    await expect(live).to_have_text("道闸数据未导入，原因见下方。")
    result = page.locator("#takings-result")
    await expect(result).to_have_class(re.compile("rejected"))
    await expect(result).to_contain_text("第 2 行")  # the reason in Chinese, the line named
    await expect(result).to_be_focused()

    await panel.get_by_label("导出格式").select_option("gate-daily")
    await panel.get_by_label("道闸导出文件").set_input_files(csv_file("gate.csv", export))
    await panel.get_by_role("button", name="导入", exact=True).click()
    last_day = f"{month}-{days}"
    await expect(live).to_have_text(
        f"已导入“gate.csv”（{month}-01 至 {last_day}）：新记录 {days} 条，重复 0 条，"
        f"新记录合计 {yuan(recorded)}。"
    )
    await expect(result).to_contain_text(f"新记录 {days} 条")
    await expect(page.locator("#takings-imports")).to_contain_text("gate.csv（按日汇总）")

    # The month is flagged, in words and with the check's own finding.
    await expect(parking).to_have_class(re.compile("flagged"))
    await expect(parking).to_contain_text("入账远低于道闸记录")
    await expect(parking).to_contain_text(digits(recorded))
    await expect(parking).to_contain_text(f"{days} 天")
    flag = page.locator(f"#takings-flags li[data-month='{month}'][data-source='parking']")
    await expect(flag).to_contain_text(f"{month} 停车费")
    await expect(flag).to_contain_text(
        f"入账 {yuan(POSTED_FEN)}，比道闸记录的 {yuan(recorded)} 少 {yuan(recorded - POSTED_FEN)}"
    )
    await expect(flag.locator("[data-fact='takings.reason'] dd")).to_contain_text(
        "yuan the gates recorded"
    )

    # An advertising contract from this month: expected, not yet checked.
    form = page.locator("#contract-form")
    await form.get_by_label("收入类别").select_option("advertising")
    await form.get_by_label("付款单位").fill(AD_COMPANY)
    await form.get_by_label("内容（可选）").fill("电梯轿厢广告位 12 块")
    await form.get_by_label("每月应收（元）").fill("3,000")
    await form.get_by_label("起始月份").fill(current)
    await form.get_by_role("button", name="添加合同").click()
    await expect(live).to_have_text(f"已添加与“{AD_COMPANY}”的合同：每月 3,000.00 元。")
    contract = page.locator("#income-contracts li", has_text=AD_COMPANY)
    await expect(contract).to_contain_text(f"广告费：{AD_COMPANY}，每月 3,000.00 元，{current} 起")
    advertising = page.locator(
        f"#takings-table tr[data-month='{current}'][data-source='advertising']"
    )
    await expect(advertising).to_contain_text("本月进行中")
    await expect(advertising).to_contain_text("3,000.00")

    # Changed through the form: the amount and an end.
    await contract.get_by_role("button", name=f"修改与“{AD_COMPANY}”的合同").click()
    await expect(form.get_by_label("收入类别")).to_be_focused()
    await expect(form.get_by_label("每月应收（元）")).to_have_value("3000.00")
    await form.get_by_label("每月应收（元）").fill("3200.50")
    await form.get_by_label("截止月份（可选）").fill(f"{int(current[:4]) + 1}{current[4:]}")
    await form.get_by_role("button", name="保存修改").click()
    await expect(live).to_have_text(f"已保存与“{AD_COMPANY}”的合同：每月 3,200.50 元。")
    await expect(page.locator("#income-contracts li")).to_have_count(1)
    await expect(contract).to_contain_text(f"3,200.50 元，{current} 至 {int(current[:4]) + 1}")
    await expect(advertising).to_contain_text("3,200.50")

    # The company explains the flagged month; the flag stays.
    await flag.get_by_label("说明（业主可见）").fill(EXPLANATION)
    await flag.get_by_role("button", name=f"提交 {month} 停车费 的说明").click()
    await expect(live).to_have_text(f"已提交 {month} 停车费 的说明，业主可以看到。")
    await expect(flag.locator("[data-fact='takings.explanation'] dd")).to_have_text(EXPLANATION)
    await expect(parking).to_have_class(re.compile("flagged"))

    # The panel fits a small phone in both languages: its table stacks, a card a month.
    size_before = page.viewport_size or DESKTOP
    await page.set_viewport_size({"width": 360, "height": 740})
    assert await spill(web) == []
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#takings-heading")).to_have_text("Takings check")
    assert await spill(web) == []
    await page.get_by_role("button", name="中文").click()
    await page.set_viewport_size(size_before)
    await sign_out(web)

    # An owner reads the flag, the explanation and the contract, and changes nothing.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    await expect(panel).to_be_visible()
    await expect(flag).to_contain_text("入账远低于道闸记录")
    await expect(flag.locator("[data-fact='takings.explanation'] dd")).to_have_text(EXPLANATION)
    await expect(parking).to_have_class(re.compile("flagged"))
    await expect(contract).to_contain_text(AD_COMPANY)
    for hidden in ("#takings-form", "#contract-form"):
        await expect(page.locator(hidden)).to_be_hidden()
    await expect(panel.get_by_role("button")).to_have_count(0)
    await expect(panel.locator("textarea")).to_have_count(0)

    # And in English.
    await page.get_by_role("button", name="English").click()
    await expect(flag).to_contain_text("Posted far below the gates' record")
    await expect(page.locator("#takings-rule")).to_contain_text("more than 10%")
    await expect(parking).to_contain_text(f"{days} days")


async def test_takings_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/takings-i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("takings.") for key in zh)
    for other in ("/i18n.js", "/ledger-i18n.js", "/fees-i18n.js", "/reconcile-i18n.js"):
        shell = await web.page.evaluate(f"import('{other}').then((m) => m.messages['zh-CN'])")
        assert not set(zh) & set(shell), f"takings keys must not shadow those of {other}"
    # Every placeholder of a message is in its translation too.
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
