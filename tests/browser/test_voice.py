"""Owners' voice (议事) in a real browser: an owner's complaint with a photo followed through the
company's answer, a reopening, a commitment and a rectification to the owner's confirmation; an
overdue rectification flagged once the platform's clock passes its due date; a survey published,
answered and closed with its results; a monthly meeting with the company's report and minutes
whose point becomes a suggestion; a tender published, bid for by another company's manager in
the city-wide view, revealed at the close and drafted into the assembly's ballot."""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, Response, expect

from tests.browser.steps import create_estate, credit_code, sign_in
from tests.identity.world import PASSWORD, ok, random_phone, signin
from tests.poll import eventually
from xinyi_kit.clock import move_clock

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

HAN = re.compile(r"[\u4e00-\u9fff]")
DAY = 24 * 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")


def png() -> bytes:
    """A real 2×2 red PNG, so the page has an image to show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Estate:
    """An estate served by one company, with an owner, a committee chair, a supervisor, the
    company's manager, and a manager of another company that serves no estate; and a movable
    clock."""

    base: str
    estate_id: str = ""
    bidder_company: str = ""
    usernames: dict[str, str] = field(default_factory=dict)
    clock_file: Path = Path()

    def at(self, seconds: float) -> None:
        """Moves the platform's clock to `seconds` after the test began."""
        move_clock(self.clock_file, seconds)

    def client(self, who: str) -> httpx.Client:
        token = signin(self.base, self.usernames[who])
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def path(self, tail: str = "") -> str:
        return f"/api/v1/estates/{self.estate_id}{tail}"


@pytest.fixture
def estate(platform: Platform, api: httpx.Client) -> Iterator[Estate]:
    """Tests take it before `web`, so the clock goes back only once their page is closed."""
    world = Estate(platform.gateway_url, clock_file=platform.data_dir / "clock-offset")
    world.estate_id = create_estate(api)["estate_id"]
    tag = uuid.uuid4().hex[:6]
    companies = {}
    for who, name in (("manager", f"信达物业 {tag}"), ("bidder", f"蓉城物业 {tag}")):
        company = ok(
            api.post("/api/v1/companies", json={"name": name, "credit_code": credit_code()})
        )
        companies[who] = company["company_id"]
    world.bidder_company = f"蓉城物业 {tag}"
    ok(
        api.put(
            f"/api/v1/estates/{world.estate_id}/company",
            json={"company_id": companies["manager"], "starts_on": "2020-01-01"},
        )
    )
    people = {
        "owner": ("owner", {"estate_id": world.estate_id}),
        "chair": ("committee_chair", {"estate_id": world.estate_id}),
        "manager": ("company_manager", {"company_id": companies["manager"]}),
        "bidder": ("company_manager", {"company_id": companies["bidder"]}),
        "supervisor": ("estate_supervisor", {"estate_id": world.estate_id}),
    }
    for who, (role, where) in people.items():
        username = f"web-voice-{who}-{tag}"
        user = ok(
            api.post(
                "/api/v1/users",
                json={
                    "username": username,
                    "display_name": f"{who} {tag}",
                    "phone": random_phone(),
                    "password": PASSWORD,
                },
            )
        )
        ok(
            api.post(
                "/api/v1/role-grants", json={"user_id": user["user_id"], "role": role, **where}
            )
        )
        world.usernames[who] = username
    with world.client("chair") as chair:
        eventually(
            lambda: chair.get(world.path("/suggestions")).status_code == 200,
            what="voting learning of the estate",
        )
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


async def local_value(page: Page, days: float) -> str:
    """The datetime-local value `days` from now, in the browser's own time zone."""
    value: str = await page.evaluate(
        """(days) => {
          const d = new Date(Date.now() + days * 86400000);
          const p = (n) => String(n).padStart(2, "0");
          return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
            + `T${p(d.getHours())}:${p(d.getMinutes())}`;
        }""",
        days,
    )
    return value


def shanghai_day(days: int = 0) -> str:
    return (datetime.now(SHANGHAI).date() + timedelta(days=days)).isoformat()


