"""A statement of many lines matched in one import: each line tied to the entry of its amount and
day, a line freed by a later line's tie settled on the next pass, the rest flagged, and a
statement overlapping it stored once."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from tests.identity.world import World, ok

LINES = 150
START = date(2025, 3, 1)


def statement(rows: list[tuple[str, int, str]]) -> bytes:
    """A generic-profile CSV of (day, amount in fen, narrative) rows."""
    body = ["booking_date,amount,narrative,account"]
    body += [f"{day},{fen / 100:.2f},{words},51050142620800007777" for day, fen, words in rows]
    return ("\n".join(body) + "\n").encode()


def upload(c: httpx.Client, base: str, content: bytes) -> dict:  # type: ignore[type-arg]
    return ok(
        c.post(
            f"{base}/bank-statements",
            params={"account": "fund", "filename": "bulk.csv"},
            content=content,
            headers={"content-type": "text/csv"},
        )
    )


def all_lines(c: httpx.Client, base: str) -> dict[str, dict]:  # type: ignore[type-arg]
    """Every fund line, by narrative."""
    out: dict[str, dict] = {}  # type: ignore[type-arg]
    cursor = None
    while True:
        page = ok(
            c.get(
                f"{base}/statement-lines",
                params={"account": "fund", "limit": 100, **({"cursor": cursor} if cursor else {})},
            )
        )
        out.update({x["narrative"]: x for x in page["lines"]})
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_a_long_statement_is_matched_line_by_line_in_one_import(world: World) -> None:
    base = f"/api/v1/estates/{world.estate_a}"
    with world.client("company_accountant") as acc:

        def income(fen: int, day: date) -> str:
            entry = ok(
                acc.post(
                    f"{base}/ledger/entries",
                    json={"source": "other", "amount_fen": fen, "booked_on": day.isoformat()},
                )
            )
            return str(entry["entry_id"])

        # Each payment of its own amount, booked the day before the bank's line or on it.
        days = [START + timedelta(days=n % 28) for n in range(LINES)]
        paid = {
            f"物业费 {n}": income(10_000 + n, days[n] - timedelta(days=n % 2)) for n in range(LINES)
        }
        # Two payments alike: the line of 10 April may be either (neither is of its day); the
        # line of 12 April only the later one, which it takes, leaving the earlier to the first.
        early, late = income(444_400, date(2025, 4, 6)), income(444_400, date(2025, 4, 8))
        rows = [(days[n].isoformat(), 10_000 + n, f"物业费 {n}") for n in range(LINES)]
        rows += [("2025-04-10", 444_400, "租金 甲"), ("2025-04-12", 444_400, "租金 乙")]
        # Two payments of one day the bank settled as one credit: proposed, not tied.
        parts = [income(fen, date(2025, 4, 20)) for fen in (1_000_00, 2_000_00)]
        rows += [("2025-04-21", 3_000_00, "财付通 结算")]
        # Money out with no payment behind it, and money in nobody has posted yet.
        rows += [("2025-04-22", -98_765, "转账支出"), ("2025-04-23", 55_500, "未知来款")]
        done = upload(acc, base, statement(rows))
        assert (done["lines_new"], done["lines_duplicate"]) == (len(rows), 0)
        assert (done["lines_matched"], done["lines_open"]) == (LINES + 2, 3)

        lines = all_lines(acc, base)
        assert len(lines) == len(rows)
        assert {n: lines[n]["entry_ids"] for n in paid} == {n: [e] for n, e in paid.items()}
        assert all(lines[n]["state"] == "matched" and not lines[n]["flag"] for n in paid)
        assert (lines["租金 甲"]["entry_ids"], lines["租金 乙"]["entry_ids"]) == ([early], [late])
        assert lines["租金 甲"]["proposed_entry_ids"] == []
        settled = lines["财付通 结算"]
        assert (settled["state"], settled["flag"]) == ("open", "split")
        assert settled["proposed_entry_ids"] == parts
        assert lines["转账支出"]["flag"] == "unauthorised_debit"
        assert (lines["未知来款"]["flag"], lines["未知来款"]["state"]) == (
            "income_to_classify",
            "open",
        )
        match_ids = {x["match_id"] for x in lines.values() if x["match_id"]}
        assert len(match_ids) == LINES + 2

        # A later statement overlapping this one: only its new line is stored.
        again = upload(acc, base, statement([*rows[-40:], ("2025-04-24", -1_200, "手续费")]))
        assert (again["lines_new"], again["lines_duplicate"]) == (1, 40)
        assert again["lines_matched"] == 0

        # The payment posted after the import is tied by trying again; the rest stay as they were.
        unknown = income(55_500, date(2025, 4, 23))
        assert ok(acc.post(f"{base}/statement-lines/rematch"))["matched"] == 1
        after = all_lines(acc, base)
        assert after["未知来款"]["entry_ids"] == [unknown]
        assert after["转账支出"]["flag"] == after["手续费"]["flag"] == "unauthorised_debit"
        assert after["财付通 结算"]["proposed_entry_ids"] == parts
        fund = ok(acc.get(f"{base}/fund"))
        assert fund["open_statement_lines"] == 3
