"""The owners' assembly in a real browser: the committee drafts and announces a ballot, an owner
votes, changes the vote and checks receipts, and anyone reads a published result's figures and
downloads the document the independent script recounts. Voting opens 15 days after the
announcement, so the platform's clock moves through the weeks (and back at the end)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.async_api import Locator, Page, Response, expect

from tests.browser.steps import BOTH_SIZES, create_estate, credit_code, sign_in
from tests.identity.world import PASSWORD, ok, random_phone, signin
from tests.poll import eventually
from xinyi_kit.clock import move_clock

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

ROOT = Path(__file__).resolve().parents[2]
HAN = re.compile(r"[\u4e00-\u9fff]")
DAY = 24 * 3600

# A owns two flats (one person, 150 m²), B one, C and D co-own one (one person), and the
# developer's unsold parking spaces (one person, 50 m²): 6 units, 400 m², 4 persons.
CSV = (
    "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
    "1栋,1-101,residential,100.00,甲,person,{a},\n"
    "1栋,1-102,residential,50.00,甲,person,{a},\n"
    "1栋,1-103,residential,100.00,乙,person,{b},\n"
    "1栋,1-104,residential,100.00,丙,person,{c},\n"
    "1栋,1-104,residential,100.00,丁,person,{d},\n"
    "P,P-01,parking,30.00,锦华置业有限公司,developer,,\n"
    "P,P-02,parking,20.00,锦华置业有限公司,developer,,\n"
)
OWNERS = ("a", "b", "c", "d")
QUESTIONS = [
    {"question_id": "budget", "text": "批准 2027 年度共有基金预算", "matter_class": 9},
    {"question_id": "raise", "text": "续筹维修资金", "matter_class": 6},
    {
        "question_id": "company",
        "text": "选聘物业服务企业",
        "matter_class": 4,
        "kind": "candidates",
        "seats": 1,
        "candidates": [
            {"candidate_id": "x", "name": "信达物业"},
            {"candidate_id": "y", "name": "蓉城物业"},
        ],
    },
]


@dataclass
class Assembly:
    """An estate with a roll of owners who can sign in, its committee, and a movable clock."""

    base: str
    estate_id: str = ""
    usernames: dict[str, str] = field(default_factory=dict)
    clock_file: Path = Path()

    def at(self, seconds: float) -> None:
        """Moves the platform's clock to `seconds` after the test began."""
        move_clock(self.clock_file, seconds)

    def client(self, who: str) -> httpx.Client:
        token = signin(self.base, self.usernames[who])  # a token of the moved clock's time
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def path(self, tail: str = "") -> str:
        return f"/api/v1/estates/{self.estate_id}/ballots{tail}"

    def announced_ballot(self) -> dict[str, Any]:
        """A ballot of QUESTIONS announced to open in 15 days and an hour, for a week."""
        with self.client("chair") as chair:
            ballot = ok(
                chair.post(
                    self.path(),
                    json={"title": "2027 年度业主大会", "description": "", "questions": QUESTIONS},
                )
            )
            now = datetime.now(UTC)
            ok(
                chair.post(
                    self.path(f"/{ballot['ballot_id']}/announce"),
                    json={
                        "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                        "voting_closes_at": (now + timedelta(days=22)).isoformat(),
                    },
                )
            )
        return ballot

    def opened_ballot(self) -> dict[str, Any]:
        ballot = self.announced_ballot()
        self.at(15 * DAY + 2 * 3600)
        with self.client("chair") as chair:
            assert ok(chair.post(self.path(f"/{ballot['ballot_id']}/open")))["state"] == "open"
        return ballot

    def vote(self, who: str, ballot: dict[str, Any], budget: str, raise_: str, pick: str) -> None:
        with self.client(who) as owner:
            ok(
                owner.put(
                    self.path(f"/{ballot['ballot_id']}/vote"),
                    json={
                        "choices": [
                            {"question_id": "budget", "answer": budget},
                            {"question_id": "raise", "answer": raise_},
                            {"question_id": "company", "candidate_ids": [pick] if pick else []},
                        ]
                    },
                )
            )


