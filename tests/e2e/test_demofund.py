"""The demo estate's year of fund activity against the real platform, checked through the API as
its people would: twelve months closed in order, each head signed by the company and (but the
latest) co-signed by the committee with keys from their devices, fees paid on time, late, ahead
or never, payments out approved and posted, the bank's own debit awaiting ratification, the fund
equal to its journal, the gates' takings and the advertising contract checked against the income
posted (one month's parking posted as a flat sum, flagged), and a second run that adds nothing."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from xinyi_dev import democity, demofund
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

# Building a year of the demo fund takes about 110 s on an idle machine; a loaded CI worker may
# take three times that.
pytestmark = pytest.mark.timeout(600)

# The demo people are platform-wide accounts of one city, so this uses test_democity's seed.
SEED = 7
MONTHS = 12


class PlatformClock:
    """The test platform's clock, which waiting moves forward instead of sleeping: an approver's
    next authenticator code is then at hand at once, as the ledger tests do it."""

    def __init__(self, offset_file: Path) -> None:
        self.file = offset_file
        self.offset = 0.0
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self.offset

    def wait_until(self, moment: float) -> None:
        with self.lock:
            if moment > self.now():
                self.offset = moment - time.time()
                move_clock(self.file, self.offset)


def _get(c: httpx.Client, path: str, **params: Any) -> Any:
    reply = c.get(path, params=params)
    assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text}"
    return reply.json()


def _client(platform: Platform, username: str, password: str) -> httpx.Client:
    reply = httpx.post(
        f"{platform.gateway_url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return httpx.Client(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {reply.json()['access_token']}"},
        timeout=30,
    )


def _entries(c: httpx.Client, base: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = _get(c, f"{base}/ledger/entries", **params)
        out += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(out, key=lambda e: int(e["chain_index"]))


def _statement_lines(c: httpx.Client, base: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"account": "fund", "limit": 1000}
        page = _get(
            c, f"{base}/statement-lines", **params, **({"cursor": cursor} if cursor else {})
        )
        lines += page["lines"]
        cursor = page["next_cursor"]
        if not cursor:
            return lines


def _snapshot(c: httpx.Client, base: str, periods: list[str]) -> dict[str, Any]:
    heads = {}
    for p in periods:
        reply = c.get(f"{base}/periods/{p}/head")
        heads[p] = reply.json()["signatures"] if reply.status_code == 200 else reply.status_code
    signers = {s["user_id"] for h in heads.values() if isinstance(h, list) for s in h}
    return {
        "device_keys": {
            u: _get(c, f"/api/v1/users/{u}/device-keys")["keys"] for u in sorted(signers)
        },
        "entries": [e["entry_hash"] for e in _entries(c, base)],
        "disbursements": sorted(
            (d["disbursement_id"], d["state"], len(d["approvals"]))
            for d in _get(c, f"{base}/disbursements")
        ),
        "heads": heads,
        "vouchers": sorted(v["sha256"] for v in _get(c, f"{base}/vouchers")),
        "budgets": [_get(c, f"{base}/budgets/{y}") for y in sorted({int(p[:4]) for p in periods})],
        "takings_imports": sorted(
            (i["import_id"], i["file_sha256"], i["rows_new"], i["rows_duplicate"])
            for i in _get(c, f"{base}/takings-imports")
        ),
        "income_contracts": _get(c, f"{base}/income-contracts"),
        "takings_checks": _checks(c, base, periods),
    }


def _checks(c: httpx.Client, base: str, periods: list[str]) -> dict[tuple[str, str], Any]:
    """The takings checks of the year, by (month, source)."""
    reply = _get(c, f"{base}/takings-checks", **{"from": periods[0], "to": periods[-1]})
    return {(r["month"], r["source"]): r for r in reply["checks"]}


@dataclass
class Year:
    base: str
    periods: list[str]  # twelve closed months, then the current one
    devices: Path
    accountant: httpx.Client
    before: dict[str, Any]
    after: dict[str, Any]


@pytest.fixture(scope="module")
def year(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Year]:
    estates = democity.seed(platform.gateway_url, platform.operator_password, seed=SEED)
    devices = tmp_path_factory.mktemp("demo-devices")
    clock = PlatformClock(platform.data_dir / "clock-offset")

    def run() -> None:
        demofund.seed_activity(
            platform.gateway_url,
            platform.operator_password,
            estates[0],
            devices=devices,
            seed=SEED,
            clock=clock,
        )

    expected_first = demofund.add_months(
        demofund.period_of(demofund.today_in_shanghai(demofund.RealClock())), -MONTHS
    )
    # The clock stays where the approvals moved it until the module ends: tokens issued on the
    # way would not be valid yet on a clock put back.
    try:
        run()
        with _client(platform, "demo-accountant", democity.DEMO_PASSWORD) as accountant:
            base = f"/api/v1/estates/{estates[0]}"
            first = _get(accountant, f"{base}/ledger/contract-terms")["effective_from"][:7]
            periods = [demofund.add_months(first, n) for n in range(MONTHS + 1)]
            assert first == expected_first
            before = _snapshot(accountant, base, periods)
            run()
            after = _snapshot(accountant, base, periods)
            yield Year(base, periods, devices, accountant, before, after)
    finally:
        move_clock(platform.data_dir / "clock-offset", 0)


def _public_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    def number(field: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(jwk[field] + "=" * (-len(jwk[field]) % 4)))

    return ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()


def _verifies(jwk: dict[str, Any], payload_json: str, signature: str) -> bool:
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    try:
        _public_key(jwk).verify(der, payload_json.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _device_key(devices: Path, username: str) -> tuple[int, int]:
    """The public point of the key kept on the person's device."""
    pem = json.loads((devices / f"{username}.json").read_text())["signing_key_pem"]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    n = key.public_key().public_numbers()
    return n.x, n.y


