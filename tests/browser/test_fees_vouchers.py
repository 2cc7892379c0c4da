"""Property fees and vouchers in the fund view, in a real browser: the manager sets a rate and
assesses last month, the accountant records a payment and the payment rate follows, an owner sees
the arrears only as totals, and a voucher uploaded by the accountant is opened by an owner."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
from playwright.async_api import expect

from tests.browser.conftest import WebApp
from tests.browser.steps import create_ledger_estate, import_units, sign_in, sign_out, user_client

if TYPE_CHECKING:
    from xinyi_dev.platform import Platform

HAN = re.compile(r"[\u4e00-\u9fff]")


def previous_month() -> str:
    today = date.today()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def estate_path(world: dict[str, Any], tail: str) -> str:
    return f"/api/v1/estates/{world['estate_id']}{tail}"


def one_pixel_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1×1, 8-bit RGB
    pixels = zlib.compress(b"\x00\x2e\x7d\x32")  # filter byte, then one green pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def fees_world(api: httpx.Client, platform: Platform, *, assessed: bool) -> dict[str, Any]:
    """A fund estate with three units (1-101 100 m², 1-102 80 m² residential; 2-101 50 m²
    commercial); when `assessed`, rates of 2.50 and 4.00 yuan/m²/month and last month assessed
    (250 + 200 + 200 = 650 yuan)."""
    world = create_ledger_estate(api, platform)
    world["units"] = import_units(api, platform, world)
    if assessed:
        month = previous_month()
        with user_client(platform, world["users"]["manager"]) as manager:
            rates = manager.put(
                estate_path(world, "/fees/rates"),
                json={
                    "rates": [
                        {
                            "unit_type": "residential",
                            "fen_per_m2_month": "250",
                            "effective_from": month,
                        },
                        {
                            "unit_type": "commercial",
                            "fen_per_m2_month": "400",
                            "effective_from": month,
                        },
                    ]
                },
            )
            assert rates.status_code == 200, rates.text
            assessment = manager.post(
                estate_path(world, "/fees/assessments"), json={"period": month}
            )
            assert assessment.status_code == 201, assessment.text
            assert assessment.json()["total_fen"] == 65_000
    return world


async def open_fund(web: WebApp) -> None:
    await web.page.locator('#site-nav a[data-area="fund"]').click()
    await expect(web.page.locator("#fund-summary")).to_be_visible()
    await expect(web.page.locator("#fees-overview")).to_be_visible()


async def test_manager_sets_a_rate_and_assesses_last_month(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = fees_world(api, platform, assessed=False)
    manager = world["users"]["manager"]
    web.expect_status(estate_path(world, "/periods/"), 404)
    month = previous_month()
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in(web, manager["username"], manager["password"])
    await open_fund(web)
    # Rates are read on request (GET /fees/rates answers 500 while an estate has none).
    await expect(page.get_by_role("button", name="查看收费标准")).to_be_visible()
    await expect(page.locator("#fee-rate")).to_contain_text(f"{month} 还没有计收物业费")

    await page.get_by_label("住宅（元/m²/月）").fill("2.5")
    await page.get_by_label("商业（元/m²/月）").fill("4")
    await expect(page.locator("#rates-from")).to_have_value(month)
    await page.get_by_role("button", name="保存收费标准").click()
    await expect(live).to_contain_text("收费标准已保存（2 项）")
    await expect(page.locator("#rates-table")).to_contain_text("2.50 元/m²/月")
    await expect(page.locator("#rates-table")).to_contain_text("4.00 元/m²/月")
    with user_client(platform, manager) as client:
        stored = client.get(estate_path(world, "/fees/rates")).json()["rates"]
    assert {(r["unit_type"], r["fen_per_m2_month"], r["effective_from"]) for r in stored} == {
        ("residential", "250", month),
        ("commercial", "400", month),
    }

    await expect(page.locator("#assess-month")).to_have_value(month)
    await page.get_by_role("button", name="计收", exact=True).click()
    await expect(live).to_contain_text(f"已计收 {month} 物业费：3 户，共 650.00 元")
    await expect(page.locator("#fee-rate-amount dd")).to_contain_text("0.00%")
    await expect(page.locator("#fee-rate-units dd")).to_contain_text("0 / 3 户已缴清")
    await expect(page.locator("#arrears-total dd")).to_have_text("650.00 元")
    units = page.locator("#arrears-units-table")
    await expect(units).to_contain_text("1栋 1-101")
    await expect(units).to_contain_text("250.00 元")

    # Again: the month is not assessed twice.
    await page.get_by_role("button", name="计收", exact=True).click()
    await expect(live).to_contain_text(f"{month} 已计收过，这次没有新增")
    await expect(page.locator("#arrears-total dd")).to_have_text("650.00 元")


async def test_accountant_records_a_payment_and_the_payment_rate_follows(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = fees_world(api, platform, assessed=True)
    accountant = world["users"]["accountant"]
    month = previous_month()
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in(web, accountant["username"], accountant["password"])
    await open_fund(web)
    await expect(page.locator("#fee-rate-amount dd")).to_contain_text("0.00%")
    await expect(page.locator("#rates-form")).to_be_hidden()  # rates are the manager's
    await page.get_by_role("button", name="查看收费标准").click()
    await expect(page.locator("#rates-table")).to_contain_text("2.50 元/m²/月")
    await expect(page.locator("#rates-table")).to_contain_text("4.00 元/m²/月")

    await page.get_by_label("楼栋", exact=True).select_option("1栋")
    await page.get_by_label("房号", exact=True).select_option(world["units"]["1-101"])
    await page.get_by_label("缴费金额（元）").fill("250")
    await page.get_by_role("button", name="登记缴费").click()
    await expect(live).to_contain_text("已登记 1栋 1-101 缴费 250.00 元")
    await expect(live).to_contain_text(f"结清 {month}（250.00 元）")
    await expect(live).to_contain_text("该户已无欠费")

    # "12.3" yuan is exactly 1,230 fen.
    await page.get_by_label("楼栋", exact=True).select_option("1栋")
    await page.get_by_label("房号", exact=True).select_option(world["units"]["1-102"])
    await page.get_by_label("缴费金额（元）").fill("12.3")
    await page.get_by_role("button", name="登记缴费").click()
    await expect(live).to_contain_text("仍欠 187.70 元")

    with user_client(platform, accountant) as client:
        rate = client.get(estate_path(world, f"/fees/payment-rate?period={month}")).json()
        arrears = client.get(estate_path(world, "/fees/arrears")).json()
    assert rate["collected_fen"] == 25_000 + 1_230
    owed = {u["number"]: u["owed_fen"] for u in arrears["units"]}
    assert owed == {"1-102": 20_000 - 1_230, "2-101": 20_000}
    by_amount = page.locator("#fee-rate-amount dd")
    await expect(by_amount).to_contain_text(f"{rate['by_amount_percent']}%")
    await expect(by_amount).to_have_attribute("title", re.compile(re.escape(rate["by_amount"])))
    by_units = page.locator("#fee-rate-units dd")
    await expect(by_units).to_contain_text(f"{rate['by_units_percent']}%")
    await expect(by_units).to_have_attribute("title", re.compile(re.escape(rate["by_units"])))
    await expect(page.locator("#arrears-total dd")).to_have_text("387.70 元")
    # Both payments are in the fund's journal too.
    await expect(page.locator("#entry-list li[data-kind='payment']")).to_have_count(2)


async def test_an_owner_sees_arrears_totals_but_no_unit_table(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = fees_world(api, platform, assessed=True)
    owner = world["users"]["owner"]
    page = web.page
    await web.open()
    await sign_in(web, owner["username"], owner["password"])
    await open_fund(web)
    await expect(page.locator("#arrears-total dd")).to_have_text("650.00 元")
    await expect(page.locator("#arrears-units dd")).to_have_text("3 / 3 户")
    await expect(page.locator("#arrears-by-period")).to_contain_text(previous_month())
    await expect(page.locator("#fee-arrears")).to_contain_text("各户欠费属于个人信息")
    await expect(page.locator("#arrears-units-table")).to_have_count(0)
    await expect(page.locator("#fee-arrears")).not_to_contain_text("1-101")
    await expect(page.locator("#fees-company")).to_be_hidden()
    await expect(page.locator("#voucher-form")).to_be_hidden()
    with user_client(platform, owner) as client:
        assert client.get(estate_path(world, "/fees/arrears")).json()["units"] is None


async def test_accountant_uploads_a_voucher_and_an_owner_opens_it(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    png = one_pixel_png()
    sha = hashlib.sha256(png).hexdigest()
    page = web.page
    live = page.locator("#feedback")
    await web.open()
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_fund(web)
    await expect(page.locator("#voucher-list")).to_contain_text("还没有凭证")
    await page.get_by_label("凭证种类").select_option("receipt")
    await page.get_by_label("文件", exact=True).set_input_files(
        {"name": "receipt-1.png", "mimeType": "image/png", "buffer": png}
    )
    await page.get_by_role("button", name="上传凭证").click()
    await expect(live).to_contain_text("已上传凭证 receipt-1.png")
    item = page.locator(f"#voucher-list li[data-sha='{sha}']")
    await expect(item).to_contain_text("收据")
    with user_client(platform, users["accountant"]) as client:
        income = client.post(
            estate_path(world, "/ledger/entries"),
            json={
                "source": "venue",
                "amount_fen": 5_000,
                "description": "场地租金",
                "voucher_sha256": [sha],
            },
        )
        assert income.status_code == 201, income.text
    await sign_out(web)

    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_fund(web)
    await expect(page.locator("#voucher-form")).to_be_hidden()
    await item.get_by_role("button", name="打开凭证 receipt-1.png").click()
    await expect(live).to_contain_text("已打开凭证 receipt-1.png")
    preview = item.locator("img.voucher-preview")
    await expect(preview).to_be_visible()
    assert await preview.evaluate("(img) => img.complete && img.naturalWidth") == 1
    opener = item.get_by_role("link", name="在新窗口打开")
    await expect(opener).to_have_attribute("href", re.compile(r"^blob:"))
    async with page.context.expect_page() as popup:
        await opener.click()
    opened = await popup.value
    assert opened.url.startswith("blob:")
    await opened.close()

    # The entry that cites the voucher links to it the same way.
    entry = page.locator("#entry-list li[data-kind='income']", has_text="场地租金")
    await entry.locator("summary").click()
    await entry.get_by_role("link", name=sha).click()
    await expect(entry.locator("img.voucher-preview")).to_be_visible()
    await expect(entry.get_by_role("link", name="下载")).to_have_attribute(
        "download", re.compile(r"\.png$")
    )

    # At 360 px in English: nothing spills sideways, no Chinese left in the frame.
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#fund-vouchers h2")).to_have_text("Vouchers")
    await expect(item).to_contain_text("Receipt")
    wider = await page.evaluate(
        """[...document.querySelectorAll('#fees-overview *, #fund-vouchers *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map((el) => `${el.tagName}#${el.id}.${el.className}`)"""
    )
    assert not wider, f"wider than a 360px screen: {wider[:10]}"
    frame = await page.locator(
        ":is(#fees-overview, #fund-vouchers) :is(h2, h3, label, th, dt, button, p, .badge)"
    ).all_inner_texts()
    chinese = [text for text in frame if HAN.search(text)]
    assert not chinese, chinese