async def sign_in_to_voice(web: WebApp, estate: Estate, who: str, tab: str = "") -> None:
    await web.open()
    await sign_in(web, estate.usernames[who], PASSWORD)
    await expect(web.page.locator("#session-panel")).to_be_visible()
    await web.page.locator('#site-nav a[data-area="voice"]').click()
    await expect(web.page.get_by_role("heading", name="议事", level=1)).to_be_focused()
    if who != "bidder":
        await expect(web.page.locator("#voice-status")).to_contain_text("小区：")
    if tab:
        await web.page.get_by_role("button", name=tab, exact=True).click()
        await expect(web.page.get_by_role("button", name=tab, exact=True)).to_have_attribute(
            "aria-pressed", "true"
        )


async def open_item(web: WebApp, list_id: str, title: str) -> None:
    await web.page.locator(f"#{list_id}").get_by_role("button", name=title).click()
    await expect(web.page.locator("#voice-item-title")).to_have_text(title)
    await expect(web.page.locator("#voice-item-title")).to_be_focused()


async def assert_fits_a_phone(page: Page) -> None:
    """At 360 px nothing of the voice view reaches past the screen's edge."""
    await page.set_viewport_size({"width": 360, "height": 740})
    width = await page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= 360, width
    wider = await page.evaluate(
        """[...document.querySelectorAll('#view-voice *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map((el) => `${el.tagName}#${el.id}.${el.className}`)"""
    )
    assert not wider, f"wider than a 360px screen: {wider[:10]}"
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_a_complaint_with_a_photo_is_followed_to_its_confirmation(
    estate: Estate, web: WebApp
) -> None:
    page = web.page
    live = page.locator("#feedback")
    state = page.locator("#voice-item-state")
    title = "3 栋电梯经常停运"
    web.expect_status(estate.path("/"), 400)  # a due date in the past, refused

    # The owner complains, with a photo; supervisors alone may inquire.
    await sign_in_to_voice(web, estate, "owner")
    await expect(page.locator("#voice-suggestions-list")).to_contain_text("没有符合条件的事项")
    await page.locator("#suggestion-form-box > summary").click()
    form = page.locator("#suggestion-form")
    kinds = await form.get_by_label("类别").locator("option:not([hidden])").all_inner_texts()
    assert kinds == ["金点子", "投诉"], kinds
    await form.get_by_label("类别").select_option("complaint")
    await form.get_by_role("button", name="提交", exact=True).click()
    await expect(live).to_have_text("请填写“标题”。")
    await expect(form.get_by_label("标题")).to_be_focused()
    await form.get_by_label("标题").fill(title)
    await form.get_by_label("内容").fill("本周已停运三次，老人上下楼困难。")
    await form.get_by_label("照片（可选）").set_input_files(
        files=[{"name": "lift.png", "mimeType": "image/png", "buffer": png()}]
    )
    await form.get_by_role("button", name="提交", exact=True).click()
    await expect(live).to_contain_text(f"已提交“{title}”")
    await expect(page.locator("#voice-item-title")).to_be_focused()
    await expect(state).to_contain_text("投诉")
    await expect(state.locator(".badge[data-state]")).to_have_text("待答复")
    photo = page.locator("#voice-photos img")
    await expect(photo).to_have_count(1)
    await expect(photo).to_have_attribute("alt", "照片 1")
    await expect(photo).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    assert await photo.evaluate("(img) => img.decode().then(() => img.naturalWidth)") == 2
    await expect(page.locator("#voice-timeline li")).to_have_text([re.compile("业主.* 提出")])
    await page.get_by_role("button", name="← 全部建议与投诉").click()
    item = page.locator("#voice-suggestions-list li")
    await expect(item).to_have_count(1)
    await expect(item.get_by_role("button", name=title)).to_be_focused()
    await expect(item.locator(".badge")).to_have_text(["投诉", "待答复"])

    # The company answers.
    await sign_in_to_voice(web, estate, "manager")
    await open_item(web, "voice-suggestions-list", title)
    await expect(page.locator("#voice-photos img")).to_have_count(1)
    await expect(page.locator("#reopen-form")).to_have_count(0)
    await page.get_by_label("答复", exact=True).fill("已联系电梯维保单位，本周内检修。")
    await page.get_by_role("button", name="提交答复").click()
    await expect(live).to_have_text("已答复。")
    await expect(state).to_be_focused()
    await expect(state.locator(".badge[data-state]")).to_have_text("已答复")

    # The owner is not satisfied and reopens it, saying why.
    await sign_in_to_voice(web, estate, "owner")
    await open_item(web, "voice-suggestions-list", title)
    await page.get_by_role("button", name="重新打开").click()
    await expect(live).to_have_text("请填写“为什么重新打开”。")
    await expect(page.get_by_label("为什么重新打开")).to_be_focused()
    await page.get_by_label("为什么重新打开").fill("只答复不检修，电梯今天又停了。")
    await page.get_by_role("button", name="重新打开").click()
    await expect(live).to_contain_text("已重新打开")
    await expect(state.locator(".badge[data-state]")).to_have_text("已重新打开")

    # The company commits to a date (a past one is refused in plain words), then reports it done.
    await sign_in_to_voice(web, estate, "manager")
    await open_item(web, "voice-suggestions-list", title)
    await page.get_by_label("将如何整改").fill("更换 3 栋电梯的控制柜。")
    await page.get_by_label("整改期限").fill(shanghai_day(-2))
    await page.get_by_role("button", name="承诺整改").click()
    await expect(live).to_have_text("整改期限不能早于今天。")
    await page.get_by_label("整改期限").fill(shanghai_day(3))
    await page.get_by_role("button", name="承诺整改").click()
    await expect(live).to_contain_text("已承诺在")
    await expect(state.locator(".badge[data-state]")).to_have_text("整改中")
    await expect(page.locator("#voice-page .facts")).to_contain_text("整改期限")
    await page.get_by_label("做了什么").fill("控制柜已更换，试运行正常。")
    await page.get_by_role("button", name="报告整改完成").click()
    await expect(live).to_contain_text("已报告整改完成")
    await expect(state.locator(".badge[data-state]")).to_have_text("已整改")

    # The owner confirms: settled, every step on the timeline.
    await sign_in_to_voice(web, estate, "owner")
    await open_item(web, "voice-suggestions-list", title)
    await page.get_by_role("button", name="确认", exact=True).click()
    await expect(live).to_have_text("已确认，这件事办结了。")
    await expect(state.locator(".badge[data-state]")).to_have_text("已确认")
    steps = page.locator("#voice-timeline li")
    await expect(steps).to_have_count(6)
    await expect(steps.nth(3)).to_contain_text("项目经理")
    await expect(steps.nth(3)).to_contain_text("承诺整改")
    await expect(steps.nth(5)).to_contain_text("业主")
    await expect(steps.nth(5)).to_contain_text("（我）")
    await expect(page.locator("#photo-form")).to_have_count(0)
    await assert_fits_a_phone(page)

    with estate.client("owner") as owner:
        (listed,) = ok(owner.get(estate.path("/suggestions")))  # type: ignore[misc]
        shown = ok(owner.get(estate.path(f"/suggestions/{listed['suggestion_id']}")))
    assert shown["kind"] == "complaint" and shown["state"] == "confirmed"
    assert [s["state"] for s in shown["timeline"]] == [
        "submitted",
        "answered",
        "reopened",
        "committed",
        "rectified",
        "confirmed",
    ]
    assert len(shown["photos"]) == 1 and shown["due_on"] == shanghai_day(3)


