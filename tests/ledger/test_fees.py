"""Property fees through the gateway: rates, assessments by area half up, payments settling the
oldest month first, prepayments, arrears only as aggregates for owners, the payment rate, and
remuneration on fees received rather than assessed. Every test has an estate of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.identity.world import CSV_A, PASSWORD, credit_code, ok, random_phone
from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_ledger.domain import check_lines
from xinyi_ledger.fees import Fee, Unit, assessment_lines, payment_lines, percent
from xinyi_ledger.money import allocate_payment

# The world's units (tests/identity/world.py CSV_A): number -> (unit type, exclusive area m²).
AREAS = {
    "1-101": ("residential", Decimal("89.50")),
    "1-102": ("residential", Decimal("102.25")),
    "2-201": ("commercial", Decimal("45.00")),
}
# Fen per m² and month: 2.125 yuan for homes, 3.333 yuan for shops (45 × 333.3 = 14998.5).
RATES = {"residential": "212.5", "commercial": "333.3"}


def oracle_fee(number: str) -> int:
    """Area × rate rounded half up to the fen, computed apart from the service's money rules."""
    unit_type, area = AREAS[number]
    exact = Fraction(area) * Fraction(RATES[unit_type])
    return int((Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(0, ROUND_HALF_UP))


def month(offset: int) -> str:
    """The month `offset` months from this one (Asia/Shanghai), as YYYY-MM."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    index = today.year * 12 + today.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


ESTATE_ROLES = ("owner", "tenant", "committee_member", "committee_chair", "estate_supervisor")
OTHER_ROLES = (
    "community_supervisor",
    "company_manager",
    "company_accountant",
    "company_staff",
    "outsider",  # no role anywhere near the estate
)


@dataclass
class Cast:
    """One person per role, signed in once per module (sign-ins are rate limited); each test's
    estate refreshes their tokens, which carry the grants expanded to estates."""

    base: str
    operator_token: str
    community_id: str
    company_id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> user id
    refresh: dict[str, str] = field(default_factory=dict)  # role -> refresh token


@dataclass
class Estate:
    base: str
    estate_id: str
    tokens: dict[str, str]  # role -> access token; "operator" too
    unit_ids: dict[str, str]  # unit number -> unit id

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def cast(platform: Platform, operator_token: str) -> Cast:
    base, tag = platform.gateway_url, uuid.uuid4().hex[:6]
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {operator_token}"}, timeout=30
    ) as op:
        district = ok(op.post("/api/v1/districts", json={"name": f"武侯区{tag}"}))
        street = ok(
            op.post(
                "/api/v1/streets", json={"district_id": district["district_id"], "name": "玉林街道"}
            )
        )
        community = ok(
            op.post(
                "/api/v1/communities",
                json={"street_id": street["street_id"], "name": "玉林北路社区"},
            )
        )
        company = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"锦诚物业{tag}", "credit_code": credit_code(tag + "fees")},
            )
        )
        cast = Cast(base, operator_token, community["community_id"], company["company_id"])
        scopes = {
            "community_supervisor": {"community_id": cast.community_id},
            "company_manager": {"company_id": cast.company_id},
            "company_accountant": {"company_id": cast.company_id},
            "company_staff": {"company_id": cast.company_id},
        }
        for role in ESTATE_ROLES + OTHER_ROLES:
            username = f"fees-{role.replace('_', '-')}-{tag}"
            user = ok(
                op.post(
                    "/api/v1/users",
                    json={"username": username, "display_name": role, "password": PASSWORD},
                )
            )
            cast.users[role] = user["user_id"]
            if role in scopes:
                ok(
                    op.post(
                        "/api/v1/role-grants",
                        json={"user_id": user["user_id"], "role": role, **scopes[role]},
                    )
                )
            signed = httpx.post(
                f"{base}/api/v1/auth/token",
                json={"username": username, "password": PASSWORD},
                timeout=30,
            )
            cast.refresh[role] = ok(signed)["refresh_token"]
    return cast


@pytest.fixture
def fees_world(cast: Cast) -> Estate:
    """An estate of this test's own with the three units of CSV_A, whose ledger has learnt the
    units from identity, and the fee rates set."""
    with httpx.Client(
        base_url=cast.base, headers={"Authorization": f"Bearer {cast.operator_token}"}, timeout=30
    ) as op:
        estate_id = ok(
            op.post(
                "/api/v1/estates",
                json={"name": f"费用小区{uuid.uuid4().hex[:6]}", "community_id": cast.community_id},
            )
        )["estate_id"]
        ok(
            op.put(
                f"/api/v1/estates/{estate_id}/company",
                json={"company_id": cast.company_id, "starts_on": "2020-01-01"},
            )
        )
        ok(
            op.post(
                f"/api/v1/estates/{estate_id}/imports",
                content=CSV_A.format(owner_phone=random_phone()).encode(),
                headers={"content-type": "text/csv"},
            )
        )
        for role in ESTATE_ROLES:
            ok(
                op.post(
                    "/api/v1/role-grants",
                    json={"user_id": cast.users[role], "role": role, "estate_id": estate_id},
                )
            )
    tokens = {"operator": cast.operator_token}
    for role, refresh in cast.refresh.items():
        fresh = ok(
            httpx.post(
                f"{cast.base}/api/v1/auth/refresh", json={"refresh_token": refresh}, timeout=30
            )
        )
        tokens[role], cast.refresh[role] = fresh["access_token"], fresh["refresh_token"]
    estate = Estate(cast.base, estate_id, tokens, {})
    with estate.client("committee_member") as c:
        eventually(
            lambda: ok(c.get(path(estate, "/fees/arrears")))["units_total"] == 3,
            what="the ledger learning the estate's units",
        )
        units = ok(c.get(path(estate, "/units")))["units"]
    estate.unit_ids = {u["number"]: u["unit_id"] for u in units}
    with estate.client("company_manager") as manager:
        ok(
            manager.put(
                path(estate, "/fees/rates"),
                json={
                    "rates": [
                        {"unit_type": t, "fen_per_m2_month": r, "effective_from": "2020-01"}
                        for t, r in RATES.items()
                    ]
                },
            )
        )
    return estate


def path(world: Estate, tail: str) -> str:
    return f"/api/v1/estates/{world.estate_id}{tail}"


def unit_id(world: Estate, number: str) -> str:
    return world.unit_ids[number]


def assess(client: httpx.Client, world: Estate, period: str) -> httpx.Response:
    return client.post(path(world, "/fees/assessments"), json={"period": period})


def pay(
    client: httpx.Client, world: Estate, number: str, amount: int, key: str | None = None
) -> httpx.Response:
    return client.post(
        path(world, "/payments"),
        json={"unit_id": unit_id(world, number), "amount_fen": amount},
        headers={"Idempotency-Key": key} if key else {},
    )


def entries(client: httpx.Client, world: Estate, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return list(ok(client.get(path(world, "/ledger/entries"), params={"kind": kind}))["entries"])


def test_fees_are_area_times_rate_half_up_and_assessing_again_adds_nothing(
    fees_world: Estate,
) -> None:
    world = fees_world
    with world.client("owner") as owner:
        refused = owner.put(
            path(world, "/fees/rates"),
            json={
                "rates": [
                    {
                        "unit_type": "residential",
                        "fen_per_m2_month": "1",
                        "effective_from": "2020-01",
                    }
                ]
            },
        )
        assert refused.status_code == 403
        assert assess(owner, world, month(0)).status_code == 403
        rates = ok(owner.get(path(world, "/fees/rates")))["rates"]
        assert {r["unit_type"]: r["fen_per_m2_month"] for r in rates} == {
            "residential": "425/2",
            "commercial": "3333/10",
        }
    with world.client("company_accountant") as acc:
        future = assess(acc, world, month(1))
        assert future.status_code == 422 and "has not begun" in future.json()["detail"]
        first = assess(acc, world, month(0))
        assert first.status_code == 201, first.text
        body = first.json()
        fees = {f["number"]: f["amount_fen"] for f in body["fees"]}
        assert fees == {n: oracle_fee(n) for n in AREAS}
        assert fees["2-201"] == 14999  # 14998.5 rounds half up
        assert body["total_fen"] == sum(fees.values()) and body["units_assessed"] == 3

        again = assess(acc, world, month(0))
        assert again.status_code == 200, again.text
        assert again.json()["entry_id"] is None and again.json()["fees"] == []
        assert again.json()["units_assessed"] == 3

        posted = entries(acc, world, "assessment")
        assert len(posted) == 1, "assessing twice adds nothing"
        lines = posted[0]["lines"]
        receivable = {ln["unit_id"]: ln["amount_fen"] for ln in lines if ln["account"] == "1101"}
        assert receivable == {unit_id(world, n): oracle_fee(n) for n in AREAS}
        income = [ln for ln in lines if ln["account"] == "4001"]
        assert len(income) == 1 and income[0]["amount_fen"] == -sum(fees.values())
        assert len(lines) == 4

        # A new rate cannot rewrite a month already assessed.
        with world.client("company_manager") as manager:
            late = manager.put(
                path(world, "/fees/rates"),
                json={
                    "rates": [
                        {
                            "unit_type": "residential",
                            "fen_per_m2_month": "300",
                            "effective_from": month(0),
                        }
                    ]
                },
            )
            assert late.status_code == 422 and "later month" in late.json()["detail"]


def test_a_partial_payment_settles_the_oldest_month_first(fees_world: Estate) -> None:
    world = fees_world
    older, newer = month(-2), month(-1)
    fee = oracle_fee("1-101")
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, newer))
        ok(assess(acc, world, older))
        with world.client("owner") as owner:
            assert pay(owner, world, "1-101", 100).status_code == 403
        paid = ok(pay(acc, world, "1-101", fee + 100))
        assert paid["settled"] == [
            {"period": older, "amount_fen": fee},
            {"period": newer, "amount_fen": 100},
        ]
        assert paid["prepaid_fen"] == 0 and paid["arrears_fen"] == fee - 100
        entry = next(e for e in entries(acc, world, "payment") if e["entry_id"] == paid["entry_id"])
        lines = sorted((ln["account"], ln["amount_fen"], ln["unit_id"]) for ln in entry["lines"])
        unit = unit_id(world, "1-101")
        assert lines == sorted(
            [("1001", fee + 100, None), ("1101", -fee, unit), ("1101", -100, unit)]
        )
        arrears = ok(acc.get(path(world, "/fees/arrears")))
    mine = next(u for u in arrears["units"] if u["number"] == "1-101")
    assert mine["by_period"] == [{"period": newer, "amount_fen": fee - 100}]
    others = sum(2 * oracle_fee(n) for n in ("1-102", "2-201"))
    assert arrears["total_fen"] == others + fee - 100
    assert arrears["units_in_arrears"] == 3


def test_an_overpayment_is_prepaid_and_the_next_assessment_consumes_it(fees_world: Estate) -> None:
    world = fees_world
    fee = oracle_fee("1-102")
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, month(-1)))
        paid = ok(pay(acc, world, "1-102", fee + 5000, key="pay-1-102"))
        assert paid["settled"] == [{"period": month(-1), "amount_fen": fee}]
        assert paid["prepaid_fen"] == 5000 and paid["arrears_fen"] == 0
        # A retry with the same key returns the first result; the same key for another body is
        # refused.
        assert ok(pay(acc, world, "1-102", fee + 5000, key="pay-1-102")) == paid
        assert pay(acc, world, "1-102", fee, key="pay-1-102").status_code == 409
        assert ok(acc.get(path(world, "/fund")))["fund_bank_fen"] == fee + 5000

        current = ok(assess(acc, world, month(0)))
        applied = {f["number"]: f["prepaid_applied_fen"] for f in current["fees"]}
        assert applied == {"1-101": 0, "1-102": 5000, "2-201": 0}
        entry = next(
            e for e in entries(acc, world, "assessment") if e["entry_id"] == current["entry_id"]
        )
        unit = unit_id(world, "1-102")
        assert ("2001", 5000, unit) in [
            (ln["account"], ln["amount_fen"], ln["unit_id"]) for ln in entry["lines"]
        ]
        balances = {
            b["code"]: b["balance_fen"] for b in ok(acc.get(path(world, "/fund")))["balances"]
        }
        assert balances["2001"] == 0, "the prepayment is used up"
        arrears = ok(acc.get(path(world, "/fees/arrears")))
    mine = next(u for u in arrears["units"] if u["number"] == "1-102")
    assert mine["by_period"] == [{"period": month(0), "amount_fen": fee - 5000}]


def test_the_payment_rate_by_amount_and_by_units(fees_world: Estate) -> None:
    world = fees_world
    period = month(0)
    with world.client("company_manager") as manager:
        ok(assess(manager, world, period))
        ok(pay(manager, world, "1-101", oracle_fee("1-101")))
        ok(pay(manager, world, "2-201", 4321))
        # A payment beyond a unit's fee is prepaid and does not lift the month's rate.
        ok(pay(manager, world, "1-101", 999))
    assessed = sum(oracle_fee(n) for n in AREAS)
    collected = oracle_fee("1-101") + 4321
    by_amount, by_units = Fraction(collected, assessed), Fraction(1, 3)  # 1-101 alone paid in full

    def pct(value: Fraction) -> str:
        exact = Decimal(value.numerator) * 100 / Decimal(value.denominator)
        return str(exact.quantize(Decimal("0.01"), ROUND_HALF_UP))

    with world.client("owner") as owner:
        rate = ok(owner.get(path(world, "/fees/payment-rate"), params={"period": period}))
        bad = owner.get(path(world, "/fees/payment-rate"), params={"period": "2026-13"})
        assert bad.status_code == 422
        none = ok(owner.get(path(world, "/fees/payment-rate"), params={"period": "2019-01"}))
    assert rate["by_amount"] == f"{by_amount.numerator}/{by_amount.denominator}"
    assert rate["by_units"] == f"{by_units.numerator}/{by_units.denominator}"
    assert rate["by_amount_percent"] == pct(by_amount)
    assert rate["by_units_percent"] == pct(by_units) == "33.33"
    assert (rate["assessed_fen"], rate["collected_fen"]) == (assessed, collected)
    assert (rate["units_assessed"], rate["units_fully_paid"]) == (3, 1)
    assert none["units_assessed"] == 0 and none["by_amount"] == "0/1"


def test_owners_see_only_aggregates_of_arrears_and_the_committee_sees_units(
    fees_world: Estate,
) -> None:
    world = fees_world
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, month(0)))
        ok(pay(acc, world, "1-101", oracle_fee("1-101")))
    owed = oracle_fee("1-102") + oracle_fee("2-201")
    for role in ("owner", "tenant"):
        with world.client(role) as resident:
            reply = resident.get(path(world, "/fees/arrears"))
        body = ok(reply)
        assert body["units"] is None
        assert (body["total_fen"], body["units_in_arrears"], body["units_total"]) == (owed, 2, 3)
        assert body["by_period"] == [{"period": month(0), "amount_fen": owed}]
        for number in AREAS:
            assert unit_id(world, number) not in reply.text and number not in reply.text
    for role in ("committee_chair", "estate_supervisor", "community_supervisor", "company_staff"):
        with world.client(role) as c:
            body = ok(c.get(path(world, "/fees/arrears")))
        assert {u["number"]: u["owed_fen"] for u in body["units"]} == {
            "1-102": oracle_fee("1-102"),
            "2-201": oracle_fee("2-201"),
        }, role
    with world.client("outsider") as stranger:
        assert stranger.get(path(world, "/fees/arrears")).status_code == 404
    # Nor does the journal name the unit of a receivable line to residents: they see the
    # pseudonym the entry's hash covers (and can verify the entry), the committee the unit.
    payment_lines = {}
    for role in ("owner", "committee_chair"):
        with world.client(role) as c:
            entries = ok(c.get(path(world, "/ledger/entries"), params={"kind": "payment"}))
        payment_lines[role] = [
            ln for e in entries["entries"] for ln in e["lines"] if ln["account"] == "1101"
        ]
    assert payment_lines["owner"] and all(
        ln["unit_id"] is None and ln["unit_ref"] for ln in payment_lines["owner"]
    )
    assert [ln["unit_id"] for ln in payment_lines["committee_chair"]] == [unit_id(world, "1-101")]
    assert [ln["unit_ref"] for ln in payment_lines["owner"]] == [
        ln["unit_ref"] for ln in payment_lines["committee_chair"]
    ]


def test_remuneration_accrues_on_fees_received_not_on_fees_assessed(fees_world: Estate) -> None:
    world = fees_world
    with world.client("operator") as op:
        ok(
            op.put(
                path(world, "/ledger/contract-terms"),
                json={"ratio": "1/10", "sources": ["property_fee"], "effective_from": "2020-01-01"},
            )
        )
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, month(0)))
        assert entries(acc, world, "remuneration") == [], "nothing is received by assessing"
        payments = [12345, 6789, 1]
        for number, amount in zip(("1-101", "1-102", "2-201"), payments, strict=True):
            ok(pay(acc, world, number, amount))
        accrued = -sum(
            ln["amount_fen"]
            for e in entries(acc, world, "remuneration")
            for ln in e["lines"]
            if ln["account"] == "2101"
        )
    exact = Fraction(sum(payments), 10)
    assert accrued == int(exact + Fraction(1, 2))  # 1913.5 -> 1914, rounded once on the total


# -- corrections ---------------------------------------------------------------------------------
def reverse(client: httpx.Client, world: Estate, entry_id: str, reason: str) -> httpx.Response:
    return client.post(path(world, f"/ledger/entries/{entry_id}/reversal"), json={"reason": reason})


def balances(client: httpx.Client, world: Estate) -> dict[str, int]:
    return {b["code"]: b["balance_fen"] for b in ok(client.get(path(world, "/fund")))["balances"]}


def owed_by_unit(client: httpx.Client, world: Estate) -> dict[str, list[tuple[str, int]]]:
    arrears = ok(client.get(path(world, "/fees/arrears")))
    return {
        u["number"]: [(p["period"], p["amount_fen"]) for p in u["by_period"]]
        for u in arrears["units"]
    }


def remuneration(client: httpx.Client, world: Estate) -> int:
    return -sum(
        ln["amount_fen"]
        for e in entries(client, world, "remuneration")
        for ln in e["lines"]
        if ln["account"] == "2101"
    )


def test_a_payment_taken_back_reopens_the_newest_months_and_its_remuneration(
    fees_world: Estate,
) -> None:
    world = fees_world
    with world.client("operator") as op:
        ok(
            op.put(
                path(world, "/ledger/contract-terms"),
                json={"ratio": "1/10", "sources": ["property_fee"], "effective_from": "2020-01-01"},
            )
        )
    fee = oracle_fee("1-101")
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, month(-2)))
        ok(assess(acc, world, month(-1)))
        # Two months and 500 fen ahead; the current month's assessment uses the 500.
        paid = ok(pay(acc, world, "1-101", 2 * fee + 500))
        assert paid["prepaid_fen"] == 500
        ok(assess(acc, world, month(0)))
        assert remuneration(acc, world) == int(Fraction(2 * fee + 500, 10) + Fraction(1, 2))
        with world.client("owner") as owner:
            assert reverse(owner, world, paid["entry_id"], "bounced").status_code == 403
        assert reverse(acc, world, paid["entry_id"], " ").status_code == 400
        taken = reverse(acc, world, paid["entry_id"], "转账退回：付款人账户有误")
        assert taken.status_code == 201, taken.text
        back = taken.json()
        assert back["kind"] == "reversal" and back["reverses_entry_id"] == paid["entry_id"]
        assert "退回物业费" in back["description"]
        unit = unit_id(world, "1-101")
        lines = sorted((ln["account"], ln["amount_fen"], ln["unit_id"]) for ln in back["lines"])
        # Newest first: this month's 500 (settled from the prepayment), then the two months.
        reopened = [("1101", 500, unit), ("1101", fee, unit), ("1101", fee, unit)]
        assert lines == sorted([("1001", -(2 * fee + 500), None), *reopened])
        again = reverse(acc, world, paid["entry_id"], "twice")
        assert again.status_code == 422 and "reversed already" in again.json()["detail"]
        owed = owed_by_unit(acc, world)
        assert owed["1-101"] == [(month(-2), fee), (month(-1), fee), (month(0), fee)]
        assert balances(acc, world)["1001"] == 0 and balances(acc, world)["2001"] == 0
        # The fees were received and given back within the month: no remuneration is due.
        assert remuneration(acc, world) == 0
        assert ok(acc.get(path(world, "/ledger/verify")))["ok"] is True
        rate = ok(acc.get(path(world, "/fees/payment-rate"), params={"period": month(-2)}))
        assert rate["collected_fen"] == 0


def test_a_wrong_assessment_is_withdrawn_and_what_was_paid_becomes_prepaid(
    fees_world: Estate,
) -> None:
    world = fees_world
    period = month(-1)
    with world.client("company_accountant") as acc:
        wrong = ok(assess(acc, world, period))
        ok(pay(acc, world, "1-101", oracle_fee("1-101")))
        ok(pay(acc, world, "1-102", 1000))
        ok(acc.post(path(world, "/ledger/entries"), json={"source": "parking", "amount_fen": 9}))
        before = balances(acc, world)
        # The rate was wrong: a new rate for an assessed month is refused until it is withdrawn.
        with world.client("company_manager") as manager:
            rates = {
                "rates": [
                    {
                        "unit_type": "residential",
                        "fen_per_m2_month": "200",
                        "effective_from": period,
                    }
                ]
            }
            assert manager.put(path(world, "/fees/rates"), json=rates).status_code == 422
            taken = reverse(acc, world, wrong["entry_id"], "住宅费率录入错误")
            assert taken.status_code == 201, taken.text
            assert "转为预收" in taken.json()["description"]
            assert reverse(acc, world, wrong["entry_id"], "again").status_code == 422
            ok(manager.put(path(world, "/fees/rates"), json=rates))
        after = balances(acc, world)
        prepaid = oracle_fee("1-101") + 1000
        assert after["1101"] == 0, "no fee of the month stands"
        assert after["2001"] == before["2001"] - prepaid
        assert after["4001"] == before["4001"] + wrong["total_fen"]
        assert after["1001"] == before["1001"], "no money moved"
        assert ok(acc.get(path(world, "/fees/arrears")))["total_fen"] == 0
        rate = ok(acc.get(path(world, "/fees/payment-rate"), params={"period": period}))
        assert rate["units_assessed"] == 0

        # Assessed again at the right rate; the prepaid credit pays what it can.
        right = ok(assess(acc, world, period))
        fees = {f["number"]: f for f in right["fees"]}
        new_fee = {
            n: int(
                (Fraction(AREAS[n][1]) * Fraction("200" if t == "residential" else RATES[t]))
                + Fraction(1, 2)
            )
            for n, (t, _) in AREAS.items()
        }
        assert {n: f["amount_fen"] for n, f in fees.items()} == new_fee
        assert fees["1-101"]["prepaid_applied_fen"] == min(oracle_fee("1-101"), new_fee["1-101"])
        assert fees["1-102"]["prepaid_applied_fen"] == 1000
        owed = owed_by_unit(acc, world)
        assert owed["1-102"] == [(period, new_fee["1-102"] - 1000)]
        assert "1-101" not in owed
        assert owed["2-201"] == [(period, new_fee["2-201"])]
        assert len(entries(acc, world, "assessment")) == 2
        assert ok(acc.get(path(world, "/ledger/verify")))["ok"] is True


async def test_assessments_stay_history_and_only_their_withdrawal_is_marked(
    platform: Platform, fees_world: Estate
) -> None:
    import asyncpg

    from xinyi_dev.platform import _with_user

    world = fees_world
    with world.client("company_accountant") as acc:
        first = ok(assess(acc, world, month(0)))
        ok(pay(acc, world, "1-101", 700))
        ok(reverse(acc, world, first["entry_id"], "面积有误"))
        ok(assess(acc, world, month(0)))
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        for statement in (
            "UPDATE ledger.fee_assessments SET amount_fen = 1",
            "UPDATE ledger.fee_assessments SET reversed_by = NULL WHERE reversed_by IS NOT NULL",
            "UPDATE ledger.fee_assessments SET reversed_by = entry_id WHERE reversed_by IS NULL",
            "DELETE FROM ledger.fee_assessments",
            "DELETE FROM ledger.fee_settlements",
        ):
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('xinyi.estate_id', $1, true)", world.estate_id
                )
                rows = await conn.fetch(
                    "SELECT reversed_by IS NULL AS live FROM ledger.fee_assessments"
                )
                assert sorted(r["live"] for r in rows) == [False] * 3 + [True] * 3
                settled = await conn.fetch("SELECT amount_fen FROM ledger.fee_settlements")
                # paid, withdrawn with the assessment, and the prepaid credit applied again
                assert sorted(r["amount_fen"] for r in settled) == [-700, 700, 700]
                with pytest.raises(asyncpg.RaiseError):
                    await conn.execute(statement)
    finally:
        await conn.close()


def test_what_follows_from_other_entries_is_not_reversed(fees_world: Estate) -> None:
    world = fees_world
    with world.client("operator") as op:
        ok(
            op.put(
                path(world, "/ledger/contract-terms"),
                json={"ratio": "1/10", "sources": ["parking"], "effective_from": "2020-01-01"},
            )
        )
    with world.client("company_accountant") as acc:
        income = ok(
            acc.post(path(world, "/ledger/entries"), json={"source": "parking", "amount_fen": 1000})
        )
        accrual = entries(acc, world, "remuneration")[0]
        refused = reverse(acc, world, accrual["entry_id"], "no")
        assert refused.status_code == 422 and "reverse that income" in refused.json()["detail"]
        back = ok(reverse(acc, world, income["entry_id"], "录入重复"))
        again = reverse(acc, world, back["entry_id"], "undo")
        assert again.status_code == 422 and "post the entry again" in again.json()["detail"]
        assert remuneration(acc, world) == 0


# -- the posting rules, for every input ----------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 10**7)), min_size=1, max_size=20))
def test_an_assessment_balances_and_applies_no_more_prepaid_than_owed(
    pairs: list[tuple[int, int]],
) -> None:
    fees = [
        Fee(
            Unit(unit_id=uuid.uuid4(), building="1栋", number=str(n), unit_type="residential"),
            Fraction(250),
            amount,
            min(prepaid, amount),
        )
        for n, (amount, prepaid) in enumerate(pairs)
    ]
    lines = assessment_lines(fees)
    check_lines(lines)
    for f in fees:
        unit = str(f.unit.unit_id)
        owed = sum(a for code, a, u in lines if code == "1101" and u == unit)
        assert owed == f.amount_fen - f.prepaid_applied_fen >= 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10**8),
    st.lists(st.tuples(st.sampled_from(["2025-11", "2025-12", "2026-01"]), st.integers(0, 10**6))),
)
def test_a_payment_balances_and_every_fen_is_settled_or_prepaid(
    amount: int, arrears: list[tuple[str, int]]
) -> None:
    settled, prepaid = allocate_payment(amount, arrears)
    lines = payment_lines(amount, str(uuid.uuid4()), settled, prepaid)
    check_lines(lines)
    assert sum(-a for code, a, _ in lines if code in ("1101", "2001")) == amount


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_a_percentage_has_two_decimals_rounded_half_up(num: int, den: int) -> None:
    exact = Decimal(num) * 100 / Decimal(den)
    assert percent(Fraction(num, den)) == str(exact.quantize(Decimal("0.01"), ROUND_HALF_UP))


async def test_assessments_send_reminders_and_nothing_else(
    fees_world: Estate, platform: Platform
) -> None:
    import asyncpg

    from xinyi.common.v1 import common_pb2
    from xinyi.ledger.v1 import events_pb2

    world = fees_world
    older, newer = month(-2), month(-1)
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, older))
        ok(assess(acc, world, newer))
    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        rows = await conn.fetch(
            "SELECT envelope FROM ledger.outbox WHERE estate_id = $1 "
            "AND event_type = 'xinyi.ledger.v1.FeeReminder' ORDER BY seq",
            uuid.UUID(world.estate_id),
        )
    finally:
        await conn.close()
    reminders = []
    for row in rows:
        event = events_pb2.FeeReminder()
        common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(event)
        reminders.append((event.kind, event.period, event.owed_fen, event.oldest_period))
    fees = [oracle_fee(n) for n in sorted(AREAS)]
    after_older = [("due", older, fee, "") for fee in fees]
    after_newer = [("due", newer, fee, "") for fee in fees] + [
        ("arrears", newer, fee, older) for fee in fees
    ]
    assert sorted(reminders) == sorted(after_older + after_newer)


async def test_an_assessment_stores_its_rows_and_numbers_its_events_in_order(
    fees_world: Estate, platform: Platform
) -> None:
    """A month's assessment writes its lines, its rows per unit and its events a table at a time:
    the lines numbered in the entry's order, every unit's row, the prepaid credit it applied,
    and its events numbered after those before it and before those after it, with no gap."""
    import asyncpg

    from xinyi.common.v1 import common_pb2
    from xinyi.ledger.v1 import events_pb2
    from xinyi_dev.platform import _with_user

    world = fees_world
    paid_ahead = unit_id(world, "1-102")
    with world.client("company_accountant") as acc:
        ok(assess(acc, world, month(-1)))
        ok(pay(acc, world, "1-102", oracle_fee("1-102") + 5000))  # 5000 prepaid
        body = ok(assess(acc, world, month(0)))
        later = ok(pay(acc, world, "1-101", 100))
        assert ok(acc.get(path(world, "/ledger/verify")))["ok"] is True
    entry_id = uuid.UUID(body["entry_id"])
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        # As the service's role in the estate's scope: row-level security shows its rows only.
        async with conn.transaction():
            await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", world.estate_id)
            lines = await conn.fetch(
                "SELECT line_no, account_code, amount_fen, unit_id FROM ledger.entry_lines "
                "WHERE entry_id = $1 ORDER BY line_no",
                entry_id,
            )
            assessed = await conn.fetch(
                "SELECT unit_id, unit_type, area_centi_m2, rate_num, rate_den, amount_fen, "
                "entry_id, reversed_by FROM ledger.fee_assessments WHERE period = $1",
                month(0),
            )
            settled = await conn.fetch(
                "SELECT unit_id, period, amount_fen FROM ledger.fee_settlements "
                "WHERE entry_id = $1",
                entry_id,
            )
            outbox = await conn.fetch(
                "SELECT seq, envelope FROM ledger.outbox WHERE estate_id = $1 ORDER BY seq",
                uuid.UUID(world.estate_id),
            )
    finally:
        await conn.close()

    fees = body["fees"]
    assert [
        (ln["line_no"], ln["account_code"], ln["amount_fen"], ln["unit_id"]) for ln in lines
    ] == [
        (n, code, fen, uuid.UUID(unit) if unit else None)
        for n, (code, fen, unit) in enumerate(
            [("1101", f["amount_fen"], f["unit_id"]) for f in fees]
            + [
                ("4001", -body["total_fen"], ""),
                ("2001", 5000, paid_ahead),
                ("1101", -5000, paid_ahead),
            ],
            1,
        )
    ]
    assert {
        str(r["unit_id"]): (
            r["unit_type"],
            r["area_centi_m2"],
            Fraction(r["rate_num"], r["rate_den"]),
            r["amount_fen"],
            r["entry_id"],
            r["reversed_by"],
        )
        for r in assessed
    } == {
        unit_id(world, n): (
            kind,
            int(area * 100),
            Fraction(RATES[kind]),
            oracle_fee(n),
            entry_id,
            None,
        )
        for n, (kind, area) in AREAS.items()
    }
    assert [(str(r["unit_id"]), r["period"], r["amount_fen"]) for r in settled] == [
        (paid_ahead, month(0), 5000)
    ]

    events = []
    for row in outbox:
        payload = common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload
        events.append((row["seq"], payload.TypeName().rsplit(".", 1)[1], payload))
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    posted = {}
    for n, (_, kind, payload) in enumerate(events):
        if kind == "EntryPosted":
            event = events_pb2.EntryPosted()
            payload.Unpack(event)
            posted[event.entry_id] = (n, event.chain_index)
    assert [i for _, i in sorted(posted.values())] == sorted(i for _, i in posted.values())
    # The assessment's events, up to the next entry's (the payment after it): its entry, the
    # month's figures, and a reminder of what each unit owes now and of older arrears.
    first, after = posted[str(entry_id)][0], posted[later["entry_id"]][0]
    assert [kind for _, kind, _ in events[first:after]] == [
        "EntryPosted",
        "FeesAssessed",
        "FeesMonth",
    ] + ["FeeReminder"] * 5
    month_figures = events_pb2.FeesMonth()
    events[first + 2][2].Unpack(month_figures)
    assert (month_figures.period, month_figures.assessed_fen) == (month(0), body["total_fen"])
    reminded = set()
    for _, _, payload in events[first + 3 : after]:
        reminder = events_pb2.FeeReminder()
        payload.Unpack(reminder)
        reminded.add((reminder.kind, reminder.unit_id, reminder.oldest_period or reminder.period))
    assert reminded == {("due", u, month(0)) for u in world.unit_ids.values()} | {
        ("arrears", unit_id(world, n), month(-1)) for n in ("1-101", "2-201")
    }
