"""进驻 (onboarding) in a real browser: the community's supervisor opens an estate's case in the
page and follows it in the table of every estate's stage; the self-governance group, the tender
and the assembly's ballots go through the API as in the API journey (the platform's clock moved);
then the chair drafts the trust contract in the page, the chosen company's manager opens it by the
estate's number and signs it with the key of its own device, the chair signs with hers, and the
community's table shows the contract signed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Page, Response, expect

from tests.browser.conftest import DESKTOP, SCREENSHOTS, open_web
from tests.browser.steps import BOTH_SIZES, sign_in, sign_out
from tests.browser.test_ledger import register_device_key
from tests.identity.journey import assembly_chooses, onboarding_estate, today
from tests.identity.world import PASSWORD, ok
from tests.voting.test_ballots import Assembly
from xinyi_kit.clock import move_clock

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

HAN = re.compile(r"[\u4e00-\u9fff]")
WEB = Path(__file__).resolve().parents[2] / "gateway" / "xinyi_gateway" / "web"


@pytest.fixture
def estate(platform: Platform, operator_token: str) -> Iterator[Assembly]:
    """Tests take it before `web`, so the clock goes back only once their page is closed."""
    world = onboarding_estate(platform, operator_token)
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


async def signed_in(web: WebApp, world: Assembly, who: str) -> None:
    await sign_in(web, world.usernames[who], PASSWORD)
    await expect(web.page.locator("#session-panel")).to_be_visible()


async def open_onboarding(page: Page) -> None:
    await page.locator('#site-nav a[data-area="onboarding"]').click()
    await expect(page.get_by_role("heading", name="进驻", level=1)).to_be_focused()


async def no_horizontal_scroll(page: Page, width: int) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert max(widths) <= width, widths


@BOTH_SIZES
async def test_from_a_new_case_to_a_signed_trust_contract(
    estate: Assembly, web: WebApp, browser: Browser, platform: Platform
) -> None:
    world = estate
    page = web.page
    live = page.locator("#feedback")
    await web.open()

    # -- the community's supervisor opens the case from the table of its estates
    await expect(page.locator("#nav-onboarding")).to_be_hidden()
    await signed_in(web, world, "community")
    await open_onboarding(page)
    row = page.locator(f'#onb-stages tr[data-estate="{world.estate_id}"]')
    await expect(row.locator("td[data-stage]")).to_have_text("未启动")
    await row.get_by_role("button").click()
    await expect(page.locator("#onb-estate-heading")).to_be_focused()
    await expect(page.locator("#onb-estate")).to_contain_text("这个小区还没有开启进驻。")
    await page.get_by_label("工作组成员").fill("张书记，社区党委\n刘主任，居委会\n甲，业主代表")
    await page.get_by_label("目前的管理方式").select_option("none")
    await page.get_by_label("情况说明").fill("开发商撤出后无人管理两年，垃圾清运靠业主自筹")
    await page.get_by_label("受访户数").fill("4")
    await page.get_by_label("接受信托制的户数").fill("5")
    await page.get_by_label("业主的主要需求").fill("保洁、门禁、公共收益公开")
    await page.get_by_label("缴费率（%）").fill("42")
    await page.get_by_label("未解决纠纷（件）").fill("6")
    await page.get_by_label("满意度（%）").fill("31.0")
    await page.locator("#case-form-submit").click()
    # More households accepting than surveyed never leaves the page.
    await expect(live).to_have_text("户数是整数，接受的不多于受访的。")
    await expect(page.get_by_label("接受信托制的户数")).to_be_focused()
    await page.get_by_label("接受信托制的户数").fill("3")
    await page.locator("#case-form-submit").click()
    await expect(live).to_contain_text("开启进驻。")
    await expect(page.locator("#onb-stage")).to_have_text("当前阶段：已开启")
    await expect(page.locator("#onb-steps li[aria-current='step']")).to_have_attribute(
        "data-step", "opened"
    )
    case_view = page.locator("#onb-estate")
    for text in ("张书记（社区党委）", "无人管理", "受访 4 户，3 户接受信托制", "缴费率 42.0%"):
        await expect(case_view).to_contain_text(text)
    await expect(row.locator("td[data-stage]")).to_have_text("已开启")
    await sign_out(web)

    # -- the middle through the API: the group, the tender, the assembly's two decisions
    with world.client("community") as community:
        case = ok(community.get(f"/api/v1/estates/{world.estate_id}/onboarding"))
    assert case["baseline"] == {
        "payment_rate_permille": 420,
        "open_disputes": 6,
        "satisfaction_permille": 310,
    }
    assert [m["affiliation"] for m in case["working_group"]] == ["社区党委", "居委会", "业主代表"]
    assembly_chooses(world, case["case_id"])

    # -- the chair drafts the contract in the page
    await signed_in(web, world, "chair")
    await register_device_key(web)
    await open_onboarding(page)
    await expect(page.locator("#onb-stage")).to_have_text("当前阶段：业主大会已决定")
    estate_name = await page.locator("#onb-estate-heading").inner_text()
    starts = today(world) + timedelta(days=10)
    draft = page.locator("#draft-form")
    await draft.get_by_label("服务标准").fill("成都市住宅物业服务等级二级标准")
    await draft.get_by_label("服务范围").fill("共有部分的保洁、绿化、秩序维护、设施设备维护")
    await draft.get_by_label("住宅").fill("2.50")
    await draft.get_by_label("按收入比例").fill("10%")
    await draft.get_by_label("停车费").check()
    await draft.get_by_label("其他收入").check()
    await draft.get_by_label("开始日期").fill(starts.isoformat())
    await draft.get_by_label("结束日期").fill((starts + timedelta(days=3 * 365)).isoformat())
    await draft.get_by_label("账号").fill("5105 0142 6208 0000 3131")
    await draft.get_by_label("开户银行").fill("中国建设银行成都锦江支行")
    await draft.get_by_label("户名").fill(f"{estate_name}业主大会")
    await draft.get_by_label("小额上限").fill("5,000")
    await draft.get_by_label("监察人").fill("王律师（法律顾问）\n李会计（财务监督）")
    await page.locator("#draft-form-submit").click()
    await expect(live).to_have_text("已起草信托合同，请双方用设备密钥签署。")
    contract = page.locator("article[id^='contract-']")
    await expect(contract).to_have_count(1)
    await expect(contract).to_have_attribute("data-state", "awaiting_signatures")
    for text in (
        "等待双方签署",
        "住宅 2.50 元/㎡·月",
        "收入的 1/10（10.00%）",
        "物业费、停车费、其他收入",
        "业主解聘提前 60 日；企业不续约提前 90 日",
        "不超过 5,000.00 元：1 人批准；超过以上金额：2 人批准",
        "王律师（法律顾问）、李会计（财务监督）",
    ):
        await expect(contract).to_contain_text(text)
    await expect(page.locator("#draft-form")).to_have_count(0)

    # -- the chosen company's manager, on its own device, opens it by the estate's number
    size = "phone" if (page.viewport_size or {"width": 0})["width"] < 600 else "desktop"
    async with open_web(browser, platform, f"test_onboarding_company_device_{size}", size) as other:
        # Its company does not serve the estate yet: the case is not its to read, the contract is.
        other.expect_status(f"/api/v1/estates/{world.estate_id}/onboarding", 404)
        mine = other.page
        await other.open()
        await signed_in(other, world, "manager")
        await register_device_key(other)
        await open_onboarding(mine)
        await mine.get_by_label("小区编号").fill(f"编号 {world.estate_id.upper()}")
        await mine.locator("#onb-open-submit").click()
        await expect(mine.locator("#onb-estate-heading")).to_have_text(estate_name)
        await expect(mine.locator("#onb-estate")).to_contain_text(
            "您只能看到贵企业作为一方的合同。"
        )
        theirs = mine.locator("article[id^='contract-']")
        await expect(theirs).to_contain_text("收入的 1/10（10.00%）")
        await theirs.get_by_role("button", name="用设备密钥签署").click()
        await expect(mine.locator("#feedback")).to_have_text("已签署，等待另一方签署。")
        await expect(theirs.locator("li[data-party='company']")).to_contain_text("已于")
        await expect(theirs.get_by_role("button", name="用设备密钥签署")).to_have_count(0)

    # -- the chair signs with the key of her device: the contract is signed
    await page.locator('#site-nav a[data-area="home"]').click()
    await open_onboarding(page)
    await expect(contract.locator("li[data-party='company']")).to_have_attribute(
        "data-signed", "true"
    )
    await contract.get_by_role("button", name="用设备密钥签署").click()
    await expect(live).to_contain_text("双方都已签署")
    await expect(contract).to_have_attribute("data-state", "signed")
    await expect(contract).to_contain_text("已签署，待生效")
    await expect(contract.locator("li[data-signed='true']")).to_have_count(2)
    await expect(page.locator("#onb-stage")).to_have_text("当前阶段：合同已签署")
    with world.client("chair") as chair:
        (signed,) = ok(chair.get(f"/api/v1/estates/{world.estate_id}/trust-contracts"))
    assert signed["state"] == "signed"
    assert {s["party"] for s in signed["signatures"]} == {"company", "approving_body"}

    # On a phone the case and its contract fit the width.
    size_before = page.viewport_size or DESKTOP
    await page.set_viewport_size({"width": 360, "height": 800})
    await no_horizontal_scroll(page, 360)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "test_onboarding_360.png"), full_page=True)
    await page.set_viewport_size(size_before)
    await sign_out(web)

    # -- the community's table shows the stage in words, in both languages
    await signed_in(web, world, "community")
    await open_onboarding(page)
    await expect(row.locator("td[data-stage]")).to_have_text("合同已签署")
    await expect(row).not_to_contain_text("—")
    await page.get_by_role("button", name="English").click()
    await expect(row.locator("td[data-stage]")).to_have_text("Contract signed")
    await page.get_by_role("button", name="中文").click()


async def test_onboarding_loads_only_when_opened(web: WebApp) -> None:
    loaded: list[str] = []

    def seen(response: Response) -> None:
        loaded.append(response.url)

    web.page.on("response", seen)
    await web.open()
    assert not [url for url in loaded if "onboarding" in url], loaded
    await web.page.evaluate("location.hash = '#/onboarding'")
    await expect(web.page.get_by_role("heading", name="进驻", level=1)).to_be_focused()
    await expect(web.page.locator("#onb-status")).to_have_text("请先在“首页”登录，再查看进驻。")
    assert [url for url in loaded if url.endswith("/onboarding.js")], loaded
    await web.page.get_by_role("button", name="English").click()
    await expect(
        web.page.get_by_role("heading", name="Joining the trust model", level=1)
    ).to_be_visible()
    await expect(web.page.locator("#onb-status")).to_have_text(
        "Please sign in on the Home page first."
    )


async def test_onboarding_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables: dict[str, dict[str, Any]] = await web.page.evaluate(
        "import('/onboarding-i18n.js').then((m) => m.messages)"
    )
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("onb.") for key in zh)
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
    others = sorted(p.name for p in WEB.glob("*i18n.js") if p.name != "onboarding-i18n.js")
    assert "i18n.js" in others, others
    for other in others:
        shell = await web.page.evaluate(f"import('/{other}').then((m) => m.messages['zh-CN'])")
        assert not set(zh) & set(shell), f"onboarding keys must not shadow those of {other}"
    # Every key the module names is in the tables (the rest are built from the server's words).
    source = (WEB / "onboarding.js").read_text(encoding="utf-8")
    named = set(re.findall(r"""["`](onb\.[\w.]+?)["`]""", source))
    assert named and not named - set(zh), named - set(zh)


def test_onboarding_area_is_small() -> None:
    """The area's own modules (what opening it loads beyond the first view) stay under 200 KB,
    as test_operator measures the other areas."""
    static = re.compile(r"""from\s+["']/([\w./-]+)["']""")

    def reach(module: str) -> set[str]:
        seen, todo = set(), [module]
        while todo:
            name = todo.pop()
            if name not in seen and (WEB / name).is_file():
                seen.add(name)
                todo += static.findall((WEB / name).read_text(encoding="utf-8"))
        return seen

    own = reach("onboarding.js") - reach("app.js")
    assert {"onboarding.js", "onboarding-i18n.js"} <= own, own
    assert sum((WEB / m).stat().st_size for m in own) < 200_000, own
