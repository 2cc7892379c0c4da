"""Signatures over period heads and trust contracts are refused, each with a sentence saying why,
when the key is not the signer's registered and live key, when the signature is over other bytes
(another month's head, another contract, the same document written differently, one character
more), or when it is replayed."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.identity.journey import contract_terms, decide, onboarding_estate, tender, today
from tests.identity.world import World, build, ok
from tests.poll import eventually
from tests.voting.test_ballots import Assembly
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock


class Device:
    """A P-256 key made on the signer's device, signing as WebCrypto does (r || s, base64url)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.key_id = ""
        if client is not None:
            key = ok(client.post("/api/v1/me/device-keys", json={"public_jwk": self.jwk}))
            self.key_id = key["key_id"]

    @property
    def jwk(self) -> dict[str, str]:
        n = self.private.public_key().public_numbers()

        def b64(v: int) -> str:
            return base64.urlsafe_b64encode(v.to_bytes(32, "big")).rstrip(b"=").decode()

        return {"kty": "EC", "crv": "P-256", "x": b64(n.x), "y": b64(n.y)}

    def sign(self, text: str, key_id: str | None = None) -> dict[str, str]:
        r, s = decode_dss_signature(self.private.sign(text.encode(), ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {
            "key_id": key_id if key_id is not None else self.key_id,
            "signature": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        }


def months_back(n: int) -> str:
    today = date.today()
    index = today.year * 12 + today.month - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


@pytest.fixture(scope="module")
def heads(world: World) -> dict[str, dict[str, object]]:
    """Two closed months of estate A, the older first."""
    base = f"/api/v1/estates/{world.estate_a}"
    closed = {}
    with world.client("company_accountant") as acc:
        for n in (2, 1):
            month = months_back(n)
            ok(
                acc.post(
                    f"{base}/ledger/entries",
                    json={
                        "source": "parking",
                        "amount_fen": 10_000 + n,
                        "booked_on": f"{month}-10",
                    },
                )
            )
            closed[month] = ok(acc.post(f"{base}/periods/{month}/close"))
    return closed


def refused(reply: httpx.Response, status: int, words: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert words in reply.json()["detail"], reply.json()["detail"]


def test_a_head_signature_is_refused_unless_it_is_the_signers_live_key_over_these_bytes(
    world: World, heads: dict[str, dict[str, object]]
) -> None:
    older, newer = sorted(heads)
    target = str(heads[newer]["payload_json"])
    other_head = str(heads[older]["payload_json"])
    url = f"/api/v1/estates/{world.estate_a}/periods/{newer}/signatures"
    with world.client("company_manager") as manager, world.client("committee_chair") as chair:
        device = Device(manager)
        chair_device = Device(chair)
        revoked = Device(manager)
        ok(manager.delete(f"/api/v1/me/device-keys/{revoked.key_id}"))

        not_registered = Device()
        refused(
            manager.post(url, json=not_registered.sign(target, key_id=uuid.uuid4().hex)),
            422,
            "register the key first",
        )
        # A key never registered, under the id of the manager's real key: the bytes do not
        # verify with the registered key.
        refused(
            manager.post(url, json=not_registered.sign(target, key_id=device.key_id)),
            400,
            "does not verify",
        )
        # The chair's key and the chair's valid signature, sent by the manager.
        refused(manager.post(url, json=chair_device.sign(target)), 422, "register the key first")
        refused(manager.post(url, json=revoked.sign(target)), 422, "register the key first")
        # Replays: the manager's own valid signature of the other month's head; the same head
        # serialised differently (same meaning, other bytes); one byte more.
        refused(manager.post(url, json=device.sign(other_head)), 400, "does not verify")
        reordered = json.dumps(json.loads(target), indent=1, sort_keys=True)
        assert reordered != target
        refused(manager.post(url, json=device.sign(reordered)), 400, "does not verify")
        refused(manager.post(url, json=device.sign(target + "\n")), 400, "does not verify")
        refused(
            manager.post(url, json={"key_id": device.key_id, "signature": "不是base64"}),
            400,
            "base64url",
        )
        refused(
            manager.post(url, json={"key_id": device.key_id, "signature": "A" * 86}),
            400,
            "does not verify",
        )
        # Nothing of the above was recorded.
        head = ok(manager.get(f"/api/v1/estates/{world.estate_a}/periods/{newer}/head"))
        assert head["state"] == "awaiting_company" and head["signatures"] == []

        signed = manager.post(url, json=device.sign(target))
        assert signed.status_code == 200, signed.text
        # The same valid signature again, and the chair replaying it as a co-signature.
        again = manager.post(url, json=device.sign(target))
        refused(again, 422, "signed by the company already")
        company_signature = signed.json()["signatures"][0]
        replayed = chair.post(
            url,
            json={
                "key_id": company_signature["key_id"],
                "signature": company_signature["signature"],
            },
        )
        refused(replayed, 422, "register the key first")
        # The chair's signature of the other month does not co-sign this one.
        refused(chair.post(url, json=chair_device.sign(other_head)), 400, "does not verify")
        cosigned = chair.post(url, json=chair_device.sign(target))
        assert cosigned.status_code == 200, cosigned.text
        assert cosigned.json()["state"] == "signed"
        assert {s["role"] for s in cosigned.json()["signatures"]} == {"company", "committee"}

    with world.client("owner") as owner:
        verdict = ok(owner.get(f"/api/v1/estates/{world.estate_a}/ledger/verify"))
        assert verdict["ok"] is True and verdict["heads_checked"] >= 2


def test_another_estates_people_cannot_sign_its_heads(
    world: World, heads: dict[str, dict[str, object]]
) -> None:
    older = sorted(heads)[0]
    target = str(heads[older]["payload_json"])
    url = f"/api/v1/estates/{world.estate_a}/periods/{older}/signatures"
    with world.as_token(world.other_company_token) as other:
        device = Device(other)
        reply = other.post(url, json=device.sign(target))
        assert reply.status_code in (403, 404), reply.text
    with world.as_token(world.owner_b_token) as owner_b:
        device = Device(owner_b)
        assert owner_b.post(url, json=device.sign(target)).status_code in (403, 404)
    with world.client("owner") as owner:
        head = ok(owner.get(f"/api/v1/estates/{world.estate_a}/periods/{older}/head"))
        assert head["signatures"] == []


# -- trust contracts -------------------------------------------------------------------------


@pytest.fixture
def contract(platform: Platform, operator_token: str) -> Iterator[tuple[Assembly, dict[str, Any]]]:
    """An estate through its onboarding to a drafted trust contract awaiting both signatures:
    the community's case, a self-governance group, the assembly adopting the trust model and
    choosing company X by tender (about 25 days of the platform's clock, set back after)."""
    world = onboarding_estate(platform, operator_token)
    base = f"/api/v1/estates/{world.estate_id}"
    try:
        with world.client("community") as community:
            case = ok(
                community.post(
                    f"{base}/onboarding",
                    json={
                        "working_group": [{"name": "张书记", "affiliation": "社区党委"}],
                        "situation": {
                            "arrangement": "none",
                            "notes": "无人管理",
                            "surveyed_households": 4,
                            "accepting_households": 3,
                            "needs": "保洁",
                        },
                        "baseline": {
                            "payment_rate_permille": 420,
                            "open_disputes": 6,
                            "satisfaction_permille": 310,
                        },
                    },
                )
            )
            ok(
                community.put(
                    f"{base}/approving-body",
                    json={"kind": "self_governance_group", "name": "业主自治小组"},
                )
            )
        with world.client("chair") as chair:
            adopt = ok(
                chair.post(
                    world.path(),
                    json={
                        "title": "采用信托制物业服务模式",
                        "questions": [
                            {
                                "question_id": "trust",
                                "text": "采用信托制物业服务模式",
                                "matter_class": 4,
                                "subject": {"kind": "trust_model", "id": case["case_id"]},
                            }
                        ],
                    },
                )
            )["ballot_id"]
        company_ballot, x_bid = tender(world, "manager")
        decide(
            world,
            [adopt, company_ballot],
            {
                adopt: [{"question_id": "trust", "answer": "yes"}],
                company_ballot: [{"question_id": "company", "candidate_ids": [x_bid]}],
            },
        )
        with world.client("chair") as chair:
            eventually(
                lambda: ok(chair.get(f"{base}/onboarding"))["stage"] == "decided",
                what="the case learning of both decisions",
            )
            terms = contract_terms(world, today(world) + timedelta(days=10), "1/10")
            drafted = ok(chair.post(f"{base}/trust-contracts", json=terms))
        yield world, drafted
    finally:
        move_clock(world.clock_file, 0)


def test_a_contract_signature_is_refused_unless_live_own_key_over_this_contracts_bytes(
    contract: tuple[Assembly, dict[str, Any]],
) -> None:
    world, drafted = contract
    payload = str(drafted["payload_json"])
    url = f"/api/v1/estates/{world.estate_id}/trust-contracts/{drafted['contract_id']}/signatures"
    with world.client("manager") as manager, world.client("chair") as chair:
        device = Device(manager)
        chair_device = Device(chair)
        revoked = Device(manager)
        ok(manager.delete(f"/api/v1/me/device-keys/{revoked.key_id}"))
        stranger = Device()
        registered = "sign with a key registered on your own device"
        refused(manager.post(url, json=stranger.sign(payload, key_id="not-a-key")), 422, registered)
        refused(
            manager.post(url, json=stranger.sign(payload, key_id=device.key_id)),
            400,
            "does not verify",
        )
        refused(manager.post(url, json=chair_device.sign(payload)), 422, registered)
        refused(manager.post(url, json=revoked.sign(payload)), 422, registered)
        # Another contract's bytes: the same document but for its id, which every contract has
        # of its own; and the same document serialised differently.
        other = json.loads(payload)
        other["contract_id"] = str(uuid.uuid4())
        refused(manager.post(url, json=device.sign(json.dumps(other))), 400, "does not verify")
        reordered = json.dumps(json.loads(payload), indent=1, sort_keys=True)
        refused(manager.post(url, json=device.sign(reordered)), 400, "does not verify")
        unsigned = ok(manager.get(f"/api/v1/estates/{world.estate_id}/trust-contracts"))
        assert [c["signatures"] for c in unsigned] == [[]]

        signed = ok(manager.post(url, json=device.sign(payload)))
        refused(manager.post(url, json=device.sign(payload)), 409, "signed already")
        mine = signed["signatures"][0]
        # The chair replaying the company's signature as the approving body's.
        replayed = chair.post(url, json={"key_id": mine["key_id"], "signature": mine["signature"]})
        refused(replayed, 422, registered)
        both = ok(chair.post(url, json=chair_device.sign(payload)))
    assert both["state"] == "signed"
    assert {s["party"] for s in both["signatures"]} == {"company", "approving_body"}