async def test_a_supervisor_inquires_about_a_ledger_entry(estate: Estate, web: WebApp) -> None:
    page = web.page
    live = page.locator("#feedback")
    entry = str(uuid.uuid4())
    web.expect_status(estate.path("/"), 400)  # a number that is not one
    await sign_in_to_voice(web, estate, "supervisor")
    await page.locator("#suggestion-form-box > summary").click()
    form = page.locator("#suggestion-form")
    await expect(form.get_by_label("编号")).to_be_hidden()
    await form.get_by_label("类别").select_option("inquiry")
    await form.get_by_label("质询的是").select_option("entry")
    await form.get_by_label("编号").fill("第 12 笔")
    await form.get_by_label("标题").fill("3 月保洁费为何比合同多 2000 元")
    await form.get_by_label("内容").fill("请说明依据，并附凭证。")
    await form.get_by_role("button", name="提交", exact=True).click()
    await expect(live).to_have_text("请填写要质询的账目或支出申请的 36 位编号。")
    # What was typed stays through a language switch.
    await page.get_by_role("button", name="English").click()
    await expect(form.get_by_label("Title")).to_have_value("3 月保洁费为何比合同多 2000 元")
    await page.get_by_role("button", name="中文").click()
    await form.get_by_label("编号").fill(entry)
    await form.get_by_role("button", name="提交", exact=True).click()
    await expect(live).to_contain_text("已提交“3 月保洁费为何比合同多 2000 元”")
    await expect(page.locator("#voice-item-state")).to_contain_text("质询")
    await expect(page.locator("#voice-page .facts")).to_contain_text(f"账目 {entry}")
    await expect(page.locator("#voice-timeline li")).to_have_text([re.compile("监察人.* 提出")])