def test_twelve_months_close_in_order_with_heads_signed_on_the_people_devices(
    year: Year,
) -> None:
    c, closed, current = year.accountant, year.periods[:-1], year.periods[-1]
    assert len(closed) == MONTHS
    assert c.get(f"{year.base}/periods/{current}/head").status_code == 404
    devices = {u: _device_key(year.devices, u) for u in ("demo-manager", "demo-chair")}
    signer_of = {"company": "demo-manager", "committee": "demo-chair"}
    last_index = 0
    for n, period in enumerate(closed):
        head = _get(c, f"{year.base}/periods/{period}/head")
        payload = json.loads(head["payload_json"])
        assert payload["period"] == period
        # One chain across the months: each head starts where the previous one ended.
        assert payload["first_index"] == last_index + 1, period
        assert head["entry_count"] == payload["last_index"] - payload["first_index"] + 1 > 0
        last_index = payload["last_index"]
        latest = n == len(closed) - 1
        assert head["state"] == ("awaiting_committee" if latest else "signed"), period
        roles = [s["role"] for s in head["signatures"]]
        assert roles == (["company"] if latest else ["company", "committee"]), period
        for s in head["signatures"]:
            assert _verifies(s["public_jwk"], head["payload_json"], s["signature"]), period
            # The key is the one on the signer's device, registered as theirs.
            numbers = _public_key(s["public_jwk"]).public_numbers()
            assert (numbers.x, numbers.y) == devices[signer_of[s["role"]]]
            keys = _get(c, f"/api/v1/users/{s['user_id']}/device-keys")["keys"]
            assert s["key_id"] in {k["key_id"] for k in keys if not k["revoked_at"]}
            tampered = head["payload_json"].replace(period, "1999-01", 1)
            assert not _verifies(s["public_jwk"], tampered, s["signature"])
    verdict = _get(c, f"{year.base}/ledger/verify")
    fund = _get(c, f"{year.base}/fund")
    assert verdict["ok"], verdict
    assert verdict["heads_checked"] == MONTHS
    assert verdict["entries_checked"] == fund["entry_count"] > last_index


