"""Merged courtyards through the gateway: two small estates managed as one by the same company;
a cost they share is split by area into a payment request of each, to the fen, each estate
keeping its own fund and approvals; the company must serve every member to split a cost."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.identity.world import World, ok, signin
from tests.poll import eventually
from xinyi_ledger.groups import split_by_area

UNITS = "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"


def test_a_split_adds_up_to_the_fen_and_follows_area() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert split_by_area(100_001, {a: 30_000, b: 10_000}) == {a: 75_001, b: 25_000}
    thirds = split_by_area(100, {a: 1, b: 1, c: 1})
    assert sum(thirds.values()) == 100 and sorted(thirds.values()) == [33, 33, 34]
    # The same split whatever order the estates come in.
    assert split_by_area(100, {c: 1, b: 1, a: 1}) == thirds
    with pytest.raises(ValueError):
        split_by_area(100, {a: 0})


def estate(op: httpx.Client, world: World, name: str, rows: str) -> str:
    estate_id = ok(
        op.post("/api/v1/estates", json={"name": name, "community_id": world.community_a})
    )["estate_id"]
    ok(
        op.put(
            f"/api/v1/estates/{estate_id}/company",
            json={"company_id": world.company_a, "starts_on": "2020-01-01"},
        )
    )
    ok(
        op.post(
            f"/api/v1/estates/{estate_id}/imports",
            content=(UNITS + rows).encode(),
            headers={"content-type": "text/csv"},
        )
    )
    return str(estate_id)


def test_a_shared_cost_becomes_one_request_per_estate_by_area(world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    with world.client("operator") as op:
        east = estate(
            op,
            world,
            f"东院{tag}",
            "1栋,101,residential,200.00,赵,person,,\n1栋,102,residential,100.00,钱,person,,\n",
        )
        west = estate(op, world, f"西院{tag}", "1栋,101,residential,100.00,孙,person,,\n")
        group = ok(
            op.post(
                "/api/v1/management-groups",
                json={"name": f"东西院{tag}", "estate_ids": [east, west]},
            )
        )
        # A group with an estate another company serves.
        ok(
            op.post(
                "/api/v1/management-groups",
                json={"name": f"混合{tag}", "estate_ids": [world.estate_b, world.estate_a]},
            )
        )
    # A fresh sign-in: the company's grant reaches the estates it serves today.
    token = signin(world.base, world.usernames["company_accountant"])
    with httpx.Client(
        base_url=world.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as acc:
        shown = eventually(
            lambda: (
                (r := acc.get(f"/api/v1/estates/{east}/management-group")).status_code == 200
                and r.json()["members"]
                and all(m["area_centi_m2"] for m in r.json()["members"])
                and r.json()
            ),
            what="the ledger learning of the group and its units",
        )
        assert shown["group_id"] == group["group_id"]
        assert {m["estate_id"]: m["area_centi_m2"] for m in shown["members"]} == {
            east: 30_000,
            west: 10_000,
        }
        body = {
            "amount_fen": 100_001,
            "payee": "成都锦城保洁服务有限公司",
            "purpose": "两院共用保洁员 6 月工资",
            "expense_code": "5002",
        }
        cost = ok(
            acc.post(
                f"/api/v1/estates/{west}/shared-costs", json=body, headers={"Idempotency-Key": tag}
            )
        )
        again = ok(
            acc.post(
                f"/api/v1/estates/{west}/shared-costs", json=body, headers={"Idempotency-Key": tag}
            )
        )
        assert again["cost_id"] == cost["cost_id"]
        shares = {s["estate_id"]: s for s in cost["shares"]}
        assert {e: s["amount_fen"] for e, s in shares.items()} == {east: 75_001, west: 25_000}
        for e, s in shares.items():
            d = s["disbursement"]
            assert (d["amount_fen"], d["state"]) == (s["amount_fen"], "requested")
            assert "按面积" in d["purpose"] and "1,000.01" in d["purpose"]
            # Each estate's own queue holds its own share, and only that.
            queue = ok(acc.get(f"/api/v1/estates/{e}/disbursements"))
            assert [x["disbursement_id"] for x in queue] == [d["disbursement_id"]]
        listed = ok(acc.get(f"/api/v1/estates/{east}/shared-costs"))
        assert [(c["cost_id"], [s["amount_fen"] for s in c["shares"]]) for c in listed] == [
            (cost["cost_id"], [75_001])
        ]
        # The accountant's company does not serve estate B: no split over it.
        eventually(
            lambda: (
                acc.get(f"/api/v1/estates/{world.estate_a}/management-group").status_code == 200
            ),
            what="the mixed group",
        )
        refused = acc.post(f"/api/v1/estates/{world.estate_a}/shared-costs", json=body)
        assert refused.status_code == 403 and "every estate" in refused.json()["detail"]
        # Nor does it read the other company's estate, merged or not.
        assert acc.get(f"/api/v1/estates/{world.estate_b}/management-group").status_code == 404
    with world.client("owner") as owner:
        assert (
            owner.post(f"/api/v1/estates/{world.estate_a}/shared-costs", json=body).status_code
            == 403
        )