async def test_an_overdue_rectification_is_flagged(estate: Estate, web: WebApp) -> None:
    with estate.client("owner") as owner:
        late = ok(
            owner.post(
                estate.path("/suggestions"),
                json={"kind": "suggestion", "title": "楼道灯不亮", "body": "2 单元 5 楼"},
            )
        )
        ok(
            owner.post(
                estate.path("/suggestions"),
                json={"kind": "suggestion", "title": "增设快递柜", "body": "东门附近"},
            )
        )
    with estate.client("manager") as manager:
        ok(
            manager.post(
                estate.path(f"/suggestions/{late['suggestion_id']}/commitment"),
                json={"text": "更换灯具", "due_on": shanghai_day(0)},
            )
        )
    estate.at(2 * DAY)
    page = web.page
    await sign_in_to_voice(web, estate, "owner")
    items = page.locator("#voice-suggestions-list li")
    await expect(items).to_have_count(2)
    flagged = items.filter(has_text="楼道灯不亮")
    await expect(flagged.locator(".badge.v-overdue")).to_have_text("已逾期")
    await expect(items.filter(has_text="增设快递柜").locator(".badge.v-overdue")).to_have_count(0)
    await page.get_by_label("只看逾期未整改的").check()
    await expect(page.locator("#feedback")).to_have_text("显示 1 项。")
    await expect(items).to_have_count(1)
    await open_item(web, "voice-suggestions-list", "楼道灯不亮")
    await expect(page.locator("#voice-item-state")).to_contain_text("已逾期")
    await expect(page.locator("#voice-item-state")).to_contain_text("整改中")

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#voice-item-state .v-overdue")).to_have_text("Overdue")
    await expect(page.locator("#voice-item-state .badge[data-state]")).to_have_text(
        "Being rectified"
    )
    frame = await page.locator(
        "#view-voice :is(h1, h2:not(#voice-item-title), h3, label, dt, button, .badge, .hint)"
        ":not(#voice-status):visible"
    ).all_inner_texts()
    chinese = [text for text in frame if HAN.search(text)]
    assert not chinese, chinese


