"""The operator's views in a real browser: companies, communities, estates, CSV import."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from playwright.async_api import FilePayload, Route, expect

from tests.browser.conftest import MAX_LAYOUT_SHIFT
from tests.browser.steps import BOTH_SIZES, create_estate, credit_code, sign_in_as_operator
from xinyi_gateway import refusals

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

HEADER = "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number"
GOOD_ROWS = [
    "1栋,1-101,residential,89.50,张三,person,13800000001,",
    "1栋,1-102,residential,76.25,李四,person,13800000002,",
]


def csv_file(name: str, *rows: str) -> FilePayload:
    return {
        "name": name,
        "mimeType": "text/csv",
        "buffer": "\n".join([HEADER, *rows, ""]).encode(),
    }


async def open_operator_views(web: WebApp, platform: Platform) -> None:
    await web.open()
    await sign_in_as_operator(web, platform)
    await web.page.get_by_role("link", name="运营").click()
    await expect(web.page.get_by_role("heading", name="平台运营", level=1)).to_be_focused()


async def test_operator_sees_the_operator_views_in_both_languages(
    web: WebApp, platform: Platform
) -> None:
    await open_operator_views(web, platform)
    page = web.page
    for heading in ["物业服务企业", "区、街道和社区", "小区", "指定物业服务企业", "导入房屋和业主"]:
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="运营")).to_have_attribute("aria-current", "page")

    await page.get_by_role("button", name="English").click()
    for heading in ["Property companies", "Estates", "Import units and owners"]:
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    await expect(page.get_by_label("Unified social credit code")).to_be_visible()
    await expect(page.get_by_role("button", name="Check only")).to_be_visible()

    await page.get_by_role("link", name="Home").click()
    await page.get_by_role("button", name="Sign out").click()
    await page.goto(web.base_url + "/#/operator")
    await expect(page.locator("#view-home")).to_be_visible()
    await expect(page.locator("#view-operator")).to_be_hidden()
    await expect(page.locator("#nav-operator")).to_be_hidden()


@BOTH_SIZES
async def test_operator_creates_company_community_and_estate(
    web: WebApp, platform: Platform
) -> None:
    await open_operator_views(web, platform)
    page = web.page
    live = page.locator("#feedback")
    tag = uuid.uuid4().hex[:6]

    company = f"信义物业服务有限公司 {tag}"
    await page.get_by_label("企业名称").fill(company)
    code = credit_code()
    await page.get_by_label("统一社会信用代码").fill(code)
    await page.get_by_role("button", name="添加企业").click()
    await expect(live).to_have_text(f"已添加企业“{company}”。")
    await expect(page.locator("#company-list")).to_contain_text(company)

    # The same company again: refused in Chinese, what to do first, the service's reason after.
    web.expect_status("/api/v1/companies", 409)
    await page.get_by_label("企业名称").fill(company)
    await page.get_by_label("统一社会信用代码").fill(code)
    await page.get_by_role("button", name="添加企业").click()
    reason = refusals.ZH["a company with this credit code is on the platform already"]
    await expect(live).to_have_text(f"操作没有完成。请检查填写的内容后再试。原因：{reason}")

    # A missing field is named, and nothing is sent.
    await page.get_by_role("button", name="添加社区").click()
    await expect(live).to_have_text("请填写“区”。")
    await expect(page.get_by_label("区", exact=True)).to_be_focused()

    community = f"玉林社区 {tag}"
    await page.get_by_label("区", exact=True).fill(f"武侯区 {tag}")
    await page.get_by_label("街道", exact=True).fill(f"玉林街道 {tag}")
    await page.get_by_label("社区", exact=True).fill(community)
    await page.get_by_role("button", name="添加社区").click()
    await expect(live).to_have_text(f"已添加社区“{community}”。")
    listed = page.locator("#community-list li", has_text=community)
    await expect(listed).to_contain_text(f"武侯区 {tag} · 玉林街道 {tag}")

    estate = f"锦绣花园 {tag}"
    await page.get_by_label("小区名称").fill(estate)
    where = f"武侯区 {tag} · 玉林街道 {tag}"
    await page.get_by_label("所属社区").select_option(label=f"{community}（{where}）")
    await page.get_by_label("地址").fill(f"玉林北路 {tag} 号")
    await page.get_by_role("button", name="添加小区").click()
    await expect(live).to_have_text(f"已添加小区“{estate}”。")
    await expect(page.locator("#estate-list")).to_contain_text(estate)

    assign = page.locator("#assign-form")
    await expect(assign.get_by_label("小区")).to_have_value(
        await page.locator("#estate-list li", has_text=estate).get_attribute("data-estate-id") or ""
    )
    await assign.get_by_label("物业服务企业").select_option(label=company)
    await assign.get_by_label("服务开始日期").fill("2025-01-01")
    await page.get_by_role("button", name="指定", exact=True).click()
    await expect(live).to_have_text(
        f"已指定“{company}”为“{estate}”的物业服务企业，自 2025-01-01 起。"
    )


async def test_import_shows_the_bad_rows_then_the_summary(
    web: WebApp, platform: Platform, api: httpx.Client
) -> None:
    estate = create_estate(api)
    await open_operator_views(web, platform)
    page = web.page
    web.expect_status(f"/api/v1/estates/{estate['estate_id']}/imports", 422)
    live = page.locator("#feedback")
    form = page.locator("#import-form")
    await form.get_by_label("小区").select_option(estate["estate_id"])

    bad = "1栋,1-103,residential,not-a-number,王五,person,13800000003,"
    await form.get_by_label("CSV 文件").set_input_files(csv_file("bad.csv", *GOOD_ROWS, bad))
    async with page.expect_request(f"**/api/v1/estates/{estate['estate_id']}/imports*") as sent:
        await page.get_by_role("button", name="导入", exact=True).click()
    request = await sent.value
    assert request.headers["content-type"].startswith("text/csv"), request.headers
    assert "dry_run" not in request.url

    result = page.locator("#import-result")
    await expect(live).to_contain_text("没有导入任何数据")
    await expect(result).to_contain_text("请修改下表中的这些行，然后重新上传")
    table = result.get_by_role("table", name="文件中的问题")
    await expect(table.get_by_role("columnheader")).to_have_text(["行", "列", "问题"])
    bad_row = table.locator("tbody tr").first
    await expect(bad_row.locator("td").nth(0)).to_have_text("4")
    await expect(bad_row.locator("td").nth(1)).to_have_text("exclusive_area_m2")
    await expect(bad_row.locator("td").nth(2)).not_to_be_empty()

    await form.get_by_label("CSV 文件").set_input_files(csv_file("good.csv", *GOOD_ROWS))
    async with page.expect_request("**/imports?dry_run=true") as checked:
        await page.get_by_role("button", name="仅检查").click()
    assert (await checked.value).method == "POST"
    await expect(live).to_contain_text("检查通过")
    await expect(result).to_contain_text("尚未导入")
    await expect(result.get_by_role("table")).to_have_count(0)
    # Both good rows are still new: the rejected file imported nothing.
    await expect(result.locator('[data-change="units_added"] dd')).to_have_text("2")

    await page.get_by_role("button", name="导入", exact=True).click()
    await expect(live).to_have_text("导入完成。")
    await expect(result).to_contain_text("导入完成")
    await expect(result.locator('[data-change="buildings_added"] dd')).to_have_text("1")
    await expect(result.locator('[data-change="units_added"] dd')).to_have_text("2")
    await expect(result.locator('[data-change="owners_added"] dd')).to_have_text("2")

    # The same file again changes nothing; in English the summary says so in English.
    await page.get_by_role("button", name="English").click()
    await page.get_by_role("button", name="Import", exact=True).click()
    await expect(live).to_have_text(
        "The file matches what is already recorded; there was nothing to import."
    )
    await expect(result.locator('[data-change="units_unchanged"] dt')).to_have_text(
        "Units unchanged"
    )
    await expect(result.locator('[data-change="units_unchanged"] dd')).to_have_text("2")
    await expect(result.locator('[data-change="units_added"] dd')).to_have_text("0")


async def test_the_operator_view_holds_still_when_its_lists_come_late(
    web: WebApp, platform: Platform, api: httpx.Client
) -> None:
    """A city's lists are long, and on a busy server they may come seconds after the view
    opens: what follows them must not jump down when they do (layout shift, as the page's
    recorder counts it from a second after the click)."""
    tag = uuid.uuid4().hex[:6]
    for n in range(40):
        reply = api.post(
            "/api/v1/companies", json={"name": f"迟到物业{tag}-{n}", "credit_code": credit_code()}
        )
        assert reply.status_code == 201, reply.text
    page = web.page

    async def late(route: Route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route(re.compile(r"/api/v1/(companies|communities|estates)(\?.*)?$"), late)
    await open_operator_views(web, platform)
    await expect(page.locator("#company-list")).to_contain_text(f"迟到物业{tag}-39", timeout=10_000)
    await page.wait_for_load_state("networkidle")
    shift, shifts = await web.layout_shift()
    assert shift <= MAX_LAYOUT_SHIFT, shifts


async def test_operator_views_fit_a_small_screen(web: WebApp, platform: Platform) -> None:
    await web.page.set_viewport_size({"width": 360, "height": 740})
    await open_operator_views(web, platform)
    for lang in ["zh", "en"]:
        width = await web.page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        assert width <= 360, (lang, width)
        # Six tabs share the width: none may overflow its cell.
        overflowing = await web.page.eval_on_selector_all(
            "#site-nav a",
            "(links) => links.filter((a) => a.scrollWidth > a.clientWidth)"
            ".map((a) => a.textContent)",
        )
        assert overflowing == [], (lang, overflowing)
        if lang == "zh":
            await web.page.get_by_role("button", name="English").click()


def test_whole_app_is_small() -> None:
    """Everything the app can ever load, the operator's, ledger, voting, voice and disclosure
    views and the QR library included, stays under 700 KB: a bound on growth, not on what anyone
    downloads, since no visit loads the whole app. What a first visit loads is measured in
    test_shell (under 200 KB); the rest loads only when its view is opened, one area at a time:
    an area's modules (its entry module and everything it imports, not counting what the first
    view loaded already) stay under 200 KB, so opening an area costs no more than the first
    visit."""
    web_dir = Path(__file__).resolve().parents[2] / "gateway" / "xinyi_gateway" / "web"
    sizes = {
        str(path.relative_to(web_dir)): path.stat().st_size
        for path in web_dir.rglob("*")
        if path.is_file() and path.suffix in {".html", ".js", ".css", ".svg"}
    }
    assert "vendor/qrcode.js" in sizes and "operator.js" in sizes, sizes
    assert sum(sizes.values()) < 700_000, sizes
    static = re.compile(r"""from\s+["']/([\w./-]+)["']""")
    lazy = re.compile(r"""(?:import\s*\(\s*|href:\s*)["']/([\w./-]+)["']""")

    def reach(module: str, *, on_demand: bool = True) -> set[str]:
        """The module and what it imports; with `on_demand`, also what it loads when run."""
        seen, todo = set(), [module]
        while todo:
            name = todo.pop()
            if name in seen or name not in sizes:
                continue
            seen.add(name)
            if name.endswith(".js"):
                text = (web_dir / name).read_text(encoding="utf-8")
                todo += static.findall(text) + (lazy.findall(text) if on_demand else [])
        return seen

    first_view = reach("app.js", on_demand=False)
    assert {"app.js", "i18n.js"} <= first_view, first_view
    areas = {
        "fund": "ledger.js",
        "voting": "voting.js",
        "voice": "voice.js",
        "reports": "disclosure.js",
    }
    for area, entry in {**areas, "operator": "operator.js"}.items():
        modules = reach(entry) - first_view
        assert entry in modules, (area, modules)
        own = sum(sizes[m] for m in modules)
        assert own < 200_000, (area, own, sorted(modules))
    # The fund area reaches its panels (fees, vouchers, proofs, reconciliation) by import.
    assert {"fees.js", "reconcile.js", "reconcile.css"} <= reach("ledger.js")
