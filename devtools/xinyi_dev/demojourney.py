"""One small estate at each stage of joining the trust model, in the community of the city's first
estate (the one `demo-community` supervises), made through the REST API by the people who would:
the operator registers the estates and their owners, the community opens each case and forms the
self-governance group, the group leader publishes the tender, both demo companies' managers bid,
the owners decide by ballot (art. 278), the trust contract is signed on the parties' devices (keys
kept in the demo devices folder), one contract starts in the future, one is in force and one was
ended by the owners' dismissal with its handover open.

Ballots need 15 days' notice, so this runs on the platform's demo clock, like `demovoting`: the
caller starts the platform with the clock `ends_days_ago + DAYS` days in the past and hands in
`move(seconds)`, which sets the offset; the journey only moves it forward and leaves it exactly
`ends_days_ago` days in the past, where the owners' voice of the first estate begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from xinyi_dev.democity import DEMO_PASSWORD, DemoCityError
from xinyi_dev.demofund import Device, Person, RealClock

DAY = 24 * 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYS = 44  # the journey's length on the demo clock
HOP_DAYS = 10  # the clock moves at most this far at once: refresh tokens live 14 days
PREFIX = "进驻示范"
COMMUNITY = "demo-community"  # the community's supervisor, a demo account of democity
MANAGER = "demo-manager"  # manages the company serving the city's first estate
BIDDER = "demo-bidder"  # manages another company of the city (demovoting makes the same account)
DEVELOPER = "成都蓉信置业有限公司"
NOTICE_DAYS = 90  # the contracts' dismissal notice (at least 60, Civil Code art. 946)


@dataclass(frozen=True)
class JourneyEstate:
    number: int
    stage: str  # where it stands at the end (`stage_of` in identity's onboarding)
    label: str
    arrangement: str  # how it is managed before the trust model
    winner: str  # whose company the assembly chooses: MANAGER or BIDDER ("" if none yet)

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.number}·{self.label}"

    def username(self, letter: str) -> str:
        """Its owners' accounts: `a` leads the self-governance group, `b` to `e` are owners."""
        return f"demo-j{self.number}{letter}"


ESTATES: tuple[JourneyEstate, ...] = (
    JourneyEstate(1, "opened", "社区已立案", "none", ""),
    JourneyEstate(2, "group_formed", "自治小组已成立", "lump_sum", ""),
    JourneyEstate(3, "tendering", "选聘招标中", "none", ""),
    JourneyEstate(4, "decided", "业主大会已表决", "self_managed", BIDDER),
    JourneyEstate(5, "contract_signed", "合同已签待生效", "lump_sum", BIDDER),
    JourneyEstate(6, "active", "信托制运行中", "none", MANAGER),
    JourneyEstate(7, "changing", "解聘交接中", "lump_sum", MANAGER),
)
STAGES = tuple(e.stage for e in ESTATES)
LETTERS = "abcde"
# fmt: off
_NAMES = (
    "周建平", "吴秀兰", "郑国强", "孙丽娟", "马德明", "朱春华", "胡志军",
    "郭美玲", "何光辉", "林淑芬", "罗永红", "高玉梅", "梁文斌", "谢小燕",
    "宋建华", "唐凤英", "许海涛", "韩桂芝", "冯立新", "邓晓红", "曹志刚",
    "彭素珍", "曾庆云", "肖雪梅", "田德胜", "董秀珍", "袁建军", "潘玉兰",
    "于国华", "蒋丽萍", "蔡永强", "余春梅", "杜文军", "叶桂兰", "程志明",
)
# fmt: on
# (building, unit, area m², owner letter or "" for the developer): the group leader, b and c own
# two flats each, d and e one; the developer kept the two parking spaces. Five of six persons
# holding 96 % of the area can vote, so a ballot's participation (2/3 of both) is reachable.
_UNITS = (
    ("1栋", "1-101", "89.50", "a"),
    ("1栋", "1-102", "89.50", "a"),
    ("1栋", "1-201", "89.50", "b"),
    ("1栋", "1-202", "89.50", "b"),
    ("2栋", "1-101", "76.20", "c"),
    ("2栋", "1-102", "76.20", "c"),
    ("2栋", "1-201", "76.20", "d"),
    ("2栋", "1-202", "76.20", "e"),
    ("车位", "P-01", "13.50", ""),
    ("车位", "P-02", "13.50", ""),
)