async def test_a_survey_is_published_answered_and_its_results_shown(
    estate: Estate, web: WebApp
) -> None:
    page = web.page
    live = page.locator("#feedback")
    name = "2027 年第一季度物业服务满意度"
    await sign_in_to_voice(web, estate, "chair", "满意度调查")
    await page.locator("#survey-form-box > summary").click()
    form = page.locator("#survey-form")
    await form.get_by_label("调查标题").fill(name)
    await form.get_by_label("截止时间").fill(await local_value(page, 7))
    first = form.get_by_role("group", name="问题 1")
    await first.get_by_label("问题内容").fill("您对保洁的满意程度")
    await form.get_by_role("button", name="添加问题").click()
    second = form.get_by_role("group", name="问题 2")
    await expect(second.get_by_label("问题内容")).to_be_focused()
    await second.get_by_label("问题内容").fill("希望多久清运一次大件垃圾")
    await second.get_by_label("作答方式").select_option("choice")
    await second.get_by_label("选项").fill("每周两次")
    await form.get_by_role("button", name="发布", exact=True).click()
    await expect(live).to_have_text("单选题须有 2 到 10 个不重复的选项。")
    await expect(second.get_by_label("选项")).to_be_focused()
    await second.get_by_label("选项").fill("每周两次\n每周一次\n每月一次")
    await form.get_by_role("button", name="发布", exact=True).click()
    await expect(live).to_have_text(f"已发布调查“{name}”。")
    await expect(page.locator("#voice-item-state .badge")).to_have_text("进行中")
    await expect(page.locator("#survey-answer")).to_have_count(0)

    await sign_in_to_voice(web, estate, "owner", "满意度调查")
    await open_item(web, "voice-surveys-list", name)
    cleaning = page.get_by_role("group", name="1. 您对保洁的满意程度")
    bulky = page.get_by_role("group", name="2. 希望多久清运一次大件垃圾")
    await cleaning.get_by_label("4").check()
    await page.get_by_role("button", name="提交答卷").click()
    await expect(live).to_have_text("请回答问题 2。")
    await expect(bulky.get_by_label("每周两次")).to_be_focused()
    await bulky.get_by_label("每周一次").check()
    await page.get_by_role("button", name="提交答卷").click()
    await expect(live).to_have_text("已提交答卷，谢谢！")
    await expect(page.locator("#survey-answer")).to_contain_text("您已作答")
    # Answering again replaces the answers, and the form keeps the choices made.
    await expect(bulky.get_by_label("每周一次")).to_be_checked()
    await cleaning.get_by_label("5 很满意").check()
    await page.get_by_role("button", name="重新提交答卷").click()
    await expect(live).to_have_text("已用新答卷替换原答卷。")
    await page.get_by_role("button", name="← 全部调查").click()
    await expect(page.locator("#voice-surveys-list li .badge")).to_have_text(["进行中", "已作答"])

    await sign_in_to_voice(web, estate, "chair", "满意度调查")
    await open_item(web, "voice-surveys-list", name)
    await page.get_by_role("button", name="提前截止并公布结果").click()
    await expect(live).to_have_text("调查已截止，结果已公布。")
    await expect(page.get_by_role("heading", name="结果", exact=True)).to_be_focused()
    first_result = page.locator("#survey-results article").nth(0)
    await expect(first_result).to_contain_text("平均 5.00 分（满分 5 分），1 人作答")
    counts = first_result.get_by_role("list", name="问题 1 的作答分布").get_by_role("listitem")
    await expect(counts).to_have_count(5)
    await expect(counts.nth(4)).to_contain_text("1 人（100%）")
    choice = page.locator("#survey-results article").nth(1).get_by_role("listitem")
    await expect(choice).to_have_count(3)
    await expect(choice.nth(1)).to_contain_text("每周一次")
    await expect(choice.nth(1)).to_contain_text("1 人（100%）")
    await expect(choice.nth(0)).to_contain_text("0 人（0%）")
    await assert_fits_a_phone(page)


async def test_a_meeting_with_its_report_and_minutes_whose_point_becomes_a_suggestion(
    estate: Estate, web: WebApp
) -> None:
    page = web.page
    live = page.locator("#feedback")
    name = "2027 年 3 月物业联席会"
    web.expect_status(estate.path("/"), 422)  # minutes before the meeting has begun
    await sign_in_to_voice(web, estate, "chair", "月度联席会")
    await page.locator("#meeting-form-box > summary").click()
    form = page.locator("#meeting-form")
    await form.get_by_label("会议名称").fill(name)
    await form.get_by_label("开始时间").fill(await local_value(page, 1))
    await form.get_by_label("地点").fill("小区会所二楼")
    await form.get_by_label("议程").fill("物业工作报告\n电梯维保\n")
    await form.get_by_role("button", name="安排会议").click()
    await expect(live).to_have_text(f"已安排会议“{name}”。")
    await expect(page.locator("#meeting-agenda li")).to_have_text(["物业工作报告", "电梯维保"])
    await page.get_by_label("纪要", exact=True).fill("会议未召开。")
    await page.get_by_role("button", name="发布纪要").click()
    await expect(live).to_contain_text("开始后才能发布纪要")

    await sign_in_to_voice(web, estate, "manager", "月度联席会")
    await open_item(web, "voice-meetings-list", name)
    await page.get_by_label("工作报告", exact=True).fill("本月完成电梯维保 6 次，保洁考核 96 分。")
    # A language switch re-words the page and keeps what was typed.
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_label("Work report", exact=True)).to_have_value(
        "本月完成电梯维保 6 次，保洁考核 96 分。"
    )
    await page.get_by_role("button", name="中文").click()
    await page.get_by_role("button", name="提交工作报告").click()
    await expect(live).to_have_text("工作报告已公开。")
    await expect(page.locator("#meeting-report-heading")).to_be_focused()
    await expect(page.locator("#meeting-report")).to_contain_text("电梯维保 6 次")
    await expect(page.locator("#minutes-form")).to_have_count(0)

    estate.at(2 * DAY)
    await sign_in_to_voice(web, estate, "chair", "月度联席会")
    await open_item(web, "voice-meetings-list", name)
    await page.get_by_label("纪要", exact=True).fill("听取工作报告；讨论电梯维保。")
    await page.get_by_label("会上提出的事项（可选）").fill("地下车库照明不足\n增设电动车充电桩")
    await page.get_by_role("button", name="发布纪要").click()
    await expect(live).to_have_text("纪要已发布。")
    await expect(page.locator("#voice-item-state .badge")).to_have_text("已召开")
    points = page.locator("#meeting-points li")
    await expect(points).to_have_count(2)
    await points.nth(0).get_by_role("button", name="转为建议").click()
    await expect(live).to_contain_text("已转为建议“地下车库照明不足”")
    see = points.nth(0).get_by_role("button", name="查看建议")
    await expect(see).to_be_focused()
    await expect(points.nth(1).get_by_role("button", name="转为建议")).to_be_visible()
    await see.click()
    await expect(page.locator("#voice-item-title")).to_have_text("地下车库照明不足")
    await expect(page.locator("#voice-item-state")).to_contain_text("金点子")
    await page.get_by_role("button", name="← 全部建议与投诉").click()
    await expect(page.locator("#voice-suggestions-list li")).to_have_count(1)
    await assert_fits_a_phone(page)