def test_the_fund_equals_its_journal_month_by_month(year: Year) -> None:
    c = year.accountant
    entries = _entries(c, f"{year.base}")
    fund = _get(c, f"{year.base}/fund")
    assert [e["chain_index"] for e in entries] == list(range(1, fund["entry_count"] + 1))
    by_account: Counter[str] = Counter()
    for e in entries:
        assert sum(ln["amount_fen"] for ln in e["lines"]) == 0, e["description"]
        assert e["late_for_period"] is None, e["description"]
        for ln in e["lines"]:
            by_account[ln["account"]] += ln["amount_fen"]
    assert by_account["1001"] == fund["fund_bank_fen"] > 0
    assert by_account["1002"] == fund["maintenance_bank_fen"] > 0
    assert {b["code"]: b["balance_fen"] for b in fund["balances"]} == {
        b["code"]: by_account[b["code"]] for b in fund["balances"]
    }
    assert entries[0]["kind"] == "opening"
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    sources: dict[str, Counter[str]] = defaultdict(Counter)
    flat = demofund.flat_month(year.periods)
    lump_sums = []
    for e in entries:
        kinds[e["period"]][e["kind"]] += 1
        if e["kind"] == "income":
            sources[e["period"]][e["income_source"]] += 1
            if e["lump_sum"]:
                lump_sums.append((e["period"], e["income_source"], e["items"]))
                continue
            assert e["items"], e["description"]
            if e["income_source"] == "parking" and e["period"] != year.periods[-1]:
                # The gate system's takings, day by day through the month.
                days = sorted(date.fromisoformat(i["occurred_on"]).day for i in e["items"])
                last = date.fromisoformat(e["booked_on"])
                assert days == list(range(1, last.day + 1)), e["period"]
                assert len({i["amount_fen"] for i in e["items"]}) > last.day // 2
    # One month's parking alone was posted as a flat sum, not itemised.
    assert lump_sums == [(flat, "parking", [])]
    assert set(kinds) == set(year.periods)
    for period in year.periods[:-1]:
        k = kinds[period]
        assert k["assessment"] == 1 and k["payment"] > 30 and k["remuneration"] > 0, period
        assert k["expense"] >= 2, period  # wages and electricity at least
        assert sources[period]["parking"] == 1 and sources[period]["advertising"] == 1, period
    assert sum(s["venue"] for s in sources.values()) >= 2  # the hall is hired now and then
    now = kinds[year.periods[-1]]
    assert now["assessment"] == 1 and now["bank_debit"] == 1 and now["expense"] == 0


def test_owners_pay_mostly_on_time_some_late_some_ahead_a_few_never(year: Year) -> None:
    c = year.accountant
    closed = year.periods[:-1]
    for period in closed:
        rate = _get(c, f"{year.base}/fees/payment-rate", period=period)
        assert 80 <= float(rate["by_units_percent"]) < 100, rate
        assert 80 <= float(rate["by_amount_percent"]) < 100, rate
    arrears = _get(c, f"{year.base}/fees/arrears")
    assert 0 < arrears["units_in_arrears"] <= arrears["units_total"] * 3 // 10
    owed = {m["period"]: m["amount_fen"] for m in arrears["by_period"]}
    # Some never paid at all, so every month is owed by someone; the latest months most.
    assert set(owed) == set(year.periods)
    assert owed[year.periods[-1]] > owed[closed[0]] > 0
    payments = [e for e in _entries(c, year.base) if e["kind"] == "payment"]
    receivable_lines = [sum(ln["account"] == "1101" for ln in e["lines"]) for e in payments]
    prepaid = [
        -sum(ln["amount_fen"] for ln in e["lines"] if ln["account"] == "2001") for e in payments
    ]
    # Late payers settle several months at once, oldest first; some pay half a year ahead.
    assert sum(n >= 2 for n in receivable_lines) >= 3
    paid_in = [
        sum(ln["amount_fen"] for ln in e["lines"] if ln["account"] == "1001") for e in payments
    ]
    ahead = [p for p, total in zip(prepaid, paid_in, strict=True) if 4 * p >= 3 * total > 0]
    assert len(ahead) >= 2
    # Oldest first: what a unit still owes is its latest months, up to this one.
    for unit in arrears["units"]:
        months = [m["period"] for m in unit["by_period"]]
        assert months == [p for p in year.periods if p >= months[0]], unit
    for e in payments:
        settled = e["description"].partition("结清 ")[2].split("；")[0]
        months = [m for m in settled.split("、") if m]
        assert months == sorted(months), e["description"]
        assert all(m <= e["period"] for m in months), e["description"]


