"""The demo estate's owners' voice over the last two months, through the REST API as its people:
an annual assembly announced, voted (online and on paper) and final, whose budget the ledger
then holds approved; an assembly open for votes now; a monthly meeting held with minutes and one
to come; suggestions in every state (one overdue); a tender whose bids are revealed; a survey;
a petition collecting signatures.

An assembly needs 15 days' notice, so this runs on the platform's demo clock: the caller starts
the platform with the clock `start_days` in the past and hands in `move(seconds)`, which sets
the offset; each step moves it forward, and the last leaves it at zero (the real time).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from xinyi_dev.democity import DEMO_PASSWORD, check_reply
from xinyi_dev.demofund import _voucher_png

DAY = 24 * 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")
START_DAYS = 60  # the demo clock starts this many days ago


class _Person:
    """One demo person's session on the moving clock: a refresh before each step gives a token
    of the step's time (sign-ins are rate limited; refreshes are not)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120)
        self.username, self.password = username, password
        self.refresh = ""

    def fresh(self) -> None:
        if self.refresh:
            got = self.client.post("/api/v1/auth/refresh", json={"refresh_token": self.refresh})
            if got.is_success:
                self._use(got.json())
                return
        got = self.client.post(
            "/api/v1/auth/token", json={"username": self.username, "password": self.password}
        )
        check_reply(got, f"sign in as {self.username}")
        self._use(got.json())

    def _use(self, body: dict[str, Any]) -> None:
        self.client.headers["Authorization"] = f"Bearer {body['access_token']}"
        self.refresh = body.get("refresh_token", "")

    def call(self, method: str, path: str, what: str, **kw: Any) -> Any:
        reply = self.client.request(method, path, **kw)
        check_reply(reply, what)
        return reply.json() if reply.content else None


def seed_voice(
    gateway_url: str,
    operator_password: str,
    estate_id: str,
    move: Callable[[float], None],
    *,
    seed: int = 2019,
) -> bool:
    """Generates the estate's voice once: False (and nothing done) when it has ballots already."""
    rng = random.Random(seed)
    real_now = datetime.now(UTC)
    people: dict[str, _Person] = {}

    def who(username: str) -> _Person:
        if username not in people:
            password = operator_password if username == "operator" else DEMO_PASSWORD
            people[username] = _Person(gateway_url, username, password)
        person = people[username]
        person.fresh()
        return person

    def at(days: float) -> datetime:
        """Moves the demo clock to `days` relative to the real now (negative: the past)."""
        move(days * DAY)
        return real_now + timedelta(days=days)

    def day_of(moment: datetime) -> str:
        return moment.astimezone(SHANGHAI).date().isoformat()

    base = f"/api/v1/estates/{estate_id}"
    try:
        if who("demo-chair").call("GET", f"{base}/ballots", "list ballots"):
            return False
        at(-START_DAYS + 0.5)
        _run(rng, who, at, day_of, base, estate_id, real_now)
    finally:
        move(0)
        for person in people.values():
            person.client.close()
    return True