async def test_a_tender_is_bid_for_citywide_revealed_at_the_close_and_put_to_a_ballot(
    estate: Estate, web: WebApp
) -> None:
    page = web.page
    live = page.locator("#feedback")
    name = "选聘物业服务企业（2028—2030）"

    # The committee drafts the tender and publishes it.
    await sign_in_to_voice(web, estate, "chair", "招标")
    await page.locator("#tender-form-box > summary").click()
    form = page.locator("#tender-form")
    await form.get_by_label("招标名称").fill(name)
    await form.get_by_label("服务标准").fill("成都市住宅物业服务等级二级")
    await form.get_by_label("服务范围").fill("全部共有部分的保洁、秩序维护、设施维护")
    await form.get_by_label("投标截止时间").fill(await local_value(page, 3))
    await form.get_by_role("button", name="保存草稿").click()
    await expect(live).to_contain_text(f"已保存招标草稿“{name}”")
    await expect(page.locator("#voice-item-state .badge")).to_have_text("草稿")
    await page.locator("#tender-publish").click()
    await expect(live).to_contain_text("招标已发布")
    await expect(page.locator("#voice-item-state .badge")).to_have_text("投标中")
    await expect(page.locator("#tender-bids-heading")).to_have_text("投标（0）")

    # Another company's manager, serving no estate, bids in the city-wide view.
    await sign_in_to_voice(web, estate, "bidder")
    await expect(page.locator("#voice-status")).to_contain_text("您的企业还没有服务的小区")
    await expect(page.get_by_role("button", name="建议与投诉")).to_be_hidden()
    await open_item(web, "city-tender-list", name)
    bid = page.locator("#bid-form")
    await bid.get_by_label("酬金比例").fill("10%")
    await bid.get_by_label("固定月酬金（元）").fill("15000")
    await bid.get_by_role("button", name="提交投标").click()
    await expect(live).to_have_text("请填写酬金比例或固定月酬金，二者选一。")
    await expect(bid.get_by_label("酬金比例")).to_be_focused()
    await bid.get_by_label("固定月酬金（元）").fill("")
    rates = bid.get_by_role("group", name="物业费单价")
    await rates.get_by_label("住宅").fill("2.125")
    await rates.get_by_label("车位").fill("1")
    await bid.get_by_label("人员配置", exact=True).fill("保洁 4\n秩序维护 6人")
    await bid.get_by_label("业绩与资质（可选）").fill("服务 12 个小区，获市级优秀物业项目。")
    await bid.get_by_role("button", name="提交投标").click()
    await expect(live).to_have_text(f"已提交对“{name}”的投标。")
    await expect(page.locator("#tender-bids-heading")).to_be_focused()
    mine = page.locator("#tender-bids li")
    await expect(mine).to_have_count(1)
    await expect(mine).to_contain_text("本企业")
    await expect(mine).to_contain_text("收入的 1/10（10.00%）")
    await expect(mine).to_contain_text("住宅 2.125 元/m²·月；车位 1.00 元/m²·月")
    await expect(mine).to_contain_text("保洁 4 人；秩序维护 6 人")
    # The form keeps the bid; a fixed monthly sum replaces the ratio.
    await expect(bid.get_by_label("酬金比例")).to_have_value("1/10")
    await bid.get_by_label("酬金比例").fill("")
    await bid.get_by_label("固定月酬金（元）").fill("15,000")
    await bid.get_by_role("button", name="提交修改").click()
    await expect(live).to_have_text("已修改投标（第 2 版）。")
    await expect(mine).to_contain_text("每月 15,000.00 元")
    await page.get_by_role("button", name="← 全市公开招标").click()
    await expect(page.locator("#city-tender-list li").filter(has_text=name)).to_contain_text(
        "已投标"
    )
    await assert_fits_a_phone(page)

    # Sealed until the close: the estate's people see no bid.
    with estate.client("owner") as owner:
        (listed,) = ok(owner.get(estate.path("/tenders")))  # type: ignore[misc]
        assert ok(owner.get(estate.path(f"/tenders/{listed['tender_id']}")))["bids"] == []

    estate.at(4 * DAY)
    await sign_in_to_voice(web, estate, "owner", "招标")
    await open_item(web, "voice-tenders-list", name)
    await expect(page.locator("#voice-item-state .badge")).to_have_text("已截标")
    revealed = page.locator("#tender-bids li")
    await expect(revealed).to_have_count(1)
    await expect(revealed).to_contain_text(estate.bidder_company)
    await expect(revealed).to_contain_text("每月 15,000.00 元")
    await expect(revealed).to_contain_text("第 2 版")
    await expect(page.locator("#tender-ballot")).to_have_count(0)

    # The committee drafts the assembly's ballot from the bids and goes to it under 表决.
    await sign_in_to_voice(web, estate, "chair", "招标")
    await open_item(web, "voice-tenders-list", name)
    await page.get_by_role("button", name="起草表决").click()
    await expect(live).to_contain_text("已起草表决")
    link = page.get_by_role("link", name="到“表决”查看选票")
    await expect(link).to_be_focused()
    await link.click()
    await expect(page.get_by_role("heading", name="表决", level=1)).to_be_focused()
    await expect(page.locator("#ballot-list")).to_contain_text(name)


