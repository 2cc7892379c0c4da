"""Disclosure's account totals per month, on the platform's PostgreSQL: kept from the ledger's
entry events (each entry counted once, however often its event arrives), they give a report its
balances and the year's spending, while an entry keeps only the lines a report lists; the
migration that introduced them sums and trims the entries applied before it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from sqlalchemy import text

import xinyi_disclosure
from tests.migrations import scratch_schema, upgrade
from xinyi.common.v1 import common_pb2
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi_dev.platform import Platform
from xinyi_disclosure import readmodels, report
from xinyi_disclosure.readmodels import AccountMonth
from xinyi_kit import clock
from xinyi_kit.db import Database

Kind = ledger_events.EntryKind
UNITS = [str(uuid.uuid4()) for _ in range(3)]


def posted(
    estate_id: uuid.UUID,
    chain_index: int,
    kind: ledger_events.EntryKind.ValueType,
    period: str,
    lines: Sequence[tuple[str, int]],
    description: str = "",
) -> ledger_events.EntryPosted:
    booked = timestamp_pb2.Timestamp()
    booked.FromDatetime(datetime.fromisoformat(f"{period}-10T12:00:00+08:00").astimezone(UTC))
    return ledger_events.EntryPosted(
        estate_id=str(estate_id),
        entry_id=str(uuid.uuid4()),
        chain_index=chain_index,
        kind=kind,
        period=period,
        booked_at=booked,
        description=description,
        lines=[
            ledger_events.EntryLine(
                account_code=code, amount_fen=fen, unit_id=UNITS[n % 3] if code == "1131" else ""
            )
            for n, (code, fen) in enumerate(lines)
        ],
        voucher_sha256=["ab" * 32] if kind == Kind.ENTRY_KIND_EXPENSE else [],
    )


async def test_a_months_figures_come_from_account_totals_that_count_each_entry_once(
    db: Database,
) -> None:
    estate = uuid.uuid4()
    # Three units assessed in October (their receivables, one fee income), one paying in
    # November; parking income and a cleaning expense in November.
    assessment = posted(
        estate, 1, Kind.ENTRY_KIND_ASSESSMENT, "2026-10",
        [("1131", 10_000), ("1131", 12_000), ("1131", 8_000), ("4001", -30_000)],
        "2026-10 物业费",
    )  # fmt: skip
    october_parking = posted(
        estate, 2, Kind.ENTRY_KIND_INCOME, "2026-10", [("1001", 5_000), ("4002", -5_000)]
    )
    payment = posted(
        estate, 3, Kind.ENTRY_KIND_PAYMENT, "2026-11", [("1001", 10_000), ("1131", -10_000)]
    )
    parking = posted(
        estate, 4, Kind.ENTRY_KIND_INCOME, "2026-11", [("1001", 7_300), ("4002", -7_300)],
        "2026-11 停车",
    )  # fmt: skip
    cleaning = posted(
        estate, 5, Kind.ENTRY_KIND_EXPENSE, "2026-11", [("5002", 4_000), ("1001", -4_000)],
        "2026-11 保洁",
    )  # fmt: skip
    envelope = common_pb2.EventEnvelope()
    # The consumer hands a run of an estate's entries over at once; one came twice in it.
    async with db.estate_tx(estate) as session:
        run = (assessment, october_parking, payment, parking, payment, cleaning)
        await readmodels.entries_posted(session, [(envelope, event) for event in run])
    # Delivered again (a redelivery the inbox did not catch, a replay over kept rows).
    async with db.estate_tx(estate) as session:
        for event in (assessment, payment, cleaning):
            await readmodels.entries_posted(session, [(envelope, event)])

    async with db.estate_tx(estate) as session:
        totals = {
            (row.code, row.period): row.amount_fen
            for row in (
                await session.execute(
                    AccountMonth.__table__.select().where(AccountMonth.estate_id == estate)
                )
            ).all()
        }
        november = await readmodels.month_entries(session, estate, "2026-11")
        october = await readmodels.month_entries(session, estate, "2026-10")
        document = await report.build(session, estate, "2026-11", clock.now(), "")

    assert totals == {
        ("1131", "2026-10"): 30_000,
        ("4001", "2026-10"): -30_000,
        ("1001", "2026-10"): 5_000,
        ("4002", "2026-10"): -5_000,
        ("1001", "2026-11"): 10_000 + 7_300 - 4_000,
        ("1131", "2026-11"): -10_000,
        ("4002", "2026-11"): -7_300,
        ("5002", "2026-11"): 4_000,
    }
    # The payment lists nothing in a report, and is left out of the month's entries; the
    # assessment keeps its one income line, not a line per unit.
    assert [str(e.entry_id) for e in november] == [parking.entry_id, cleaning.entry_id]
    assert [e.lines for e in november] == [[["4002", -7_300]], [["5002", 4_000]]]
    assert [e.lines for e in october] == [[["4001", -30_000]], [["4002", -5_000]]]

    assert document["fund"] == {
        "opening_fen": 5_000,
        "income_fen": 7_300,
        "expense_fen": 4_000,
        "closing_fen": 5_000 + 10_000 + 7_300 - 4_000,
        "maintenance_opening_fen": 0,
        "maintenance_closing_fen": 0,
    }
    assert [(g["source"], g["amount_fen"]) for g in document["income"]] == [("parking", 7_300)]
    assert [(g["account"], g["amount_fen"]) for g in document["expenses"]] == [("5002", 4_000)]

    async with db.estate_tx(estate) as session:
        assert await readmodels.balances(session, estate, ("1001", "1002"), "2026-10") == {
            "1001": (0, 5_000),
            "1002": (0, 0),
        }
        assert await readmodels.totals(session, estate, "2026-01", "2026-11") == {
            "1131": 20_000,
            "4001": -30_000,
            "1001": 18_300,
            "4002": -12_300,
            "5002": 4_000,
        }
        assert await readmodels.movements(
            session, estate, ("4002", "4004"), ("2026-09", "2026-10", "2026-11")
        ) == {"4002": {"2026-10": -5_000, "2026-11": -7_300}}


async def test_the_migration_sums_and_trims_the_entries_applied_before_it(
    platform: Platform,
) -> None:
    estates = [uuid.uuid4(), uuid.uuid4()]
    async with scratch_schema(platform, "disclosure") as conn:
        await upgrade(conn, xinyi_disclosure, "disclosure", "0008")
        for n, estate in enumerate(estates):
            for chain, (period, lines) in enumerate(
                [
                    ("2026-10", [["1131", 100 + n], ["1131", 200], ["4001", -300 - n]]),
                    ("2026-11", [["1001", 250], ["1131", -250]]),
                    ("2026-11", [["5002", 40], ["1001", -40]]),
                ],
                start=1,
            ):
                await conn.execute(
                    text(
                        "INSERT INTO entries (estate_id, entry_id, chain_index, kind, period, "
                        "booked_on, description, income_source, lump_sum, vouchers, lines, "
                        "items) VALUES (:e, :i, :c, 1, :p, '2026-11-01', '', '', false, "
                        "'{}', CAST(:l AS jsonb), '[]')"
                    ),
                    {
                        "e": estate,
                        "i": uuid.uuid4(),
                        "c": chain,
                        "p": period,
                        "l": json.dumps(lines),
                    },
                )
        await upgrade(conn, xinyi_disclosure, "disclosure", "head")
        totals = (
            await conn.execute(
                text(
                    "SELECT estate_id::text, code, period, amount_fen FROM account_months "
                    "ORDER BY 1, 2, 3"
                )
            )
        ).all()
        kept = (
            await conn.execute(
                text("SELECT estate_id::text, chain_index, lines FROM entries ORDER BY 1, 2")
            )
        ).all()
        await conn.commit()
    assert [tuple(row) for row in totals] == sorted(
        (str(estate), code, period, fen)
        for n, estate in enumerate(estates)
        for code, period, fen in (
            ("1131", "2026-10", 300 + n),
            ("4001", "2026-10", -300 - n),
            ("1001", "2026-11", 210),
            ("1131", "2026-11", -250),
            ("5002", "2026-11", 40),
        )
    )
    assert [tuple(row) for row in kept] == sorted(
        (str(estate), chain, lines)
        for n, estate in enumerate(estates)
        for chain, lines in ((1, [["4001", -300 - n]]), (2, []), (3, [["5002", 40]]))
    )
