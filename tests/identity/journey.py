"""Steps of an estate's way into the trust model that the API journey and the browser journey
share: the world (an estate nobody serves yet, with its people), the tender, the assembly's
decisions with the platform's clock moved, the contract's terms and a device key signing as
WebCrypto does."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.identity.world import PASSWORD, ok, random_phone
from tests.poll import eventually
from tests.voting.test_ballots import CSV, Assembly, build
from tests.voting.test_tenders import bid_body, second_company, terms
from xinyi_dev.platform import Platform

DAY = 24 * 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")


def onboarding_estate(platform: Platform, operator_token: str) -> Assembly:
    """An estate nobody serves yet, its owners and chair, a company manager (company X), another
    company's manager ("bidder", company Y) and the community's supervisor ("community")."""
    world = build(platform, operator_token, CSV, served_since=None)
    second_company(platform, world)
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(
        base_url=world.base, headers={"Authorization": f"Bearer {operator_token}"}, timeout=30
    ) as op:
        user = ok(
            op.post(
                "/api/v1/users",
                json={
                    "username": f"community-{tag}",
                    "phone": random_phone(),
                    "password": PASSWORD,
                },
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={
                    "user_id": user["user_id"],
                    "role": "community_supervisor",
                    "community_id": world.community_id,
                },
            )
        )
    world.usernames["community"] = f"community-{tag}"
    return world


def today(world: Assembly) -> date:
    return (datetime.now(UTC) + timedelta(seconds=world.offset)).astimezone(SHANGHAI).date()


def now(world: Assembly) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=world.offset)


class Device:
    """A key made on a person's own device, registered with identity; signs as WebCrypto does."""

    def __init__(self, world: Assembly, who: str) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        n = self.private.public_key().public_numbers()

        def b64(v: int) -> str:
            return base64.urlsafe_b64encode(v.to_bytes(32, "big")).rstrip(b"=").decode()

        jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x), "y": b64(n.y)}
        with world.client(who) as c:
            self.key_id = ok(c.post("/api/v1/me/device-keys", json={"public_jwk": jwk}))["key_id"]

    def sign(self, text: str) -> dict[str, str]:
        r, s = decode_dss_signature(self.private.sign(text.encode(), ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {
            "key_id": self.key_id,
            "signature": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        }


def decide(world: Assembly, ballots: list[str], voters: dict[str, list[dict[str, Any]]]) -> None:
    """Announces the drafted ballots, opens them, lets a, b and c vote, closes and finalises:
    about 24 days of the platform's clock."""
    start = world.offset
    with world.client("chair") as chair:
        for b in ballots:
            ok(
                chair.post(
                    world.path(f"/{b}/announce"),
                    json={
                        "voting_opens_at": (now(world) + timedelta(days=15, hours=1)).isoformat(),
                        "voting_closes_at": (now(world) + timedelta(days=22)).isoformat(),
                        "objection_days": 1,
                    },
                )
            )
    world.at(start + 15 * DAY + 2 * 3600)
    with world.client("chair") as chair:
        for b in ballots:
            assert ok(chair.post(world.path(f"/{b}/open")))["state"] == "open"
    for who in ("a", "b", "c"):
        with world.client(who) as owner:
            for b in ballots:
                ok(owner.put(world.path(f"/{b}/vote"), json={"choices": voters[b]}))
    world.at(start + 22 * DAY + 3600)
    with world.client("chair") as chair:
        for b in ballots:
            ok(chair.post(world.path(f"/{b}/close")))
    world.at(start + 24 * DAY)
    with world.client("chair") as chair:
        for b in ballots:
            assert ok(chair.post(world.path(f"/{b}/finalize")))["state"] == "final"


def tender(world: Assembly, bidder: str, **bid: Any) -> tuple[str, str]:
    """A tender published by the chair and bid for by `bidder`; closed a day later and put to a
    ballot. Returns (tender id, ballot id) and the bid's candidate."""
    path = f"/api/v1/estates/{world.estate_id}/tenders"
    with world.client("chair") as chair:
        tid = ok(chair.post(path, json=terms(now(world) + timedelta(days=1))))["tender_id"]
        ok(chair.post(f"{path}/{tid}/publish"))
    with world.client(bidder) as company:
        bid_id = ok(company.post(f"/api/v1/tenders/{tid}/bids", json=bid_body(**bid)))["bid_id"]
    world.at(world.offset + 2 * DAY)
    with world.client("chair") as chair:
        ballot = ok(chair.post(f"{path}/{tid}/ballot"))["ballot_id"]
    return ballot, bid_id


def contract_terms(world: Assembly, starts: date, ratio: str) -> dict[str, Any]:
    return {
        "service_standard": "成都市住宅物业服务等级二级标准",
        "scope": "共有部分的保洁、绿化、秩序维护、设施设备维护",
        "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "250"}],
        "remuneration_ratio": ratio,
        "remuneration_sources": ["property_fee", "parking", "other"],
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=3 * 365)).isoformat(),
        "bank_account_number": "5105 0142 6208 0000 3131",
        "bank_name": "中国建设银行成都锦江支行",
        "bank_account_holder": "表决小区业主大会",
        "approval_thresholds": [
            {"up_to_fen": 500_000, "approvals": 1},
            {"up_to_fen": None, "approvals": 2},
        ],
        "supervisors": ["王律师（法律顾问）", "李会计（财务监督）"],
    }


def assembly_chooses(world: Assembly, case_id: str, bidder: str = "manager") -> None:
    """The middle of the journey as the API test drives it: the community forms the estate's
    self-governance group, the chair puts the trust model to the assembly and publishes a tender
    `bidder`'s company bids for; the owners adopt the model and choose that company (about 26 days
    of the platform's clock); returns once the case has learnt both decisions."""
    base = f"/api/v1/estates/{world.estate_id}"
    with world.client("community") as community:
        ok(
            community.put(
                f"{base}/approving-body",
                json={"kind": "self_governance_group", "name": "表决小区业主自治小组"},
            )
        )
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
                            "subject": {"kind": "trust_model", "id": case_id},
                        }
                    ],
                },
            )
        )["ballot_id"]
    company_ballot, bid = tender(world, bidder)
    with world.client("chair") as chair:
        eventually(
            lambda: ok(chair.get(f"{base}/onboarding"))["stage"] == "tendering",
            what="the case learning of the tender",
        )
    decide(
        world,
        [adopt, company_ballot],
        {
            adopt: [{"question_id": "trust", "answer": "yes"}],
            company_ballot: [{"question_id": "company", "candidate_ids": [bid]}],
        },
    )
    with world.client("chair") as chair:
        eventually(
            lambda: ok(chair.get(f"{base}/onboarding"))["stage"] == "decided",
            what="the case learning of both decisions",
        )
