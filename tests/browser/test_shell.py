"""The web app's shell in a real browser: language, navigation, sign-in, sign-out, small screens."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from playwright.async_api import Response, expect

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

AREAS = ["home", "fund", "voting", "reports", "inbox"]
HAN = re.compile(r"[\u4e00-\u9fff]")
TRACE_MARKERS = ("Traceback", "Exception", 'File "', "  at ", "Error:", "{", "<")


async def sign_in(web: WebApp, username: str, password: str) -> None:
    await web.page.get_by_label("用户名").fill(username)
    await web.page.get_by_label("密码").fill(password)
    await web.page.locator("#login-submit").click()


async def assert_no_horizontal_scroll(web: WebApp, width: int) -> None:
    scroll_width = await web.page.evaluate("document.documentElement.scrollWidth")
    body_width = await web.page.evaluate("document.body.scrollWidth")
    assert max(scroll_width, body_width) <= width, (scroll_width, body_width)


async def test_page_loads_in_chinese(web: WebApp) -> None:
    await web.open()
    page = web.page

    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert "信义" in await page.title()
    await expect(page.locator(".brand-name")).to_have_text("信义")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    nav = page.get_by_role("navigation", name="主要区域")
    for label in ["首页", "基金", "表决", "公示", "消息"]:
        await expect(nav.get_by_role("link", name=label)).to_be_visible()
    await expect(page.get_by_label("用户名")).to_be_visible()
    await expect(page.get_by_label("密码")).to_have_attribute("type", "password")
    assert HAN.search(await page.locator("body").inner_text())


async def test_content_security_policy_is_sent_and_kept(web: WebApp) -> None:
    response = await web.open()
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy, f"no strict CSP header on /: {policy!r}"
    # The shell must run under that policy: its script rendered and nothing was refused.
    await expect(web.page.locator("#lang-toggle")).to_have_text("English")
    assert await web.csp_violations() == []


async def test_first_view_is_small(web: WebApp) -> None:
    responses: list[Response] = []
    web.page.on("response", lambda response: responses.append(response))
    await web.open()
    sizes = {r.url: len(await r.body()) for r in responses if r.request.method == "GET"}
    assert sum(sizes.values()) < 200_000, sizes
    # The views behind sign-in load only when opened.
    assert not any(name in url for url in sizes for name in ("ledger.js", "operator.js")), sizes


TRANSFERRED = """() => [performance.getEntriesByType("navigation")[0],
    ...performance.getEntriesByType("resource")].reduce((sum, e) => sum + e.transferSize, 0)"""


async def test_first_view_travels_compressed_and_a_second_visit_only_revalidates(
    web: WebApp,
) -> None:
    page = web.page
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    await web.open()
    first = int(await page.evaluate(TRANSFERRED))
    scripts = [r for r in responses if r.url.endswith(".js")]
    assert scripts, [r.url for r in responses]
    for response in scripts:
        headers = await response.all_headers()
        assert headers.get("content-encoding") == "gzip", (response.url, headers)
        assert headers.get("cache-control") == "no-cache", (response.url, headers)
        assert headers.get("etag"), (response.url, headers)
    # On the wire (headers included) the first view is far below its 200 KB budget.
    assert first < 80_000, first

    # Back on another day: each file is asked for again and answered "not modified".
    await page.reload(wait_until="networkidle")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    second = int(await page.evaluate(TRANSFERRED))
    assert second < first / 4, (first, second)


async def test_switching_language_changes_text_and_is_remembered(web: WebApp) -> None:
    await web.open()
    page = web.page

    await page.get_by_role("button", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main areas")
    for label in ["Home", "Fund", "Voting", "Reports", "Inbox"]:
        await expect(nav.get_by_role("link", name=label)).to_be_visible()
    await expect(page.get_by_label("Username")).to_be_visible()
    await expect(page.get_by_label("Password")).to_be_visible()
    assert "Xinyi" in await page.title()
    visible_text = await page.locator("body").inner_text()
    # Only the switch back to Chinese is written in Chinese.
    assert HAN.findall(visible_text.replace("中文", "")) == [], visible_text

    await page.reload(wait_until="networkidle")
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    await page.get_by_role("button", name="中文").click()
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()


async def test_navigation_is_keyboard_reachable(web: WebApp) -> None:
    await web.open()
    page = web.page

    reached: list[str] = []
    for _ in range(12):
        await page.keyboard.press("Tab")
        area = await page.evaluate("document.activeElement?.dataset?.area ?? ''")
        if area:
            reached.append(area)
            outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"no visible focus on the {area} link"
        if len(reached) == len(AREAS):
            break
    assert reached == AREAS

    await page.get_by_role("link", name="基金").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="基金", level=1)).to_be_focused()
    # Signed out, the fund view says what to do first.
    await expect(page.get_by_text("请先在“首页”登录，再查看共有基金。")).to_be_visible()
    await expect(page.get_by_role("link", name="基金")).to_have_attribute("aria-current", "page")
    await expect(page.locator("#login-panel")).to_be_hidden()

    for area, title in [("voting", "表决"), ("reports", "公示"), ("inbox", "消息")]:
        await page.locator(f'#site-nav a[data-area="{area}"]').press("Enter")
        await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    await expect(
        page.get_by_text("Please sign in on the Home page first to read your messages.")
    ).to_be_visible()

    await page.get_by_role("link", name="Home").press("Enter")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await web.problems() == []


async def test_wrong_password_shows_plain_error(web: WebApp) -> None:
    web.expect_status("/api/v1/auth/token", 401)
    await web.open()
    page = web.page
    live = page.locator("#feedback")
    assert await live.get_attribute("aria-live") == "polite"

    await sign_in(web, "operator", "not-the-password")

    await expect(live).to_have_text("用户名或密码不正确，请重新输入。")
    message = await live.inner_text()
    assert not any(marker in message for marker in TRACE_MARKERS), message
    await expect(page.locator("#login-panel")).to_be_visible()
    await expect(page.locator("#session-panel")).to_be_hidden()
    await expect(page.get_by_label("密码")).to_have_value("")
    await expect(page.get_by_label("密码")).to_be_focused()

    await page.get_by_role("button", name="English").click()
    await expect(live).to_have_text("The username or password is not correct. Please try again.")


async def test_operator_signs_in_and_out(web: WebApp, platform: Platform) -> None:
    await web.open()
    page = web.page
    password: str = platform.operator_password

    await sign_in(web, "operator", password)

    session = page.locator("#session-panel")
    await expect(session).to_be_visible()
    await expect(page.locator("#session-user")).to_have_text(re.compile(r"^已登录：\S"))
    await expect(page.locator('#session-roles [data-role="operator"]')).to_contain_text(
        "平台运营方"
    )
    await expect(page.locator("#feedback")).to_have_text("登录成功。")
    await expect(page.locator("#login-panel")).to_be_hidden()
    stored = await page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
    assert "token" not in stored.lower() and "eyJ" not in stored, stored

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#session-user")).to_have_text(re.compile(r"^Signed in as \S"))
    await expect(page.locator('#session-roles [data-role="operator"]')).to_contain_text(
        "Platform operator"
    )
    await page.get_by_role("button", name="中文").click()

    async with page.expect_request("**/api/v1/auth/logout") as logout:
        await page.get_by_role("button", name="退出登录").click()
    request = await logout.value
    assert request.method == "POST"
    assert json.loads(request.post_data or "{}").get("refresh_token")

    await expect(page.locator("#login-panel")).to_be_visible()
    await expect(session).to_be_hidden()
    await expect(page.locator("#feedback")).to_have_text("已退出登录。")
    await expect(page.get_by_label("用户名")).to_be_focused()


async def test_small_screen_has_no_horizontal_scroll(web: WebApp, platform: Platform) -> None:
    web.expect_status("/api/v1/auth/token", 401)
    await web.page.set_viewport_size({"width": 360, "height": 740})
    await web.open()
    page = web.page
    await assert_no_horizontal_scroll(web, 360)

    await sign_in(web, "operator", "not-the-password")
    await expect(page.locator("#feedback")).not_to_be_empty()
    await assert_no_horizontal_scroll(web, 360)

    password: str = platform.operator_password
    await sign_in(web, "operator", password)
    await expect(page.locator("#session-panel")).to_be_visible()
    await assert_no_horizontal_scroll(web, 360)

    await page.get_by_role("button", name="English").click()
    await assert_no_horizontal_scroll(web, 360)
    for area in [*AREAS[1:], "home"]:
        await page.locator(f'#site-nav a[data-area="{area}"]').click()
        await assert_no_horizontal_scroll(web, 360)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#login-panel")).to_be_visible()