def _run(
    rng: random.Random,
    who: Callable[[str], _Person],
    at: Callable[[float], datetime],
    day_of: Callable[[datetime], str],
    base: str,
    estate_id: str,
    real_now: datetime,
) -> None:
    year = real_now.astimezone(SHANGHAI).year + 1

    # -- the annual assembly: next year's budget, the contract, raising the maintenance fund --
    at(-50)
    budget = who("demo-manager").call(
        "PUT",
        f"{base}/budgets/{year}",
        f"draft the {year} budget",
        json={
            "lines": [
                {
                    "line_id": "staff",
                    "name": "人员费用",
                    "expense_code": "5001",
                    "amount_fen": 38_400_000,
                },
                {
                    "line_id": "cleaning",
                    "name": "保洁",
                    "expense_code": "5002",
                    "amount_fen": 9_600_000,
                },
                {
                    "line_id": "greening",
                    "name": "绿化养护",
                    "expense_code": "5003",
                    "amount_fen": 2_400_000,
                },
                {
                    "line_id": "repairs",
                    "name": "维修",
                    "expense_code": "5005",
                    "amount_fen": 8_000_000,
                },
                {
                    "line_id": "utilities",
                    "name": "公区水电",
                    "expense_code": "5006",
                    "amount_fen": 3_600_000,
                },
            ]
        },
    )
    chair = who("demo-chair")
    annual = chair.call(
        "POST",
        f"{base}/ballots",
        "draft the annual assembly",
        json={
            "title": f"{year - 1} 年度业主大会",
            "description": "审议下一年度共有基金预算、续聘物业服务企业、续筹专项维修资金。",
            "questions": [
                {
                    "question_id": "budget",
                    "text": f"批准 {year} 年度共有基金预算（合计 62.00 万元）",
                    "matter_class": 9,
                    "subject": {"kind": "budget", "id": budget["budget_id"]},
                },
                {
                    "question_id": "contract",
                    "text": "续聘现物业服务企业，信托制物业服务合同续期三年",
                    "matter_class": 4,
                },
                {
                    "question_id": "raise",
                    "text": "按每平方米 30 元续筹专项维修资金",
                    "matter_class": 6,
                },
            ],
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:annual"},
    )
    now = at(-49.9)
    chair = who("demo-chair")
    chair.call(
        "POST",
        f"{base}/ballots/{annual['ballot_id']}/announce",
        "announce the annual assembly",
        json={
            "voting_opens_at": (now + timedelta(days=16)).isoformat(),
            "voting_closes_at": (now + timedelta(days=23)).isoformat(),
        },
    )

    # -- last month's meeting, held, with minutes; a point becomes a suggestion --
    now = at(-46)
    meeting = who("demo-chair").call(
        "POST",
        f"{base}/meetings",
        "schedule the monthly meeting",
        json={
            "title": "月度联席会",
            "starts_at": (now + timedelta(days=4)).isoformat(),
            "place": "小区党群服务站二楼会议室",
            "agenda": ["物业上月工作报告", "共有基金收支公示", "业主意见与建议"],
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:meeting-1"},
    )
    at(-45)
    who("demo-manager").call(
        "PUT",
        f"{base}/meetings/{meeting['meeting_id']}/report",
        "post the work report",
        json={
            "report": "上月完成：2 栋电梯维保两次、绿化修剪一次、地下车库照明更换 36 盏；"
            "物业费收缴率 91.2%；处理报修 47 件，平均 1.6 天办结。"
        },
    )
    at(-41.9)
    held = who("demo-chair").call(
        "POST",
        f"{base}/meetings/{meeting['meeting_id']}/minutes",
        "publish the minutes",
        json={
            "minutes": "到会：业委会 5 人、物业项目经理、社区代表、业主代表 8 人。"
            "物业报告上月工作，业主代表询问停车收入明细，物业承诺按日公示。",
            "points": ["东门道闸高峰期拥堵，建议增加一条出口车道", "停车收入按日明细公示"],
        },
    )
    who("demo-chair").call(
        "POST",
        f"{base}/meetings/{meeting['meeting_id']}/points/{held['points'][0]['point_id']}/suggestion",
        "turn a point into a suggestion",
        json={},
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:meeting-1-point"},
    )

    # -- suggestions and complaints in every state --
    at(-40)
    owner = who("demo-owner")
    raised: dict[str, str] = {}
    for key, kind, title, body in (
        (
            "lamp",
            "complaint",
            "3 栋楼道灯坏了两周",
            "3 栋 2 单元 4-6 楼楼道灯不亮，夜间上下楼不安全。",
        ),
        ("bins", "suggestion", "垃圾分类点加装洗手池", "建议在北门垃圾分类点加装一个洗手池。"),
        ("gate", "complaint", "东门门禁经常失灵", "刷卡后门禁时开时不开，老人进出不便。"),
        ("bench", "suggestion", "中心花园增加座椅", "中心花园座椅太少，傍晚老人孩子多。"),
        ("leak", "complaint", "地下车库 B 区渗水", "B 区 120 号车位上方渗水，车顶已有水渍。"),
        ("dog", "suggestion", "文明养犬提示牌", "建议在草坪入口设文明养犬提示牌和拾便袋。"),
        ("noise", "complaint", "夜间施工噪音", "1 栋有住户夜间 10 点后装修，影响休息。"),
    ):
        item = owner.call(
            "POST",
            f"{base}/suggestions",
            f"submit {key}",
            json={"kind": kind, "title": title, "body": body},
            headers={"Idempotency-Key": f"demo-voice:{estate_id}:suggestion:{key}"},
        )
        raised[key] = item["suggestion_id"]

    def step(username: str, key: str, action: str, body: dict[str, Any]) -> None:
        who(username).call(
            "POST", f"{base}/suggestions/{raised[key]}/{action}", f"{action} {key}", json=body
        )

    due = at(-38)
    step("demo-manager", "lamp", "answer", {"text": "已安排电工，本周内更换灯具。"})
    step(
        "demo-manager",
        "gate",
        "commitment",
        {"text": "更换门禁读卡模块", "due_on": day_of(due + timedelta(days=10))},
    )
    step(
        "demo-manager",
        "leak",
        "commitment",
        {"text": "排查顶板防水并修补", "due_on": day_of(due + timedelta(days=20))},
    )
    step(
        "demo-manager",
        "noise",
        "commitment",
        {"text": "约谈装修住户并张贴施工时间规定", "due_on": day_of(due + timedelta(days=7))},
    )
    at(-35)
    step(
        "demo-manager",
        "dog",
        "commitment",
        {"text": "制作提示牌并配置拾便袋箱", "due_on": day_of(due + timedelta(days=12))},
    )
    at(-33)
    step("demo-manager", "gate", "rectification", {"text": "读卡模块已更换，连续三天测试正常。"})
    step(
        "demo-manager", "dog", "rectification", {"text": "草坪入口已设 4 块提示牌和 2 个拾便袋箱。"}
    )
    step("demo-manager", "noise", "rectification", {"text": "已约谈并张贴公告。"})
    at(-31)
    step("demo-owner", "gate", "confirmation", {"text": "已恢复正常，谢谢。"})
    step("demo-owner", "noise", "reopening", {"text": "上周仍有两晚 11 点后电钻声。"})
    at(-20)
    step(
        "demo-manager",
        "bench",
        "commitment",
        {
            "text": "采购 6 张户外座椅",
            "due_on": day_of(real_now + timedelta(days=15)),
        },
    )

    # -- the annual assembly: open, votes online and on paper, closed, final --
    at(-33.9)
    ballot = annual["ballot_id"]
    chair = who("demo-chair")
    chair.call("POST", f"{base}/ballots/{ballot}/open", "open the annual assembly")
    _votes(rng, who, base, ballot, share=0.82, yes={"budget": 0.86, "contract": 0.8, "raise": 0.7})
    at(-26.9)
    who("demo-chair").call("POST", f"{base}/ballots/{ballot}/close", "close the annual assembly")
    at(-19.5)
    who("demo-chair").call(
        "POST", f"{base}/ballots/{ballot}/finalize", "make the annual assembly's result final"
    )

    # -- a tender for the clubhouse's management, bids revealed --
    now = at(-18)
    tender = who("demo-chair").call(
        "POST",
        f"{base}/tenders",
        "draft the tender",
        json={
            "title": "会所及泳池运营管理招标",
            "service_standard": "泳池开放期每日水质检测两次并公示；会所每日开放 12 小时。",
            "scope": "会所、泳池及其设备的运营、保洁与安全管理。",
            "term_months": 24,
            "closes_at": (now + timedelta(days=14)).isoformat(),
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:tender"},
    )
    who("demo-chair").call(
        "POST", f"{base}/tenders/{tender['tender_id']}/publish", "publish the tender"
    )
    at(-12)
    who("demo-manager").call(
        "POST",
        f"/api/v1/tenders/{tender['tender_id']}/bids",
        "bid for the tender",
        json={
            "remuneration_ratio": "1/10",
            "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "250"}],
            "staffing": [{"role": "救生员", "count": 3}, {"role": "保洁", "count": 2}],
            "references": "现为本小区物业服务企业（信托制）。",
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:bid-own"},
    )

    at(-11)
    bidder = _second_bidder(who, estate_id)
    bidder.call(
        "POST",
        f"/api/v1/tenders/{tender['tender_id']}/bids",
        "a second company bids",
        json={
            "remuneration_monthly_fen": 1_800_000,
            "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "230"}],
            "staffing": [
                {"role": "救生员", "count": 2},
                {"role": "保洁", "count": 2},
                {"role": "设备维护", "count": 1},
            ],
            "references": "管理成华区三个小区的会所与泳池，连续两年水质抽检全部合格。",
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:bid-other"},
    )

    # -- the assembly open now: charging piles in the car park --
    now = at(-19)
    second = who("demo-chair").call(
        "POST",
        f"{base}/ballots",
        "draft the charging-pile assembly",
        json={
            "title": "地下车库增设新能源汽车充电桩",
            "description": "利用共有部分增设 40 个充电桩，由运营商投资建设，"
            "场地费归全体业主共有基金。",
            "questions": [
                {
                    "question_id": "chargers",
                    "text": "同意在地下车库 B 区增设 40 个充电桩（改变共有部分用途）",
                    "matter_class": 8,
                }
            ],
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:chargers"},
    )
    who("demo-chair").call(
        "POST",
        f"{base}/ballots/{second['ballot_id']}/announce",
        "announce the charging-pile assembly",
        json={
            "voting_opens_at": (now + timedelta(days=15, hours=2)).isoformat(),
            "voting_closes_at": (now + timedelta(days=30)).isoformat(),
        },
    )

    # -- a survey, answered --
    now = at(-10)
    survey = who("demo-chair").call(
        "POST",
        f"{base}/surveys",
        "publish the survey",
        json={
            "title": "物业服务满意度调查（第四季度）",
            "questions": [
                {"text": "对保洁的满意度", "kind": "scale"},
                {"text": "对秩序维护的满意度", "kind": "scale"},
                {
                    "text": "最希望改进的方面",
                    "kind": "choice",
                    "options": ["绿化", "停车", "维修响应", "公示透明度"],
                },
            ],
            "closes_at": (now + timedelta(days=30)).isoformat(),
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:survey"},
    )
    at(-9)
    who("demo-owner").call(
        "PUT",
        f"{base}/surveys/{survey['survey_id']}/answer",
        "answer the survey",
        json={
            "answers": [
                {"question_id": q["question_id"], "value": 4 if q["kind"] == "scale" else 1}
                for q in survey["questions"]
            ]
        },
    )

    # -- the tender closes: its bids are open to every owner --
    at(-3.9)
    who("demo-chair").call(
        "POST", f"{base}/tenders/{tender['tender_id']}/close", "close the tender"
    )
    at(-3.8)
    chair = who("demo-chair")
    chair.call("POST", f"{base}/ballots/{second['ballot_id']}/open", "open the second assembly")
    _votes(rng, who, base, second["ballot_id"], share=0.45, yes={"chargers": 0.8}, skip_owner=True)

    # -- next month's meeting, and a petition collecting signatures --
    now = at(-2)
    who("demo-manager").call(
        "POST",
        f"{base}/meetings",
        "schedule next month's meeting",
        json={
            "title": "月度联席会",
            "starts_at": (real_now + timedelta(days=12)).isoformat(),
            "place": "小区党群服务站二楼会议室",
            "agenda": ["物业本月工作报告", "充电桩表决进展", "会所招标结果"],
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:meeting-2"},
    )
    at(-1)
    who("demo-owner").call(
        "POST",
        f"{base}/petitions",
        "start a petition",
        json={
            "title": "提请召开临时业主大会：更换电梯维保单位",
            "reason": "2 栋电梯半年内停运六次，现维保单位两次未按约到场。",
        },
        headers={"Idempotency-Key": f"demo-voice:{estate_id}:petition"},
    )


BIDDER = "demo-bidder"


def _second_bidder(who: Callable[[str], _Person], estate_id: str) -> _Person:
    """The manager of another company of the city, which bids for the estate's tender."""
    op = who("operator")
    serving = op.call("GET", f"/api/v1/estates/{estate_id}", "read the estate")["company_id"]
    other = next(
        c
        for c in op.call("GET", "/api/v1/companies", "list companies")["companies"]
        if c["company_id"] != serving
    )
    made = op.client.post(
        "/api/v1/users",
        json={"username": BIDDER, "display_name": "赵磊", "password": DEMO_PASSWORD},
    )
    if made.status_code != 409:
        check_reply(made, "create the second company's manager")
        op.call(
            "POST",
            "/api/v1/role-grants",
            "make them the company's manager",
            json={
                "user_id": made.json()["user_id"],
                "role": "company_manager",
                "company_id": other["company_id"],
            },
        )
    return who(BIDDER)


def _own_units(person: _Person, base: str) -> set[str]:
    """The units of the owner records that show the caller their own phone: their own."""
    units: set[str] = set()
    cursor = ""
    while True:
        page = person.call(
            "GET",
            f"{base}/owners",
            "read the owners",
            params={"limit": 500, **({"cursor": cursor} if cursor else {})},
        )
        units |= {u for o in page["owners"] if o["phone"] for u in o["unit_ids"]}
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return units


def _votes(
    rng: random.Random,
    who: Callable[[str], _Person],
    base: str,
    ballot: str,
    *,
    share: float,
    yes: dict[str, float],
    skip_owner: bool = False,
) -> None:
    """The chair enters signed paper ballots, each with its scan, for `share` of the holdings;
    then the demo owner votes online (unless skipped: they vote in the demo themselves), which
    stands over any paper ballot of theirs."""
    chair = who("demo-chair")
    roll = chair.call("GET", f"{base}/ballots/{ballot}/roll", "read the roll")
    holdings: dict[str, dict[str, Any]] = {}
    for line in roll["lines"]:
        holdings.setdefault(line["holding"], line)
    if skip_owner:  # the demo owner's flat stays for them to vote in
        theirs = _own_units(who("demo-owner"), base)
        for line in roll["lines"]:
            if line["unit_id"] in theirs:
                holdings.pop(line["holding"], None)
    for holding, line in sorted(holdings.items()):
        if rng.random() >= share:
            continue
        choices = [
            {
                "question_id": q,
                "answer": "yes"
                if rng.random() < p
                else ("no" if rng.random() < 0.7 else "abstain"),
            }
            for q, p in yes.items()
        ]
        scan = chair.client.post(
            f"{base}/ballots/{ballot}/scans",
            content=_voucher_png(f"paper ballot {line['building']} {line['number']}"),
            headers={"Content-Type": "image/png"},
        )
        check_reply(scan, "upload a paper ballot's scan")
        entered = chair.client.post(
            f"{base}/ballots/{ballot}/paper-votes",
            json={
                "unit_id": line["unit_id"],
                "scan_sha256": scan.json()["sha256"],
                "choices": choices,
            },
            headers={"Idempotency-Key": f"paper:{ballot}:{holding}"},
        )
        check_reply(entered, f"enter the paper ballot of {line['number']}")
    if not skip_owner:
        who("demo-owner").call(
            "PUT",
            f"{base}/ballots/{ballot}/vote",
            "the demo owner votes",
            json={"choices": [{"question_id": q, "answer": "yes"} for q in yes]},
        )
