"""Bank reconciliation in a real browser: the accountant imports a statement through the page
(a malformed one is refused by line), sees the alarm first, matches again after posting takings,
chooses which of two equal incomes a line is, explains a credit no entry is, and matches one line
to two entries together through the selection; an owner then reads the open line, the
explanation and how far the books agree with the bank."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, WebApp
from tests.browser.steps import BOTH_SIZES, create_ledger_estate, sign_in, sign_out, user_client
from tests.browser.test_ledger import HAN, estate_path, expect_ledger_statuses, open_fund

if TYPE_CHECKING:
    from xinyi_dev.platform import Platform

# The generic layout (services/ledger/xinyi_ledger/statements/profiles/generic.toml), with only
# some of its optional columns. Lines tie to entries of the same amount on the fund's account
# booked from 5 days before the line to 2 days after it.
STATEMENT = """\
booking_date,amount,counterparty_name,reference,bank_reference,narrative
2024-03-01,1280.50,张伟,FEE-3-2-301,BOC240301000123,物业费 3栋2-301 2024年3月
2024-03-05,3000.00,成都蓉通广告传媒有限公司,AD-2024-03,BOC240305000311,电梯广告位租金 2024年3月
2024-03-08,120.00,,,BOC240308000044,临时停车费
2024-03-12,860.00,李娜,,BOC240312000207,转账
2024-03-15,-43.21,成都某某设备有限公司,,BOC240315000077,代扣款
2024-03-20,500.00,财付通支付科技有限公司,SETTLE-0320,BOC240320000501,微信支付结算款
"""
BAD_STATEMENT = "booking_date,amount,narrative\n2024-03-01,12.345,物业费\n"


def post_income(client: httpx.Client, world: dict[str, Any], fen: int, day: str, text: str) -> None:
    reply = client.post(
        estate_path(world, "/ledger/entries"),
        json={"source": "other", "amount_fen": fen, "booked_on": day, "description": text},
    )
    assert reply.status_code == 201, reply.text


def csv_file(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


@BOTH_SIZES
async def test_accountant_reconciles_a_statement_and_the_owner_reads_it(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    with user_client(platform, users["accountant"]) as acc:
        post_income(acc, world, 128_050, "2024-03-01", "张伟 3 月物业费")
        # Two equal incomes in the days before the line of 5 March: it could be either.
        post_income(acc, world, 300_000, "2024-03-03", "电梯广告费（甲）")
        post_income(acc, world, 300_000, "2024-03-04", "电梯广告费（乙）")
        # One settlement of 500 yuan on the bank is these two payments in the books.
        post_income(acc, world, 20_000, "2024-03-19", "微信缴费 1-101")
        post_income(acc, world, 30_000, "2024-03-19", "微信缴费 1-102")
    expect_ledger_statuses(web, world)
    web.expect_status(estate_path(world, "/bank-statements"), 400)
    page = web.page
    live = page.locator("#feedback")
    panel = page.locator("#reconcile")
    await web.open()

    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await expect(panel).to_be_visible()
    await expect(panel.locator("#open-lines")).to_contain_text("没有待核对的流水")

    # A malformed file imports nothing, and the page says which line is wrong.
    await panel.get_by_label("对账单文件").set_input_files(csv_file("bad.csv", BAD_STATEMENT))
    await panel.get_by_role("button", name="导入", exact=True).click()
    await expect(live).to_have_text("对账单未导入，原因见下方。")
    result = page.locator("#statement-result")
    await expect(result).to_have_class(re.compile("rejected"))
    await expect(result).to_contain_text("第 2 行")  # the reason in Chinese, the line named

    await panel.get_by_label("账户").select_option("fund")
    await panel.get_by_label("对账单文件").set_input_files(csv_file("march.csv", STATEMENT))
    await panel.get_by_label("CSV 格式（可选）").fill("generic")
    await panel.get_by_role("button", name="导入", exact=True).click()
    await expect(live).to_have_text(
        "已导入“march.csv”：新流水 6 笔，重复 0 笔，当即对上 1 笔，待处理 5 笔。"
    )
    counts = [("lines_new", 6), ("lines_duplicate", 0), ("lines_matched", 1), ("lines_open", 5)]
    for key, count in counts:
        await expect(result.locator(f'[data-count="{key}"] dd')).to_have_text(str(count))
    await expect(page.locator("#statement-imports")).to_contain_text("march.csv（csv")
    open_lines = page.locator("#open-lines li.bank-line")
    await expect(open_lines).to_have_count(5)
    # The alarm comes first.
    await expect(open_lines.first).to_have_class(re.compile("alarm"))

    # Takings posted after the import are tied by matching again.
    with user_client(platform, users["accountant"]) as acc:
        post_income(acc, world, 12_000, "2024-03-08", "临时停车费")
    await panel.get_by_role("button", name="重新匹配").click()
    await expect(live).to_have_text("重新匹配：又对上 1 笔，仍有 4 笔待处理。")
    await expect(open_lines).to_have_count(4)

    # Money that left with no approved payment is the alarm, with what to do about it.
    alarm = page.locator("#open-lines li.alarm")
    await expect(alarm).to_contain_text("警报：没有付款依据的扣款")
    await expect(alarm).to_contain_text("−43.21 元")
    await expect(alarm).to_contain_text("成都某某设备有限公司")
    await alarm.get_by_role("button", name="登记为银行扣款").click()
    await expect(page.locator("#debit-amount")).to_be_focused()
    await expect(page.locator("#debit-amount")).to_have_value("43.21")
    await expect(page.locator("#debit-evidence")).to_have_value("BOC240315000077")

    # Two entries fit the line of 5 March: the accountant says which one it is.
    twin = page.locator("#open-lines li[data-flag='ambiguous']")
    await expect(twin).to_contain_text("几笔账目都对得上")
    await expect(twin.locator(".proposals li")).to_have_count(2)
    await twin.get_by_role("button", name="这一笔：2024-03-04“电梯广告费（乙）”").click()
    await expect(live).to_have_text("已对上 2024-03-05 +3,000.00 元 这笔流水。")
    await expect(open_lines).to_have_count(3)

    # A credit no income entry is: explained in words owners read.
    credit = page.locator("#open-lines li[data-flag='income_to_classify']")
    await expect(credit).to_contain_text("收款尚未登记为收入")
    await credit.get_by_label("说明（业主可见）").fill("业主多转的款项，已于 3 月 14 日原路退回")
    await credit.get_by_role("button", name=re.compile("^提交")).click()
    await expect(live).to_have_text("已提交 2024-03-12 +860.00 元 这笔流水的说明，业主可以看到。")
    await expect(open_lines).to_have_count(2)

    # One settlement on the bank, two payments in the books: ticked on both sides, the sums
    # shown side by side, confirmed only once they are equal.
    settlement = page.locator("#open-lines li[data-flag='split']")
    await expect(settlement).to_contain_text("几笔账目合起来对得上")
    await expect(settlement.locator(".proposals li")).to_have_count(2)
    combine = page.locator("#combine")
    confirm = combine.get_by_role("button", name="确认合并匹配")
    await expect(confirm).to_be_disabled()
    await page.get_by_label("选入合并匹配（2024-03-20 +500.00 元）").check()
    await combine.get_by_label(re.compile("微信缴费 1-101")).check()
    await expect(page.locator("#sum-lines dd")).to_have_text("+500.00 元")
    await expect(page.locator("#sum-entries dd")).to_have_text("+200.00 元")
    await expect(page.locator("#combine-verdict")).to_have_text(
        "两边相差 300.00 元，相等后才能确认。"
    )
    await expect(confirm).to_be_disabled()
    await combine.get_by_label(re.compile("微信缴费 1-102")).check()
    await expect(page.locator("#combine-verdict")).to_have_text("两边相等，可以确认。")
    await confirm.click()
    await expect(live).to_have_text("已合并匹配：1 笔流水与 2 笔账目。")
    await expect(open_lines).to_have_count(1)
    await expect(page.locator("#fund-reconciled")).to_have_text(
        "已与银行对账至 2024-03-14；对账单（至 2024-03-20）另有 1 笔尚未核对。"
    )

    # The whole screen fits a small phone.
    size_before = page.viewport_size or DESKTOP
    await page.set_viewport_size({"width": 360, "height": 740})
    width = await page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= 360, width
    await page.set_viewport_size(size_before)
    await sign_out(web)

    # An owner sees the open line (not who took the money), the explanation and the date.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    await expect(page.locator("#fund-reconciled")).to_have_text(
        "已与银行对账至 2024-03-14；对账单（至 2024-03-20）另有 1 笔尚未核对。"
    )
    await expect(panel).to_be_visible()
    await expect(page.locator("#statement-form")).to_be_hidden()
    await expect(open_lines).to_have_count(1)
    await expect(alarm).to_contain_text("警报：没有付款依据的扣款")
    await expect(alarm).not_to_contain_text("成都某某设备有限公司")
    await expect(alarm.get_by_role("button")).to_have_count(0)
    await panel.get_by_text("最近对上或已说明的流水").click()
    explained = page.locator("#done-lines li", has_text="+860.00")
    await expect(explained).to_contain_text("已说明")
    await expect(explained).to_contain_text("业主多转的款项，已于 3 月 14 日原路退回")
    await expect(page.locator("#done-lines li.bank-line")).to_have_count(5)

    # And in English.
    await page.get_by_role("button", name="English").click()
    await expect(alarm).to_contain_text("Alarm: money out with no approved payment")
    await expect(explained).to_contain_text("Explained")


async def test_reconcile_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/reconcile-i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("rec.") for key in zh)
    for other in ("/i18n.js", "/ledger-i18n.js", "/fees-i18n.js"):
        shell = await web.page.evaluate(f"import('{other}').then((m) => m.messages['zh-CN'])")
        assert not set(zh) & set(shell), f"reconcile keys must not shadow those of {other}"
    # Every placeholder of a message is in its translation too.
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
