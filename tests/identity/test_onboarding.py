"""The whole journey of an estate into the trust model and to its next company, through the
gateway on the real platform: the community's case, the self-governance group, the tender and the
assembly's decisions, the trust contract signed on the parties' devices, the company's access from
the start date and not before, the ledger taking the contract's terms, the dismissal with notice,
a handover the outgoing company first refused (no remuneration meanwhile), and the new company
taking over on the handover day. Access is checked at every step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest

from tests.identity.journey import (
    DAY,
    SHANGHAI,
    Device,
    contract_terms,
    decide,
    onboarding_estate,
    tender,
    today,
)
from tests.identity.world import ok
from tests.poll import eventually
from tests.voting.test_ballots import Assembly
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock


@pytest.fixture
def estate(platform: Platform, operator_token: str) -> Iterator[Assembly]:
    """An estate nobody serves yet, its owners and chair, a company manager (company X), another
    company's manager ("bidder", company Y) and the community's supervisor."""
    world = onboarding_estate(platform, operator_token)
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


def post_income(world: Assembly, who: str, fen: int) -> httpx.Response:
    with world.client(who) as c:
        return c.post(
            f"/api/v1/estates/{world.estate_id}/ledger/entries",
            json={"source": "other", "amount_fen": fen, "description": "场地使用费"},
        )


def remuneration_on(world: Assembly, day: date) -> int:
    with world.client("chair") as chair:
        page = ok(
            chair.get(
                f"/api/v1/estates/{world.estate_id}/ledger/entries",
                params={"kind": "remuneration", "limit": 500},
            )
        )
    return sum(
        line["amount_fen"]
        for e in page["entries"]
        if e["booked_on"] == day.isoformat()
        for line in e["lines"]
        if line["account"] == "2101"
    )


def test_from_a_new_case_to_a_trust_contract_and_on_to_the_next_company(
    estate: Assembly,
) -> None:
    world = estate
    base = f"/api/v1/estates/{world.estate_id}"
    case_body = {
        "working_group": [
            {"name": "张书记", "affiliation": "社区党委"},
            {"name": "刘主任", "affiliation": "居委会"},
            {"name": "甲", "affiliation": "业主代表"},
        ],
        "situation": {
            "arrangement": "none",
            "notes": "开发商撤出后无人管理两年，垃圾清运靠业主自筹",
            "surveyed_households": 4,
            "accepting_households": 3,
            "needs": "保洁、门禁、公共收益公开",
        },
        "baseline": {
            "payment_rate_permille": 420,
            "open_disputes": 6,
            "satisfaction_permille": 310,
        },
    }

    # -- the case: the community opens it; owners read it and cannot
    with world.client("a") as owner:
        assert owner.post(f"{base}/onboarding", json=case_body).status_code == 403
    with world.client("community") as community:
        case = ok(community.post(f"{base}/onboarding", json=case_body))
        assert case["stage"] == "opened" and case["baseline"]["open_disputes"] == 6
        assert community.post(f"{base}/onboarding", json=case_body).status_code == 409
        # No committee: a self-governance group becomes the approving body.
        ok(
            community.put(
                f"{base}/approving-body",
                json={"kind": "self_governance_group", "name": "表决小区业主自治小组"},
            )
        )
    with world.client("a") as owner:
        assert ok(owner.get(f"{base}/onboarding"))["stage"] == "group_formed"

    # -- the tender, and the assembly adopting the trust model and choosing company X
    with world.client("chair") as chair:
        adopt = ok(
            chair.post(
                world.path(),
                json={
                    "title": "业主大会：采用信托制物业服务模式",
                    "questions": [
                        {
                            "question_id": "trust",
                            "text": "采用信托制物业服务模式（共有资金归全体业主，双密码账户）",
                            "matter_class": 4,
                            "subject": {"kind": "trust_model", "id": case["case_id"]},
                        }
                    ],
                },
            )
        )["ballot_id"]
    company_ballot, x_bid = tender(world, "manager")
    with world.client("a") as owner:
        eventually(
            lambda: ok(owner.get(f"{base}/onboarding"))["stage"] == "tendering",
            what="the case learning of the tender",
        )
    with world.client("chair") as chair:
        # Before the assembly decided, there is nothing to contract on.
        early = chair.post(
            f"{base}/trust-contracts", json=contract_terms(world, today(world), "1/10")
        )
        assert early.status_code == 422 and "chosen" in early.json()["detail"]
    decide(
        world,
        [adopt, company_ballot],
        {
            adopt: [{"question_id": "trust", "answer": "yes"}],
            company_ballot: [{"question_id": "company", "candidate_ids": [x_bid]}],
        },
    )
    with world.client("a") as owner:
        decided = eventually(
            lambda: (c := ok(owner.get(f"{base}/onboarding")))["stage"] == "decided" and c,
            what="the case learning of both decisions",
        )
    assert decided["trust_model_ballot_id"] == adopt
    assert decided["company_ballot_id"] == company_ballot

    # -- the contract: drafted by the approving body, signed on both parties' devices
    starts = today(world) + timedelta(days=10)
    body = contract_terms(world, starts, "1/10")
    with world.client("manager") as x:
        assert x.post(f"{base}/trust-contracts", json=body).status_code in (403, 404)
    with world.client("chair") as chair:
        bad = chair.post(f"{base}/trust-contracts", json={**body, "dismissal_notice_days": 30})
        assert bad.status_code == 422
        contract = ok(chair.post(f"{base}/trust-contracts", json=body))
    assert contract["state"] == "awaiting_signatures"
    payload = json.loads(contract["payload_json"])
    assert payload["terms"]["remuneration_ratio"] == "1/10"
    assert payload["trustee"]["company_id"] == contract["company_id"]
    cid = contract["contract_id"]
    x_device, chair_device, y_device = (Device(world, w) for w in ("manager", "chair", "bidder"))
    with world.client("bidder") as y:
        # Another company cannot sign for the trustee.
        assert y.post(
            f"{base}/trust-contracts/{cid}/signatures", json=y_device.sign(contract["payload_json"])
        ).status_code in (403, 404)
    with world.client("manager") as x:
        forged = x.post(
            f"{base}/trust-contracts/{cid}/signatures",
            json=x_device.sign(contract["payload_json"] + " "),
        )
        assert forged.status_code == 400 and "does not verify" in forged.json()["detail"]
        # Someone else's key is not the signer's.
        assert (
            x.post(
                f"{base}/trust-contracts/{cid}/signatures",
                json=chair_device.sign(contract["payload_json"]),
            ).status_code
            == 422
        )
        ok(
            x.post(
                f"{base}/trust-contracts/{cid}/signatures",
                json=x_device.sign(contract["payload_json"]),
            )
        )
    with world.client("chair") as chair:
        signed = ok(
            chair.post(
                f"{base}/trust-contracts/{cid}/signatures",
                json=chair_device.sign(contract["payload_json"]),
            )
        )
    assert signed["state"] == "signed"
    assert {s["party"] for s in signed["signatures"]} == {"company", "approving_body"}
    with world.client("a") as owner:
        assert ok(owner.get(f"{base}/onboarding"))["stage"] == "contract_signed"

    # -- the company's access from the start date, and not before
    with world.client("chair") as chair:
        eventually(
            lambda: ok(chair.get(f"{base}/ledger/accounts")) != [], what="the estate's books"
        )
    assert post_income(world, "manager", 10_000).status_code in (403, 404)
    # The morning of the start date (a fixed 10 days and an hour would cross midnight when the
    # test runs late in the evening, Shanghai time).
    morning = datetime.combine(starts, time(10), tzinfo=SHANGHAI)
    world.at((morning - datetime.now(UTC)).total_seconds())
    assert today(world) == starts
    with world.client("chair") as chair:
        # Signing told the ledger the terms (in real life days before the start).
        eventually(
            lambda: chair.get(f"{base}/ledger/contract-terms").status_code == 200,
            what="the ledger taking the contract's terms",
        )
    first = ok(post_income(world, "manager", 10_000))
    assert first["entry_id"]
    with world.client("a") as owner:
        assert ok(owner.get(f"{base}/onboarding"))["stage"] == "active"
        assert ok(owner.get(f"{base}/trust-contracts/{cid}"))["state"] == "in_force"
        # The contract's financial terms reached the ledger by events.
        ledger_terms = eventually(
            lambda: (
                (t := owner.get(f"{base}/ledger/contract-terms")).status_code == 200 and t.json()
            ),
            what="the ledger taking the contract's terms",
        )
        assert (ledger_terms["ratio"], ledger_terms["effective_from"]) == (
            "1/10",
            starts.isoformat(),
        )
        thresholds = ok(owner.get(f"{base}/ledger/approval-thresholds"))["thresholds"]
        assert [t["approvals"] for t in thresholds] == [1, 2]
        accounts = ok(owner.get(f"{base}/bank-accounts"))
        assert [a["number"] for a in accounts] == ["5105 0142 6208 0000 3131"]
    assert remuneration_on(world, starts) == -1_000

    # -- the owners dismiss company X, and choose company Y by a new tender
    with world.client("chair") as chair:
        dismissal = ok(
            chair.post(
                world.path(),
                json={
                    "title": "业主大会：解聘物业服务企业",
                    "questions": [
                        {
                            "question_id": "dismiss",
                            "text": "解聘现物业服务企业，提前六十日书面通知",
                            "matter_class": 4,
                            "subject": {"kind": "dismissal", "id": cid},
                        },
                        {
                            "question_id": "committee",
                            "text": "选举业主委员会委员",
                            "matter_class": 3,
                            "kind": "candidates",
                            "seats": 2,
                            "candidates": [
                                {"candidate_id": "jia", "name": "甲"},
                                {"candidate_id": "yi", "name": "乙"},
                                {"candidate_id": "bing", "name": "丙"},
                            ],
                            "subject": {"kind": "committee_election", "id": case["case_id"]},
                        },
                    ],
                },
            )
        )["ballot_id"]
    y_ballot, y_bid = tender(world, "bidder", remuneration_ratio="2/25")
    decide(
        world,
        [dismissal, y_ballot],
        {
            dismissal: [
                {"question_id": "dismiss", "answer": "yes"},
                {"question_id": "committee", "candidate_ids": ["jia", "yi"]},
            ],
            y_ballot: [{"question_id": "company", "candidate_ids": [y_bid]}],
        },
    )
    decided_on = today(world)
    with world.client("chair") as chair:
        (handover,) = eventually(
            lambda: ok(chair.get(f"{base}/handovers")) or None,
            what="the dismissal opening the handover",
        )
        case = eventually(
            lambda: (
                (c := ok(chair.get(f"{base}/onboarding")))["company_ballot_id"] == y_ballot and c
            ),
            what="the case learning of the new choice",
        )
    assert (handover["reason"], handover["ballot_id"]) == ("dismissal", dismissal)
    with world.client("a") as owner:
        # The elected committee is the approving body now, in place of the self-governance group.
        body_now = eventually(
            lambda: (
                (b := ok(owner.get(f"/api/v1/estates/{world.estate_id}"))["approving_body"])["kind"]
                == "committee"
                and b
            ),
            what="the committee replacing the group",
        )
        assert body_now["formed_on"] == decided_on.isoformat()
    notice_ends = date.fromisoformat(handover["notice_ends_on"])
    assert notice_ends == decided_on + timedelta(days=60)
    assert case["stage"] == "changing"
    with world.client("manager") as x:
        # The contract is ending already; the company's own notice has nothing to end.
        assert x.post(f"{base}/trust-contracts/{cid}/notice").status_code == 422

    # -- company Y's contract, signed now, waits for the handover
    with world.client("chair") as chair:
        second = ok(
            chair.post(
                f"{base}/trust-contracts",
                json=contract_terms(world, today(world) + timedelta(days=1), "2/25"),
            )
        )
        # One contract per decision.
        again = chair.post(
            f"{base}/trust-contracts",
            json=contract_terms(world, today(world) + timedelta(days=1), "2/25"),
        )
        assert again.status_code == 422
    c2 = second["contract_id"]
    with world.client("bidder") as y:
        # Y does not serve the estate, yet reads and signs the contract it is a party to...
        assert [c["contract_id"] for c in ok(y.get(f"{base}/trust-contracts"))] == [c2]
        ok(
            y.post(
                f"{base}/trust-contracts/{c2}/signatures",
                json=y_device.sign(second["payload_json"]),
            )
        )
        # ...but not the estate's books.
        assert y.get(f"{base}/ledger/entries").status_code in (403, 404)
    with world.client("chair") as chair:
        signed = ok(
            chair.post(
                f"{base}/trust-contracts/{c2}/signatures",
                json=chair_device.sign(second["payload_json"]),
            )
        )
        assert signed["state"] == "signed"
        (handover,) = ok(chair.get(f"{base}/handovers"))
        assert handover["incoming_contract_id"] == c2

    # -- the handover: company X refuses the keys, then gives in
    hid = handover["handover_id"]
    items = [
        {"item": i, "state": "done", "note": ""}
        for i in ("balances", "arrears", "vouchers", "documents")
    ]
    with world.client("a") as owner:
        assert owner.patch(f"{base}/handovers/{hid}", json={"items": items}).status_code == 403
    with world.client("chair") as chair:
        refused = ok(
            chair.patch(
                f"{base}/handovers/{hid}",
                json={
                    "items": [
                        *items,
                        {"item": "keys", "state": "refused", "note": "拒不移交门禁及机房钥匙"},
                    ]
                },
            )
        )
        assert refused["refused_from"] == notice_ends.isoformat()
        early = chair.post(f"{base}/handovers/{hid}/completion", json={})
        assert early.status_code == 422 and notice_ends.isoformat() in early.json()["detail"]
    world.at(world.offset + (notice_ends - today(world)).days * DAY + 3 * DAY)
    during = today(world)
    with world.client("chair") as chair:
        # The ledger learnt of the refusal: owners read from when X earns nothing.
        eventually(
            lambda: (
                ok(chair.get(f"{base}/ledger/contract-terms"))["remuneration_suspended_from"]
                == notice_ends.isoformat()
            ),
            what="the ledger suspending X's remuneration",
        )
    # X still holds the estate (the handover has not happened) but earns nothing meanwhile.
    ok(post_income(world, "manager", 20_000))
    with world.client("chair") as chair:
        stuck = chair.post(f"{base}/handovers/{hid}/completion", json={})
        assert stuck.status_code == 422 and "keys" in stuck.json()["detail"]
    assert remuneration_on(world, during) == 0
    world.at(world.offset + DAY)
    handed = today(world)
    with world.client("chair") as chair:
        ok(
            chair.patch(
                f"{base}/handovers/{hid}", json={"items": [{"item": "keys", "state": "done"}]}
            )
        )
        done = ok(chair.post(f"{base}/handovers/{hid}/completion", json={}))
    assert (done["state"], done["handed_over_on"]) == ("completed", handed.isoformat())

    # -- the new company holds the estate from the handover day; the old one no longer does
    assert post_income(world, "manager", 10_000).status_code in (403, 404)
    with world.client("a") as owner:
        eventually(
            lambda: ok(owner.get(f"{base}/ledger/contract-terms"))["ratio"] == "2/25",
            what="the ledger taking the new contract's terms",
        )
        contracts = {c["contract_id"]: c for c in ok(owner.get(f"{base}/trust-contracts"))}
        assert (contracts[cid]["state"], contracts[cid]["ended_on"]) == (
            "ended",
            handed.isoformat(),
        )
        assert contracts[c2]["state"] == "in_force"
        assert ok(owner.get(f"{base}/onboarding"))["stage"] == "active"
        assert owner.get("/api/v1/onboarding/stages").status_code == 403
    ok(post_income(world, "bidder", 50_000))
    # 2/25 of the new company's own income only: X's income of the refusal days earns nothing.
    assert remuneration_on(world, handed) == -4_000
    with world.client("community") as community:
        stages = ok(community.get("/api/v1/onboarding/stages"))
    (mine,) = [e for e in stages if e["estate_id"] == world.estate_id]
    assert (mine["stage"], mine["company_id"]) == ("active", second["company_id"])
