"""The signed-in home page: what needs each person now, what changed since their last visit, and
one estate switcher every area follows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.async_api import expect

from tests.browser.steps import (
    create_estate,
    create_ledger_estate,
    sign_in,
    sign_in_with_totp,
    sign_out,
    user_client,
)

if TYPE_CHECKING:
    import httpx

    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform


def request_payment(platform: Platform, world: dict[str, Any], amount_fen: int, payee: str) -> str:
    with user_client(platform, world["users"]["accountant"]) as accountant:
        requested = accountant.post(
            f"/api/v1/estates/{world['estate_id']}/disbursements",
            json={
                "amount_fen": amount_fen,
                "payee": payee,
                "purpose": "更换单元门禁",
                "expense_code": "5005",
            },
        )
        assert requested.status_code == 201, requested.text
        return str(requested.json()["disbursement_id"])


def second_estate_of(api: httpx.Client, world: dict[str, Any]) -> dict[str, Any]:
    """Another estate served by `world`'s company: its staff then work in two estates."""
    estate = create_estate(api)
    assigned = api.put(
        f"/api/v1/estates/{estate['estate_id']}/company",
        json={"company_id": world["company_id"], "starts_on": "2020-01-01"},
    )
    assert assigned.status_code in (200, 201), assigned.text
    return estate


async def test_an_approver_sees_the_payment_waiting_and_follows_it_to_the_fund(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    payment = request_payment(platform, world, 123_450, "锦江门禁工程部")
    web.expect_status(f"/api/v1/estates/{world['estate_id']}/periods/", 404)
    page = web.page
    await web.open()

    await sign_in_with_totp(web, users["chair"], platform)
    agenda = page.locator("#agenda-list")
    waiting = agenda.locator("li[data-kind='approve']")
    await expect(waiting).to_contain_text("待您审批：向 锦江门禁工程部 付款 ¥1,234.50")
    await expect(waiting).to_contain_text("已有 0/1 人审批")
    await expect(waiting.locator(".tag")).to_have_text("紧急")
    await expect(page.locator("#agenda-estate")).to_contain_text(world["name"])
    # The notification of the same request is among the news since the last visit.
    await expect(page.locator("#news-list")).to_contain_text("付款")

    # The link leads to the payment itself, in the fund.
    await waiting.get_by_role("link").click()
    await expect(page).to_have_url(
        re.compile(f"#/fund/{world['estate_id']}/disbursements/{payment}$")
    )
    request = page.locator(f"#disbursement-list li[data-disbursement-id='{payment}']")
    await expect(request).to_be_focused()
    await expect(request).to_contain_text("锦江门禁工程部")
    await expect(request).to_be_in_viewport()

    # In English the same page reads in English.
    await page.locator('#site-nav a[data-area="home"]').click()
    await page.locator("#lang-toggle").click()
    await expect(page.locator("#agenda-heading")).to_have_text("Needs you now")
    await expect(waiting).to_contain_text("For your approval: pay ¥1,234.50 to 锦江门禁工程部")
    await page.locator("#lang-toggle").click()
    await sign_out(web)

    # A link opened while signed out (from a mail, say) leads there once signed in.
    await page.goto("about:blank")
    await web.open(f"/#/fund/{world['estate_id']}/disbursements/{payment}")
    await page.locator('#site-nav a[data-area="home"]').click()
    await sign_in_with_totp(web, users["chair"], platform, lands_home=False)
    await expect(page).to_have_url(re.compile(f"#/fund/{world['estate_id']}/disbursements/"))
    await expect(request).to_be_focused()
    await sign_out(web)

    # The owner has nothing of it to approve; the second visit shows what came since the first.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await expect(page.locator("#agenda-empty, #agenda-list").first).to_be_visible()
    await expect(page.locator("#agenda-list li[data-kind='approve']")).to_have_count(0)
    await sign_out(web)
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await expect(page.locator("#news-panel")).to_contain_text("上次访问")


async def test_the_company_switches_estates_once_for_every_area(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    other = second_estate_of(api, world)
    users = world["users"]
    for estate in (world, other):
        web.expect_status(f"/api/v1/estates/{estate['estate_id']}/periods/", 404)
    page = web.page
    await web.open()

    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    switch = page.get_by_label("当前小区")
    await expect(switch).to_be_visible()
    options = await switch.locator("option").all_text_contents()
    assert {world["name"], other["name"]} <= set(options), options

    # Whichever estate shows first, the other one is a choice away, in every area.
    first, second = (
        (world, other) if await switch.input_value() == world["estate_id"] else (other, world)
    )
    await expect(page.locator("#agenda-estate")).to_contain_text(first["name"])
    await switch.select_option(label=second["name"])
    await expect(page.locator("#feedback")).to_contain_text(f"已切换到{second['name']}")
    await expect(page.locator("#agenda-estate")).to_contain_text(second["name"])
    await page.locator('#site-nav a[data-area="fund"]').click()
    await expect(page.locator("#fund-status")).to_contain_text(second["name"])

    # Switching back shows the first estate in the open area at once.
    await switch.select_option(label=first["name"])
    await expect(page.locator("#fund-status")).to_contain_text(first["name"])

    # A link naming an estate shows that estate, and the switcher says so.
    await page.evaluate(f"location.hash = '#/fund/{second['estate_id']}'")
    await expect(page.locator("#fund-status")).to_contain_text(second["name"])
    await expect(switch).to_have_value(second["estate_id"])

    # The owner of one estate sees no switcher.
    await sign_out(web)
    await expect(page.locator("#estate-bar")).to_be_hidden()
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await expect(page.locator("#agenda-estate")).to_contain_text(world["name"])
    await expect(page.locator("#estate-bar")).to_be_hidden()
