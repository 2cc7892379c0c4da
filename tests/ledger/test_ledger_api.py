"""The common fund through the gateway: income with remuneration, dual control without bypass,
one linear chain under concurrency, periods closed into signed heads, proofs anyone can check."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from fractions import Fraction
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.identity.world import World, ok
from tests.poll import eventually
from xinyi_dev.platform import Platform

ROOT = Path(__file__).resolve().parents[2]


def previous_month() -> str:
    today = date.today()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def path(world: World, tail: str) -> str:
    return f"/api/v1/estates/{world.estate_a}{tail}"


def income(client: httpx.Client, world: World, amount: int, **extra: object) -> httpx.Response:
    return client.post(
        path(world, "/ledger/entries"),
        json={"source": "property_fee", "amount_fen": amount, **extra},
    )


def test_income_is_itemised_or_marked_lump_sum_and_remuneration_accrues_once(
    world: World,
) -> None:
    with world.client("operator") as op:
        ok(
            op.put(
                path(world, "/ledger/contract-terms"),
                json={
                    "ratio": "1/10",
                    "sources": ["property_fee", "parking"],
                    "effective_from": "2020-01-01",
                },
            )
        )
    amounts = [333, 333, 334, 1, 5]
    with world.client("company_accountant") as acc:
        first = ok(
            income(
                acc,
                world,
                333,
                items=[
                    {
                        "description": "1栋 3月物业费",
                        "amount_fen": 200,
                        "occurred_on": "2026-03-01",
                    },
                    {
                        "description": "2栋 3月物业费",
                        "amount_fen": 133,
                        "occurred_on": "2026-03-02",
                    },
                ],
            )
        )
        assert first["lump_sum"] is False and len(first["items"]) == 2
        for amount in amounts[1:]:
            entry = ok(income(acc, world, amount))
            assert entry["lump_sum"] is True
        wrong = income(acc, world, 100, items=[{"description": "x", "amount_fen": 99}])
        assert wrong.status_code == 400 and "add up" in wrong.json()["detail"]
        entries = ok(acc.get(path(world, "/ledger/entries"), params={"kind": "remuneration"}))
    accrued = -sum(
        ln["amount_fen"] for e in entries["entries"] for ln in e["lines"] if ln["account"] == "2101"
    )
    expected = Fraction(sum(amounts), 10)
    assert accrued == int(expected + Fraction(1, 2))  # the exact ratio of the total, to the fen


def test_owners_read_everything_and_post_nothing(world: World) -> None:
    with world.client("owner") as owner:
        entries = ok(owner.get(path(world, "/ledger/entries")))
        assert entries["entries"], "owners see every entry"
        fund = ok(owner.get(path(world, "/fund")))
        assert fund["fund_bank_fen"] > 0
        refused = income(owner, world, 100)
        assert refused.status_code == 403


def test_no_path_moves_money_out_without_approvals(world: World, totp) -> None:
    with world.client("company_accountant") as acc:
        ok(income(acc, world, 1_000_000))
        # No expense, payment or transfer can be posted directly ...
        direct = acc.post(
            path(world, "/ledger/entries"),
            json={"kind": "expense", "source": "other", "amount_fen": 500},
        )
        assert direct.status_code == 422
        # ... and reversing an expense is refused; only income is reversed.
        asked = ok(
            acc.post(
                path(world, "/disbursements"),
                json={
                    "amount_fen": 50_000,
                    "payee": "成都清洁服务公司",
                    "purpose": "三月保洁",
                    "expense_code": "5002",
                },
            )
        )
        assert asked["state"] == "requested" and asked["approvals_required"] == 1
        unpaid = acc.post(
            path(world, f"/disbursements/{asked['disbursement_id']}/payment"),
            json={"bank_evidence": "BANK-REF-1"},
        )
        assert unpaid.status_code == 422 and "approval" in unpaid.json()["detail"]
        before = ok(acc.get(path(world, "/fund")))["fund_bank_fen"]
    d = asked["disbursement_id"]
    with world.client("operator") as op:
        assert (
            op.post(
                path(world, f"/disbursements/{d}/approvals"), json={"totp": "123456"}
            ).status_code
            == 403
        )
    with world.client("company_manager") as manager:
        assert (
            manager.post(
                path(world, f"/disbursements/{d}/approvals"), json={"totp": "123456"}
            ).status_code
            == 403
        )
    with world.client("committee_member") as member:
        wrong = member.post(path(world, f"/disbursements/{d}/approvals"), json={"totp": "000000"})
        assert wrong.status_code == 403 and wrong.json()["code"] == "totp_invalid"
        approved = ok(
            member.post(
                path(world, f"/disbursements/{d}/approvals"),
                json={"totp": totp("committee_member")},
            )
        )
        assert approved["state"] == "approved"
    with world.client("company_accountant") as acc:
        posted = ok(
            acc.post(
                path(world, f"/disbursements/{d}/payment"), json={"bank_evidence": "BANK-REF-1"}
            )
        )
        assert posted["state"] == "posted" and posted["entry_id"]
        after = ok(acc.get(path(world, "/fund")))["fund_bank_fen"]
        assert before - after == 50_000
        expense = ok(acc.get(path(world, f"/ledger/entries/{posted['entry_id']}")))
        assert expense["disbursement_id"] == d
        refused = acc.post(
            path(world, f"/ledger/entries/{posted['entry_id']}/reversal"),
            json={"reason": "try to undo"},
        )
        assert refused.status_code == 422


def test_a_debit_the_bank_made_alone_waits_flagged_until_the_committee_ratifies_it(
    world: World, totp
) -> None:
    def balances(c: httpx.Client) -> dict[str, int]:
        return {b["code"]: b["balance_fen"] for b in ok(c.get(path(world, "/fund")))["balances"]}

    def debit(c: httpx.Client, amount: int, words: str) -> httpx.Response:
        return c.post(
            path(world, "/bank-debits"),
            json={
                "amount_fen": amount,
                "debited_on": date.today().isoformat(),
                "payee": "中国工商银行",
                "purpose": words,
                "bank_evidence": f"STMT-{uuid.uuid4().hex[:8]}",
            },
        )

    with world.client("owner") as owner:
        assert debit(owner, 1_500, "账户管理费").status_code == 403
    with world.client("company_accountant") as acc:
        ok(income(acc, world, 1_000_000))
        before = balances(acc)
        fee = debit(acc, 1_500, "账户管理费")
        assert fee.status_code == 201, fee.text
        small = fee.json()
        assert (small["origin"], small["state"], small["approvals_required"]) == (
            "bank_debit",
            "requested",
            1,
        )
        assert small["expense_code"] == "5090" and small["paid_on"] == date.today().isoformat()
        # The money is gone from the bank at once, into the account of debits to ratify.
        after = balances(acc)
        assert before["1001"] - after["1001"] == 1_500
        assert after["1190"] - before.get("1190", 0) == 1_500
        held = ok(acc.get(path(world, f"/ledger/entries/{small['suspense_entry_id']}")))
        assert held["kind"] == "bank_debit" and "待追认" in held["description"]
        # The company can neither pay it (the bank did) nor cancel it (the money is gone).
        d = small["disbursement_id"]
        paid = acc.post(path(world, f"/disbursements/{d}/payment"), json={"bank_evidence": "x"})
        assert paid.status_code == 422 and "ratif" in paid.json()["detail"]
        cancelled = acc.post(path(world, f"/disbursements/{d}/cancellation"))
        assert cancelled.status_code == 422, cancelled.text
    # The committee may record what it sees first; it cannot ratify what it recorded itself.
    with world.client("committee_member") as member:
        big = ok(debit(member, 300_000, "法院扣划"))
        assert big["approvals_required"] == 2
        own = member.post(
            path(world, f"/disbursements/{big['disbursement_id']}/approvals"),
            json={"totp": totp("committee_member")},
        )
        assert own.status_code == 403
        ratified = ok(
            member.post(
                path(world, f"/disbursements/{d}/approvals"),
                json={"totp": totp("committee_member")},
            )
        )
    assert ratified["state"] == "posted" and ratified["entry_id"]
    with world.client("committee_chair") as chair:
        disputed = ok(
            chair.post(
                path(world, f"/disbursements/{big['disbursement_id']}/rejection"),
                json={"reason": "无法院文书，要求银行说明"},
            )
        )
        assert disputed["state"] == "rejected"
        final = balances(chair)
        expense = ok(chair.get(path(world, f"/ledger/entries/{ratified['entry_id']}")))
        assert ok(chair.get(path(world, "/ledger/verify")))["ok"] is True
    assert expense["kind"] == "expense" and expense["disbursement_id"] == d
    assert sorted((ln["account"], ln["amount_fen"]) for ln in expense["lines"]) == [
        ("1190", -1_500),
        ("5090", 1_500),
    ]
    # Ratified, the small one left the holding account; the disputed one stays there, flagged.
    assert final["1190"] - before.get("1190", 0) == 300_000
    assert final["5090"] - before.get("5090", 0) == 1_500
    assert before["1001"] - final["1001"] == 301_500


def test_two_approvals_at_once_and_two_payments_at_once_post_once(world: World, totp) -> None:
    with world.client("company_accountant") as acc:
        ok(income(acc, world, 5_000_000))
        asked = ok(
            acc.post(
                path(world, "/disbursements"),
                json={
                    "amount_fen": 300_000,
                    "payee": "电梯维保公司",
                    "purpose": "电梯维修",
                    "expense_code": "5005",
                },
            )
        )
    assert asked["approvals_required"] == 2  # above 2,000 yuan: two approvers
    d = asked["disbursement_id"]
    codes = {role: totp(role) for role in ("committee_member", "committee_chair")}

    def approve(role: str) -> httpx.Response:
        with world.client(role) as c:
            return c.post(path(world, f"/disbursements/{d}/approvals"), json={"totp": codes[role]})

    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(approve, codes))
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]

    def pay(key: str) -> httpx.Response:
        with world.client("company_accountant") as c:
            return c.post(
                path(world, f"/disbursements/{d}/payment"),
                json={"bank_evidence": "BANK-REF-2"},
                headers={"Idempotency-Key": key},
            )

    with ThreadPoolExecutor(4) as pool:
        paid = list(pool.map(pay, [str(uuid.uuid4()) for _ in range(4)]))
    assert sorted(r.status_code for r in paid) == [200, 422, 422, 422]
    with world.client("owner") as owner:
        expenses = ok(owner.get(path(world, "/ledger/entries"), params={"kind": "expense"}))
    assert [e["disbursement_id"] for e in expenses["entries"]].count(d) == 1


def test_concurrent_postings_keep_one_linear_chain(world: World) -> None:
    def post(n: int) -> httpx.Response:
        with world.client("company_accountant") as c:
            return income(c, world, 100 + n, source="parking")

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(post, range(50)))
    assert all(r.status_code == 201 for r in replies), [
        r.text for r in replies if r.status_code != 201
    ]
    with world.client("owner") as owner:
        indexes, cursor = [], None
        while True:
            page = ok(
                owner.get(
                    path(world, "/ledger/entries"),
                    params={"limit": 500, **({"cursor": cursor} if cursor else {})},
                )
            )
            indexes += [e["chain_index"] for e in page["entries"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(indexes) == list(range(1, len(indexes) + 1))
        verdict = ok(owner.get(path(world, "/ledger/verify")))
    assert verdict["ok"] and verdict["entries_checked"] == len(indexes)


def test_idempotent_retries_post_once(world: World) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with world.client("company_accountant") as acc:
        first = ok(
            acc.post(
                path(world, "/ledger/entries"),
                json={"source": "venue", "amount_fen": 8_800},
                headers=key,
            )
        )
        again = ok(
            acc.post(
                path(world, "/ledger/entries"),
                json={"source": "venue", "amount_fen": 8_800},
                headers=key,
            )
        )
        other = acc.post(
            path(world, "/ledger/entries"),
            json={"source": "venue", "amount_fen": 9_900},
            headers=key,
        )
    assert first["entry_id"] == again["entry_id"]
    assert other.status_code == 409


def _device_key(world: World, role: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}
    with world.client(role) as c:
        key = ok(c.post("/api/v1/me/device-keys", json={"public_jwk": jwk, "label": "test"}))
    return private, key["key_id"]


def _sign(private: ec.EllipticCurvePrivateKey, message: str) -> str:
    # As WebCrypto does: ECDSA P-256 with SHA-256, the signature as r || s (IEEE P1363).
    r, s = decode_dss_signature(private.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_period_close_signatures_proof_and_late_items(world: World, tmp_path: Path) -> None:
    month = previous_month()
    with world.client("company_accountant") as acc:
        ok(income(acc, world, 777, description="本月先入账的一笔"))
        entry = ok(income(acc, world, 12_345, booked_on=f"{month}-15", description="上月停车费"))
        assert entry["period"] == month
        early = acc.get(path(world, f"/ledger/entries/{entry['entry_id']}/proof"))
        assert early.status_code == 422 and "still open" in early.json()["detail"]
        head = ok(acc.post(path(world, f"/periods/{month}/close")))
        assert head["state"] == "awaiting_company" and head["entry_count"] >= 1
        # This month's entries, posted earlier in the chain than last month's, are not in last
        # month's closing balances.
        entries, cursor = [], None
        while True:
            page = ok(
                acc.get(
                    path(world, "/ledger/entries"),
                    params={"limit": 500, **({"cursor": cursor} if cursor else {})},
                )
            )
            entries += page["entries"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert any(e["period"] > month for e in entries), "this month's entry came first"
        bank = sum(
            ln["amount_fen"]
            for e in entries
            if e["period"] <= month
            for ln in e["lines"]
            if ln["account"] == "1001"
        )
        assert json.loads(head["payload_json"])["balances"]["1001"] == bank
        assert ok(acc.get(path(world, "/ledger/verify")))["ok"] is True
        again = acc.post(path(world, f"/periods/{month}/close"))
        assert again.status_code == 422
        late = ok(income(acc, world, 500, booked_on=f"{month}-20"))
        assert late["period"] != month and late["late_for_period"] == month

    company_key, company_kid = _device_key(world, "company_manager")
    committee_key, committee_kid = _device_key(world, "committee_chair")
    with world.client("committee_chair") as chair:
        first = chair.post(
            path(world, f"/periods/{month}/signatures"),
            json={"key_id": committee_kid, "signature": _sign(committee_key, head["payload_json"])},
        )
        assert first.status_code == 422 and "company signs" in first.json()["detail"]
    with world.client("company_manager") as manager:
        forged = manager.post(
            path(world, f"/periods/{month}/signatures"),
            json={
                "key_id": company_kid,
                "signature": _sign(company_key, head["payload_json"] + " "),
            },
        )
        assert forged.status_code == 400
        signed = ok(
            manager.post(
                path(world, f"/periods/{month}/signatures"),
                json={"key_id": company_kid, "signature": _sign(company_key, head["payload_json"])},
            )
        )
        assert signed["state"] == "awaiting_committee"
    with world.client("committee_chair") as chair:
        cosigned = ok(
            chair.post(
                path(world, f"/periods/{month}/signatures"),
                json={
                    "key_id": committee_kid,
                    "signature": _sign(committee_key, head["payload_json"]),
                },
            )
        )
    assert cosigned["state"] == "signed" and len(cosigned["signatures"]) == 2
    # The approving body was asked to co-sign, and everyone heard the month's report is out.

    def heard(role: str, kind: str) -> bool:
        with world.client(role) as c:
            messages = ok(c.get("/api/v1/me/inbox", params={"limit": 200}))["messages"]
        return any(m["kind"] == kind and m["params"].get("period") == month for m in messages)

    for role in ("committee_member", "committee_chair"):
        eventually(lambda r=role: heard(r, "cosign_requested"), what=f"{role}'s request")
    for role in ("owner", "tenant", "committee_member"):
        eventually(lambda r=role: heard(r, "report_published"), what=f"{role}'s report")
    assert not heard("owner", "cosign_requested")

    with world.client("owner") as owner:
        proof = ok(owner.get(path(world, f"/ledger/entries/{entry['entry_id']}/proof")))
        assert ok(owner.get(path(world, "/ledger/verify")))["ok"]
    document = tmp_path / "proof.json"
    document.write_text(json.dumps(proof, ensure_ascii=False))
    checked = subprocess.run(
        [sys.executable, str(ROOT / "services/ledger/verify_entry.py"), str(document)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert proof["record"]["entry_id"] == entry["entry_id"]
    proof["entry"]["description"] = "改过的"
    document.write_text(json.dumps(proof, ensure_ascii=False))
    tampered = subprocess.run(
        [sys.executable, str(ROOT / "services/ledger/verify_entry.py"), str(document)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tampered.returncode != 0


async def test_verify_names_the_first_broken_link(platform: Platform, world: World) -> None:
    with world.client("company_accountant") as acc:
        ids = [ok(income(acc, world, 700 + n))["entry_id"] for n in range(3)]
        middle = ok(acc.get(path(world, f"/ledger/entries/{ids[1]}")))
    conn = await asyncpg.connect(platform.admin_url)
    try:
        # Only a superuser can even try: the journal's triggers refuse every other role.
        await conn.execute("ALTER TABLE ledger.entries DISABLE TRIGGER entries_immutable")
        fields = dict(middle["canonical"], description="被篡改")
        await conn.execute(
            "UPDATE ledger.entries SET canonical = $1 WHERE estate_id = $2 AND entry_id = $3",
            json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            uuid.UUID(world.estate_a),
            uuid.UUID(ids[1]),
        )
        await conn.execute("ALTER TABLE ledger.entries ENABLE TRIGGER entries_immutable")
        with world.client("owner") as owner:
            verdict = ok(owner.get(path(world, "/ledger/verify")))
        assert verdict["ok"] is False
        assert verdict["first_broken_index"] == middle["chain_index"]
        assert ids[1] in verdict["first_problem"]
    finally:
        await conn.close()


async def test_the_journal_refuses_changes(platform: Platform, world: World) -> None:
    from xinyi_dev.platform import _with_user

    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        for statement in ("DELETE FROM ledger.entry_lines", "UPDATE ledger.entries SET kind = 1"):
            async with conn.transaction():
                await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", world.estate_a)
                assert await conn.fetchval("SELECT count(*) FROM ledger.entries") > 0
                with pytest.raises(asyncpg.RaiseError, match="immutable"):
                    await conn.execute(statement)
    finally:
        await conn.close()


def test_the_command_line_script_signs_heads_too(world: World, tmp_path: Path) -> None:
    """Estate B's manager signs with services/ledger/sign_head.py instead of the web app."""
    script = str(ROOT / "services/ledger/sign_head.py")
    month = previous_month()
    base = f"/api/v1/estates/{world.estate_b}"
    with world.as_token(world.other_company_token) as manager:
        ok(
            manager.post(
                f"{base}/ledger/entries",
                json={"source": "advertising", "amount_fen": 4_200, "booked_on": f"{month}-10"},
            )
        )
        head = ok(manager.post(f"{base}/periods/{month}/close"))
        assert head["state"] == "awaiting_company"
        made = subprocess.run(
            [sys.executable, script, "new-key", str(tmp_path / "key.pem")],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        key = json.loads(made.stdout)
        registered = ok(
            manager.post(
                "/api/v1/me/device-keys", json={"public_jwk": key["public_jwk"], "label": "笔记本"}
            )
        )
        assert registered["key_id"] == key["key_id"]
        (tmp_path / "head.json").write_text(json.dumps(head, ensure_ascii=False))
        signed = subprocess.run(
            [
                sys.executable,
                script,
                "sign",
                str(tmp_path / "key.pem"),
                str(tmp_path / "head.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        after = ok(
            manager.post(f"{base}/periods/{month}/signatures", json=json.loads(signed.stdout))
        )
    assert after["state"] == "awaiting_committee"
    assert after["signatures"][0]["key_id"] == key["key_id"]