def test_payments_out_are_requested_approved_with_codes_and_posted_in_their_month(
    year: Year,
) -> None:
    c = year.accountant
    thresholds = _get(c, f"{year.base}/ledger/approval-thresholds")
    assert thresholds["thresholds"] == demofund.THRESHOLDS
    disbursements = _get(c, f"{year.base}/disbursements")
    states = Counter((d["state"], d["origin"]) for d in disbursements)
    assert states == {
        ("posted", "request"): len(disbursements) - 2,
        ("requested", "request"): 1,
        ("requested", "bank_debit"): 1,
    }
    # The queue is not empty: a roof repair needs both approvers, and the bank's account fee
    # taken this month awaits ratification, held apart in 1190 meanwhile.
    waiting = {d["origin"]: d for d in disbursements if d["state"] == "requested"}
    repair, fee = waiting["request"], waiting["bank_debit"]
    assert repair["approvals_required"] == 2 and repair["approvals"] == []
    assert repair["budget_line_id"] == "repairs" and repair["voucher_sha256"]
    assert fee["approvals"] == [] and fee["paid_on"].startswith(year.periods[-1])
    held = _get(c, f"{year.base}/ledger/entries/{fee['suspense_entry_id']}")
    assert held["kind"] == "bank_debit" and held["period"] == year.periods[-1]
    balances = {b["code"]: b["balance_fen"] for b in _get(c, f"{year.base}/fund")["balances"]}
    assert balances["1190"] == fee["amount_fen"]
    posted = [d for d in disbursements if d["state"] == "posted"]
    by_month: dict[str, list[str]] = defaultdict(list)
    for d in posted:
        approvers = {a["username"] for a in d["approvals"]}
        assert approvers <= set(demofund.APPROVERS)
        assert (
            len(approvers) == d["approvals_required"] == (2 if d["amount_fen"] > 2_000_000 else 1)
        )
        assert d["requested_by"] not in {a["user_id"] for a in d["approvals"]}
        assert d["bank_evidence"] and d["budget_line_id"]
        entry = _get(c, f"{year.base}/ledger/entries/{d['entry_id']}")
        assert entry["kind"] == "expense" and entry["booked_on"] == d["paid_on"]
        assert entry["period"] == d["paid_on"][:7] and entry["late_for_period"] is None
        # The quote or bill the company attached, and the bank's receipt.
        assert set(entry["voucher_sha256"]) == {*d["voucher_sha256"], d["bank_evidence"]}
        by_month[entry["period"]].append(d["budget_line_id"])
    assert any(d["approvals_required"] == 2 for d in posted)
    assert set(by_month) == set(year.periods[:-1])
    for period, lines in by_month.items():
        assert {"staff", "utilities"} <= set(lines), period
    for line in ("cleaning", "greening", "repairs", "remuneration"):
        assert any(line in lines for lines in by_month.values()), line
    for d in posted:
        if d["budget_line_id"] == "staff":
            (sha,) = d["voucher_sha256"]
            voucher = _get(c, f"{year.base}/vouchers/{sha}/meta")
            assert voucher["kind"] == "payroll"
            assert sum(voucher["payroll_totals"].values()) == d["amount_fen"]


def test_remuneration_paid_is_what_accrued_in_its_quarter(year: Year) -> None:
    c = year.accountant
    accrued: Counter[str] = Counter()
    for e in _entries(c, year.base):
        if e["kind"] == "remuneration":
            accrued[e["period"]] -= sum(
                ln["amount_fen"] for ln in e["lines"] if ln["account"] == "2101"
            )
    paid = [
        d for d in _get(c, f"{year.base}/disbursements") if d["budget_line_id"] == "remuneration"
    ]
    assert paid
    for d in paid:
        quarter = [
            demofund.add_months(d["paid_on"][:7], -k)
            for k in (3, 2, 1)
            if demofund.add_months(d["paid_on"][:7], -k) >= year.periods[0]
        ]
        assert d["amount_fen"] == sum(accrued[p] for p in quarter) > 0, d["purpose"]


def test_each_year_has_a_drafted_budget_with_what_was_spent(year: Year) -> None:
    c = year.accountant
    posted = [d for d in _get(c, f"{year.base}/disbursements") if d["state"] == "posted"]
    for y in sorted({int(p[:4]) for p in year.periods}):
        budget = _get(c, f"{year.base}/budgets/{y}")
        assert budget["state"] == "draft"  # approval comes from a ballot, not built yet
        spent = sum(d["amount_fen"] for d in posted if d["paid_on"].startswith(f"{y}-"))
        assert budget["actual_fen"] == spent
        assert all(ln["actual_fen"] <= ln["amount_fen"] for ln in budget["lines"]), budget


def test_the_bank_agrees_with_the_books_through_the_last_closed_month(year: Year) -> None:
    c, closed, current = year.accountant, year.periods[:-1], year.periods[-1]
    lines = _statement_lines(c, year.base)
    by_month = Counter(x["booked_on"][:7] for x in lines)
    assert all(by_month[p] > 0 for p in closed)
    # Each closed month is tied line by line to its entries, each entry to one line only.
    past = [x for x in lines if x["booked_on"][:7] != current]
    assert {x["state"] for x in past} == {"matched"}
    tied = [e for x in past for e in x["entry_ids"]]
    assert len(tied) == len(set(tied)) == len(past)
    entries = {e["entry_id"]: e for e in _entries(c, year.base)}
    for x in past:
        (entry,) = (entries[e] for e in x["entry_ids"])
        bank = sum(ln["amount_fen"] for ln in entry["lines"] if ln["account"] == "1001")
        assert bank == x["amount_fen"], x
    fund = _get(c, f"{year.base}/fund")
    assert fund["reconciled_through"] >= demofund.last_day(closed[-1]).isoformat()
    accounts = _get(c, f"{year.base}/bank-accounts")
    assert [(a["account"], a["number"]) for a in accounts] == [("fund", demofund.FUND_ACCOUNT[0])]
    imports = _get(c, f"{year.base}/bank-statements")
    assert all(i["account_checked"] for i in imports if i["lines_new"])


