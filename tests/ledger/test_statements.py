"""Bank statements through the gateway: camt.053 and MT940 files imported for the fund's
account, overlapping statements stored once, a bad file refused by line with nothing imported,
and counterparties shown only to those whose duties need them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.identity.world import World, ok
from xinyi_gateway import refusals
from xinyi_ledger.statements import parse_statement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"


def upload(c: httpx.Client, world: World, name: str, account: str = "fund") -> httpx.Response:
    return c.post(
        f"/api/v1/estates/{world.estate_a}/bank-statements",
        params={"account": account, "filename": name},
        content=(FIXTURES / name).read_bytes(),
        headers={"content-type": "application/octet-stream"},
    )


def lines(c: httpx.Client, world: World, account: str) -> list[dict]:  # type: ignore[type-arg]
    out: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    while True:
        page = ok(
            c.get(
                f"/api/v1/estates/{world.estate_a}/statement-lines",
                params={"account": account, "limit": 7, **({"cursor": cursor} if cursor else {})},
            )
        )
        out += page["lines"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_statements_are_imported_once_and_a_bad_file_imports_nothing(world: World) -> None:
    camt = "camt053_v08_two_statements.xml"
    expected = list(parse_statement((FIXTURES / camt).read_bytes(), filename=camt).lines())
    with world.client("owner") as owner:
        assert upload(owner, world, camt).status_code == 403
    with world.client("company_accountant") as acc:
        first = ok(upload(acc, world, camt, account="maintenance"))
        assert (first["format"], first["statements"]) == ("camt.053", 2)
        assert (first["lines_new"], first["lines_duplicate"]) == (len(expected), 0)
        stored = lines(acc, world, "maintenance")
        assert sorted(x["amount_fen"] for x in stored) == sorted(x.amount_fen for x in expected)
        assert all(x["state"] == "open" for x in stored)
        again = ok(upload(acc, world, camt, account="maintenance"))
        assert (again["lines_new"], again["lines_duplicate"]) == (0, len(expected))

        # Two MT940 statements that overlap by some days: the repeated lines are kept once.
        one = ok(upload(acc, world, "mt940_overlap_1.sta"))
        two = ok(upload(acc, world, "mt940_overlap_2.sta"))
        second = list(parse_statement((FIXTURES / "mt940_overlap_2.sta").read_bytes()).lines())
        assert two["lines_duplicate"] > 0
        assert two["lines_new"] + two["lines_duplicate"] == len(second)
        fund = lines(acc, world, "fund")
        assert len(fund) == one["lines_new"] + two["lines_new"]
        assert len({x["line_id"] for x in fund}) == len(fund)

        before = len(ok(acc.get(f"/api/v1/estates/{world.estate_a}/bank-statements")))
        bad = upload(acc, world, "camt053_bad_amount.xml")
        assert bad.status_code == 400
        assert "nothing was imported" in bad.json()["detail"]
        assert "line " in bad.json()["detail"]
        # In Chinese, each problem of the file is worded too.
        bad_zh = acc.post(
            f"/api/v1/estates/{world.estate_a}/bank-statements",
            params={"account": "fund", "filename": "camt053_bad_amount.xml"},
            content=(FIXTURES / "camt053_bad_amount.xml").read_bytes(),
            headers={"content-type": "application/octet-stream", "Accept-Language": "zh-CN"},
        )
        assert bad_zh.status_code == 400
        assert bad_zh.json()["detail_en"] == bad.json()["detail"]
        assert bad_zh.json()["detail"] == refusals.to_chinese(bad.json()["detail"])
        assert bad_zh.json()["detail"].startswith("未导入任何内容：第 ")
        assert not re.search(r"[a-z]{3,} [a-z]{3,}", bad_zh.json()["detail"]), bad_zh.json()
        assert len(ok(acc.get(f"/api/v1/estates/{world.estate_a}/bank-statements"))) == before
        empty = acc.post(
            f"/api/v1/estates/{world.estate_a}/bank-statements",
            content=b"",
            headers={"content-type": "text/plain"},
        )
        assert empty.status_code == 400
        # More lines than one import takes: refused whole, with what to do instead.
        rows = "".join(f"2024-05-{1 + n % 28:02d},{n % 900 + 1}.00\n" for n in range(50_001))
        long = acc.post(
            f"/api/v1/estates/{world.estate_a}/bank-statements",
            params={"account": "fund", "filename": "year.csv"},
            content=("booking_date,amount\n" + rows).encode(),
            headers={"content-type": "text/csv"},
        )
        assert long.status_code == 400, long.text
        assert "at most 50,000 are imported at once" in long.json()["detail"]
        assert len(ok(acc.get(f"/api/v1/estates/{world.estate_a}/bank-statements"))) == before
        wrong = acc.post(
            f"/api/v1/estates/{world.estate_a}/bank-statements",
            params={"account": "savings"},
            content=b"x",
        )
        assert wrong.status_code == 422

    # Owners see every movement, not who made it; the committee sees the counterparty.
    with world.client("owner") as owner:
        seen = lines(owner, world, "maintenance")
    with world.client("committee_chair") as chair:
        named = lines(chair, world, "maintenance")
    assert len(seen) == len(named) == len(stored)
    assert all(x["counterparty_name"] is None for x in seen)
    assert any(x["counterparty_name"] for x in named)


def test_lines_are_tied_to_their_entries_proposed_explained_or_raised_as_alarms(
    world: World,
) -> None:
    base = f"/api/v1/estates/{world.estate_b}"

    def post_income(c: httpx.Client, fen: int, day: str) -> dict:  # type: ignore[type-arg]
        return ok(
            c.post(
                f"{base}/ledger/entries",
                json={"source": "other", "amount_fen": fen, "booked_on": day},
            )
        )

    with world.as_token(world.other_company_token) as manager:
        exact = post_income(manager, 128_050, "2024-03-01")
        # Two of the line's amount, neither on its day (5 March): either may be it.
        twins = [post_income(manager, 300_000, day) for day in ("2024-03-03", "2024-03-04")]
        # The bank's own charge, recorded from the statement: its holding entry is the line.
        fee = ok(
            manager.post(
                f"{base}/bank-debits",
                json={
                    "amount_fen": 1_500,
                    "debited_on": "2024-03-08",
                    "payee": "中国银行成都锦江支行",
                    "purpose": "对公账户管理费",
                    "bank_evidence": "BOC240308000009",
                },
            )
        )
        done = ok(
            manager.post(
                f"{base}/bank-statements",
                params={"account": "fund", "filename": "generic.csv"},
                content=(FIXTURES / "generic.csv").read_bytes(),
                headers={"content-type": "text/csv"},
            )
        )
        assert (done["lines_new"], done["lines_matched"], done["lines_open"]) == (8, 2, 6)
        fund = ok(manager.get(f"{base}/fund"))
        # The first open line is of 1 March: reconciled through the day before.
        assert (fund["statement_through"], fund["reconciled_through"]) == (
            "2024-03-29",
            "2024-02-29",
        )
        assert fund["open_statement_lines"] == 6
        shown = {
            x["amount_fen"]: x
            for x in ok(manager.get(f"{base}/statement-lines", params={"account": "fund"}))["lines"]
        }
        assert shown[128_050]["state"] == "matched"
        assert shown[128_050]["entry_ids"] == [exact["entry_id"]]
        assert shown[-1_500]["entry_ids"] == [fee["suspense_entry_id"]]
        twin = shown[300_000]
        assert twin["flag"] == "ambiguous"
        assert sorted(twin["proposed_entry_ids"]) == sorted(t["entry_id"] for t in twins)
        # Money that left with no payment behind it is the alarm; money in waits to be named.
        assert shown[-860_000]["flag"] == shown[-432_109]["flag"] == "unauthorised_debit"
        assert shown[256_000]["flag"] == "income_to_classify"

        wrong = manager.post(
            f"{base}/statement-lines/{twin['line_id']}/match",
            json={"entry_id": exact["entry_id"]},
        )
        assert wrong.status_code == 422 and "does not fit" in wrong.json()["detail"]
        tied = ok(
            manager.post(
                f"{base}/statement-lines/{twin['line_id']}/match",
                json={"entry_id": twins[1]["entry_id"]},
            )
        )
        assert (tied["state"], tied["entry_ids"]) == ("matched", [twins[1]["entry_id"]])
        explained = ok(
            manager.post(
                f"{base}/statement-lines/{shown[-432_109]['line_id']}/explanation",
                json={"explanation": "电费付款单 DB-2024-019 已批准，银行先于登记扣款"},
            )
        )
        assert explained["state"] == "explained"
        # Takings posted after the import are tied by trying again.
        post_income(manager, 240_000, "2024-03-20")
        again = ok(manager.post(f"{base}/statement-lines/rematch"))
        assert again["matched"] == 1
        # The month closes only once it reconciles with the bank.
        refused = manager.post(f"{base}/periods/2024-03/close")
        assert refused.status_code == 422 and "3 line(s)" in refused.json()["detail"]
        for fen in (-860_000, 256_000, 95_036):
            ok(
                manager.post(
                    f"{base}/statement-lines/{shown[fen]['line_id']}/explanation",
                    json={"explanation": "已核实，见本月公示说明"},
                )
            )
        assert ok(manager.post(f"{base}/periods/2024-03/close"))["period"] == "2024-03"
    with world.as_token(world.owner_b_token) as owner:
        assert (
            owner.post(
                f"{base}/statement-lines/{shown[256_000]['line_id']}/explanation",
                json={"explanation": "x"},
            ).status_code
            == 403
        )
        seen = {x["amount_fen"]: x for x in ok(owner.get(f"{base}/statement-lines"))["lines"]}
        reconciled = ok(owner.get(f"{base}/fund"))
    assert (reconciled["reconciled_through"], reconciled["open_statement_lines"]) == (
        "2024-03-29",
        0,
    )
    assert seen[-432_109]["explanation"].startswith("电费付款单")
    assert seen[240_000]["state"] == "matched"
    # Explained, the alarm's line keeps its flag: owners read both.
    assert seen[-860_000]["flag"] == "unauthorised_debit"
    assert seen[-860_000]["state"] == "explained" and seen[-860_000]["counterparty_name"] is None
