"""An owners' assembly end to end through the gateway: drafted by the committee, announced at
least 15 days ahead, opened on a roll frozen from identity, voted (and re-voted) by owners of one
unit, of two units and of a co-owned unit, closed and counted by art. 278, recounted from the
published receipts by the independent script, and made final: the ledger's budget it names is
approved by the ballot_decided event. The platform clock moves through the weeks."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.identity.world import PASSWORD, credit_code, ok, random_phone, signin
from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600

# Holders: A owns two flats (one person, 150 m²), B one, C and D co-own one (one person), and
# the developer's unsold parking spaces (one person, 50 m², no account, does not vote).
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
MORE = (
    "2栋,2-101,residential,80.00,戊,person,13800000001,\n"
    "2栋,2-102,residential,80.00,己,person,13800000002,\n"
    "2栋,2-103,residential,80.00,庚,person,13800000003,\n"
)
OWNERS = ("a", "b", "c", "d")


@dataclass
class Assembly:
    base: str
    estate_id: str
    usernames: dict[str, str] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    offset: float = 0.0
    clock_file: Path = Path()
    community_id: str = ""

    def at(self, seconds: float) -> None:
        """Moves the platform's clock to `seconds` after the test began (never back)."""
        self.offset = seconds
        move_clock(self.clock_file, seconds)

    def client(self, who: str) -> httpx.Client:
        token = signin(self.base, self.usernames[who])  # a token of the moved clock's time
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def path(self, tail: str = "") -> str:
        return f"/api/v1/estates/{self.estate_id}/ballots{tail}"


def build(
    platform: Platform, operator_token: str, csv: str, *, served_since: str | None = "2020-01-01"
) -> Assembly:
    """An estate of `csv`'s owners with a committee chair and a company manager; the company
    serves it from `served_since` (None: no company serves it yet)."""
    base, tag = platform.gateway_url, uuid.uuid4().hex[:6]
    phones = {who: random_phone() for who in OWNERS}
    world = Assembly(base, "", phones=phones, clock_file=platform.data_dir / "clock-offset")
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {operator_token}"}, timeout=30
    ) as op:
        district = ok(op.post("/api/v1/districts", json={"name": f"成华区{tag}"}))
        street = ok(
            op.post("/api/v1/streets", json={"district_id": district["district_id"], "name": "街"})
        )
        community = ok(
            op.post("/api/v1/communities", json={"street_id": street["street_id"], "name": "社区"})
        )
        company = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"信达物业{tag}", "credit_code": credit_code(tag + "vote")},
            )
        )
        estate = ok(
            op.post(
                "/api/v1/estates",
                json={"name": f"表决小区{tag}", "community_id": community["community_id"]},
            )
        )["estate_id"]
        world.estate_id = estate
        world.community_id = community["community_id"]
        if served_since:
            ok(
                op.put(
                    f"/api/v1/estates/{estate}/company",
                    json={"company_id": company["company_id"], "starts_on": served_since},
                )
            )
        ok(
            op.post(
                f"/api/v1/estates/{estate}/imports",
                content=csv.format(**phones).encode(),
                headers={"content-type": "text/csv"},
            )
        )
        people = {
            **{who: ("owner", {"estate_id": estate}, phones[who]) for who in OWNERS},
            "chair": ("committee_chair", {"estate_id": estate}, random_phone()),
            "manager": ("company_manager", {"company_id": company["company_id"]}, random_phone()),
        }
        for who, (role, scope, phone) in people.items():
            username = f"vote-{who}-{tag}"
            user = ok(
                op.post(
                    "/api/v1/users",
                    json={
                        "username": username,
                        "display_name": who,
                        "phone": phone,
                        "password": PASSWORD,
                    },
                )
            )
            ok(
                op.post(
                    "/api/v1/role-grants", json={"user_id": user["user_id"], "role": role, **scope}
                )
            )
            world.usernames[who] = username
    world.usernames["operator"] = "operator"
    with world.client("chair") as chair:
        eventually(
            lambda: chair.get(world.path()).status_code == 200,
            what="voting learning of the estate",
        )
    return world


@pytest.fixture
def assembly(platform: Platform, operator_token: str) -> Iterator[Assembly]:
    world = build(platform, operator_token, CSV)
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