async def test_voice_loads_only_when_opened(web: WebApp) -> None:
    loaded: list[str] = []

    def seen(response: Response) -> None:
        loaded.append(response.url)

    web.page.on("response", seen)
    await web.open()
    assert not [url for url in loaded if "voice" in url], loaded
    await web.page.locator('#site-nav a[data-area="voice"]').click()
    await expect(web.page.get_by_role("heading", name="议事", level=1)).to_be_focused()
    await expect(web.page.locator("#voice-status")).to_have_text("请先在“首页”登录，再参与议事。")
    assert [url for url in loaded if url.endswith("/voice.js")], loaded
    # Its own stylesheet comes with it (same origin, as the CSP allows).
    await web.page.wait_for_function(
        "() => [...document.styleSheets].some((s) => s.href?.endsWith('/voice.css')"
        " && s.cssRules.length > 0)"
    )
    await web.page.get_by_role("button", name="English").click()
    await expect(web.page.get_by_role("heading", name="Voice", level=1)).to_be_visible()
    await expect(web.page.locator("#voice-status")).to_have_text(
        "Please sign in on the Home page first to take part."
    )


async def test_voice_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables: dict[str, dict[str, Any]] = await web.page.evaluate(
        "import('/voice-i18n.js').then((m) => m.messages)"
    )
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("voice.") for key in zh)
    for other in ("/i18n.js", "/ledger-i18n.js", "/fees-i18n.js", "/voting-i18n.js"):
        shell = await web.page.evaluate(f"import('{other}').then((m) => m.messages['zh-CN'])")
        assert not set(zh) & set(shell), f"voice keys must not shadow those of {other}"
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