@pytest.fixture
def assembly(platform: Platform, api: httpx.Client) -> Iterator[Assembly]:
    """Tests take it before `web`, so the clock goes back only once their page is closed (a
    request in flight would otherwise carry a token from the future)."""
    world = Assembly(platform.gateway_url, clock_file=platform.data_dir / "clock-offset")
    estate = create_estate(api)
    world.estate_id = estate["estate_id"]
    company = ok(
        api.post(
            "/api/v1/companies",
            json={"name": f"信达物业 {uuid.uuid4().hex[:6]}", "credit_code": credit_code()},
        )
    )
    ok(
        api.put(
            f"/api/v1/estates/{world.estate_id}/company",
            json={"company_id": company["company_id"], "starts_on": "2020-01-01"},
        )
    )
    phones = {who: random_phone() for who in OWNERS}
    ok(
        api.post(
            f"/api/v1/estates/{world.estate_id}/imports",
            content=CSV.format(**phones).encode(),
            headers={"content-type": "text/csv"},
            timeout=60,
        )
    )
    tag = uuid.uuid4().hex[:6]
    people = {
        **{who: ("owner", phones[who]) for who in OWNERS},
        "chair": ("committee_chair", random_phone()),
        "member": ("committee_member", random_phone()),
    }
    for who, (role, phone) in people.items():
        username = f"web-vote-{who}-{tag}"
        user = ok(
            api.post(
                "/api/v1/users",
                json={
                    "username": username,
                    "display_name": f"{who} {tag}",
                    "phone": phone,
                    "password": PASSWORD,
                },
            )
        )
        ok(
            api.post(
                "/api/v1/role-grants",
                json={"user_id": user["user_id"], "role": role, "estate_id": world.estate_id},
            )
        )
        world.usernames[who] = username
    with world.client("chair") as chair:
        eventually(
            lambda: chair.get(world.path()).status_code == 200,
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


async def sign_in_to_voting(web: WebApp, assembly: Assembly, who: str) -> None:
    await web.open()
    await sign_in(web, assembly.usernames[who], PASSWORD)
    await expect(web.page.locator("#session-panel")).to_be_visible()
    await web.page.locator('#site-nav a[data-area="voting"]').click()
    await expect(web.page.locator("#ballot-list-panel")).to_be_visible()


async def assert_fits_a_phone(page: Page) -> None:
    """At 360 px nothing of the voting view reaches past the screen's edge."""
    await page.set_viewport_size({"width": 360, "height": 740})
    width = await page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= 360, width
    wider = await page.evaluate(
        """[...document.querySelectorAll('#view-voting *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth)
          .map((el) => `${el.tagName}#${el.id}.${el.className}`)"""
    )
    assert not wider, f"wider than a 360px screen: {wider[:10]}"


async def open_ballot(web: WebApp, title: str) -> None:
    await web.page.locator("#ballot-list").get_by_role("button", name=title).click()
    await expect(web.page.locator("#ballot-title")).to_have_text(title)
    await expect(web.page.locator("#ballot-title")).to_be_focused()


async def test_committee_member_drafts_and_announces_a_ballot(
    assembly: Assembly, web: WebApp
) -> None:
    page = web.page
    live = page.locator("#feedback")
    # Announcing too early and opening before the day are refused; the page says why.
    web.expect_status(assembly.path("/"), 422)
    await sign_in_to_voting(web, assembly, "member")
    await expect(page.locator("#ballot-list")).to_contain_text("还没有表决")

    await page.get_by_label("表决标题").fill("2027 年度业主大会")
    await page.get_by_label("说明（可选）").fill("审议预算、续筹维修资金、选聘物业")
    first = page.locator("#question-rows > li").nth(0)
    await expect(first.get_by_role("group", name="议题 1")).to_be_visible()
    await first.get_by_label("议题内容").fill("续筹维修资金")
    await expect(first.locator(".q-rule")).to_contain_text("参与表决的专有面积和人数均过半数")
    await first.get_by_label("表决事项").select_option("6")
    await expect(first.locator(".q-rule")).to_have_text(
        "参与表决：专有面积和人数均不少于 2/3；通过：参与表决的专有面积和人数均不少于 3/4。"
    )
    await page.get_by_role("button", name="添加议题").click()
    second = page.locator("#question-rows > li").nth(1)
    await expect(second.get_by_label("议题内容")).to_be_focused()
    await second.get_by_label("议题内容").fill("选聘物业服务企业")
    await second.get_by_label("表决事项").select_option("4")
    await second.get_by_label("表决方式").select_option("candidates")
    await second.get_by_label("候选人").fill("信达物业\n蓉城物业\n")
    await second.get_by_label("应选名额").fill("3")
    await page.get_by_role("button", name="保存草稿").click()
    await expect(live).to_contain_text("应选名额须在 1 到候选人数（2）之间")
    await expect(second.get_by_label("应选名额")).to_be_focused()
    await second.get_by_label("应选名额").fill("1")
    await page.get_by_role("button", name="保存草稿").click()

    await expect(live).to_contain_text("已保存草稿“2027 年度业主大会”")
    await expect(page.locator("#ballot-title")).to_be_focused()
    await expect(page.locator("#ballot-state .badge")).to_have_text("草稿")
    questions = page.locator("#ballot-questions li.question")
    await expect(questions).to_have_count(2)
    await expect(questions.nth(0)).to_contain_text(
        "《民法典》第二百七十八条第 6 项：筹集建筑物及其附属设施的维修资金"
    )
    await expect(questions.nth(0)).to_contain_text("均不少于 3/4")
    await expect(questions.nth(1)).to_contain_text("均过半数")
    await expect(questions.nth(1)).to_contain_text("应选 1 名")
    await expect(questions.nth(1).locator("ul.candidates li")).to_have_text(
        ["信达物业", "蓉城物业"]
    )

    # The budget the first question decides on goes with the ballot, for every owner to read.
    await page.get_by_label("添加材料（PDF、JPEG 或 PNG，最大 10 MB）").set_input_files(
        files=[
            {
                "name": "维修资金筹集方案.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n% the plan\n",
            }
        ]
    )
    await page.get_by_role("button", name="上传材料").click()
    await expect(live).to_contain_text("已添加材料“维修资金筹集方案.pdf”")
    await expect(page.locator("#ballot-attachments li")).to_contain_text("维修资金筹集方案.pdf")

    # Ten days' notice is less than the law's fifteen: the server says so, the page in Chinese.
    opens = page.get_by_label("投票开始时间")
    await opens.fill(await local_value(page, 10))
    await page.get_by_label("投票截止时间").fill(await local_value(page, 17))
    await page.get_by_role("button", name="公告", exact=True).click()
    await expect(live).to_contain_text("投票开始时间须在公告后至少 15 天")
    await expect(live).to_contain_text("最早可以定在")
    await expect(opens).to_be_focused()
    await expect(opens).to_have_attribute("aria-invalid", "true")

    await opens.fill(await local_value(page, 16))
    await page.get_by_label("投票截止时间").fill(await local_value(page, 23))
    await page.get_by_label("结果异议期（天）").fill("10")
    await page.get_by_role("button", name="公告", exact=True).click()
    await expect(live).to_contain_text("已公告：名册共 6 套房屋")
    await expect(page.locator("#ballot-state")).to_be_focused()
    await expect(page.locator("#ballot-state .badge")).to_have_text("已公告")
    await expect(page.locator("#ballot-roll")).to_contain_text(
        "6 套房屋，专有面积 400.00 m²，共 4 人"
    )
    await expect(page.locator("#announce-form")).to_be_hidden()

    # Opening before the announced day is refused in plain words.
    await page.get_by_role("button", name="开始投票").click()
    await expect(live).to_contain_text("还没到公告的投票开始时间")

    await page.get_by_role("button", name="← 全部表决").click()
    item = page.locator("#ballot-list li.ballot")
    await expect(item).to_have_count(1)
    await expect(item.locator(".badge")).to_have_text("已公告")
    await expect(item.get_by_role("button", name="2027 年度业主大会")).to_be_focused()

    await assert_fits_a_phone(page)

    with assembly.client("chair") as chair:
        (listed,) = ok(chair.get(assembly.path()))  # type: ignore[misc]
    assert listed["state"] == "announced" and listed["objection_days"] == 10
    assert [a["filename"] for a in listed["attachments"]] == ["维修资金筹集方案.pdf"]
    assert [q["matter_class"] for q in listed["questions"]] == [6, 4]
    assert [c["name"] for c in listed["questions"][1]["candidates"]] == ["信达物业", "蓉城物业"]


@BOTH_SIZES
async def test_owner_votes_changes_the_vote_and_checks_receipts(
    assembly: Assembly, web: WebApp
) -> None:
    ballot = assembly.opened_ballot()
    page = web.page
    live = page.locator("#feedback")
    web.expect_status(assembly.path("/"), 404)  # the receipt code nobody was given
    await sign_in_to_voting(web, assembly, "a")
    item = page.locator("#ballot-list li.ballot")
    await expect(item.locator(".badge")).to_have_text("投票中")
    await open_ballot(web, "2027 年度业主大会")
    await expect(page.locator("#ballot-create")).to_be_hidden()
    await expect(page.locator("#ballot-organise")).to_be_hidden()
    await expect(page.locator("#my-receipts")).to_contain_text("您还没有投票")

    budget = page.get_by_role("group", name=re.compile("^议题 1："))
    raise_ = page.get_by_role("group", name=re.compile("^议题 2："))
    company = page.get_by_role("group", name=re.compile("^议题 3："))
    await expect(budget).to_contain_text("参与表决：专有面积和人数均不少于 2/3")
    await expect(raise_).to_contain_text("均不少于 3/4")
    await expect(company).to_contain_text("最多选 1 名")

    # A question left unanswered is named, and its first choice focused.
    await budget.get_by_label("同意").check()
    await page.get_by_role("button", name="提交投票").click()
    await expect(live).to_contain_text("请回答议题 2")
    await expect(raise_.get_by_label("同意")).to_be_focused()
    await raise_.get_by_label("弃权").check()
    await company.get_by_label("信达物业").check()
    # One seat: a second candidate is refused, and the first stays chosen.
    await company.get_by_label("蓉城物业").click()
    await expect(live).to_contain_text("最多只能选 1 名")
    await expect(company.get_by_label("蓉城物业")).not_to_be_checked()
    await expect(company.get_by_label("信达物业")).to_be_checked()
    await page.get_by_role("button", name="提交投票").click()

    await expect(live).to_contain_text("已投票。回执码：")
    await expect(page.locator("#my-receipts-heading")).to_be_focused()
    await expect(page.locator("#my-receipts .keep-hint")).to_contain_text("请保存回执码")
    receipts = page.locator("#my-receipt-list li.receipt")
    await expect(receipts).to_have_count(1)
    await expect(receipts.first).to_contain_text("有效，已计入")
    await expect(receipts.first).to_contain_text("代表 2 套房屋，专有面积 150.00 m²")
    await expect(receipts.first).to_contain_text("议题 3：信达物业")
    first_code = await receipts.first.get_attribute("data-receipt")
    assert first_code and re.fullmatch(r"[0-9A-F]{4}(-[0-9A-F]{4}){3}", first_code)

    # The owner changes the vote: the form keeps the choices, a new receipt supersedes the old.
    await expect(raise_.get_by_label("弃权")).to_be_checked()
    await budget.get_by_label("反对").check()
    await page.get_by_role("button", name="修改投票").click()
    await expect(live).to_contain_text("已修改投票。新的回执码：")
    await expect(receipts).to_have_count(2)
    counted = page.locator("#my-receipt-list li[data-state='counted']")
    superseded = page.locator("#my-receipt-list li[data-state='superseded']")
    await expect(superseded).to_have_attribute("data-receipt", first_code)
    new_code = await counted.get_attribute("data-receipt")
    assert new_code and new_code != first_code
    await expect(superseded).to_contain_text(f"已被 {new_code} 取代，不计入")
    await expect(counted).to_contain_text("议题 1：反对")

    # Anyone checks a code: typed loosely, it is read in its printed form.
    code_field = page.get_by_label("回执码")
    await code_field.fill(first_code.replace("-", "").lower())
    await page.get_by_role("button", name="核对").click()
    result = page.locator("#receipt-result")
    await expect(result).to_contain_text(f"回执 {first_code} 已被 {new_code} 取代，不计入")
    await expect(code_field).to_have_value(first_code)
    await code_field.fill(new_code)
    await page.get_by_role("button", name="核对").click()
    await expect(result).to_contain_text(f"回执 {new_code} 有效，已计入")
    await expect(result).to_contain_text("议题 1：反对")
    await code_field.fill("12345")
    await page.get_by_role("button", name="核对").click()
    await expect(live).to_contain_text("回执码是 16 位数字和字母")
    await code_field.fill("0000-0000-0000-0000")
    await page.get_by_role("button", name="核对").click()
    await expect(result).to_contain_text("这次表决中没有回执 0000-0000-0000-0000")
    await assert_fits_a_phone(page)

    with assembly.client("a") as owner:
        mine = ok(owner.get(assembly.path(f"/{ballot['ballot_id']}/vote")))
    assert [r["receipt_code"] for r in mine["receipts"]] == [new_code, first_code]
    assert [r["state"] for r in mine["receipts"]] == ["counted", "superseded"]


async def test_anyone_reads_a_published_result_and_downloads_it_to_recount(
    assembly: Assembly, web: WebApp, tmp_path: Path
) -> None:
    ballot = assembly.opened_ballot()
    assembly.vote("a", ballot, "yes", "yes", "x")
    assembly.vote("b", ballot, "yes", "no", "y")
    assembly.vote("c", ballot, "no", "abstain", "")
    assembly.at(22 * DAY + 3600)
    page = web.page
    live = page.locator("#feedback")
    web.expect_status(assembly.path("/"), 422)  # finalising while objections are open

    # A committee member closes the vote in the page: counted, published, objections open.
    await sign_in_to_voting(web, assembly, "member")
    await open_ballot(web, "2027 年度业主大会")
    await expect(page.locator("#ballot-state .badge")).to_have_text("投票中")
    await expect(page.locator("#ballot-step-hint")).to_contain_text("截止后立即计票并公布结果")
    await page.get_by_role("button", name="截止并计票").click()
    await expect(live).to_contain_text("投票已截止并计票：计入 3 张回执，结果已公布")
    await expect(page.locator("#ballot-result-heading")).to_be_focused()
    await expect(page.locator("#ballot-state .badge")).to_have_text("已公布结果")
    await page.get_by_role("button", name="确认结果生效").click()
    await expect(live).to_contain_text("才结束，之后才能确认结果生效")

    with assembly.client("b") as owner:
        published = ok(owner.get(assembly.path(f"/{ballot['ballot_id']}/result")))["document"]
        (mine,) = ok(owner.get(assembly.path(f"/{ballot['ballot_id']}/vote")))["receipts"]

    # An owner reads it: every figure in words, the receipts, the document to recount.
    await sign_in_to_voting(web, assembly, "b")
    await expect(page.locator("#ballot-list li.ballot .badge")).to_have_text("已公布结果")
    await open_ballot(web, "2027 年度业主大会")
    await expect(page.locator("#ballot-head")).to_contain_text("异议期到")
    result = page.locator("#ballot-result")
    await expect(result).to_be_visible()
    await expect(page.locator("#vote-form")).to_have_count(0)

    # Voted: A (150 m²), B (100), C+D (100) of 400 m², 3 of 4 persons: participation is met.
    budget = result.locator("article[data-question-id='budget']")
    await expect(budget.locator(".decision")).to_have_text("通过")
    figures = budget.get_by_role("list", name="议题 1 的计票数字").get_by_role("listitem")
    await expect(figures.nth(0)).to_contain_text("参与表决的专有面积")
    await expect(figures.nth(0)).to_contain_text("350.00 m² / 总计 400.00 m²（约 87.50%）")
    await expect(figures.nth(0)).to_contain_text("不少于 2/3")
    await expect(figures.nth(0)).to_contain_text("✓ 达到")
    await expect(figures.nth(1)).to_contain_text("3 / 总计 4 人（约 75.00%）")
    await expect(figures.nth(2)).to_contain_text("250.00 m² / 参与的 350.00 m²（约 71.42%）")
    await expect(figures.nth(2)).to_contain_text("超过 1/2（过半数）")
    await expect(figures.nth(3)).to_contain_text("2 / 参与的 3 人（约 66.66%）")
    await expect(figures.nth(3)).to_contain_text("✓ 达到")
    # Raising the maintenance fund (item 6) needs 3/4: 150 of 350 m² and 1 of 3 persons fall short.
    raise_ = result.locator("article[data-question-id='raise']")
    await expect(raise_.locator(".decision")).to_contain_text("未通过")
    await expect(raise_.locator(".figure-list li").nth(2)).to_contain_text("不少于 3/4")
    await expect(raise_.locator(".figure-list li").nth(2)).to_contain_text("✗ 未达到")
    # The company: x has 150 of 350 m², y 100: neither has more than half.
    company = result.locator("article[data-question-id='company']")
    await expect(company.locator(".decision")).to_contain_text("无人当选")
    await expect(company.locator("li[data-candidate='x']")).to_contain_text("150.00 m²")
    await expect(company.locator("li[data-candidate='x']")).to_contain_text("未当选")

    rows = page.locator("#result-receipts li.receipt")
    await expect(rows).to_have_count(3)
    own = page.locator(f"#result-receipts li[data-receipt='{mine['receipt_code']}']")
    await expect(own).to_contain_text("我的")
    await expect(own).to_contain_text("100.00 m²")
    await expect(own).to_contain_text("议题 1：同意")
    await expect(own).to_contain_text("议题 3：蓉城物业")
    await expect(result).to_contain_text("services/voting/recount.py")

    async with page.expect_download() as started:
        await page.get_by_role("link", name="下载结果文件（JSON）").click()
    download = await started.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert json.loads(saved.read_text(encoding="utf-8")) == published
    recount = subprocess.run(
        [sys.executable, str(ROOT / "services/voting/recount.py"), str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert recount.returncode == 0, recount.stdout + recount.stderr

    # The same page on a 360 px phone, in English: nothing spills sideways, no Chinese left in
    # the page's own words (titles, questions and candidates are the committee's, in Chinese).
    await page.get_by_role("button", name="English").click()
    await expect(budget.locator(".decision")).to_have_text("Approved")
    figures = budget.get_by_role("list", name="Figures of question 1").get_by_role("listitem")
    await expect(figures.nth(0)).to_contain_text("350.00 m² of 400.00 m² in all (about 87.50%)")
    await expect(own).to_contain_text("Question 3: 蓉城物业")
    await assert_fits_a_phone(page)
    frame = await page.locator(
        "#view-voting :is(h1, h3, label, dt, button, summary, .badge, .hint, .figure-need)"
        ":not(#voting-status)"
        ":visible"
    ).all_inner_texts()
    chinese = [text for text in frame if HAN.search(text)]
    assert not chinese, chinese

    # After the objection period the committee makes the result final (the page in English now).
    # Jumping 8 days outlives the open page's session: its last requests may be refused.
    web.expect_status(assembly.path("/"), 401)
    assembly.at(30 * DAY)
    await sign_in_to_voting(web, assembly, "member")
    await open_ballot(web, "2027 年度业主大会")
    await page.get_by_role("button", name="Make the result final").click()
    await expect(live).to_contain_text("The result is final")
    await expect(page.locator("#ballot-state .badge")).to_have_text("Result final")
    await expect(page.locator("#ballot-result")).to_contain_text("This is the final result.")
    await expect(page.locator("#ballot-organise")).to_be_hidden()


async def test_voting_loads_only_when_opened(web: WebApp) -> None:
    loaded: list[str] = []

    def seen(response: Response) -> None:
        loaded.append(response.url)

    web.page.on("response", seen)
    await web.open()
    assert not [url for url in loaded if "voting" in url], loaded
    await web.page.locator('#site-nav a[data-area="voting"]').click()
    await expect(web.page.get_by_role("heading", name="表决", level=1)).to_be_focused()
    await expect(web.page.locator("#voting-status")).to_have_text(
        "请先在“首页”登录，再查看业主大会的表决。"
    )
    assert [url for url in loaded if url.endswith("/voting.js")], loaded
    await web.page.get_by_role("button", name="English").click()
    await expect(web.page.locator("#voting-status")).to_have_text(
        "Please sign in on the Home page first to see the owners' assembly's ballots."
    )


async def test_voting_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/voting-i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("voting.") for key in zh)
    for other in ("/i18n.js", "/ledger-i18n.js", "/fees-i18n.js"):
        shell = await web.page.evaluate(f"import('{other}').then((m) => m.messages['zh-CN'])")
        assert not set(zh) & set(shell), f"voting keys must not shadow those of {other}"
    # Every placeholder of a message is in its translation too.
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key


def tiny_png() -> bytes:
    """A valid 1×1 white PNG: what a phone's scan of a signed ballot is, in miniature."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def answer(scope: Locator, budget: str, raise_: str, company: str) -> None:
    """Fills the three questions of QUESTIONS in a vote form (the owner's or a paper ballot's)."""
    await scope.get_by_role("group", name=re.compile("^议题 1：")).get_by_label(budget).check()
    await scope.get_by_role("group", name=re.compile("^议题 2：")).get_by_label(raise_).check()
    await scope.get_by_role("group", name=re.compile("^议题 3：")).get_by_label(company).check()


async def test_proxy_votes_for_an_owner_until_the_owner_votes(
    assembly: Assembly, web: WebApp
) -> None:
    ballot = assembly.opened_ballot()
    page = web.page
    live = page.locator("#feedback")
    owner, proxy = assembly.usernames["a"], assembly.usernames["b"]
    web.expect_status(assembly.path("/"), 400)  # naming oneself

    # A names a proxy: not themselves; C, revoked; then B.
    await sign_in_to_voting(web, assembly, "a")
    await open_ballot(web, "2027 年度业主大会")
    box = page.locator("#ballot-proxies")
    await expect(box).to_contain_text("您本人投票后以本人为准：代理人为您投的票不再计入")
    name = box.get_by_label("代理人的用户名")
    await name.fill(owner)
    await box.get_by_role("button", name="委托", exact=True).click()
    await expect(live).to_contain_text("不能委托自己")
    await name.fill(assembly.usernames["c"])
    await box.get_by_role("button", name="委托", exact=True).click()
    await expect(live).to_contain_text(f"已委托 {assembly.usernames['c']} 代您投票")
    await expect(page.locator("#proxy-mine")).to_be_focused()
    await box.get_by_role("button", name="撤销委托").click()
    await expect(live).to_contain_text(f"已撤销对 {assembly.usernames['c']} 的委托")
    await expect(page.locator("#proxy-mine")).to_have_count(0)
    await expect(name).to_be_focused()
    await name.fill(proxy)
    await box.get_by_role("button", name="委托", exact=True).click()
    await expect(page.locator("#proxy-mine")).to_contain_text(f"您已委托 {proxy} 代您投票")

    # B sees who named them and votes once for their own flat and, as proxy, for A's two.
    await sign_in_to_voting(web, assembly, "b")
    await open_ballot(web, "2027 年度业主大会")
    await expect(page.locator("#ballot-proxies .marker")).to_contain_text(
        f"以下业主委托您代为投票：{owner}"
    )
    await expect(page.locator("#proxy-form")).to_be_visible()  # B is an owner too
    await answer(page.locator("#vote-form"), "同意", "同意", "信达物业")
    await page.get_by_role("button", name="提交投票").click()
    await expect(live).to_contain_text("已投票。回执码：")
    await expect(page.locator("#my-receipts-heading")).to_be_focused()
    own = page.locator("#my-receipt-list li.receipt")
    await expect(own).to_have_count(1)
    await expect(own).not_to_contain_text("由代理人投票")
    proxied = page.locator("#proxy-receipt-list li.receipt")
    await expect(proxied).to_have_count(1)
    await expect(proxied).to_contain_text("由代理人投票")
    await expect(proxied).to_contain_text("代表 2 套房屋，专有面积 150.00 m²")
    proxy_code = await proxied.get_attribute("data-receipt")
    await assert_fits_a_phone(page)
    await page.set_viewport_size({"width": 1280, "height": 800})

    # A sees the proxy's vote counted for them, then votes: A's own vote prevails.
    await sign_in_to_voting(web, assembly, "a")
    await open_ballot(web, "2027 年度业主大会")
    mine = page.locator("#my-receipt-list li.receipt")
    await expect(mine).to_have_count(1)
    await expect(mine).to_have_attribute("data-receipt", proxy_code or "")
    await expect(mine).to_contain_text("由代理人投票")
    await answer(page.locator("#vote-form"), "反对", "反对", "信达物业")
    await page.get_by_role("button", name="修改投票").click()
    await expect(live).to_contain_text("已修改投票")
    await expect(page.locator("#my-receipt-list li[data-state='superseded']")).to_have_attribute(
        "data-receipt", proxy_code or ""
    )

    # B votes again: only for their own flat now, and the page says why.
    await sign_in_to_voting(web, assembly, "b")
    await open_ballot(web, "2027 年度业主大会")
    await answer(page.locator("#vote-form"), "弃权", "弃权", "信达物业")
    await page.get_by_role("button", name="修改投票").click()
    await expect(live).to_contain_text("委托您的业主中有 1 位已亲自投票，以本人为准")
    await expect(page.locator("#proxy-receipt-list")).to_have_count(0)

    with assembly.client("a") as a:
        receipts = ok(a.get(assembly.path(f"/{ballot['ballot_id']}/vote")))["receipts"]
    assert [(r["channel"], r["state"]) for r in receipts] == [
        ("online", "counted"),
        ("proxy", "superseded"),
    ]
    assert {"question_id": "budget", "answer": "no", "candidate_ids": []} in receipts[0]["choices"]


async def test_committee_enters_a_paper_ballot_with_its_scan(
    assembly: Assembly, web: WebApp, tmp_path: Path
) -> None:
    ballot = assembly.opened_ballot()
    page = web.page
    live = page.locator("#feedback")
    scan = tmp_path / "ballot-1-104.png"
    scan.write_bytes(tiny_png())
    (tmp_path / "notes.txt").write_text("not a scan")

    await sign_in_to_voting(web, assembly, "member")
    await open_ballot(web, "2027 年度业主大会")
    paper = page.locator("#ballot-paper")
    await expect(paper).to_be_visible()
    await expect(page.locator("#vote-form")).to_have_count(0)  # a member without a flat
    await paper.get_by_label("扫描件").set_input_files(str(tmp_path / "notes.txt"))
    await paper.get_by_label("房屋").select_option(label="1栋 1-104 · 100.00 m²")
    await answer(paper, "同意", "反对", "蓉城物业")
    await paper.get_by_role("button", name="录入这张票").click()
    await expect(live).to_contain_text("扫描件须为 JPEG、PNG 或 PDF")
    await expect(paper.get_by_label("扫描件")).to_be_focused()
    await paper.get_by_label("扫描件").set_input_files(str(scan))
    await paper.get_by_role("button", name="录入这张票").click()

    await expect(live).to_contain_text("已录入 1栋 1-104 · 100.00 m² 的纸质票。回执码：")
    await expect(page.locator("#paper-done-heading")).to_be_focused()
    entered = page.locator("#paper-list li.receipt")
    await expect(entered).to_have_count(1)
    await expect(entered).to_contain_text("纸质表决票，由业委会录入")
    await expect(entered).to_contain_text("议题 3：蓉城物业")
    await expect(paper.get_by_label("房屋")).to_have_value("")  # ready for the next ballot
    await entered.get_by_role("button", name="查看扫描件").click()
    link = entered.get_by_role("link", name="打开扫描件")
    await expect(link).to_be_focused()
    await expect(link).to_have_attribute("href", re.compile("^blob:"))
    code = await entered.get_attribute("data-receipt")
    await assert_fits_a_phone(page)

    digest = hashlib.sha256(tiny_png()).hexdigest()
    with assembly.client("c") as co_owner:
        (receipt,) = ok(co_owner.get(assembly.path(f"/{ballot['ballot_id']}/vote")))["receipts"]
    assert receipt["receipt_code"] == code
    assert (receipt["channel"], receipt["scan_sha256"]) == ("paper", digest)
    with assembly.client("chair") as chair:
        kept = chair.get(assembly.path(f"/{ballot['ballot_id']}/scans/{digest}"))
    assert kept.status_code == 200 and kept.content == tiny_png()


async def test_roll_is_shown_unit_by_unit_to_the_committee_and_in_totals_to_owners(
    assembly: Assembly, web: WebApp
) -> None:
    assembly.announced_ballot()
    page = web.page
    await sign_in_to_voting(web, assembly, "member")
    await open_ballot(web, "2027 年度业主大会")
    table = page.get_by_role("table", name="6 套房屋，专有面积 400.00 m²，共 4 人")
    await expect(table.locator("tbody tr")).to_have_count(6)
    # A's two flats, B's, C and D's co-owned one, the developer's two parking spaces.
    holdings = table.locator("tbody")
    await expect(holdings).to_have_count(4)
    await expect(holdings.nth(0).locator("th")).to_have_text(["1栋 1-101", "1栋 1-102"])
    await expect(holdings.nth(0)).to_contain_text("第 1 人（2 套）")
    await expect(holdings.nth(2)).to_contain_text("2 人")
    await expect(holdings.nth(3).locator("th")).to_have_text(["P P-01", "P P-02"])
    await expect(holdings.nth(3)).to_contain_text("第 4 人（2 套）")
    await assert_fits_a_phone(page)
    await page.set_viewport_size({"width": 1280, "height": 800})

    await sign_in_to_voting(web, assembly, "a")
    await open_ballot(web, "2027 年度业主大会")
    await expect(page.locator("#ballot-roll")).to_contain_text("6 套房屋，专有面积 400.00 m²")
    await expect(page.locator("#ballot-rollbook")).to_contain_text("对名册有异议，请向业委会提出")
    await expect(page.locator("#ballot-rollbook table")).to_have_count(0)


async def test_owners_petition_for_an_extraordinary_assembly_the_committee_calls(
    assembly: Assembly, web: WebApp, api: httpx.Client
) -> None:
    # Six more owners: ten persons, so two signatures make the fifth.
    extra = "".join(f"2栋,2-10{i},residential,80.00,业主{i},person,,\n" for i in range(1, 7))
    ok(
        api.post(
            f"/api/v1/estates/{assembly.estate_id}/imports",
            content=(CSV.splitlines(keepends=True)[0] + extra).encode(),
            headers={"content-type": "text/csv"},
            timeout=60,
        )
    )
    page = web.page
    live = page.locator("#feedback")
    await sign_in_to_voting(web, assembly, "a")
    petitions = page.locator("#petitions-panel")
    await expect(petitions).to_contain_text("需至少五分之一的业主人数联署")
    await expect(page.locator("#petition-list")).to_contain_text("还没有联署")
    await petitions.get_by_label("联署标题").fill("更换物业服务企业")
    await petitions.get_by_label("要求大会决定的事项和理由").fill("服务不达标，要求改选")
    await petitions.get_by_role("button", name="发起联署").click()
    await expect(live).to_contain_text("已发起联署“更换物业服务企业”")
    item = page.locator("#petition-list li.petition")
    await expect(item.get_by_role("heading", name="更换物业服务企业")).to_be_focused()
    await expect(item).to_contain_text("征集中")
    await expect(item).to_contain_text("已联署 1 人，共 10 人，需至少 2 人")
    await expect(item).to_contain_text("您已联署")
    await expect(item.get_by_role("button", name="联署")).to_have_count(0)

    await sign_in_to_voting(web, assembly, "b")
    await item.get_by_role("button", name="联署").click()
    await expect(live).to_contain_text("2 / 10 人，达到五分之一，业委会须召集临时业主大会")
    await expect(item).to_have_attribute("data-state", "reached")
    await expect(item).to_contain_text("业委会须召集临时业主大会")
    await expect(item).to_contain_text("您已联署")

    # The chair drafts the extraordinary assembly's ballot, called by the petition, announces it.
    await sign_in_to_voting(web, assembly, "chair")
    await expect(item.get_by_role("button", name="联署")).to_have_count(0)  # not an owner
    await page.get_by_label("由业主联署召集（可选）").select_option(label="更换物业服务企业")
    await page.get_by_label("表决标题").fill("临时业主大会")
    await page.locator("#question-rows").get_by_label("议题内容").fill("解聘现物业服务企业")
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.locator("#ballot-title")).to_have_text("临时业主大会")
    await expect(page.locator("#ballot-head")).to_contain_text("更换物业服务企业")
    await page.get_by_role("button", name="公告", exact=True).click()
    await expect(live).to_contain_text("已公告")
    await page.get_by_role("button", name="← 全部表决").click()
    await expect(item).to_have_attribute("data-state", "answered")
    await expect(item).to_contain_text("已召集")
    await item.get_by_role("button", name="查看召集的表决").click()
    await expect(page.locator("#ballot-title")).to_have_text("临时业主大会")
    await expect(page.locator("#ballot-title")).to_be_focused()

    with assembly.client("chair") as chair:
        (called,) = ok(chair.get(assembly.path()))  # type: ignore[misc]
        (petition,) = ok(chair.get(f"/api/v1/estates/{assembly.estate_id}/petitions"))  # type: ignore[misc]
    assert called["petition_id"] == petition["petition_id"]
    assert (petition["state"], petition["ballot_id"]) == ("answered", called["ballot_id"])
