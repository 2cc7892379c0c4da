"""消息 (the inbox) in a real browser: a committee member has the inbox open when the company
asks for a payment; the message comes in over the live stream, on top, urgent and unread, and
the unread badge in the navigation goes up, all without a reload; marking it read brings the
badge down. The chair's notification settings are saved and kept across a reload, and a refused
setting is said in plain words. The stream itself: Server-Sent Events parsed in the page, a
dropped stream resumed with Last-Event-ID, and the stream ended at sign-out."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Request, Route, expect

from tests.browser.conftest import DESKTOP
from tests.browser.steps import sign_in, sign_out
from tests.identity.world import PASSWORD, World, build, ok
from tests.notifications.test_delivery import request_disbursement

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

STREAM = "/api/v1/me/inbox/stream"
# Far beyond any real message: where the page must resume after the faked stream drops.
FAKE_POSITION = 900_000_000


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


def unread(world: World, role: str) -> int:
    with world.client(role) as client:
        return int(ok(client.get("/api/v1/me/inbox", params={"limit": 1}))["unread"])


def settled_unread(world: World, role: str) -> int:
    """The unread count once it has stopped changing for two seconds: signing in may bring a
    message of its own (a sign-in from a new device) a moment later."""
    last, since = unread(world, role), time.monotonic()
    deadline = since + 20
    while time.monotonic() - since < 2:
        assert time.monotonic() < deadline, "the unread count never settled"
        time.sleep(0.25)
        now = unread(world, role)
        if now != last:
            last, since = now, time.monotonic()
    return last


async def shown_ids(web: WebApp) -> list[str]:
    ids: list[str] = await web.page.eval_on_selector_all(
        "#inbox-root li.inbox-msg", "(items) => items.map((li) => li.dataset.messageId)"
    )
    return ids


def badge_count(count: int) -> str:
    return "99+" if count > 99 else str(count)


async def expect_badge(web: WebApp, count: int, label: str = "{n} 条未读消息") -> None:
    badge = web.page.locator("#inbox-badge")
    if count == 0:
        await expect(badge).to_be_hidden()
        return
    await expect(badge).to_be_visible()
    await expect(badge.locator('[aria-hidden="true"]')).to_have_text(badge_count(count))
    # Screen readers hear the count in words, as part of the 消息 link's name.
    await expect(badge.locator(".visually-hidden")).to_have_text(label.format(n=count))
    link = web.page.locator("#site-nav").get_by_role("link", name=re.compile(label.format(n=count)))
    await expect(link).to_have_attribute("data-area", "inbox")


async def fits_a_small_screen(web: WebApp) -> None:
    """At 360 px nothing scrolls sideways, and no navigation tab overflows (badge included)."""
    size_before = web.page.viewport_size or DESKTOP
    await web.page.set_viewport_size({"width": 360, "height": 740})
    width = await web.page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= 360, width
    overflowing = await web.page.eval_on_selector_all(
        "#site-nav a", "(links) => links.filter((a) => a.scrollWidth > a.clientWidth).length"
    )
    assert overflowing == 0, overflowing
    await web.page.set_viewport_size(size_before)


async def open_inbox(web: WebApp, role: str, world: World) -> None:
    await sign_in(web, world.usernames[role], PASSWORD)
    await expect(web.page.locator("#session-panel")).to_be_visible()
    await web.page.locator("#site-nav").get_by_role("link", name="消息").click()
    await expect(web.page.get_by_role("heading", name="消息", level=1)).to_be_focused()
    await expect(web.page.get_by_role("heading", name="收到的消息", level=2)).to_be_visible()


async def test_a_payment_request_arrives_live_and_is_marked_read(web: WebApp, world: World) -> None:
    page = web.page
    # The message's link opens the fund, which asks for the month's head: 404 while it is open.
    web.expect_status(f"/api/v1/estates/{world.estate_a}/periods/", 404)
    await web.open()
    await open_inbox(web, "committee_member", world)
    before = settled_unread(world, "committee_member")
    await expect_badge(web, before)
    earlier = await shown_ids(web)
    # Marks this document: a reload would lose it.
    await page.evaluate("window.__sameDocument = true")
    listed: list[str] = []
    page.on(
        "request",
        lambda r: listed.append(r.url) if "/api/v1/me/inbox?" in r.url else None,
    )

    purpose = f"电梯年检 {uuid.uuid4().hex[:6]}"
    disbursement = request_disbursement(world, purpose)

    first = page.locator("#inbox-root li.inbox-msg", has_text=purpose)
    await expect(first).to_be_visible(timeout=60_000)
    await expect(first).to_contain_text("付款申请待审批")
    # On top: above every message the page showed before.
    ids = await shown_ids(web)
    mine = ids.index(str(await first.get_attribute("data-message-id")))
    assert all(mine < ids.index(i) for i in earlier), (mine, ids, earlier)
    await expect(first).to_have_class(re.compile(r"\bunread\b.*\burgent\b"))
    await expect(first.locator(".msg-meta")).to_contain_text("紧急")
    await expect(first.locator(".msg-meta")).to_contain_text("未读")
    await expect(first.locator("time")).not_to_be_empty()
    link = first.get_by_role("link", name=re.compile("^查看详情"))
    await expect(link).to_have_attribute(
        "href", f"#/fund/{world.estate_a}/disbursements/{disbursement}"
    )
    # The badge went up with it: the server's own count, above the count before.
    after = settled_unread(world, "committee_member")
    assert after > before, (before, after)
    await expect_badge(web, after)
    # It came by the stream: the page neither reloaded nor asked for the list again.
    assert await page.evaluate("window.__sameDocument === true")
    assert listed == [], listed
    await fits_a_small_screen(web)

    # The badge is in the navigation on every page.
    await page.locator('#site-nav a[data-area="home"]').click()
    await expect(page.locator("#session-panel")).to_be_visible()
    await expect_badge(web, after)
    await page.locator('#site-nav a[data-area="inbox"]').click()
    first = page.locator("#inbox-root li.inbox-msg", has_text=purpose)

    title = (await first.locator("h3").inner_text()).strip()
    await first.get_by_role("button", name=f"将“{title}”标为已读").click()
    await expect(page.locator("#feedback")).to_have_text(f"已将“{title}”标为已读。")
    await expect(first).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(first.get_by_role("button")).to_have_count(0)
    await expect(first).to_be_focused()
    await expect_badge(web, after - 1)
    assert unread(world, "committee_member") == after - 1

    # In English: the kind names the message; the badge's words follow.
    await page.get_by_role("button", name="English").click()
    await expect(first.locator("h3")).to_have_text("Payment awaiting approval")
    await expect(first.get_by_role("button")).to_have_count(0)
    await expect_badge(web, after - 1, "{n} unread messages")
    if after - 1:
        await page.get_by_role("button", name="Mark all read").click()
        await expect(page.locator("#feedback")).to_have_text(f"Marked {after - 1} messages read.")
    await expect_badge(web, 0)
    await expect(page.get_by_text("No unread messages.")).to_be_visible()
    assert unread(world, "committee_member") == 0
    # Its link leads to the area where the payment is approved.
    await first.get_by_role("link", name=re.compile("^Open")).click()
    await expect(page.get_by_role("heading", name="Fund", level=1)).to_be_visible()


async def test_settings_are_saved_kept_and_refusals_said_plainly(web: WebApp, world: World) -> None:
    page = web.page
    web.expect_status("/api/v1/me/preferences", 400)
    tag = uuid.uuid4().hex[:6]
    email = f"chair-{tag}@example.cn"

    async def open_settings() -> None:
        await open_inbox(web, "committee_chair", world)
        await page.get_by_role("button", name="通知设置").click()
        await expect(page.get_by_role("heading", name="通知设置", level=2)).to_be_focused()
        await expect(page.locator("#pref-email")).to_be_visible()

    def box(kind: str, what: str):  # type: ignore[no-untyped-def]
        return page.locator(f'.pref-table tr[data-kind="{kind}"] input[data-what="{what}"]')

    with world.client("committee_chair") as chair:
        security = ok(chair.get("/api/v1/me/preferences"))["security_kinds"]
    assert "approval_requested" in security, security
    await web.open()
    await open_settings()
    table = page.get_by_role("table", name="各类消息的通知方式")
    await expect(table.get_by_role("columnheader")).to_have_text(
        ["消息类型", "站内消息", "电子邮件", "短信", "每日汇总"]
    )
    # Security kinds: inbox locked on, no digest.
    for kind in security:
        await expect(box(kind, "inbox")).to_be_checked()
        await expect(box(kind, "inbox")).to_be_disabled()
        await expect(box(kind, "digest")).to_be_disabled()
        await expect(box(kind, "digest")).not_to_be_checked()
    await expect(page.get_by_role("checkbox", name="付款待审批：站内消息")).to_be_disabled()
    await expect(box("ballot_announced", "inbox")).to_be_enabled()

    await page.get_by_label("电子邮箱", exact=True).fill(email)
    await page.get_by_label("开始", exact=True).fill("22:30")
    await page.get_by_label("结束", exact=True).fill("07:00")
    await page.get_by_label("邮件和短信的语言", exact=True).select_option("en")
    await page.get_by_role("checkbox", name="表决结果：电子邮件").uncheck()
    await page.get_by_role("checkbox", name="表决结果：短信").check()
    await page.get_by_role("checkbox", name="月度公示发布：每日汇总").check()
    await page.get_by_role("button", name="保存设置").click()
    await expect(page.locator("#feedback")).to_have_text("通知设置已保存。")

    with world.client("committee_chair") as chair:
        saved = ok(chair.get("/api/v1/me/preferences"))
    kinds = {k["kind"]: k for k in saved["kinds"]}
    assert (saved["email"], saved["quiet_start"], saved["quiet_end"], saved["language"]) == (
        email,
        "22:30",
        "07:00",
        "en",
    ), saved
    assert set(kinds["ballot_result"]["channels"]) == {"inbox", "sms"}, kinds["ballot_result"]
    assert kinds["report_published"]["digest"] is True
    assert "inbox" in kinds["approval_requested"]["channels"]

    # Kept: a reload (which signs out: tokens live only in the page) shows what was saved.
    await page.reload()
    await page.locator('#site-nav a[data-area="home"]').click()
    await open_settings()
    await expect(page.get_by_label("电子邮箱", exact=True)).to_have_value(email)
    await expect(page.get_by_label("开始", exact=True)).to_have_value("22:30")
    await expect(page.get_by_label("结束", exact=True)).to_have_value("07:00")
    await expect(page.get_by_label("邮件和短信的语言", exact=True)).to_have_value("en")
    await expect(box("ballot_result", "email")).not_to_be_checked()
    await expect(box("ballot_result", "sms")).to_be_checked()
    await expect(box("report_published", "digest")).to_be_checked()
    await fits_a_small_screen(web)

    # Refused by the server: said in plain words, the field marked, nothing saved.
    email_field = page.get_by_label("电子邮箱", exact=True)
    await email_field.fill("not-an-address")
    await page.get_by_role("button", name="保存设置").click()
    await expect(page.locator("#feedback")).to_have_text("电子邮箱地址不正确，请检查后重新填写。")
    await expect(email_field).to_have_attribute("aria-invalid", "true")
    await expect(email_field).to_be_focused()
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#feedback")).to_have_text(
        "The e-mail address is not valid. Please check it and try again."
    )
    await page.get_by_role("button", name="中文").click()

    await email_field.fill(email)
    await page.get_by_label("结束", exact=True).fill("")
    await page.get_by_role("button", name="保存设置").click()
    await expect(page.locator("#feedback")).to_contain_text("免打扰时段要同时填写开始和结束时间")
    with world.client("committee_chair") as chair:
        kept = ok(chair.get("/api/v1/me/preferences"))
    assert (kept["email"], kept["quiet_end"]) == (email, "07:00"), kept


async def test_the_stream_is_read_resumed_after_a_drop_and_ended_at_sign_out(
    web: WebApp, world: World
) -> None:
    page = web.page
    asked: list[dict[str, str]] = []
    release = asyncio.Event()
    fake_title = "共管账户出现一笔异常扣款（测试）"
    fake = {
        "message_id": str(uuid.uuid4()),
        "kind": "bank_alarm",
        "title": fake_title,
        "body": "银行报告一笔未经审批的扣款，请立即核对。",
        "read": False,
        "urgent": True,
        "created_at": "2025-03-01T08:30:00Z",
        "estate_id": world.estate_a,
        "link": f"/estates/{world.estate_a}",
        "params": {},
        "position": FAKE_POSITION,
    }
    events = (
        "retry: 3000\n\n"
        ': keep-alive\n\nevent: unread\ndata: {"unread": 7}\n\n'
        f"id: {FAKE_POSITION}\nevent: message\r\n"
        f"data: {json.dumps(fake, ensure_ascii=False)}\n\n"
    )

    async def stream(route: Route) -> None:
        asked.append(await route.request.all_headers())
        if len(asked) == 1:
            # The first stream waits until the list is open, then brings its events and drops.
            await release.wait()
            await route.fulfill(
                status=200, headers={"content-type": "text/event-stream"}, body=events
            )
        else:
            await route.continue_()

    await page.route(f"**{STREAM}*", stream)
    await web.open()
    await open_inbox(web, "estate_supervisor", world)
    assert asked and asked[0]["authorization"].startswith("Bearer ")
    assert "last-event-id" not in asked[0]

    release.set()
    first = page.locator("#inbox-root li.inbox-msg").first
    await expect(first).to_contain_text(fake_title)
    await expect(first).to_have_class(re.compile(r"\burgent\b"))
    await expect(first.get_by_role("link", name=re.compile("^查看详情"))).to_have_attribute(
        "href", f"#/estates/{world.estate_a}"
    )
    await expect_badge(web, 7)

    # The drop is followed by a new stream from where the page was, which the server answers.
    for _ in range(150):
        if len(asked) > 1:
            break
        await asyncio.sleep(0.1)
    assert asked[1].get("last-event-id") == str(FAKE_POSITION), asked[1]
    await expect_badge(web, settled_unread(world, "estate_supervisor"))

    # Signing out ends the stream at once, and no new one starts.
    def is_stream(request: Request) -> bool:
        return STREAM in request.url

    async with page.expect_event("requestfailed", predicate=is_stream):
        await sign_out(web)
    await expect_badge(web, 0)
    count = len(asked)
    await page.wait_for_timeout(2_500)
    assert len(asked) == count, asked[count:]
    await page.locator('#site-nav a[data-area="inbox"]').click()
    await expect(page.get_by_text("请先在“首页”登录，再查看消息。")).to_be_visible()
    await expect(page.get_by_text(fake_title)).to_have_count(0)
