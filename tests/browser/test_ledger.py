"""The common fund in a real browser: income, dual-control payments approved with TOTP, month
heads signed with device keys, and an owner verifying an entry's proof in the page itself."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import DESKTOP, WebApp, open_web
from tests.browser.steps import (
    BOTH_SIZES,
    create_ledger_estate,
    next_totp,
    sign_in,
    sign_in_with_totp,
    sign_out,
    user_client,
)

if TYPE_CHECKING:
    from xinyi_dev.platform import Platform

HAN = re.compile(r"[\u4e00-\u9fff]")


def previous_month() -> str:
    today = date.today()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def estate_path(world: dict[str, Any], tail: str) -> str:
    return f"/api/v1/estates/{world['estate_id']}{tail}"


def expect_ledger_statuses(web: WebApp, world: dict[str, Any]) -> None:
    # Signers' fund view asks for last month's head; 404 is the answer while it is not closed.
    web.expect_status(estate_path(world, "/periods/"), 404)


async def open_fund(web: WebApp) -> None:
    await web.page.locator('#site-nav a[data-area="fund"]').click()
    await expect(web.page.locator("#fund-summary")).to_be_visible()


async def register_device_key(web: WebApp) -> None:
    page = web.page
    await page.locator('#site-nav a[data-area="home"]').click()
    await expect(page.locator("#key-form")).to_be_visible()
    await page.get_by_role("button", name="登记本设备").click()
    await expect(page.locator("#keys-this-device")).to_be_visible()


@BOTH_SIZES
async def test_income_payment_approved_twice_paid_and_seen_by_the_owner(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    expect_ledger_statuses(web, world)
    page = web.page
    live = page.locator("#feedback")
    await web.open()

    # The accountant records income, itemised, and asks to pay 3,000 yuan out of the fund.
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await expect(page.locator("#fund-company")).to_be_visible()
    await expect(page.locator("#fund-queue")).to_be_hidden()
    await page.get_by_label("收入来源").select_option("parking")
    await page.get_by_label("金额（元）", exact=True).fill("10,000")
    await page.get_by_label("说明（可选）").fill("十月停车费")
    await page.get_by_role("button", name="添加一项明细").click()
    await page.get_by_label("明细 1 说明").fill("月租车位")
    await page.get_by_label("明细 1 金额（元）").fill("8000")
    await page.get_by_role("button", name="添加一项明细").click()
    await page.get_by_label("明细 2 说明").fill("临时停车")
    await page.get_by_label("明细 2 金额（元）").fill("2000.00")
    await page.get_by_role("button", name="登记收入").click()
    await expect(live).to_contain_text("已登记收入 10,000.00 元（2 项明细）")
    await expect(page.locator("#fund-bank dd")).to_have_text("10,000.00 元")
    await expect(page.locator("#fund-reconciled")).to_have_text(
        "尚未导入银行对账单：账目还没有与银行核对。"
    )
    parking = page.locator("#entry-list li[data-kind='income']", has_text="十月停车费")
    await expect(parking).to_have_count(1)
    await expect(parking.locator(".marker.lump")).to_have_count(0)

    await page.get_by_label("付款金额（元）").fill("3000")
    await page.get_by_label("收款方").fill("成都某某电梯维修公司")
    await page.get_by_label("用途").fill("更换 2 栋电梯钢丝绳")
    await page.get_by_label("支出科目").select_option("5005")
    await page.get_by_role("button", name="提交付款申请").click()
    await expect(live).to_contain_text("需要 2 位业委会成员批准")
    request = page.locator("#disbursement-list li[data-state='requested']")
    await expect(request).to_contain_text("3,000.00 元")
    await expect(request).to_contain_text("待审批")
    await sign_out(web)

    # Two committee members approve, each with the code of their own authenticator.
    for name, words in [("member", "还需要其他成员批准"), ("chair", "批准已够")]:
        await sign_in_with_totp(web, users[name], platform)
        await open_fund(web)
        queue = page.locator("#fund-queue")
        await expect(queue).to_be_visible()
        await expect(page.locator("#fund-company")).to_be_hidden()
        await expect(page.locator("#threshold-rule")).to_contain_text("≤ 2,000.00 元：1 人批准")
        await expect(page.locator("#threshold-rule")).to_contain_text("> 2,000.00 元：2 人批准")
        item = queue.locator("li[data-state='requested']", has_text="成都某某电梯维修公司")
        await item.get_by_label("验证码").fill(next_totp(users[name], platform))
        approve = "批准付给“成都某某电梯维修公司”的 3,000.00 元"
        await item.get_by_role("button", name=approve).click()
        await expect(live).to_contain_text(words)
        await sign_out(web)

    # The accountant records the bank's payment, which books the expense.
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    approved = page.locator("#disbursement-list li[data-state='approved']")
    await expect(approved).to_contain_text("已批准，待付款")
    voucher = approved.get_by_label("银行付款凭证")
    await voucher.fill("工行回单 20261104-0031")
    # What is typed outlives the list's redrawing (here a language switch's; a refresh after
    # another panel's action, or a second load after sign-in, redraws it too).
    await page.get_by_role("button", name="English").click()
    await expect(approved.get_by_label("Bank payment evidence")).to_have_value(
        "工行回单 20261104-0031"
    )
    await page.get_by_role("button", name="中文").click()
    await expect(voucher).to_have_value("工行回单 20261104-0031")
    await approved.get_by_role("button", name=re.compile("登记已付给")).click()
    await expect(live).to_contain_text("支出已入账")
    await sign_out(web)

    # Any owner sees the expense in the journal, and the fund's bank balance fell by 3,000.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    await expect(page.locator("#fund-company")).to_be_hidden()
    await expect(page.locator("#fund-queue")).to_be_hidden()
    await expect(page.locator("#fund-bank dd")).to_have_text("7,000.00 元")
    await expect(page.locator("#fund-expense dd")).to_have_text("3,000.00 元")
    await expect(page.locator("#fund-income dd")).to_have_text("10,000.00 元")
    posted = page.locator("#disbursement-list li[data-state='posted']")
    await expect(posted).to_contain_text("2/2 人已批准")
    await page.get_by_label("类型").select_option("expense")
    await page.get_by_role("button", name="筛选").click()
    expense = page.locator("#entry-list li[data-kind='expense']")
    await expect(expense).to_have_count(1)
    await expect(expense.locator("summary")).to_contain_text("−3,000.00 元")
    await expense.locator("summary").click()
    await expect(expense.locator("table.lines")).to_contain_text("5005 维修费用")
    await expect(expense.locator("table.lines")).to_contain_text("1001 共有基金银行存款")

    # The same view at 360 px, in English: nothing spills sideways, no Chinese left in the frame.
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#fund-summary h2")).to_have_text("Common fund")
    await expect(page.locator("#fund-bank dd")).to_have_text("7,000.00 yuan")
    await expect(expense.locator("table.lines")).to_contain_text("5005 Repairs")
    wider = await page.evaluate(
        """[...document.querySelectorAll('#view-fund *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map((el) => `${el.tagName}#${el.id}.${el.className}`)"""
    )
    assert not wider, f"wider than a 360px screen: {wider[:10]}"
    frame = await page.locator(
        "#view-fund h1, #view-fund h2, #view-fund h3, #view-fund label, #view-fund th, "
        "#view-fund dt, #view-fund button, #view-fund .badge"
    ).all_inner_texts()
    chinese = [text for text in frame if HAN.search(text)]
    assert not chinese, chinese


async def test_accountant_reverses_a_mistaken_income_and_owners_see_both_entries(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    expect_ledger_statuses(web, world)
    web.expect_status(estate_path(world, "/ledger/entries/"), 422)  # the second reversal
    with user_client(platform, users["accountant"]) as acc:
        posted = acc.post(
            estate_path(world, "/ledger/entries"),
            json={"source": "venue", "amount_fen": 123_400, "description": "会所租金（重复录入）"},
        )
        assert posted.status_code == 201, posted.text
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await expect(page.locator("#fund-bank dd")).to_have_text("1,234.00 元")
    entry = page.locator("#entry-list li[data-kind='income']", has_text="会所租金（重复录入）")
    await entry.locator("summary").click()
    await entry.get_by_role("button", name=f"冲销第 {posted.json()['chain_index']} 号记录").click()
    await expect(live).to_contain_text("请填写")
    await entry.get_by_label("冲销理由（业主可见）").fill("同一笔租金录入两次")
    await entry.get_by_role("button", name=re.compile("冲销第")).click()
    await expect(live).to_contain_text(f"已冲销第 {posted.json()['chain_index']} 号记录")
    await expect(page.locator("#fund-bank dd")).to_have_text("0.00 元")
    reversal = page.locator("#entry-list li[data-kind='reversal']")
    await expect(reversal).to_contain_text("同一笔租金录入两次")
    # A second reversal of the same entry is refused in plain words.
    await entry.locator("summary").click()
    await entry.get_by_label("冲销理由（业主可见）").fill("再来一次")
    await entry.get_by_role("button", name=re.compile("冲销第")).click()
    await expect(live).to_contain_text("这条记录已经冲销过")
    await sign_out(web)

    # Owners see the entry and its reversal, and no reversal form; and how far the books agree
    # with the bank once a statement is in (none of its lines has an entry here).
    statement = Path(__file__).resolve().parents[1] / "fixtures" / "statements" / "generic.csv"
    with user_client(platform, users["accountant"]) as acc:
        imported = acc.post(
            estate_path(world, "/bank-statements"),
            params={"account": "fund", "filename": "generic.csv"},
            content=statement.read_bytes(),
            headers={"content-type": "text/csv"},
        )
        assert imported.status_code == 201, imported.text
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    await expect(page.locator("#fund-reconciled")).to_have_text(
        "已与银行对账至 2024-02-29；对账单（至 2024-03-29）另有 8 笔尚未核对。"
    )
    await expect(page.locator("#entry-list li[data-kind='reversal']")).to_have_count(1)
    await entry.locator("summary").click()
    await expect(entry.locator("form.reverse-form")).to_have_count(0)


async def test_a_bank_debit_is_recorded_flagged_and_ratified_with_totp(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    expect_ledger_statuses(web, world)
    with user_client(platform, users["accountant"]) as acc:
        posted = acc.post(
            estate_path(world, "/ledger/entries"), json={"source": "parking", "amount_fen": 500_000}
        )
        assert posted.status_code == 201, posted.text
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await page.get_by_label("扣款金额（元）").fill("15.50")
    await page.get_by_label("扣款日期").fill(date.today().isoformat())
    await page.get_by_label("扣款方（如开户银行）").fill("中国工商银行")
    await page.get_by_label("对账单摘要").fill("账户管理费")
    await page.get_by_label("对账单流水号").fill("ICBC-20261126-77")
    await page.get_by_role("button", name="登记扣款").click()
    await expect(live).to_contain_text("已登记银行扣款 15.50 元，待业委会追认（需 1 人）")
    await expect(page.locator("#fund-bank dd")).to_have_text("4,984.50 元")
    flagged = page.locator("#disbursement-list li[data-origin='bank_debit']")
    await expect(flagged).to_contain_text("待追认")
    await expect(flagged.locator(".badge.flag")).to_have_text("银行自行扣款")
    await sign_out(web)

    await sign_in_with_totp(web, users["member"], platform)
    await open_fund(web)
    item = page.locator("#fund-queue li[data-origin='bank_debit']")
    await item.get_by_label("验证码").fill(next_totp(users["member"], platform))
    await item.get_by_role("button", name="追认“中国工商银行”扣去的 15.50 元").click()
    await expect(live).to_contain_text("已追认“中国工商银行”扣去的 15.50 元，已记为支出")
    done = page.locator("#disbursement-list li[data-origin='bank_debit']")
    await expect(done).to_contain_text("已追认入账")
    await page.get_by_label("类型").select_option("expense")
    await page.get_by_role("button", name="筛选").click()
    expense = page.locator("#entry-list li[data-kind='expense']")
    await expense.locator("summary").click()
    await expect(expense.locator("table.lines")).to_contain_text("5090 银行手续费及其他扣款")
    await expect(expense.locator("table.lines")).to_contain_text("1190 待追认银行扣款")


@BOTH_SIZES
async def test_owner_verifies_an_entry_of_a_signed_month_in_the_browser(
    web: WebApp, browser: Browser, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    month = previous_month()
    with user_client(platform, users["accountant"]) as accountant:
        last_month = accountant.post(
            estate_path(world, "/ledger/entries"),
            json={
                "source": "advertising",
                "amount_fen": 123_456,
                "description": "电梯广告 “季度” \\ 费",
                "booked_on": f"{month}-15",
            },
        )
        assert last_month.status_code == 201, last_month.text
        this_month = accountant.post(
            estate_path(world, "/ledger/entries"),
            json={"source": "venue", "amount_fen": 5_000, "description": "活动室租用"},
        )
        assert this_month.status_code == 201, this_month.text
        closed = accountant.post(estate_path(world, f"/periods/{month}/close"))
        assert closed.status_code == 200, closed.text
    page = web.page
    live = page.locator("#feedback")
    expect_ledger_statuses(web, world)
    web.expect_status(estate_path(world, "/ledger/entries/"), 422)
    await web.open()

    # The manager signs last month's head with a key made in this browser.
    await sign_in(web, users["manager"]["username"], users["manager"]["password"])
    await register_device_key(web)
    await open_fund(web)
    await expect(page.locator("#head-state")).to_contain_text(f"{month} 已结账，等待项目经理签署")
    await page.get_by_role("button", name="用设备密钥签署").click()
    await expect(live).to_contain_text(f"已签署 {month} 的账头")
    await expect(page.locator("#head-state")).to_contain_text("等待业委会会签")
    await sign_out(web)

    # A committee member co-signs on a device of their own.
    size = "phone" if (web.page.viewport_size or DESKTOP)["width"] < 600 else "desktop"
    async with open_web(browser, platform, f"test_ledger_committee_device_{size}", size) as other:
        expect_ledger_statuses(other, world)
        await other.open()
        await sign_in_with_totp(other, users["chair"], platform)
        await register_device_key(other)
        await open_fund(other)
        await expect(other.page.locator("#head-state")).to_contain_text("等待业委会会签")
        await other.page.get_by_role("button", name="用设备密钥会签").click()
        await expect(other.page.locator("#feedback")).to_contain_text(f"已会签 {month} 的账头")
        signatures = other.page.locator("#head-signatures li")
        await expect(signatures).to_have_count(2)

    # An owner checks the entry in the page: hash, inclusion, both signatures, all ✓.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    entry = page.locator(f"#entry-list li[data-entry-id='{last_month.json()['entry_id']}']")
    await entry.locator("summary").click()
    await expect(entry.locator(".marker.lump").first).to_be_visible()
    await entry.get_by_role("button", name="验证").click()
    result = entry.locator(".verify-result")
    await expect(result).to_have_class(re.compile(r"\bpassed\b"))
    await expect(result).to_contain_text("验证通过")
    checks = result.locator("li")
    texts = await checks.all_inner_texts()
    assert len(texts) == 8 and all(text.startswith("✓") for text in texts), texts
    await expect(result).to_contain_text("记录内容与记录哈希一致")
    await expect(result).to_contain_text("包含在账头的默克尔根中")
    await expect(result).to_contain_text("物业的签名有效")
    await expect(result).to_contain_text("业委会的签名有效")
    await expect(live).to_contain_text("验证通过")

    # An entry of this month has no signed head yet: said plainly, not as a failure.
    current = page.locator(f"#entry-list li[data-entry-id='{this_month.json()['entry_id']}']")
    await current.locator("summary").click()
    await current.get_by_role("button", name="验证").click()
    await expect(current.locator(".verify-result")).to_contain_text("尚未结账")
    await expect(live).to_contain_text("尚未结账")

    # The check is the browser's own: an altered entry fails it.
    with user_client(platform, users["owner"]) as owner:
        proof = owner.get(
            estate_path(world, f"/ledger/entries/{last_month.json()['entry_id']}/proof")
        ).json()
    verdicts = await page.evaluate(
        """async (proof) => {
          const { verifyProof } = await import('/proof.js');
          const honest = await verifyProof(proof);
          proof.entry.description = '改过的';
          const altered = await verifyProof(proof);
          return [honest.every((c) => c.ok), altered.filter((c) => !c.ok).map((c) => c.check)];
        }""",
        proof,
    )
    assert verdicts == [True, ["entryHash"]], verdicts


async def test_a_wrong_totp_code_is_refused_in_plain_words(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    with user_client(platform, users["accountant"]) as accountant:
        requested = accountant.post(
            estate_path(world, "/disbursements"),
            json={
                "amount_fen": 50_000,
                "payee": "绿化养护队",
                "purpose": "修剪行道树",
                "expense_code": "5003",
            },
        )
        assert requested.status_code == 201, requested.text
    expect_ledger_statuses(web, world)
    web.expect_status(estate_path(world, "/disbursements/"), 403)
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in_with_totp(web, users["member"], platform)
    await open_fund(web)
    await expect(page.locator("#threshold-rule li")).to_have_count(2)
    item = page.locator("#queue-list li[data-state='requested']")
    right = next_totp(users["member"], platform)
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    code = item.get_by_label("验证码")
    await code.fill(wrong)
    await item.get_by_role("button", name=re.compile("^批准")).click()
    await expect(live).to_contain_text("验证码不正确或已经用过")
    await expect(live).to_contain_text("身份验证器应用现在显示的 6 位数字")
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(code).to_be_focused()
    await expect(item).to_contain_text("待审批")
    # A code that is not six digits never leaves the page.
    await code.fill("12a")
    await item.get_by_role("button", name=re.compile("^批准")).click()
    await expect(live).to_contain_text("验证码是 6 位数字")


async def test_ledger_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/ledger-i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    shell = await web.page.evaluate("import('/i18n.js').then((m) => m.messages['zh-CN'])")
    assert not set(zh) & set(shell), "ledger keys must not shadow the shell's"


async def test_canonical_json_matches_python(web: WebApp) -> None:
    """The browser's canonical JSON is byte for byte Python's json.dumps(sort_keys=True, ...)."""
    import json

    await web.open()
    sample = {
        "b": [1, -2, 0, 9_007_199_254_740_991, True, False, None],
        "a": {"z": '引号"反斜杠\\换行\n制表\t\u0001\u007f\u2028', "é": "e", "\U0001f600": "😀"},
        "\uff61": 1,
        "": "",
    }
    python = json.dumps(sample, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    browser = await web.page.evaluate(
        "async (value) => (await import('/proof.js')).canonicalText(value)", sample
    )
    assert browser == python
