"""Bank statements through the gateway: camt.053 and MT940 files imported for the fund's
account, overlapping statements stored once, a bad file refused by line with nothing imported,
and counterparties shown only to those whose duties need them."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.identity.world import World, ok
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
        assert len(ok(acc.get(f"/api/v1/estates/{world.estate_a}/bank-statements"))) == before
        empty = acc.post(
            f"/api/v1/estates/{world.estate_a}/bank-statements",
            content=b"",
            headers={"content-type": "text/plain"},
        )
        assert empty.status_code == 400
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