def owner_name(estate: JourneyEstate, letter: str) -> str:
    return _NAMES[(estate.number - 1) * len(LETTERS) + LETTERS.index(letter)]


def phone(estate: JourneyEstate, letter: str) -> str:
    """170 is no prefix democity gives out, so these never clash with the city's owners."""
    return f"170{estate.number:02d}{LETTERS.index(letter) + 1:06d}"


def render_csv(estate: JourneyEstate) -> bytes:
    lines = ["building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number"]
    for building, unit, area, letter in _UNITS:
        if letter:
            who = f"{owner_name(estate, letter)},person,{phone(estate, letter)}"
            lines.append(f"{building},{unit},residential,{area},{who},")
        else:
            lines.append(f"{building},{unit},parking,{area},{DEVELOPER},developer,,")
    return ("\n".join(lines) + "\n").encode()


def _by_letter(usual: dict[str, Any], dissent: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every owner's choice on one question: all as `usual`, but owner `e` dissents."""
    return {letter: [dissent if letter == "e" else usual] for letter in LETTERS}


def _wait(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """What `check` returns once it is truthy (the services learn of each other by events)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise DemoCityError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


# -- the journey --------------------------------------------------------------------------------
def seed_journey(
    gateway_url: str,
    operator_password: str,
    estate_id: str,
    move: Callable[[float], None],
    *,
    devices: Path,
    ends_days_ago: float,
    log: Callable[[str], None] = lambda _: None,
) -> bool:
    """Makes the journey's estates once, in the community of `estate_id` (the city's first
    estate): False (and nothing made) when they exist already. The platform's clock starts
    `ends_days_ago + DAYS` days back and is left `ends_days_ago` days back, even on failure."""
    journey = _Journey(gateway_url, operator_password, devices, move, ends_days_ago, log)
    try:
        op = journey.who("operator")
        community = op.json("GET", f"/api/v1/estates/{estate_id}", what="read the first estate")[
            "community_id"
        ]
        if not community:
            raise DemoCityError("the city's first estate is in no community")
        there = op.json(
            "GET",
            "/api/v1/onboarding/stages",
            what="list the community's estates",
            params={"community_id": community},
        )
        if any(e["estate_name"].startswith(PREFIX) for e in there):
            return False
        journey.at(0)
        journey.run(community, estate_id)
    finally:
        move(journey.end)
        journey.close()
    return True


class _Journey:
    def __init__(
        self,
        base: str,
        operator_password: str,
        devices: Path,
        move: Callable[[float], None],
        ends_days_ago: float,
        log: Callable[[str], None],
    ) -> None:
        self.base = base
        self.operator_password = operator_password
        self.devices = devices
        self.move = move
        self.log = log
        self.end = -ends_days_ago * DAY
        self.start = self.end - DAYS * DAY
        self.offset = self.start
        self.people: dict[str, Person] = {}
        self.ids: dict[int, str] = {}  # estate number -> estate id
        self.key_prefix = f"demojourney:{int(time.time())}"

    def close(self) -> None:
        for p in self.people.values():
            p.close()

    def who(self, username: str) -> Person:
        """A person's session. Sign-ins are rate limited per address, so each person signs in
        once and then lives on refresh tokens, renewed after each move of the clock."""
        if username not in self.people:
            password = self.operator_password if username == "operator" else DEMO_PASSWORD
            self.people[username] = Person(self.base, username, password, None)
        return self.people[username]

    def at(self, day: float) -> None:
        """Moves the clock forward to `day` of the journey, a few days at a time, renewing
        everyone's tokens on the way so none expires."""
        target = self.start + day * DAY
        if target < self.offset:
            raise DemoCityError("the journey's clock never goes back")
        while True:
            self.offset = min(target, self.offset + HOP_DAYS * DAY)
            self.move(self.offset)
            for person in self.people.values():
                if person.token:
                    person.renew()
            if self.offset >= target:
                return

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def today(self) -> date:
        return self.now().astimezone(SHANGHAI).date()

    def key(self, what: str) -> str:
        return f"{self.key_prefix}:{what}"

    def path(self, e: JourneyEstate, tail: str = "") -> str:
        return f"/api/v1/estates/{self.ids[e.number]}{tail}"

    def chair(self, e: JourneyEstate) -> Person:
        return self.who(e.username("a"))

    # -- the steps
    def run(self, community: str, first_estate: str) -> None:
        companies = self.register(community, first_estate)
        self.open_cases()
        voting = [e for e in ESTATES if e.winner]
        tenders = {e.number: self.tender(e, hours=20) for e in voting}
        bids = {e.number: self.bid(e, tenders[e.number]) for e in voting}
        trust = {e.number: self.trust_ballot(e) for e in voting}

        self.at(1)
        company = {
            e.number: self.chair(e).json(
                "POST",
                self.path(e, f"/tenders/{tenders[e.number]}/ballot"),
                what="put the bids to the assembly",
                body={"title": "业主大会：选聘信托制物业服务企业"},
                key=self.key(f"{e.number}:company-ballot"),
            )["ballot_id"]
            for e in voting
        }
        for e in voting:
            self.announce(e, trust[e.number], company[e.number])
        self.log("the assemblies are announced; voting opens after 15 days' notice")
        self.at(16.1)
        for e in voting:
            winner = bids[e.number][e.winner]
            loser = next(b for who, b in bids[e.number].items() if who != e.winner)
            self.vote(
                e,
                {
                    trust[e.number]: _by_letter(
                        {"question_id": "trust", "answer": "yes"},
                        {"question_id": "trust", "answer": "abstain"},
                    ),
                    company[e.number]: _by_letter(
                        {"question_id": "company", "candidate_ids": [winner]},
                        {"question_id": "company", "candidate_ids": [loser]},
                    ),
                },
            )
        self.at(19.2)
        self.close_and_finalize(voting, [trust, company], finalize_on=20.3)
        for e in voting:
            _wait(
                partial(self.stage_is, e, "decided"),
                f"{e.name}: the case learning of the assembly's decisions",
            )
        self.log("the owners adopted the trust model and chose the companies")

        self.at(20.5)
        real_today = datetime.now(SHANGHAI).date()
        contracts = {}
        for e in ESTATES:
            if e.stage in ("contract_signed", "active", "changing"):
                starts = (
                    real_today + timedelta(days=30)
                    if e.stage == "contract_signed"
                    else self.today() + timedelta(days=1)
                )
                contracts[e.number] = self.contract(e, companies[e.winner], starts)
        self.log("the trust contracts are signed on the parties' devices")

        self.at(24)
        changing = next(e for e in ESTATES if e.stage == "changing")
        dismissal = self.chair(changing).json(
            "POST",
            self.path(changing, "/ballots"),
            what="draft the dismissal",
            body={
                "title": "临时业主大会：解聘物业服务企业",
                "description": "物业服务企业入驻后连续两周未按合同配置保洁和秩序维护人员，"
                "经自治小组两次书面催告仍未整改。",
                "questions": [
                    {
                        "question_id": "dismiss",
                        "text": f"解聘现物业服务企业，提前 {NOTICE_DAYS} 日书面通知"
                        "（民法典第九百四十六条）",
                        "matter_class": 4,
                        "subject": {"kind": "dismissal", "id": contracts[changing.number]},
                    }
                ],
            },
            key=self.key("dismissal"),
        )["ballot_id"]
        self.announce(changing, dismissal)
        self.at(39.1)
        self.vote(
            changing,
            {
                dismissal: _by_letter(
                    {"question_id": "dismiss", "answer": "yes"},
                    {"question_id": "dismiss", "answer": "no"},
                )
            },
        )
        self.at(42.1)
        self.close_and_finalize([changing], [{changing.number: dismissal}], finalize_on=43.2)
        handover = _wait(
            lambda: self.chair(changing).json(
                "GET", self.path(changing, "/handovers"), what="read the handovers"
            ),
            f"{changing.name}: the dismissal opening the handover",
        )[0]
        self.chair(changing).json(
            "PATCH",
            self.path(changing, f"/handovers/{handover['handover_id']}"),
            what="tick the handover's first items",
            body={
                "items": [
                    {"item": "balances", "state": "done", "note": "共有资金账户余额已核对"},
                    {"item": "documents", "state": "done", "note": "竣工图纸及设备档案已移交"},
                ]
            },
        )
        self.log("the owners dismissed a company; its handover is open")

        self.at(43.5)
        tendering = next(e for e in ESTATES if e.stage == "tendering")
        closes = datetime.now(UTC) + timedelta(days=14)  # two weeks after the real today
        self.bid(tendering, self.tender(tendering, closes_at=closes))
        self.check()
        self.log(f"{', '.join(e.name for e in ESTATES)}: each at its stage")

    def stage_is(self, e: JourneyEstate, stage: str) -> bool:
        case = self.chair(e).json("GET", self.path(e, "/onboarding"), what="read the case")
        return bool(case["stage"] == stage)

    def voting_knows(self, e: JourneyEstate) -> bool:
        reply = self.chair(e).call(
            "GET", self.path(e, "/tenders"), what="list the tenders", allow=(404,)
        )
        return reply.is_success

    def register(self, community: str, first_estate: str) -> dict[str, str]:
        """The estates, their units and owners' accounts; the two companies' managers. Returns
        the company of MANAGER and of BIDDER."""
        op = self.who("operator")
        for e in ESTATES:
            made = op.json(
                "POST",
                "/api/v1/estates",
                what=f"register {e.name}",
                body={
                    "name": e.name,
                    "community_id": community,
                    "address": f"成都市示范路{e.number * 8 + 1}号",
                },
                key=self.key(f"{e.number}:estate"),
            )
            self.ids[e.number] = made["estate_id"]
            op.json(
                "POST",
                self.path(e, "/imports"),
                what=f"import the units of {e.name}",
                content=render_csv(e),
                content_type="text/csv; charset=utf-8",
                key=self.key(f"{e.number}:units"),
            )
            for letter in LETTERS:
                user = op.json(
                    "POST",
                    "/api/v1/users",
                    what=f"create {e.username(letter)}",
                    body={
                        "username": e.username(letter),
                        "display_name": owner_name(e, letter),
                        "phone": phone(e, letter),
                        "password": DEMO_PASSWORD,
                    },
                    key=self.key(f"{e.number}:user:{letter}"),
                )
                roles = ["owner"]
                if letter == "a" and e.stage != "opened":
                    roles += ["committee_member", "committee_chair"]
                for role in roles:
                    op.json(
                        "POST",
                        "/api/v1/role-grants",
                        what=f"grant {e.username(letter)} {role}",
                        body={
                            "user_id": user["user_id"],
                            "role": role,
                            "estate_id": made["estate_id"],
                        },
                        key=self.key(f"{e.number}:grant:{letter}:{role}"),
                    )
        serving = op.json("GET", f"/api/v1/estates/{first_estate}", what="read the first estate")[
            "company_id"
        ]
        other = next(
            c["company_id"]
            for c in op.json("GET", "/api/v1/companies", what="list the companies")["companies"]
            if c["company_id"] != serving
        )
        self.bidder(other)
        for e in ESTATES:
            if e.winner or e.stage == "tendering":
                _wait(partial(self.voting_knows, e), f"{e.name}: voting learning of the estate")
        return {MANAGER: serving, BIDDER: other}

    def bidder(self, company_id: str) -> None:
        """The other company's manager, as demovoting makes them (whichever runs first)."""
        op = self.who("operator")
        made = op.call(
            "POST",
            "/api/v1/users",
            what="create the second company's manager",
            body={"username": BIDDER, "display_name": "赵磊", "password": DEMO_PASSWORD},
            allow=(409,),
        )
        if made.status_code == 409:
            return
        op.json(
            "POST",
            "/api/v1/role-grants",
            what="make them the company's manager",
            body={
                "user_id": made.json()["user_id"],
                "role": "company_manager",
                "company_id": company_id,
            },
        )

    def open_cases(self) -> None:
        community = self.who(COMMUNITY)
        for e in ESTATES:
            surveyed = 5
            community.json(
                "POST",
                self.path(e, "/onboarding"),
                what=f"open the case of {e.name}",
                body={
                    "working_group": [
                        {"name": "黄丽华", "affiliation": "社区党委"},
                        {"name": "邱国平", "affiliation": "居委会"},
                        {"name": owner_name(e, "a"), "affiliation": "业主代表"},
                    ],
                    "situation": {
                        "arrangement": e.arrangement,
                        "notes": {
                            "none": "开发商物业撤出后无人管理，垃圾清运靠业主自筹。",
                            "lump_sum": "包干制物业合同到期，业主对公共收益去向不知情。",
                            "self_managed": "业主轮流自管三年，账目靠手工记录。",
                        }[e.arrangement],
                        "surveyed_households": surveyed,
                        "accepting_households": surveyed - 1,
                        "needs": "保洁、门禁、公共收益公开",
                    },
                    "baseline": {
                        "payment_rate_permille": 380 + 40 * e.number,
                        "open_disputes": 8 - e.number % 5,
                        "satisfaction_permille": 300 + 30 * e.number,
                    },
                },
                key=self.key(f"{e.number}:case"),
            )
            if e.stage != "opened":
                community.json(
                    "PUT",
                    self.path(e, "/approving-body"),
                    what=f"form the self-governance group of {e.name}",
                    body={
                        "kind": "self_governance_group",
                        "name": f"{e.name}业主自治小组",
                        "formed_on": self.today().isoformat(),
                    },
                )

    def tender(
        self, e: JourneyEstate, *, hours: float = 0, closes_at: datetime | None = None
    ) -> str:
        chair = self.chair(e)
        drafted = chair.json(
            "POST",
            self.path(e, "/tenders"),
            what="draft the tender",
            body={
                "title": "选聘信托制物业服务企业",
                "service_standard": "成都市住宅物业服务等级二级标准；共有资金收支按日公示。",
                "scope": "共有部分的保洁、绿化、秩序维护、设施设备维护。",
                "term_months": 36,
                "closes_at": (closes_at or self.now() + timedelta(hours=hours)).isoformat(),
            },
            key=self.key(f"{e.number}:tender"),
        )
        chair.json(
            "POST",
            self.path(e, f"/tenders/{drafted['tender_id']}/publish"),
            what="publish the tender",
        )
        return str(drafted["tender_id"])

    def bid(self, e: JourneyEstate, tender_id: str) -> dict[str, str]:
        """Both companies bid: returns their bid ids by manager."""
        offers = {
            MANAGER: {
                "remuneration_ratio": "1/10",
                "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "250"}],
                "staffing": [{"role": "项目经理", "count": 1}, {"role": "保洁", "count": 2}],
                "references": "服务本街道东大街等院落，信托制运行一年，共有资金按日公示。",
            },
            BIDDER: {
                "remuneration_ratio": "2/25",
                "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "230"}],
                "staffing": [{"role": "项目经理", "count": 1}, {"role": "保洁", "count": 2}],
                "references": "管理成华区三个老旧院落，物业费收缴率均在九成以上。",
            },
        }
        return {
            manager: self.who(manager).json(
                "POST",
                f"/api/v1/tenders/{tender_id}/bids",
                what=f"bid for the tender of {e.name}",
                body=offer,
                key=self.key(f"{e.number}:bid:{manager}"),
            )["bid_id"]
            for manager, offer in offers.items()
        }

    def trust_ballot(self, e: JourneyEstate) -> str:
        case = self.chair(e).json("GET", self.path(e, "/onboarding"), what="read the case")
        return str(
            self.chair(e).json(
                "POST",
                self.path(e, "/ballots"),
                what="draft the trust model's ballot",
                body={
                    "title": "业主大会：采用信托制物业服务模式",
                    "description": "共有资金归全体业主所有，进入双密码共管账户，收支逐笔公开；"
                    "物业服务企业按约定比例取得酬金。",
                    "questions": [
                        {
                            "question_id": "trust",
                            "text": "采用信托制物业服务模式（共有资金归全体业主，双密码账户）",
                            "matter_class": 4,
                            "subject": {"kind": "trust_model", "id": case["case_id"]},
                        }
                    ],
                },
                key=self.key(f"{e.number}:trust-ballot"),
            )["ballot_id"]
        )

    def announce(self, e: JourneyEstate, *ballots: str) -> None:
        opens = self.now() + timedelta(days=15, hours=1)
        for ballot in ballots:
            self.chair(e).json(
                "POST",
                self.path(e, f"/ballots/{ballot}/announce"),
                what="announce the assembly",
                body={
                    "voting_opens_at": opens.isoformat(),
                    "voting_closes_at": (opens + timedelta(days=3)).isoformat(),
                    "objection_days": 1,
                },
            )

    def vote(self, e: JourneyEstate, choices: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        """Opens the ballots and lets every owner with an account vote online."""
        for ballot in choices:
            self.chair(e).json(
                "POST", self.path(e, f"/ballots/{ballot}/open"), what="open the voting"
            )
        for letter in LETTERS:
            owner = self.who(e.username(letter))
            for ballot, choice in choices.items():
                owner.json(
                    "PUT",
                    self.path(e, f"/ballots/{ballot}/vote"),
                    what="vote",
                    body={"choices": choice[letter]},
                )

    def close_and_finalize(
        self, estates: list[JourneyEstate], ballots: list[dict[int, str]], *, finalize_on: float
    ) -> None:
        def each() -> Iterator[tuple[JourneyEstate, str]]:
            for e in estates:
                for by_estate in ballots:
                    yield e, by_estate[e.number]

        for e, ballot in each():
            self.chair(e).json(
                "POST", self.path(e, f"/ballots/{ballot}/close"), what="close the voting"
            )
        self.at(finalize_on)
        for e, ballot in each():
            final = self.chair(e).json(
                "POST", self.path(e, f"/ballots/{ballot}/finalize"), what="make the result final"
            )
            if final["state"] != "final":
                raise DemoCityError(f"{e.name}: the ballot is {final['state']}, not final")

    def device(self, username: str) -> Device:
        """The person's phone: its signing key is registered with the platform once."""
        device = Device(self.devices, username, RealClock())
        person = self.who(username)
        keys = person.json("GET", "/api/v1/me/device-keys", what="list my device keys")["keys"]
        if device.key_id() not in {k["key_id"] for k in keys if not k["revoked_at"]}:
            person.json(
                "POST",
                "/api/v1/me/device-keys",
                what="register my device's key",
                body={"public_jwk": device.public_jwk(), "label": "演示手机"},
            )
        return device

    def contract(self, e: JourneyEstate, company_id: str, starts: date) -> str:
        """Drafted by the group leader with the chosen company, signed by its manager and then
        by the leader, each on their own device. Returns the contract's id."""
        chair = self.chair(e)
        ratio = "1/10" if e.winner == MANAGER else "2/25"
        drafted = chair.json(
            "POST",
            self.path(e, "/trust-contracts"),
            what="draft the trust contract",
            body={
                "service_standard": "成都市住宅物业服务等级二级标准；共有资金收支按日公示。",
                "scope": "共有部分的保洁、绿化、秩序维护、设施设备维护",
                "fee_rates": [
                    {
                        "unit_type": "residential",
                        "fen_per_m2_month": "250" if ratio == "1/10" else "230",
                    },
                    {"unit_type": "parking", "fen_per_m2_month": "150"},
                ],
                "remuneration_ratio": ratio,
                "remuneration_sources": ["property_fee", "parking"],
                "starts_on": starts.isoformat(),
                "ends_on": (starts + timedelta(days=3 * 365)).isoformat(),
                "dismissal_notice_days": NOTICE_DAYS,
                "bank_account_number": f"5105 0142 6208 0000 {3100 + e.number}",
                "bank_name": "中国建设银行成都锦江支行",
                "bank_account_holder": f"{e.name}业主大会",
                "approval_thresholds": [
                    {"up_to_fen": 500_000, "approvals": 1},
                    {"up_to_fen": None, "approvals": 2},
                ],
                "supervisors": ["王律师（法律顾问）", "李会计（财务监督）"],
            },
            key=self.key(f"{e.number}:contract"),
        )
        if drafted["company_id"] != company_id:
            raise DemoCityError(f"{e.name}: the contract names another company than chosen")
        payload = drafted["payload_json"]
        for signer in (e.winner, e.username("a")):
            device = self.device(signer)
            signed = self.who(signer).json(
                "POST",
                self.path(e, f"/trust-contracts/{drafted['contract_id']}/signatures"),
                what="sign the trust contract",
                body={"key_id": device.key_id(), "signature": device.sign(payload)},
            )
        if signed["state"] not in ("signed", "in_force"):
            raise DemoCityError(f"{e.name}: the contract is {signed['state']} once both signed")
        return str(drafted["contract_id"])

    def check(self) -> None:
        """Each estate reached its stage (as of the clock now, which starts nothing more)."""
        op = self.who("operator")
        want = {self.ids[e.number]: e.stage for e in ESTATES}

        def reached() -> bool:
            stages = op.json("GET", "/api/v1/onboarding/stages", what="list the stages")
            return {s["estate_id"]: s["stage"] for s in stages if s["estate_id"] in want} == want

        _wait(reached, "the journey's estates reaching their stages")
