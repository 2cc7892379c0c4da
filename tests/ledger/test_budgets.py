"""Opening balances of an estate joining mid-life, budgets approved by the owners' assembly, and
the maintenance fund spent only on a use the assembly approved.

The assembly's decisions reach the ledger as voting's ballot_decided events on JetStream; until
the voting service decides ballots (its own issue), these tests publish the event the way voting
will: an EventEnvelope on the voting stream with the estate's next sequence number."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from datetime import date

import nats
from google.protobuf import any_pb2

from tests.identity.world import World, ok
from tests.poll import eventually
from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_dev.platform import Platform

_sequences: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


def decide(platform: Platform, estate_id: str, subject: str, approved: bool) -> None:
    event = voting_events.BallotDecided(
        estate_id=estate_id,
        ballot_id=str(uuid.uuid4()),
        question_id=str(uuid.uuid4()),
        subject_ref=subject,
        approved=approved,
    )
    payload = any_pb2.Any()
    payload.Pack(event)
    envelope = common_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        estate_id=estate_id,
        sequence=next(_sequences[estate_id]),
        emitter="voting",
        payload=payload,
    )

    async def publish() -> None:
        nc = await nats.connect(platform.nats_url)
        try:
            await nc.jetstream().publish(
                f"xinyi.voting.v1.{estate_id}.ballot_decided",
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
        finally:
            await nc.close()

    asyncio.run(publish())


def test_opening_balances_are_the_first_marked_entry(platform: Platform, world: World) -> None:
    with world.client("operator") as op:
        estate = ok(op.post("/api/v1/estates", json={"name": "老院落"}))["estate_id"]
        eventually(
            lambda: op.get(f"/api/v1/estates/{estate}/ledger/accounts").json(), what="books to open"
        )
        entry = ok(
            op.post(
                f"/api/v1/estates/{estate}/ledger/opening",
                json={
                    "as_of": "2024-12-31",
                    "balances": [
                        {"account_code": "1001", "amount_fen": 8_000_000},
                        {"account_code": "1002", "amount_fen": 2_500_000},
                        {"account_code": "3002", "amount_fen": -2_500_000},
                    ],
                },
            )
        )
        assert entry["kind"] == "opening" and entry["chain_index"] == 1
        assert ("3001", -8_000_000) in [(ln["account"], ln["amount_fen"]) for ln in entry["lines"]]
        fund = ok(op.get(f"/api/v1/estates/{estate}/fund"))
        assert fund["fund_bank_fen"] == 8_000_000 and fund["maintenance_bank_fen"] == 2_500_000
        again = op.post(
            f"/api/v1/estates/{estate}/ledger/opening",
            json={"as_of": "2024-12-31", "balances": [{"account_code": "1001", "amount_fen": 1}]},
        )
        assert again.status_code == 422 and "first entry" in again.json()["detail"]


def test_budget_is_approved_by_the_assembly_and_tracks_actuals(
    platform: Platform, world: World, totp
) -> None:
    year = date.today().year
    base = f"/api/v1/estates/{world.estate_a}"
    with world.client("company_manager") as manager:
        draft = ok(
            manager.put(
                f"{base}/budgets/{year}",
                json={
                    "lines": [
                        {
                            "line_id": "clean",
                            "name": "保洁",
                            "expense_code": "5002",
                            "amount_fen": 12_000_000,
                        },
                        {
                            "line_id": "green",
                            "name": "绿化",
                            "expense_code": "5003",
                            "amount_fen": 3_000_000,
                        },
                    ]
                },
            )
        )
    assert draft["state"] == "draft" and draft["total_fen"] == 15_000_000
    with world.client("owner") as owner:
        assert (
            owner.put(
                f"{base}/budgets/{year}",
                json={"lines": [{"name": "x", "expense_code": "5002", "amount_fen": 1}]},
            ).status_code
            == 403
        )
    decide(platform, world.estate_a, draft["decision_subject"], approved=True)
    with world.client("owner") as owner:
        approved = eventually(
            lambda: (b := owner.get(f"{base}/budgets/{year}").json())["state"] == "approved" and b,
            what="the assembly's decision to reach the ledger",
        )
    assert approved["budget_id"] == draft["budget_id"]
    with world.client("committee_chair") as chair:
        changed = chair.put(
            f"{base}/budgets/{year}",
            json={"lines": [{"name": "x", "expense_code": "5002", "amount_fen": 1}]},
        )
        assert changed.status_code == 422
    with world.client("company_accountant") as acc:
        ok(acc.post(f"{base}/ledger/entries", json={"source": "parking", "amount_fen": 500_000}))
        unknown = acc.post(
            f"{base}/disbursements",
            json={
                "amount_fen": 1000,
                "payee": "x",
                "purpose": "y",
                "expense_code": "5002",
                "budget_line_id": "nope",
            },
        )
        assert unknown.status_code == 400
        asked = ok(
            acc.post(
                f"{base}/disbursements",
                json={
                    "amount_fen": 150_000,
                    "payee": "保洁公司",
                    "purpose": "五月保洁",
                    "expense_code": "5002",
                    "budget_line_id": "clean",
                },
            )
        )
    with world.client("committee_member") as member:
        ok(
            member.post(
                f"{base}/disbursements/{asked['disbursement_id']}/approvals",
                json={"totp": totp("committee_member")},
            )
        )
    with world.client("company_accountant") as acc:
        ok(
            acc.post(
                f"{base}/disbursements/{asked['disbursement_id']}/payment",
                json={"bank_evidence": "BANK-5"},
            )
        )
        budget = ok(acc.get(f"{base}/budgets/{year}"))
    lines = {ln["line_id"]: ln for ln in budget["lines"]}
    assert lines["clean"]["actual_fen"] == 150_000 and lines["green"]["actual_fen"] == 0


def test_maintenance_fund_needs_the_assemblys_decision(
    platform: Platform, world: World, totp
) -> None:
    base = f"/api/v1/estates/{world.estate_b}"
    use = f"elevator-{uuid.uuid4().hex[:6]}"
    # Estate B is served by company B; its manager is world.other_company_token.
    with world.as_token(world.other_company_token) as manager:
        refused = manager.post(
            f"{base}/disbursements",
            json={
                "amount_fen": 100_000,
                "payee": "电梯公司",
                "purpose": "更换电梯钢丝绳",
                "expense_code": "5005",
                "maintenance_use_id": use,
            },
        )
        assert refused.status_code == 422 and "has not approved" in refused.json()["detail"]
    decide(platform, world.estate_b, f"maintenance_use:{use}", approved=True)

    def asked() -> dict | None:  # type: ignore[type-arg]
        with world.as_token(world.other_company_token) as manager:
            reply = manager.post(
                f"{base}/disbursements",
                json={
                    "amount_fen": 100_000,
                    "payee": "电梯公司",
                    "purpose": "更换电梯钢丝绳",
                    "expense_code": "5005",
                    "maintenance_use_id": use,
                },
                headers={"Idempotency-Key": use},
            )
        return reply.json() if reply.status_code == 201 else None

    disbursement = eventually(asked, what="the decision to allow the request")
    assert disbursement["maintenance_use_id"] == use


def test_the_chart_is_extendable_per_estate(world: World) -> None:
    base = f"/api/v1/estates/{world.estate_b}"
    with world.as_token(world.other_company_token) as manager:
        added = manager.post(f"{base}/ledger/accounts", json={"code": "5009", "name": "电梯年检"})
        assert added.status_code == 201 and added.json()["type"] == "expense"
        again = manager.post(f"{base}/ledger/accounts", json={"code": "5009", "name": "重复"})
        assert again.status_code == 409
        wrong = manager.post(f"{base}/ledger/accounts", json={"code": "6001", "name": "x"})
        assert wrong.status_code == 422
        asked = ok(
            manager.post(
                f"{base}/disbursements",
                json={
                    "amount_fen": 60_000,
                    "payee": "特种设备检验所",
                    "purpose": "电梯年检",
                    "expense_code": "5009",
                },
            )
        )
        assert asked["expense_code"] == "5009"
        not_expense = manager.post(
            f"{base}/disbursements",
            json={"amount_fen": 60_000, "payee": "x", "purpose": "y", "expense_code": "5999"},
        )
        assert not_expense.status_code == 400
    with world.client("owner") as owner:  # an owner of estate A: B is none of theirs
        assert (
            owner.post(f"{base}/ledger/accounts", json={"code": "5010", "name": "x"}).status_code
            == 404
        )
    with world.client("company_manager") as other:  # serves A, not B
        accounts = other.get(f"/api/v1/estates/{world.estate_a}/ledger/accounts").json()
        assert "5009" not in {a["code"] for a in accounts}


def test_maintenance_fund_is_raised_by_area_only_on_the_assemblys_decision(
    platform: Platform, world: World
) -> None:
    base = f"/api/v1/estates/{world.estate_a}"
    raise_id = f"raise-{uuid.uuid4().hex[:6]}"
    body = {"raise_id": raise_id, "fen_per_m2": 3_000}
    with world.client("company_accountant") as acc:
        refused = acc.post(f"{base}/maintenance-fund/raises", json=body)
        assert refused.status_code == 422 and "has not approved" in refused.json()["detail"]
    decide(platform, world.estate_a, f"maintenance_raise:{raise_id}", approved=True)
    with world.client("company_accountant") as acc:
        raised = eventually(
            lambda: (
                (
                    r := acc.post(
                        f"{base}/maintenance-fund/raises",
                        json=body,
                        headers={"Idempotency-Key": raise_id},
                    )
                ).status_code
                == 201
                and r.json()
            ),
            what="the decision and the units to reach the ledger",
        )
        # 89.50, 102.25 and 45.00 m² at 30 yuan/m², each rounded half up to the fen.
        assert raised["raised_fen"] == 268_500 + 306_750 + 135_000
        assert raised["units_owing"] == 3 and len(raised["owed"]) == 3
        twice = acc.post(f"{base}/maintenance-fund/raises", json=body)
        assert twice.status_code == 422
        unit = raised["owed"][0]["unit_id"]
        too_much = acc.post(
            f"{base}/maintenance-fund/payments", json={"unit_id": unit, "amount_fen": 10_000_000}
        )
        assert too_much.status_code == 422
        paid = ok(
            acc.post(
                f"{base}/maintenance-fund/payments",
                json={"unit_id": unit, "amount_fen": raised["owed"][0]["owed_fen"]},
            )
        )
        assert paid["units_owing"] == 2 and paid["bank_fen"] >= raised["owed"][0]["owed_fen"]
        fund = ok(acc.get(f"{base}/fund"))
    assert fund["maintenance_bank_fen"] == paid["bank_fen"]
    with world.client("owner") as owner:
        seen = ok(owner.get(f"{base}/maintenance-fund"))
    assert seen["owed"] is None and seen["units_owing"] == 2


def test_historical_arrears_are_settled_first(platform: Platform, world: World) -> None:
    from tests.identity.world import signin

    with world.client("operator") as op:
        estate = ok(op.post("/api/v1/estates", json={"name": "加入中的院落"}))["estate_id"]
        ok(
            op.put(
                f"/api/v1/estates/{estate}/company",
                json={"company_id": world.company_a, "starts_on": "2020-01-01"},
            )
        )
        ok(
            op.post(
                f"/api/v1/estates/{estate}/imports",
                content=(
                    "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
                    "1栋,1-101,residential,100.00,周强,person,,\n"
                ).encode(),
                headers={"content-type": "text/csv"},
            )
        )
        unit = ok(op.get(f"/api/v1/estates/{estate}/units"))["units"][0]["unit_id"]
        eventually(
            lambda: op.get(f"/api/v1/estates/{estate}/ledger/accounts").json(), what="books to open"
        )
        # The opening names the unit: the ledger must have learnt it from identity first.
        eventually(
            lambda: op.get(f"/api/v1/estates/{estate}/fees/arrears").json().get("units_total") == 1,
            what="the ledger learning the unit",
        )
        ok(
            op.post(
                f"/api/v1/estates/{estate}/ledger/opening",
                json={
                    "as_of": "2025-12-31",
                    "balances": [
                        {"account_code": "1001", "amount_fen": 1_000_000},
                        {"account_code": "1101", "amount_fen": 60_000, "unit_id": unit},
                    ],
                },
            )
        )
    # The accountant's token must list the new estate: sign in again.
    token = signin(platform.gateway_url, world.usernames["company_accountant"])
    base = f"/api/v1/estates/{estate}"
    with world.as_token(token) as acc:
        assert ok(acc.get(f"{base}/fees/rates")) == {"rates": []}  # none set yet: not an error
        arrears = ok(acc.get(f"{base}/fees/arrears"))
        assert arrears["total_fen"] == 60_000
        assert arrears["by_period"] == [{"period": "2025-12", "amount_fen": 60_000}]

        def paid() -> dict | None:  # type: ignore[type-arg]
            reply = acc.post(
                f"{base}/payments",
                json={"unit_id": unit, "amount_fen": 70_000},
                headers={"Idempotency-Key": f"hist-{unit}"},
            )
            return reply.json() if reply.status_code in (200, 201) else None

        settled = eventually(paid, what="the unit to reach the ledger")
    assert settled["settled"][0] == {"period": "2025-12", "amount_fen": 60_000}
    assert settled["prepaid_fen"] == 10_000