@pytest.fixture
def larger(platform: Platform, operator_token: str) -> Iterator[Assembly]:
    """Seven persons: the four above, and three owners without an account yet."""
    world = build(platform, operator_token, CSV + MORE)
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


def operator_client(platform: Platform, base: str) -> httpx.Client:
    token = signin(base, "operator", platform.operator_password)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def vote(
    c: httpx.Client, world: Assembly, ballot: dict, budget: str, raise_: str, company: str
) -> httpx.Response:  # type: ignore[type-arg]
    return c.put(
        world.path(f"/{ballot['ballot_id']}/vote"),
        json={
            "choices": [
                {"question_id": "budget", "answer": budget},
                {"question_id": "raise", "answer": raise_},
                {"question_id": "company", "candidate_ids": [company] if company else []},
            ]
        },
    )


def test_an_assembly_from_draft_to_a_final_decision_the_ledger_acts_on(
    platform: Platform, assembly: Assembly, tmp_path: Path
) -> None:
    world = assembly
    year = datetime.now(UTC).year + 1
    with world.client("manager") as manager:
        budget = ok(
            manager.put(
                f"/api/v1/estates/{world.estate_id}/budgets/{year}",
                json={
                    "lines": [
                        {
                            "line_id": "cleaning",
                            "name": "保洁",
                            "expense_code": "5002",
                            "amount_fen": 1_200_000,
                        }
                    ]
                },
            )
        )
    assert budget["state"] == "draft"
    body = {
        "title": f"{year} 年度业主大会",
        "description": "审议预算、续筹维修资金、选聘物业",
        "questions": [
            {
                "question_id": "budget",
                "text": f"批准 {year} 年度共有基金预算",
                "matter_class": 9,
                "subject": {"kind": "budget", "id": budget["budget_id"]},
            },
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
        ],
    }
    with world.client("a") as owner:
        assert owner.post(world.path(), json=body).status_code == 403
    with world.client("chair") as chair:
        bad = chair.post(
            world.path(), json={**body, "questions": [{"text": "x", "matter_class": 10}]}
        )
        assert bad.status_code == 422
        ballot = ok(chair.post(world.path(), json=body, headers={"Idempotency-Key": "assembly-1"}))
        again = ok(chair.post(world.path(), json=body, headers={"Idempotency-Key": "assembly-1"}))
        assert again["ballot_id"] == ballot["ballot_id"] and ballot["state"] == "draft"
        b = ballot["ballot_id"]
        now = datetime.now(UTC)
        early = chair.post(
            world.path(f"/{b}/announce"),
            json={
                "voting_opens_at": (now + timedelta(days=14)).isoformat(),
                "voting_closes_at": (now + timedelta(days=21)).isoformat(),
            },
        )
        assert early.status_code == 422 and "15 days" in early.json()["detail"]
        opens, closes = now + timedelta(days=15, hours=1), now + timedelta(days=22)
        announced = ok(
            chair.post(
                world.path(f"/{b}/announce"),
                json={
                    "voting_opens_at": opens.isoformat(),
                    "voting_closes_at": closes.isoformat(),
                },
            )
        )
        assert announced["state"] == "announced"
        # The roll published for objections: 6 units, 400 m², 4 persons (A, B, C+D, developer).
        assert (announced["roll_units"], announced["roll_area_centi_m2"]) == (6, 40_000)
        assert announced["roll_headcount"] == 4
        assert chair.post(world.path(f"/{b}/open")).status_code == 422, "not before the day"
        roll = ok(chair.get(world.path(f"/{b}/roll")))
        lines = {x["number"]: x for x in roll["lines"]}
        assert (roll["units"], roll["headcount"], len(lines)) == (6, 4, 6)
        assert lines["1-101"]["holding"] == lines["1-102"]["holding"] != lines["1-103"]["holding"]
        assert lines["P-01"]["holding"] == lines["P-02"]["holding"]
        assert lines["1-104"]["owner_count"] == 2
    with world.client("a") as owner:
        totals = ok(owner.get(world.path(f"/{b}/roll")))
        assert (totals["area_centi_m2"], totals["lines"]) == (40_000, None)
        shut = vote(owner, world, ballot, "yes", "yes", "x")
        assert shut.status_code == 422 and "only while it is open" in shut.json()["detail"]

    world.at(15 * DAY + 2 * 3600)
    with world.client("chair") as chair:
        opened = ok(chair.post(world.path(f"/{b}/open")))
    assert opened["state"] == "open" and opened["roll_as_of"]
    with operator_client(platform, world.base) as op:
        assert vote(op, world, ballot, "yes", "yes", "x").status_code == 403
    with world.client("chair") as chair:
        refused = vote(chair, world, ballot, "yes", "yes", "x")
        assert refused.status_code == 403, "the committee's chair holds no unit here"

    receipts: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    with world.client("a") as a:
        first = ok(vote(a, world, ballot, "no", "yes", "x"))["receipts"]
        assert len(first) == 1 and first[0]["unit_count"] == 2
        assert first[0]["area_centi_m2"] == 15_000
        wrong = a.put(
            world.path(f"/{b}/vote"), json={"choices": [{"question_id": "budget", "answer": "yes"}]}
        )
        assert wrong.status_code == 400 and "missing" in wrong.json()["detail"]
        unknown = vote(a, world, ballot, "yes", "yes", "z")
        assert unknown.status_code == 400 and "candidates" in unknown.json()["detail"]
        # A changes the vote: a new receipt, the first one superseded.
        receipts["a"] = ok(vote(a, world, ballot, "yes", "yes", "x"))["receipts"]
        old = ok(a.get(world.path(f"/{b}/receipts/{first[0]['receipt_code']}")))
        assert old["state"] == "superseded"
        assert old["superseded_by"] == receipts["a"][0]["receipt_code"]
    # B votes twice at the same instant: one vote counts.
    with world.client("b") as bclient:
        with ThreadPoolExecutor(2) as pool:
            both = list(
                pool.map(lambda c: vote(bclient, world, ballot, "yes", "yes", c), ["y", "y"])
            )
        assert [r.status_code for r in both] == [200, 200], [r.text for r in both]
        mine = ok(bclient.get(world.path(f"/{b}/vote")))["receipts"]
        assert sorted(r["state"] for r in mine) == ["counted", "superseded"]
    # C votes for the co-owned flat; D, the other co-owner, changes that one vote.
    with world.client("c") as c:
        c_receipt = ok(vote(c, world, ballot, "no", "no", "y"))["receipts"][0]
    with world.client("d") as d:
        d_receipt = ok(vote(d, world, ballot, "abstain", "abstain", ""))["receipts"][0]
        assert d_receipt["voter_key"] == c_receipt["voter_key"], "one holding, one vote"
        assert (
            ok(d.get(world.path(f"/{b}/receipts/{c_receipt['receipt_code']}")))["state"]
            == "superseded"
        )
    with world.client("chair") as chair:
        assert chair.post(world.path(f"/{b}/close")).status_code == 422, "not before the end"

    world.at(22 * DAY + 3600)
    with world.client("a") as a:
        late = vote(a, world, ballot, "no", "no", "y")
        assert late.status_code == 422 and "voting closed" in late.json()["detail"]
    with world.client("chair") as chair:
        closed = ok(chair.post(world.path(f"/{b}/close")))
        assert closed["state"] == "published" and closed["receipts_counted"] == 3
        assert chair.post(world.path(f"/{b}/finalize")).status_code == 422, "objections open"
    with world.client("a") as a:
        result = ok(a.get(world.path(f"/{b}/result")))
    doc = result["document"]
    by_q = {q["question_id"]: q for q in doc["questions"]}
    # Voted: A (150 m²), B (100), C+D (100) of 400 m² and 3 of 4 persons: participation met.
    budget_q = by_q["budget"]["result"]
    assert (budget_q["participating_area_centi_m2"], budget_q["participating_headcount"]) == (
        35_000,
        3,
    )
    # The budget (item 9): yes from A and B, 250 of 350 m² and 2 of 3 persons: more than half.
    assert (budget_q["approving_area_centi_m2"], budget_q["approving_headcount"]) == (25_000, 2)
    assert budget_q["approved"] is True
    # Raising the maintenance fund (item 6) needs 3/4: 250/350 m² falls short.
    assert by_q["raise"]["result"]["approved"] is False
    # The company: x from A (150), y from B (100): x has 150/350 m², not more than half.
    assert by_q["company"]["result"]["chosen"] == []
    counted = {r["receipt"] for r in by_q["budget"]["receipts"]}
    assert receipts["a"][0]["receipt_code"] in counted
    assert d_receipt["receipt_code"] in counted and c_receipt["receipt_code"] not in counted

    # Anyone can recount from the published document with the independent script.
    published = tmp_path / "result.json"
    published.write_text(json.dumps(doc, ensure_ascii=False))
    recount = subprocess.run(
        [sys.executable, str(ROOT / "services/voting/recount.py"), str(published)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert recount.returncode == 0, recount.stdout + recount.stderr
    doc["questions"][0]["result"]["approved"] = False
    published.write_text(json.dumps(doc, ensure_ascii=False))
    tampered = subprocess.run(
        [sys.executable, str(ROOT / "services/voting/recount.py"), str(published)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tampered.returncode == 1 and "budget" in tampered.stdout + tampered.stderr

    world.at(30 * DAY)
    with world.client("chair") as chair:
        final = ok(chair.post(world.path(f"/{b}/finalize")))
        assert final["state"] == "final"
    with world.client("manager") as manager:
        eventually(
            lambda: (
                ok(manager.get(f"/api/v1/estates/{world.estate_id}/budgets/{year}"))["state"]
                == "approved"
            ),
            what="the ledger approving the budget the assembly decided",
        )
    # The owners heard of each step: the announcement, the opening, their vote, the results.
    with world.client("a") as a:

        def heard() -> set[str]:
            messages = ok(a.get("/api/v1/me/inbox", params={"limit": 200}))["messages"]
            return {m["kind"] for m in messages if m["params"].get("ballot_id") == b}

        eventually(
            lambda: (
                {"ballot_announced", "ballot_opened", "vote_counted", "ballot_result"} <= heard()
            ),
            what="the owner's messages of the assembly",
        )


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # stands in for the photo of a signed paper ballot


def test_a_petition_calls_the_assembly_where_proxies_and_paper_ballots_count_once(
    platform: Platform, larger: Assembly
) -> None:
    world = larger
    body = {
        "title": "临时业主大会：更换电梯维保单位",
        "questions": [{"question_id": "q1", "text": "更换电梯维保单位", "matter_class": 9}],
    }
    # A petition needs a fifth of the headcount: 1 of 7 persons is not enough, 2 of 7 is.
    with world.client("a") as a:
        petition = ok(
            a.post(
                f"/api/v1/estates/{world.estate_id}/petitions",
                json={"title": "召开临时业主大会", "reason": "电梯半年内停运六次"},
            )
        )
        assert (petition["state"], petition["signed_headcount"]) == ("collecting", 1)
        assert (petition["total_headcount"], petition["threshold"]) == (7, "1/5")
        pid = petition["petition_id"]
        again = ok(a.post(f"/api/v1/estates/{world.estate_id}/petitions/{pid}/signatures"))
        assert again["signed_headcount"] == 1, "a holding signs once"
    with world.client("chair") as chair:
        early = chair.post(world.path(), json={**body, "petition_id": pid})
        assert early.status_code == 422 and "fifth" in early.json()["detail"]
        assert (
            chair.post(f"/api/v1/estates/{world.estate_id}/petitions/{pid}/signatures").status_code
            == 403
        ), "the chair holds no unit"
    with world.client("b") as b:
        reached = ok(b.post(f"/api/v1/estates/{world.estate_id}/petitions/{pid}/signatures"))
        assert (reached["state"], reached["signed_headcount"]) == ("reached", 2)
        assert reached["signed_by_me"] is True and reached["reached_at"]
    now = datetime.now(UTC)
    with world.client("chair") as chair:
        ballot = ok(chair.post(world.path(), json={**body, "petition_id": pid}))
        b_id = ballot["ballot_id"]
        ok(
            chair.post(
                world.path(f"/{b_id}/announce"),
                json={
                    "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                    "voting_closes_at": (now + timedelta(days=20)).isoformat(),
                },
            )
        )
        answered = ok(chair.get(f"/api/v1/estates/{world.estate_id}/petitions/{pid}"))
        assert (answered["state"], answered["ballot_id"]) == ("answered", b_id)
    # A names B as proxy while the assembly is announced.
    with world.client("a") as a:
        assert (
            a.post(
                world.path(f"/{b_id}/proxies"), json={"proxy_username": world.usernames["a"]}
            ).status_code
            == 400
        )
        proxy = ok(
            a.post(world.path(f"/{b_id}/proxies"), json={"proxy_username": world.usernames["b"]})
        )
        assert proxy["state"] == "active"

    world.at(15 * DAY + 2 * 3600)
    with world.client("chair") as chair:
        ok(chair.post(world.path(f"/{b_id}/open")))
        units = {
            u["number"]: u["unit_id"]
            for u in ok(chair.get(f"/api/v1/estates/{world.estate_id}/units"))["units"]
        }
    yes = {"choices": [{"question_id": "q1", "answer": "yes"}]}
    no = {"choices": [{"question_id": "q1", "answer": "no"}]}
    with world.client("b") as b:
        cast = ok(b.put(world.path(f"/{b_id}/vote"), json=yes))["receipts"]
        assert sorted((r["channel"], r["area_centi_m2"]) for r in cast) == [
            ("online", 10_000),
            ("proxy", 15_000),
        ]
    with world.client("a") as a:
        own = ok(a.put(world.path(f"/{b_id}/vote"), json=no))["receipts"]
        assert [r["channel"] for r in own] == ["online"]
    with world.client("b") as b:
        # A voted: A's own vote prevails over the proxy's, before and after.
        later = ok(b.put(world.path(f"/{b_id}/vote"), json=yes))["receipts"]
        assert [r["channel"] for r in later] == ["online"]
    # The committee enters C and D's paper ballot with its scan.
    with world.client("chair") as chair:
        wrong_type = chair.post(
            world.path(f"/{b_id}/scans"), content=b"GIF89a", headers={"content-type": "image/gif"}
        )
        assert wrong_type.status_code == 415
        not_png = chair.post(
            world.path(f"/{b_id}/scans"), content=b"hello", headers={"content-type": "image/png"}
        )
        assert not_png.status_code == 400
        scan = ok(
            chair.post(
                world.path(f"/{b_id}/scans"), content=PNG, headers={"content-type": "image/png"}
            )
        )
        # Another scan sent several times at once (retries of an upload still in flight): each
        # answered with the one scan, none with a clash.
        again = PNG + b"\x00"

        def upload(_: int) -> httpx.Response:
            return chair.post(
                world.path(f"/{b_id}/scans"), content=again, headers={"content-type": "image/png"}
            )

        with ThreadPoolExecutor(max_workers=12) as pool:
            uploads = list(pool.map(upload, range(12)))
        assert [u.status_code for u in uploads] == [201] * 12, [u.text for u in uploads]
        assert len({u.json()["sha256"] for u in uploads}) == 1
        no_scan = chair.post(
            world.path(f"/{b_id}/paper-votes"),
            json={**yes, "unit_id": units["1-104"], "scan_sha256": "0" * 64},
        )
        assert no_scan.status_code == 422 and "scan" in no_scan.json()["detail"]
        paper = ok(
            chair.post(
                world.path(f"/{b_id}/paper-votes"),
                json={**yes, "unit_id": units["1-104"], "scan_sha256": scan["sha256"]},
            )
        )["receipts"][0]
        assert (paper["channel"], paper["scan_sha256"]) == ("paper", scan["sha256"])
        assert chair.get(world.path(f"/{b_id}/scans/{scan['sha256']}")).content == PNG
    # B sells the flat after voting opened: the buyer is not on the frozen roll, B still is.
    buyer_phone = random_phone()
    with operator_client(platform, world.base) as op:
        sold = (CSV + MORE).replace(world.phones["b"], buyer_phone).replace(",乙,", ",辛,")
        ok(
            op.post(
                f"/api/v1/estates/{world.estate_id}/imports",
                content=sold.format(**world.phones).encode(),
                headers={"content-type": "text/csv"},
            )
        )
        buyer = ok(
            op.post(
                "/api/v1/users",
                json={
                    "username": f"buyer-{uuid.uuid4().hex[:6]}",
                    "display_name": "辛",
                    "phone": buyer_phone,
                    "password": PASSWORD,
                },
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={"user_id": buyer["user_id"], "role": "owner", "estate_id": world.estate_id},
            )
        )
        world.usernames["buyer"] = buyer["username"]
    with world.client("buyer") as newcomer:
        late_owner = newcomer.put(world.path(f"/{b_id}/vote"), json=no)
        assert late_owner.status_code == 403 and "frozen" in late_owner.json()["detail"]
    with world.client("b") as b:
        assert [
            r["channel"] for r in ok(b.put(world.path(f"/{b_id}/vote"), json=yes))["receipts"]
        ] == ["online"]
    with world.client("c") as c:
        assert c.get(world.path(f"/{b_id}/scans/{scan['sha256']}")).status_code == 403
        mine = ok(c.get(world.path(f"/{b_id}/vote")))["receipts"]
        assert [r["channel"] for r in mine] == ["paper"], "C sees the paper vote of the flat"

    world.at(20 * DAY + 3600)
    with world.client("chair") as chair:
        closed = ok(chair.post(world.path(f"/{b_id}/close")))
        assert closed["receipts_counted"] == 3
        result = ok(chair.get(world.path(f"/{b_id}/result")))["document"]["questions"][0]
    choices = sorted((r["area_centi_m2"], r["choice"]) for r in result["receipts"])
    assert choices == [(10_000, "yes"), (10_000, "yes"), (15_000, "no")]
    # 350 of 640 m² took part: below 2/3 of the area, so nothing is decided.
    assert result["result"]["participating_area_centi_m2"] == 35_000
    assert result["result"]["participation_met"] is False


@pytest.mark.slow
def test_a_hundred_owners_voting_at_once_are_each_counted_once(
    platform: Platform, operator_token: str
) -> None:
    count = 100
    rows = "".join(
        f"3栋,3-{n:03d},residential,{60 + n % 40}.25,业主{n},person,{{p{n}}},\n"
        for n in range(count)
    )
    header = CSV.splitlines()[0] + "\n"
    world = build(platform, operator_token, header + "1栋,1-101,residential,90.00,甲,person,{a},\n")
    # The builder made the accounts a-d and the chair; add 100 owners of their own flats.
    phones = {f"p{n}": random_phone() for n in range(count)}
    names = {f"p{n}": f"crowd-{n}-{uuid.uuid4().hex[:6]}" for n in range(count)}
    with httpx.Client(
        base_url=world.base, headers={"Authorization": f"Bearer {operator_token}"}, timeout=60
    ) as op:
        ok(
            op.post(
                f"/api/v1/estates/{world.estate_id}/imports",
                content=(header + rows.format(**phones)).encode(),
                headers={"content-type": "text/csv"},
            )
        )

        def enrol(key: str) -> None:
            # An account and its owner's grant (the grant links it to the owner record).
            user = ok(
                op.post(
                    "/api/v1/users",
                    json={
                        "username": names[key],
                        "display_name": key,
                        "phone": phones[key],
                        "password": PASSWORD,
                    },
                )
            )
            ok(
                op.post(
                    "/api/v1/role-grants",
                    json={
                        "user_id": user["user_id"],
                        "role": "owner",
                        "estate_id": world.estate_id,
                    },
                )
            )

        keys = list(phones)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(enrol, keys))
    now = datetime.now(UTC)
    try:
        with world.client("chair") as chair:
            ballot = ok(
                chair.post(
                    world.path(),
                    json={
                        "title": "续聘物业",
                        "questions": [{"question_id": "q", "text": "续聘", "matter_class": 4}],
                    },
                )
            )
            b = ballot["ballot_id"]
            ok(
                chair.post(
                    world.path(f"/{b}/announce"),
                    json={
                        "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                        # Closing soon after the votes below: their sign-ins (15 minutes) last.
                        "voting_closes_at": (
                            now + timedelta(days=15, hours=2, minutes=10)
                        ).isoformat(),
                    },
                )
            )
        world.at(15 * DAY + 2 * 3600)
        with world.client("chair") as chair:
            opened = ok(chair.post(world.path(f"/{b}/open")))
        assert opened["roll_units"] == count + 1
        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(lambda k: signin(world.base, names[k]), keys))

        # One client shared by all (a client each would build its own pool and TLS context):
        # the load is on the platform, not on the test.
        with httpx.Client(
            base_url=world.base,
            timeout=60,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        ) as shared:

            def cast(token: str) -> int:
                reply = shared.put(
                    world.path(f"/{b}/vote"),
                    json={"choices": [{"question_id": "q", "answer": "yes"}]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                return reply.status_code

            # All but the last twenty at once, and the first ten a second time at the same
            # instant.
            first, last = tokens[:-20], tokens[-20:]
            with ThreadPoolExecutor(64) as pool:
                statuses = list(pool.map(cast, first + first[:10]))
            assert statuses == [200] * (len(first) + 10)
            with world.client("chair") as chair:
                shown = ok(chair.get(world.path(f"/{b}")))
            assert shown["receipts_counted"] == len(first)

            # The last twenty vote as the time for voting ends and the chair closes the ballot:
            # a vote is either refused as late or counted in the result, never answered 200
            # and left out (the close waits for the votes in flight).
            with ThreadPoolExecutor(20) as pool:
                late = [pool.submit(cast, token) for token in last]
                world.at(15 * DAY + 2 * 3600 + 11 * 60)
                with world.client("chair") as chair:
                    closed = ok(chair.post(world.path(f"/{b}/close")))
                statuses = [f.result() for f in late]
        assert set(statuses) <= {200, 422}, statuses
        counted = len(first) + statuses.count(200)
        assert closed["receipts_counted"] == counted
        with world.client("chair") as chair:
            result = ok(chair.get(world.path(f"/{b}/result")))["document"]
        assert result["questions"][0]["result"]["participating_headcount"] == counted
    finally:
        move_clock(world.clock_file, 0)


PDF = b"%PDF-1.4\n% a budget the assembly decides on\n"


def test_documents_are_attached_until_voting_opens_and_surveys_count_units(
    assembly: Assembly,
) -> None:
    world = assembly
    now = datetime.now(UTC)
    with world.client("chair") as chair:
        ballot = ok(
            chair.post(
                world.path(),
                json={
                    "title": "预算表决",
                    "questions": [{"question_id": "q", "text": "批准预算", "matter_class": 9}],
                },
            )
        )
        b = ballot["ballot_id"]
        wrong = chair.post(
            world.path(f"/{b}/attachments"),
            content=b"hello",
            headers={"content-type": "text/plain"},
        )
        assert wrong.status_code == 415
        fake = chair.post(
            world.path(f"/{b}/attachments"),
            content=b"hello",
            headers={"content-type": "application/pdf"},
        )
        assert fake.status_code == 400
        added = ok(
            chair.post(
                world.path(f"/{b}/attachments"),
                params={"filename": "2027年度预算.pdf"},
                content=PDF,
                headers={"content-type": "application/pdf"},
            )
        )
        assert added["filename"] == "2027年度预算.pdf" and added["size"] == len(PDF)
        ok(
            chair.post(
                world.path(f"/{b}/announce"),
                json={
                    "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                    "voting_closes_at": (now + timedelta(days=20)).isoformat(),
                },
            )
        )
    with world.client("a") as owner:
        shown = ok(owner.get(world.path(f"/{b}")))
        assert [x["sha256"] for x in shown["attachments"]] == [added["sha256"]]
        got = owner.get(world.path(f"/{b}/attachments/{added['sha256']}"))
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert (
            owner.post(
                world.path(f"/{b}/attachments"),
                content=PDF,
                headers={"content-type": "application/pdf"},
            ).status_code
            == 403
        )
    world.at(15 * DAY + 2 * 3600)
    with world.client("chair") as chair:
        ok(chair.post(world.path(f"/{b}/open")))
        late = chair.post(
            world.path(f"/{b}/attachments"),
            content=PDF + b"2",
            headers={"content-type": "application/pdf"},
        )
        assert late.status_code == 422 and "fixed" in late.json()["detail"]

        # A survey counts one answer per unit: A answers for both flats; C and D share one.
        survey = ok(
            chair.post(
                f"/api/v1/estates/{world.estate_id}/surveys",
                json={
                    "title": "满意度",
                    "questions": [{"text": "总体满意度", "kind": "scale"}],
                    "closes_at": (now + timedelta(days=30)).isoformat(),
                },
            )
        )
    answer_url = f"/api/v1/estates/{world.estate_id}/surveys/{survey['survey_id']}/answer"
    counts = []
    for who, value in (("a", 5), ("c", 2), ("d", 4)):
        with world.client(who) as owner:
            done = ok(
                owner.put(answer_url, json={"answers": [{"question_id": "q1", "value": value}]})
            )
            counts.append(done["respondents"])
    assert counts == [2, 3, 3]
