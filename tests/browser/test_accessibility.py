"""Every main view scanned with axe-core (WCAG 2.1 A and AA rules) in the real browser: no
serious or critical violations, signed out and in, in Chinese (and the shell in English)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.browser.steps import create_ledger_estate, sign_in, sign_in_as_operator, sign_out

if TYPE_CHECKING:
    import httpx

    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

AXE = Axe()
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
GRAVE = {"serious", "critical"}
# What each area shows once it has loaded (its own content, not a loading line).
LOADED = {
    "home": "#agenda-heading",
    "fund": "#fund-summary",
    "voting": "#view-voting .panel",
    "voice": "#view-voice .panel",
    "reports": "#view-reports .panel",
    "inbox": "#view-inbox .panel",
    "onboarding": "#view-onboarding .panel",
    "operator": "#view-operator .panel",
}


async def grave_violations(web: WebApp) -> list[str]:
    results = await AXE.run(web.page, options=RULES)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in found
        if v["impact"] in GRAVE
    ]


async def scan_areas(web: WebApp, areas: list[str]) -> dict[str, list[str]]:
    page = web.page
    problems: dict[str, list[str]] = {}
    for area in areas:
        await page.locator(f'#site-nav a[data-area="{area}"]').click()
        await expect(page.locator(LOADED[area]).first).to_be_visible()
        await page.wait_for_load_state("networkidle")
        found = await grave_violations(web)
        if found:
            problems[area] = found
    return problems


async def test_every_view_has_no_serious_violations(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    web.expect_status(f"/api/v1/estates/{world['estate_id']}/periods/", 404)
    page = web.page
    await web.open()
    problems: dict[str, list[str]] = {}
    signed_out = await grave_violations(web)
    if signed_out:
        problems["signed out"] = signed_out

    owner = world["users"]["owner"]
    await sign_in(web, owner["username"], owner["password"])
    await expect(page.locator("#session-panel")).to_be_visible()
    problems |= await scan_areas(web, ["home", "fund", "voting", "voice", "reports", "inbox"])
    # In English (the page's language, and every name, change with it) the shell and home.
    await page.locator("#lang-toggle").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    problems |= {f"en {k}": v for k, v in (await scan_areas(web, ["home", "fund"])).items()}
    await page.locator("#lang-toggle").click()
    await sign_out(web)

    await sign_in_as_operator(web, platform)
    problems |= {
        f"operator {k}": v for k, v in (await scan_areas(web, ["onboarding", "operator"])).items()
    }
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
