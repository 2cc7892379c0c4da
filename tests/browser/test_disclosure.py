"""公示 (the monthly report) in a real browser: a month is posted through the API (itemised
advertising income, parking as one lump sum, a cleaning bill paid with its voucher) and a
satisfaction survey answered and closed; an owner picks the month and reads the same figures
the JSON report gives, with the lump sum flagged, the month's satisfaction against the baseline,
and downloads the CSV, the PDF and the printable notice; the accountant explains the flag in
the page and the owner reads the explanation; the community supervisor sees the community's and
the street's dashboards by name, and the operator the city's with each community named."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, WebApp
from tests.browser.steps import (
    BOTH_SIZES,
    create_ledger_estate,
    create_user,
    next_totp,
    server_time,
    sign_in,
    sign_in_as_operator,
    sign_out,
    user_client,
)
from tests.browser.test_ledger import HAN, estate_path
from tests.ledger.test_vouchers import png, upload
from tests.poll import eventually

if TYPE_CHECKING:
    from playwright.async_api import Page

    from xinyi_dev.platform import Platform

SHANGHAI = ZoneInfo("Asia/Shanghai")
LUMP_FEN = 240_000
CLEANING_FEN = 52_300
EXPLANATION = "停车费由道闸公司按月汇总转入，明细下月补录。"


def hundredths(value: Fraction) -> str:
    """Two decimals, half up (the figures are positive here)."""
    n = int(value * 100 + Fraction(1, 2))
    return f"{n // 100}.{n % 100:02d}"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d} 元"


def survey_the_month(api: httpx.Client, platform: Platform, world: dict[str, Any]) -> list[int]:
    """A baseline of 30.0% satisfaction on joining, then a survey the manager publishes, the
    owner and a tenant answer and the manager closes; returns their answers to its satisfaction
    question."""
    estate = world["estate_id"]
    recorded = api.post(
        f"/api/v1/estates/{estate}/onboarding",
        json={
            "working_group": [{"name": "周书记", "affiliation": "社区党委"}],
            "situation": {"arrangement": "lump_sum"},
            "baseline": {
                "payment_rate_permille": 500,
                "open_disputes": 3,
                "satisfaction_permille": 300,
            },
        },
    )
    assert recorded.status_code == 201, recorded.text
    tenant = create_user(api, "tenant")
    granted = api.post(
        "/api/v1/role-grants",
        json={"user_id": tenant["user_id"], "role": "tenant", "estate_id": estate},
    )
    assert granted.status_code == 201, granted.text
    closes = datetime.fromtimestamp(server_time(platform), SHANGHAI) + timedelta(days=3)
    with user_client(platform, world["users"]["manager"]) as manager:
        survey = manager.post(
            estate_path(world, "/surveys"),
            json={
                "title": "本月物业服务满意度",
                "questions": [{"text": "总体满意度", "kind": "scale"}],
                "closes_at": closes.isoformat(),
            },
        )
        assert survey.status_code == 201, survey.text
        url = estate_path(world, f"/surveys/{survey.json()['survey_id']}")
        answers = [5, 2]
        for person, value in zip((world["users"]["owner"], tenant), answers, strict=True):
            with user_client(platform, person) as client:
                answered = client.put(
                    f"{url}/answer", json={"answers": [{"question_id": "q1", "value": value}]}
                )
                assert answered.status_code == 200, answered.text
        closed = manager.post(f"{url}/close")
        assert closed.status_code == 200, closed.text
    return answers


def post_a_month(platform: Platform, world: dict[str, Any], period: str) -> str:
    """Itemised advertising income, a lump sum of parking and a cleaning bill paid with its
    voucher (approved by a committee member with TOTP); returns the voucher's sha256."""
    users = world["users"]
    with user_client(platform, users["accountant"]) as acc:
        items = [
            {"description": f"电梯广告 {d} 号", "amount_fen": 10_000 + d * 137, "occurred_on": day}
            for d, day in ((1, f"{period}-01"), (2, f"{period}-01"))
        ]
        for body in (
            {
                "source": "advertising",
                "amount_fen": sum(i["amount_fen"] for i in items),
                "description": f"{period} 广告收入",
                "items": items,
            },
            {"source": "parking", "amount_fen": LUMP_FEN, "description": f"{period} 停车收入"},
        ):
            posted = acc.post(estate_path(world, "/ledger/entries"), json=body)
            assert posted.status_code == 201, posted.text
        uploaded = upload(acc, world["estate_id"], png(period), "image/png", kind="invoice")
        assert uploaded.status_code in (200, 201), uploaded.text
        sha = str(uploaded.json()["sha256"])
        asked = acc.post(
            estate_path(world, "/disbursements"),
            json={
                "amount_fen": CLEANING_FEN,
                "payee": "成都锦城保洁服务有限公司",
                "purpose": f"{period} 保洁",
                "expense_code": "5002",
                "voucher_sha256": [sha],
            },
        )
        assert asked.status_code == 201, asked.text
        request = estate_path(world, f"/disbursements/{asked.json()['disbursement_id']}")
        member = users["member"]
        with user_client(platform, member, next_totp(member, platform)) as client:
            approved = client.post(
                f"{request}/approvals", json={"totp": next_totp(member, platform)}
            )
            assert approved.status_code in (200, 201), approved.text
        paid = acc.post(f"{request}/payment", json={"bank_evidence": "BANK-REF-DISCLOSURE"})
        assert paid.status_code in (200, 201), paid.text
    return sha


