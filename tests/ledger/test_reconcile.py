"""Reconciling the fund's account through the gateway: the registered account a statement must be
of, splits either way (a day's settlement for many payments; one payment arriving in parts), and
a wrong match undone and made again by hand."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.identity.world import World, ok
from tests.poll import eventually

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"
NUMBER = "51050142620800009999"


def statement(*rows: tuple[str, str, str], account: str = NUMBER) -> bytes:
    """A generic-profile CSV of (day, amount in yuan, narrative) rows."""
    body = ["booking_date,amount,narrative,account"]
    body += [f"{day},{amount},{words},{account}" for day, amount, words in rows]
    return ("\n".join(body) + "\n").encode()


def upload(c: httpx.Client, base: str, content: bytes, name: str = "s.csv") -> httpx.Response:
    return c.post(
        f"{base}/bank-statements",
        params={"account": "fund", "filename": name},
        content=content,
        headers={"content-type": "text/csv"},
    )


def report(c: httpx.Client, estate: str, period: str) -> dict:  # type: ignore[type-arg]
    return ok(c.get(f"/api/v1/estates/{estate}/reports/monthly/{period}"))  # type: ignore[no-any-return]


def by_amount(c: httpx.Client, base: str) -> dict[int, list[dict]]:  # type: ignore[type-arg]
    out: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for line in ok(c.get(f"{base}/statement-lines", params={"account": "fund"}))["lines"]:
        out.setdefault(line["amount_fen"], []).append(line)
    return out


def test_statements_must_be_of_the_registered_account_and_splits_are_matched(
    world: World,
) -> None:
    base = f"/api/v1/estates/{world.estate_a}"
    account = {"number": "5105 0142 6208 0000 9999", "bank_name": "中国建设银行成都锦江支行"}
    account["holder"] = "锦城花园小区业主大会"
    with world.client("company_accountant") as acc:
        # Only the approving body registers the dual-control account.
        assert acc.put(f"{base}/bank-accounts/fund", json=account).status_code == 403
    with world.client("committee_chair") as chair:
        # Sent several times at once (a double click, a retry): registered once, none fails.
        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = list(
                pool.map(lambda _: chair.put(f"{base}/bank-accounts/fund", json=account), range(8))
            )
        assert [r.status_code for r in sent] == [200] * 8, [r.text for r in sent]
        done = sent[0].json()
        assert (done["number"], done["account"]) == (account["number"], "fund")
        assert (
            chair.put(f"{base}/bank-accounts/fund", json={**account, "number": "12"}).status_code
            == 422
        )
    with world.client("owner") as owner:
        assert [a["number"] for a in ok(owner.get(f"{base}/bank-accounts"))] == [account["number"]]

    with world.client("company_accountant") as acc:
        # A statement of another account is refused whole.
        elsewhere = upload(acc, base, (FIXTURES / "mt940_overlap_1.sta").read_bytes(), "x.sta")
        assert elsewhere.status_code == 422
        assert "registered as 5105 0142 6208 0000 9999" in elsewhere.json()["detail"]
        assert ok(acc.get(f"{base}/bank-statements")) == []

        def income(fen: int, day: str) -> str:
            entry = ok(
                acc.post(
                    f"{base}/ledger/entries",
                    json={"source": "property_fee", "amount_fen": fen, "booked_on": day},
                )
            )
            return str(entry["entry_id"])

        # Three owners paid through the payment platform on 6 May; it settled them as one credit.
        day_pays = [income(fen, "2026-05-06") for fen in (1_000_00, 2_000_00, 3_500_50)]
        # A tenant's 8,000 yuan for the hall arrived in two transfers.
        hall = income(8_000_00, "2026-05-20")
        # Two payments of one amount in a week: the bank's line is the one of its day.
        twins = [income(500_00, day) for day in ("2026-05-10", "2026-05-12")]
        # A payment matched automatically to the wrong line, to be undone.
        early = income(777_00, "2026-05-25")
        imported = ok(
            upload(
                acc,
                base,
                statement(
                    ("2026-05-07", "6500.50", "财付通 5月6日结算"),
                    ("2026-05-20", "5000.00", "场地租金 第一笔"),
                    ("2026-05-21", "3000.00", "场地租金 第二笔"),
                    ("2026-05-26", "777.00", "物业费"),
                    ("2026-05-12", "500.00", "物业费 5-2-101"),
                ),
            )
        )
        assert (imported["statement_account"], imported["account_checked"]) == (NUMBER, True)
        assert (imported["lines_new"], imported["lines_matched"]) == (5, 2)

        lines = by_amount(acc, base)
        assert lines[500_00][0]["entry_ids"] == [twins[1]]
        (settled,) = lines[6_500_50]
        assert settled["flag"] == "split"
        assert sorted(settled["proposed_entry_ids"]) == sorted(day_pays)
        (first,), (second,) = lines[5_000_00], lines[3_000_00]
        assert first["flag"] == second["flag"] == "income_to_classify"

        # Sums that differ are refused, naming both.
        short = acc.post(
            f"{base}/statement-matches",
            json={"line_ids": [first["line_id"]], "entry_ids": [hall]},
        )
        assert short.status_code == 422 and "5,000.00" in short.json()["detail"]
        # The proposal confirmed; the two transfers tied to the one entry.
        split = ok(
            acc.post(
                f"{base}/statement-matches",
                json={"line_ids": [settled["line_id"]], "entry_ids": settled["proposed_entry_ids"]},
            )
        )["lines"]
        assert [x["state"] for x in split] == ["matched"]
        parts = ok(
            acc.post(
                f"{base}/statement-matches",
                json={"line_ids": [first["line_id"], second["line_id"]], "entry_ids": [hall]},
            )
        )["lines"]
        assert {x["match_id"] for x in parts} == {parts[0]["match_id"]}
        # An entry is tied once: not again to another line.
        again = acc.post(
            f"{base}/statement-matches",
            json={"line_ids": [lines[777_00][0]["line_id"]], "entry_ids": [hall]},
        )
        assert again.status_code == 422

        # The automatic match undone: open again, and the service does not tie it back.
        (auto,) = lines[777_00]
        assert (auto["state"], auto["entry_ids"]) == ("matched", [early])
        assert (
            acc.post(f"{base}/statement-lines/{auto['line_id']}/unmatch", json={}).status_code
            == 422
        )
        undone = ok(
            acc.post(
                f"{base}/statement-lines/{auto['line_id']}/unmatch",
                json={"reason": "该笔为2-101业主付款，与5月25日记账不是同一笔"},
            )
        )["lines"]
        assert [(x["state"], x["entry_ids"]) for x in undone] == [("open", [])]
        assert ok(acc.post(f"{base}/statement-lines/rematch"))["matched"] == 0

        after = by_amount(acc, base)
        assert sorted(after[6_500_50][0]["entry_ids"]) == sorted(day_pays)
        assert [x["entry_ids"] for x in after[5_000_00] + after[3_000_00]] == [[hall], [hall]]
        assert after[777_00][0]["state"] == "open"
        again_by_hand = ok(
            acc.post(
                f"{base}/statement-matches",
                json={"line_ids": [auto["line_id"]], "entry_ids": [early]},
            )
        )["lines"]
        assert again_by_hand[0]["state"] == "matched"

    with world.client("owner") as owner:
        assert (
            owner.post(
                f"{base}/statement-lines/{auto['line_id']}/unmatch", json={"reason": "x"}
            ).status_code
            == 403
        )
        fund = ok(owner.get(f"{base}/fund"))
        assert (fund["reconciled_through"], fund["open_statement_lines"]) == ("2026-05-26", 0)


def test_of_two_payments_alike_the_line_naming_the_flat_is_its_payment(world: World) -> None:
    base = f"/api/v1/estates/{world.estate_a}"
    with world.client("company_accountant") as acc:
        units = {u["number"]: u["unit_id"] for u in ok(acc.get(f"{base}/units"))["units"]}
        eventually(
            lambda: ok(acc.get(f"{base}/fees/arrears"))["units_total"] == len(units),
            what="the ledger learning the units",
        )
        paid = {
            number: ok(
                acc.post(
                    f"{base}/payments",
                    json={
                        "unit_id": units[number],
                        "amount_fen": 33_300,
                        "received_on": "2026-06-09",
                    },
                )
            )["entry_id"]
            for number in ("1-101", "1-102")
        }
        ok(
            upload(
                acc,
                base,
                statement(
                    ("2026-06-09", "333.00", "物业费 1栋1-102 六月"),
                    ("2026-06-09", "333.00", "物业费 1栋1-101"),
                ),
            )
        )
        lines = by_amount(acc, base)[33_300]
    tied = {x["narrative"]: x["entry_ids"] for x in lines}
    assert tied == {
        "物业费 1栋1-102 六月": [paid["1-102"]],
        "物业费 1栋1-101": [paid["1-101"]],
    }


def test_a_statement_of_thousands_of_lines_is_written_whole_and_matched_to_its_last(
    world: World,
) -> None:
    # 2,500 lines in July, of amounts no other test posts; the one payment posted is among the
    # last. 1,200 of them are debits no payment explains: 1,200 alarms, more events than the
    # ledger writes in one statement, which the monthly report must count all of, in order.
    base = f"/api/v1/estates/{world.estate_a}"
    rows = [
        (f"2026-07-{1 + n % 28:02d}", f"{'-' if 1_000 <= n < 2_200 else ''}{100 + n}.37", f"款 {n}")
        for n in range(2_500)
    ]
    with world.client("company_accountant") as acc:
        bank = report(acc, world.estate_a, "2026-07")["bank"]
        paid = ok(
            acc.post(
                f"{base}/ledger/entries",
                json={
                    "source": "property_fee",
                    "amount_fen": 2_500_37,
                    "booked_on": rows[2_400][0],
                },
            )
        )
        content = statement(*rows)
        imported = ok(upload(acc, base, content, "july.csv"))
        assert (imported["lines_new"], imported["lines_duplicate"]) == (2_500, 0)
        assert (imported["lines_matched"], imported["lines_open"]) == (1, 2_499)
        matched = ok(
            acc.get(
                f"{base}/statement-lines",
                params={"account": "fund", "state": "matched", "limit": 1000},
            )
        )["lines"]
        (line,) = [ln for ln in matched if ln["amount_fen"] == 2_500_37]
        assert line["entry_ids"] == [paid["entry_id"]]
        expected = (bank["open_lines"] + 2_499, bank["alarms"] + 1_200)

        def counted() -> bool:
            shown = report(acc, world.estate_a, "2026-07")["bank"]
            assert (shown["open_lines"], shown["alarms"]) == expected
            return True

        eventually(counted, what="the statement's lines and alarms in the monthly report")
        # The same file again: every line is one it has.
        again = ok(upload(acc, base, content, "july-again.csv"))
        assert (again["lines_new"], again["lines_duplicate"]) == (0, 2_500)