def test_only_the_gates_disagree_with_the_books_in_the_month_posted_flat(year: Year) -> None:
    """The Chengdu pilot's case, planted once: a month's parking posted as a flat 2,400 yuan and
    banked as such, while the gates recorded far more. The takings checks flag that month alone;
    the advertising contract is paid every month; the bank agrees with the books throughout."""
    c, closed, current = year.accountant, year.periods[:-1], year.periods[-1]
    flat = demofund.flat_month(year.periods)
    assert flat is not None and flat == demofund.add_months(current, -4)
    rows = _checks(c, year.base, year.periods)
    assert {k: r["flag"] for k, r in rows.items() if r["flag"] or r["state"] == "flagged"} == {
        (flat, "parking"): "below_recorded"
    }
    row = rows[(flat, "parking")]
    assert (row["state"], row["posted_fen"]) == ("flagged", demofund.FLAT_PARKING_FEN)
    # Well past the line (short by more than a tenth of the takings and more than 100 yuan).
    assert row["recorded_fen"] > 2 * demofund.FLAT_PARKING_FEN
    assert row["recorded_fen"] > demofund.FLAT_PARKING_FEN * 11 // 10 + 10_000
    assert row["shortfall_fen"] == row["recorded_fen"] - demofund.FLAT_PARKING_FEN
    assert row["recorded_days"] == demofund.last_day(flat).day
    assert "2,400.00 yuan" in row["reason"] and "gates recorded" in row["reason"]
    # Every other month the company posted what the gates took, to the fen.
    for period in closed:
        r = rows[(period, "parking")]
        assert r["recorded_days"] == demofund.last_day(period).day, period
        if period != flat:
            assert (r["state"], r["shortfall_fen"]) == ("ok", 0), r
            assert r["recorded_fen"] == r["posted_fen"] > 0, r
    if (current, "parking") in rows:  # the gates' days up to yesterday: nothing flagged yet
        assert (rows[(current, "parking")]["state"], rows[(current, "parking")]["flag"]) == (
            "in_progress",
            None,
        )
    # The gates' daily reports, one a month, each day imported once.
    imports = _get(c, f"{year.base}/takings-imports")
    assert {(i["source"], i["profile"], i["layout"]) for i in imports} == {
        ("parking", "gate-daily", "per_day")
    }
    months = sorted(i["first_day"][:7] for i in imports)
    assert months[: len(closed)] == closed and set(months) <= set(year.periods)
    assert all(
        i["rows_duplicate"] == 0 and i["last_day"][:7] == i["first_day"][:7] for i in imports
    )
    # The advertising contract: listed once, expected every month and paid every month.
    (contract,) = _get(c, f"{year.base}/income-contracts")
    assert (contract["source"], contract["first_month"], contract["last_month"]) == (
        "advertising",
        year.periods[0],
        None,
    )
    for period in year.periods:
        r = rows[(period, "advertising")]
        assert r["expected_fen"] == contract["monthly_fen"] > 0, r
        if period in closed:
            assert (r["state"], r["posted_fen"]) == ("ok", contract["monthly_fen"]), r
    assert all(r["flag"] != "contract_unpaid" for r in rows.values())
    # The books agree with the bank in the flat month: the flat sum is what was banked.
    lines = [x for x in _statement_lines(c, year.base) if x["booked_on"][:7] == flat]
    assert lines and {x["state"] for x in lines} == {"matched"}
    (lump,) = (e for e in _entries(c, year.base) if e["lump_sum"])
    assert (lump["period"], lump["income_source"], lump["items"]) == (flat, "parking", [])
    assert "包干" in lump["description"]
    (deposit,) = (x for x in lines if lump["entry_id"] in x["entry_ids"])
    assert deposit["amount_fen"] == demofund.FLAT_PARKING_FEN
    assert sum(ln["amount_fen"] for ln in lump["lines"] if ln["account"] == "1001") == (
        demofund.FLAT_PARKING_FEN
    )


def test_a_second_run_adds_nothing(year: Year) -> None:
    assert year.after == year.before
    assert len(year.before["entries"]) > 1000