async def open_reports(page: Page, month: str) -> None:
    await page.locator('#site-nav a[data-area="reports"]').click()
    await expect(page.get_by_role("heading", name="公示", level=1)).to_be_visible()
    await page.get_by_label("月份").fill(month)
    await page.get_by_role("button", name="查看", exact=True).click()
    await expect(page.locator("#feedback")).to_contain_text(f"{month} 的月度公示")


@BOTH_SIZES
async def test_the_monthly_report_its_flag_download_and_the_dashboards(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    world = create_ledger_estate(api, platform)
    users = world["users"]
    supervisor = create_user(api, "supervisor")
    granted = api.post(
        "/api/v1/role-grants",
        json={
            "user_id": supervisor["user_id"],
            "role": "community_supervisor",
            "community_id": world["community_id"],
        },
    )
    assert granted.status_code == 201, granted.text
    period = datetime.fromtimestamp(server_time(platform), SHANGHAI).strftime("%Y-%m")
    sha = post_a_month(platform, world, period)
    answers = survey_the_month(api, platform, world)
    # Satisfied are the answers of 4 or 5; against the baseline's 30.00%, in points.
    share = Fraction(sum(1 for a in answers if a >= 4) * 100, len(answers))
    satisfaction, points = hundredths(share), hundredths(share - 30)
    report_path = estate_path(world, f"/reports/monthly/{period}")
    with user_client(platform, users["owner"]) as owner:

        def caught_up() -> dict[str, Any] | None:
            reply = owner.get(report_path)
            if reply.status_code != 200:
                return None
            got: dict[str, Any] = reply.json()
            posted = [d for d in got["disbursements"] if d["state"] == "posted"]
            kinds = {f["kind"] for f in got["flags"]}
            done = posted and len(got["income"]) == 2 and "lump_sum_income" in kinds
            return got if done else None

        report = eventually(caught_up, what="disclosure catching up with the month")
        eventually(
            lambda: (
                owner.get(estate_path(world, "/kpis"), params={"months": 1}).json()["months"][0][
                    "satisfaction_answers"
                ]
                == len(answers)
            ),
            what="the survey reaching disclosure",
        )
    fund = report["fund"]
    assert fund["income_fen"] == LUMP_FEN + sum(10_000 + d * 137 for d in (1, 2))
    assert {g["source"] for g in report["income"]} == {"advertising", "parking"}
    flag = next(f for f in report["flags"] if f["kind"] == "lump_sum_income")

    page = web.page
    live = page.locator("#feedback")
    await web.open()

    # An owner picks the month (last month is shown first) and reads what was posted.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await page.locator('#site-nav a[data-area="reports"]').click()
    await expect(page.get_by_label("月份")).to_be_visible()
    # A month being picked outlives the view's redrawing (here a language switch's; as often
    # a load's that ends meanwhile): the report shown is the month picked.
    await page.get_by_label("月份").fill(period)
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#dis-month")).to_have_value(period)
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("#dis-month")).to_have_value(period)
    await open_reports(page, period)
    for fig, fen in (
        ("opening", fund["opening_fen"]),
        ("income", fund["income_fen"]),
        ("expense", fund["expense_fen"]),
        ("closing", fund["closing_fen"]),
    ):
        await expect(page.locator(f"#dis-fund [data-fig='{fig}'] dd")).to_have_text(yuan(fen))
    chart = page.locator("#dis-chart")
    await expect(chart).to_have_attribute("role", "img")
    await expect(chart).to_have_attribute("aria-label", re.compile(yuan(fund["income_fen"])))
    parking = page.locator("#dis-income li[data-source='parking']")
    await expect(parking).to_contain_text("一笔总数")
    await expect(parking).to_contain_text(yuan(LUMP_FEN))
    advertising = page.locator("#dis-income li[data-source='advertising']")
    await advertising.locator("summary").click()
    await expect(advertising.locator(".entry-items li")).to_have_count(2)
    await expect(advertising).to_contain_text(yuan(10_137))
    cleaning = page.locator("#dis-expenses li[data-account='5002']")
    await expect(cleaning).to_contain_text(yuan(CLEANING_FEN))
    await cleaning.locator("summary").click()
    await expect(cleaning.locator("code.hash")).to_have_attribute("title", sha)
    await expect(cleaning.locator("code.hash")).to_contain_text(sha[:8])
    shown = page.locator(f"#dis-flags li[data-flag-id='{flag['flag_id']}']")
    await expect(shown).to_contain_text("收入只有总数")
    await expect(shown).to_contain_text(flag["reason"])
    await expect(shown).to_contain_text("待说明")
    await expect(page.locator("#dis-flags textarea")).to_have_count(0)
    await expect(page.locator("#dis-kpis-table")).to_be_visible()
    # The month's satisfaction from the survey, against the baseline, in the table and chart.
    against = page.locator(f"#dis-kpis-against tr[data-vs-month='{period}']")
    await expect(against).to_contain_text(f"{satisfaction}%")
    await expect(against).to_contain_text(f"+{points} 个百分点")
    await expect(page.locator("#dis-kpis-satisfaction")).to_have_attribute(
        "aria-label", re.compile(f"{period} {satisfaction}%.*30.00%")
    )

    # The CSV download, by fetch with the token in a header (never in the address).
    async with page.expect_download() as info:
        await page.get_by_role("button", name="下载 CSV 表格").click()
    download = await info.value
    assert download.suggested_filename == f"report-{period}.csv"
    assert "token" not in download.url
    path = await download.path()
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert "报告信息" in text and "保洁费用" in text
    await expect(live).to_have_text(f"已下载 report-{period}.csv。")
    # The PDF report and the printable notice, the same way.
    for button, name in (
        ("下载 PDF 报告", f"report-{period}.pdf"),
        ("下载公示单（A4）", f"report-{period}.notice.pdf"),
    ):
        async with page.expect_download() as info:
            await page.get_by_role("button", name=button).click()
        download = await info.value
        assert download.suggested_filename == name
        pdf = (await download.path()).read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
        await expect(live).to_have_text(f"已下载 {name}。")

    # It fits a small phone, in both languages.
    size_before = page.viewport_size or DESKTOP
    await page.set_viewport_size({"width": 360, "height": 740})
    for button in ("English", "中文"):
        width = await page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        assert width <= 360, (button, width)
        await page.get_by_role("button", name=button).click()
    await page.set_viewport_size(size_before)
    await sign_out(web)

    # The accountant explains the flag in the page.
    await sign_in(web, users["accountant"]["username"], users["accountant"]["password"])
    await open_reports(page, period)
    await shown.get_by_role("button", name="提交“收入只有总数”的说明").click()
    await expect(live).to_have_text("请先写下说明。")
    await shown.get_by_label("说明（业主可见）").fill(EXPLANATION)
    await shown.get_by_role("button", name="提交“收入只有总数”的说明").click()
    await expect(live).to_have_text("已提交“收入只有总数”的说明，业主可以看到。")
    await expect(shown).to_contain_text("已说明")
    await expect(shown.locator("[data-fig='explanation'] dd")).to_have_text(EXPLANATION)
    await sign_out(web)

    # The owner reads it, in both languages.
    await sign_in(web, users["owner"]["username"], users["owner"]["password"])
    await open_reports(page, period)
    await expect(shown.locator("[data-fig='explanation'] dd")).to_have_text(EXPLANATION)
    await page.get_by_role("button", name="English").click()
    await expect(shown).to_contain_text("Income as a lump sum")
    await expect(shown).to_contain_text("explained")
    await page.get_by_role("button", name="中文").click()
    await sign_out(web)

    # The community supervisor: the community's dashboard by name with the estate counted, and
    # the street's, where theirs is the one community shown.
    with user_client(platform, supervisor) as client:
        theirs = client.get(f"/api/v1/communities/{world['community_id']}/kpis").json()
    assert theirs["estates"] == 1
    named = theirs["scope"]
    assert named["name"].startswith("测试社区") and named["street_name"].startswith("测试街道")
    await sign_in(web, supervisor["username"], supervisor["password"])
    await page.locator('#site-nav a[data-area="reports"]').click()
    community = page.locator(f"#dis-community-{world['community_id']}")
    await expect(community.get_by_role("heading", name="社区指标")).to_be_visible()
    await expect(community).to_contain_text(f"{named['name']}（{named['street_name']}）")
    await expect(community.locator("[data-fig='estates'] dd")).to_have_text("1")
    await expect(community.locator(f"tr[data-month='{period}']")).to_be_visible()
    await expect(
        community.locator(
            f"#dis-community-{world['community_id']}-against tr[data-vs-month='{period}']"
        )
    ).to_contain_text(f"{satisfaction}%")
    street = page.locator(f"#dis-street-{named['street_id']}")
    await expect(street.get_by_role("heading", name="街道指标")).to_be_visible()
    await expect(street).to_contain_text(named["street_name"])
    parts = street.locator("tr[data-community]")
    await expect(parts).to_have_count(1)
    await expect(parts).to_contain_text(named["name"])
    await expect(parts).to_contain_text(f"{satisfaction}%")

    # The supervisor follows the flag to the entry behind it, opened in the fund's journal.
    flagged = page.locator(f"#dis-flags li[data-flag-id='{flag['flag_id']}']")
    await flagged.get_by_role("link", name="查看“收入只有总数”的相关记录 1").click()
    entry_id = flag["entry_ids"][0]
    await expect(page).to_have_url(re.compile(f"#/fund/{world['estate_id']}/entries/{entry_id}$"))
    await expect(page.locator(f"#entry-{entry_id}")).to_have_attribute("open", "")
    await expect(page.locator(f"#entry-{entry_id} summary")).to_be_focused()
    await sign_out(web)

    # The operator: the city's dashboard.
    city = api.get("/api/v1/kpis").json()
    await sign_in_as_operator(web, platform)
    await page.locator('#site-nav a[data-area="reports"]').click()
    board = page.locator("#dis-city")
    await expect(board.get_by_role("heading", name="全市指标")).to_be_visible()
    await expect(board.locator("[data-fig='estates'] dd")).to_have_text(str(city["estates"]))
    await expect(board.locator(f"tr[data-month='{period}']")).to_be_visible()
    await expect(board.locator("#dis-city-chart")).to_have_attribute(
        "aria-label", re.compile(period)
    )
    ours = board.locator(f"#dis-city-parts tr[data-community='{world['community_id']}']")
    await expect(ours).to_contain_text(named["name"])
    await expect(ours).to_contain_text(named["street_name"])


async def test_disclosure_messages_exist_in_both_languages(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/disclosure-i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    assert not [key for key, value in en.items() if HAN.search(value)]
    assert all(key.startswith("dis.") for key in zh)
    shell = await web.page.evaluate("import('/i18n.js').then((m) => m.messages['zh-CN'])")
    assert not set(zh) & set(shell), "disclosure keys must not shadow the shell's"
    for key, text in zh.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
