"""Takings through the gateway: gate exports imported per day and per stay (overlaps stored once,
a bad file refused by row with nothing imported), income contracts, and the monthly check that
flags posted income far below what the gates recorded or the contracts expect, until corrected:
the ledger announces each flag raised and cleared, and the month's disclosure flag follows."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.identity.world import World, ok, signin
from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "takings"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def upload(
    c: httpx.Client, estate: str, name: str, content: bytes | None = None, **params: str
) -> httpx.Response:
    return c.post(
        f"/api/v1/estates/{estate}/takings-imports",
        params={"source": "parking", "filename": name, **params},
        content=(FIXTURES / name).read_bytes() if content is None else content,
        headers={"content-type": "text/csv"},
    )


def checks(c: httpx.Client, estate: str, first: str, last: str) -> dict[tuple[str, str], Any]:
    reply = ok(
        c.get(f"/api/v1/estates/{estate}/takings-checks", params={"from": first, "to": last})
    )
    return {(row["month"], row["source"]): row for row in reply["checks"]}


def post_income(c: httpx.Client, estate: str, source: str, fen: int, day: str) -> str:
    entry = ok(
        c.post(
            f"/api/v1/estates/{estate}/ledger/entries",
            json={"source": source, "amount_fen": fen, "booked_on": day},
        )
    )
    return str(entry["entry_id"])


def daily_amounts(*names: str) -> dict[str, int]:
    """Fen by day of daily exports, read with the csv module alone (an oracle apart from the
    parser); a day in several files counts once."""
    out: dict[str, int] = {}
    for name in names:
        text = (FIXTURES / name).read_bytes().decode("utf-8-sig")
        for row in csv.DictReader(io.StringIO(text)):
            if row["日期"] != "合计":
                yuan, cents = row["金额"].split(".")
                out[row["日期"]] = int(yuan) * 100 + int(cents)
    return out


def by_month(days: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for day, fen in days.items():
        out[day[:7]] = out.get(day[:7], 0) + fen
    return out


async def flag_changes(platform: Platform, estate: str) -> list[tuple[str, str, str, str]]:
    """The takings_flagged and takings_cleared events in the ledger's outbox, in order, as
    (month, source, flag, "flagged" or "cleared")."""
    from xinyi.common.v1 import common_pb2
    from xinyi.ledger.v1 import events_pb2

    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        rows = await conn.fetch(
            "SELECT event_type, envelope FROM ledger.outbox WHERE estate_id = $1 "
            "AND event_type = ANY($2::text[]) ORDER BY seq",
            uuid.UUID(estate),
            ["xinyi.ledger.v1.TakingsFlagged", "xinyi.ledger.v1.TakingsCleared"],
        )
    finally:
        await conn.close()
    out = []
    for row in rows:
        flagged = row["event_type"].endswith("Flagged")
        event = events_pb2.TakingsFlagged() if flagged else events_pb2.TakingsCleared()
        common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(event)
        out.append((event.month, event.source, event.flag, "flagged" if flagged else "cleared"))
    return out


async def flags_raised(platform: Platform, estate: str) -> list[tuple[str, str, str]]:
    """The takings_flagged events in the ledger's outbox, in order."""
    return [c[:3] for c in await flag_changes(platform, estate) if c[3] == "flagged"]


def disclosed(c: httpx.Client, estate: str, month: str) -> str | None:
    """The state of the month's parking takings flag in disclosure (evaluated now)."""
    reply = ok(c.get(f"/api/v1/estates/{estate}/flags", params={"period": month}))
    return next((f["state"] for f in reply if f["kind"] == "takings_below_recorded"), None)


async def test_the_chengdu_case_is_flagged_every_month_until_corrected(
    world: World, platform: Platform
) -> None:
    """The pilot's car park: parking income posted at 2,400 yuan a month while the gates took
    over 10,000 yuan every month."""
    estate = world.estate_a
    recorded = by_month(daily_amounts("gate_daily_2024q1.csv"))
    assert sorted(recorded) == ["2024-01", "2024-02", "2024-03"]
    assert all(fen > 1_000_000 for fen in recorded.values())
    with world.client("owner") as owner:
        refused = upload(owner, estate, "gate_daily_2024q1.csv")
        assert refused.status_code == 403
    with world.client("company_accountant") as acc:
        first = ok(upload(acc, estate, "gate_daily_2024q1.csv"))
        assert (first["layout"], first["profile"], first["source"]) == (
            "per_day",
            "gate-daily",
            "parking",
        )
        assert (first["rows_new"], first["rows_duplicate"]) == (91, 0)
        assert (first["first_day"], first["last_day"]) == ("2024-01-01", "2024-03-31")
        assert first["total_fen"] == sum(recorded.values())
        for day in ("2024-01-31", "2024-02-29", "2024-03-31"):
            post_income(acc, estate, "parking", 240_000, day)
        # The vendor's March export, sent again at the month's end, adds nothing.
        again = ok(upload(acc, estate, "gate_daily_2024-03.csv"))
        assert (again["rows_new"], again["rows_duplicate"], again["total_fen"]) == (0, 31, 0)

    with world.client("owner") as owner:
        reply = ok(
            owner.get(
                f"/api/v1/estates/{estate}/takings-checks",
                params={"from": "2024-01", "to": "2024-03"},
            )
        )
        assert (reply["below_recorded_percent"], reply["below_recorded_min_fen"]) == (10, 10_000)
        rows = checks(owner, estate, "2024-01", "2024-03")
    assert sorted(rows) == [("2024-01", "parking"), ("2024-02", "parking"), ("2024-03", "parking")]
    for (month, _), row in rows.items():
        assert (row["state"], row["flag"]) == ("flagged", "below_recorded"), row
        assert (row["recorded_fen"], row["posted_fen"]) == (recorded[month], 240_000)
        assert row["shortfall_fen"] == recorded[month] - 240_000
        assert "2,400.00 yuan" in row["reason"] and "gates recorded" in row["reason"]
    assert [rows[(m, "parking")]["recorded_days"] for m in sorted(recorded)] == [31, 29, 31]
    with world.client("owner") as owner:
        eventually(lambda: disclosed(owner, estate, "2024-02") == "open", what="the flag disclosed")

    # February's missing income is posted: February is clear, January and March are not.
    with world.client("company_accountant") as acc:
        missing = recorded["2024-02"] - 240_000
        correction = post_income(acc, world.estate_a, "parking", missing, "2024-02-29")
        with world.client("owner") as owner:
            eventually(
                lambda: disclosed(owner, estate, "2024-02") == "resolved",
                what="February's flag resolving in disclosure",
            )
        rows = checks(acc, estate, "2024-01", "2024-03")
        assert [rows[(m, "parking")]["flag"] for m in sorted(recorded)] == [
            "below_recorded",
            None,
            "below_recorded",
        ]
        assert rows[("2024-02", "parking")]["state"] == "ok"
        assert rows[("2024-02", "parking")]["shortfall_fen"] == 0
        # Reversing the correction takes it away from February again, whenever it is made.
        ok(
            acc.post(
                f"/api/v1/estates/{estate}/ledger/entries/{correction}/reversal",
                json={"reason": "金额录错，重新入账"},
            )
        )
        february = checks(acc, estate, "2024-02", "2024-02")[("2024-02", "parking")]
        assert (february["posted_fen"], february["flag"]) == (240_000, "below_recorded")
        with world.client("owner") as owner:
            eventually(
                lambda: disclosed(owner, estate, "2024-02") == "open",
                what="February's flag open again in disclosure",
            )
        post_income(acc, estate, "parking", missing, "2024-02-29")
        assert checks(acc, estate, "2024-02", "2024-02")[("2024-02", "parking")]["flag"] is None
    with world.client("owner") as owner:
        eventually(
            lambda: disclosed(owner, estate, "2024-02") == "resolved",
            what="February's flag resolved again",
        )
        assert disclosed(owner, estate, "2024-01") == "open"
        # Resolved at once, not only when the month is next evaluated: not among the open ones.
        standing = {f["flag_id"] for f in ok(owner.get(f"/api/v1/estates/{estate}/flags"))}
        assert "takings:2024-01:parking:below_recorded" in standing
        assert "takings:2024-02:parking:below_recorded" not in standing

    # Each change of a month's flag was announced once, however often the month was checked.
    changes = await flag_changes(platform, estate)
    assert [(c[0], c[3]) for c in changes if c[0].startswith("2024-0")] == [
        ("2024-01", "flagged"),
        ("2024-02", "flagged"),
        ("2024-03", "flagged"),
        ("2024-02", "cleared"),  # the missing income posted
        ("2024-02", "flagged"),  # the correction reversed
        ("2024-02", "cleared"),  # posted again
    ]
    assert {c[1:3] for c in changes} == {("parking", "below_recorded")}


def test_an_unpaid_contract_is_flagged_until_paid_and_its_explanation_shown(
    world: World,
) -> None:
    estate = world.estate_a
    base = f"/api/v1/estates/{estate}"
    terms = {
        "source": "advertising",
        "counterparty": "成都星光广告传媒有限公司",
        "description": "电梯轿厢广告位 12 块",
        "monthly_fen": 300_000,
        "first_month": "2023-10",
        "last_month": "2023-12",
    }
    with world.client("owner") as owner:
        assert owner.post(f"{base}/income-contracts", json=terms).status_code == 403
    with world.client("committee_chair") as chair:
        created = ok(chair.post(f"{base}/income-contracts", json=terms))
    assert (
        created["monthly_fen"] == 300_000 and created["saved_by"] == world.users["committee_chair"]
    )
    with world.client("company_accountant") as acc:
        edited = ok(
            acc.put(
                f"{base}/income-contracts/{created['contract_id']}",
                json={**terms, "monthly_fen": 350_000},
            )
        )
        assert edited["contract_id"] == created["contract_id"]
        wrong = acc.put(f"{base}/income-contracts/{uuid.uuid4()}", json=terms)
        assert wrong.status_code == 404
        backwards = acc.post(f"{base}/income-contracts", json={**terms, "first_month": "2024-01"})
        assert backwards.status_code == 400 and "last_month" in backwards.json()["detail"]
    with world.client("owner") as owner:
        (listed,) = ok(owner.get(f"{base}/income-contracts"))
        assert (listed["counterparty"], listed["monthly_fen"]) == (terms["counterparty"], 350_000)
        rows = checks(owner, estate, "2023-10", "2023-12")
    assert [(k, r["flag"], r["expected_fen"], r["posted_fen"]) for k, r in rows.items()] == [
        (("2023-10", "advertising"), "contract_unpaid", 350_000, 0),
        (("2023-11", "advertising"), "contract_unpaid", 350_000, 0),
        (("2023-12", "advertising"), "contract_unpaid", 350_000, 0),
    ]
    # The edit keeps the first version in the audit log.
    with world.client("committee_member") as member:
        audit = ok(member.get(f"{base}/audit", params={"limit": 500}))["entries"]
    saves = [e for e in audit if e["action"] == "income_contract.save"]
    assert [e["detail"]["after"]["monthly_fen"] for e in saves] == [350_000, 300_000]
    assert saves[0]["detail"]["before"]["monthly_fen"] == 300_000

    with world.client("company_accountant") as acc:
        post_income(acc, estate, "advertising", 350_000, "2023-11-15")
        said = "星光传媒十月款项因合同续签延迟，已约定于2024年1月补付。"
        explained = ok(
            acc.post(
                f"{base}/takings-checks/2023-10/advertising/explanation", json={"explanation": said}
            )
        )
        assert (explained["flag"], explained["explanation"]) == ("contract_unpaid", said)
        nothing = acc.post(
            f"{base}/takings-checks/2023-11/advertising/explanation", json={"explanation": said}
        )
        assert nothing.status_code == 422 and "not flagged" in nothing.json()["detail"]
    with world.client("owner") as owner:
        assert (
            owner.post(
                f"{base}/takings-checks/2023-12/advertising/explanation",
                json={"explanation": "无"},
            ).status_code
            == 403
        )
        rows = checks(owner, estate, "2023-10", "2023-12")
    october, november, december = (
        rows[(m, "advertising")] for m in ("2023-10", "2023-11", "2023-12")
    )
    assert (october["flag"], october["explanation"]) == ("contract_unpaid", said)
    assert october["explained_at"]
    assert (november["state"], november["flag"], november["posted_fen"]) == ("ok", None, 350_000)
    assert (december["flag"], december["explanation"]) == ("contract_unpaid", None)


async def test_exports_overlap_are_refused_by_row_and_never_keep_a_plate(
    world: World, platform: Platform
) -> None:
    estate = world.estate_a
    base = f"/api/v1/estates/{estate}"
    with world.client("company_manager") as manager:
        a = ok(upload(manager, estate, "gate_daily_2023-06a.csv"))
        b = ok(upload(manager, estate, "gate_daily_2023-06b.csv"))
        assert (a["rows_new"], b["rows_new"], b["rows_duplicate"]) == (20, 10, 6)
        june = checks(manager, estate, "2023-06", "2023-06")[("2023-06", "parking")]
        both = daily_amounts("gate_daily_2023-06a.csv", "gate_daily_2023-06b.csv")
        assert june["recorded_fen"] == sum(both.values())
        assert june["recorded_days"] == 30
        before = len(ok(manager.get(f"{base}/takings-imports")))

        changed = upload(manager, estate, "gate_daily_2023-06_changed.csv")
        assert changed.status_code == 400
        assert changed.json()["detail"] == (
            "nothing was imported: line 3: the day 2023-06-10 was imported with 447.53 yuan "
            "(gate_daily_2023-06a.csv), this file says 512.00"
        )

        # A gate system's stays, exported in GBK with the cars' plates, then an overlapping export.
        stays = ok(
            upload(manager, estate, "gate_sessions_2023-09_gbk.csv", profile="gate-sessions")
        )
        assert (stays["layout"], stays["rows_new"], stays["total_fen"]) == (
            "per_session",
            9,
            13_000,
        )
        more = ok(upload(manager, estate, "gate_sessions_2023-09_overlap.csv"))
        assert (more["rows_new"], more["rows_duplicate"], more["total_fen"]) == (3, 2, 3_000)
        september = checks(manager, estate, "2023-09", "2023-09")[("2023-09", "parking")]
        assert (september["recorded_fen"], september["recorded_days"]) == (16_000, 4)

        mixed = upload(manager, estate, "gate_daily_2023-09.csv")
        assert mixed.status_code == 400
        assert "line 2: the day 2023-09-02 was imported stay by stay" in mixed.json()["detail"]
        reverse = upload(manager, estate, "gate_sessions_2023-06.csv")
        assert reverse.status_code == 400 and "as a daily total" in reverse.json()["detail"]

        bad = upload(manager, estate, "gate_daily_bad_rows.csv")
        assert bad.status_code == 400
        detail = bad.json()["detail"]
        assert detail.startswith("nothing was imported: line 3: the amount '12O.00'")
        assert "line 5: the day '2023-13-04'" in detail
        assert ("2023-11", "parking") not in checks(manager, estate, "2023-11", "2023-11")
        imports = ok(manager.get(f"{base}/takings-imports"))
        assert len(imports) == before + 2

        assert (
            manager.post(
                f"{base}/takings-imports", content=b"x", headers={"content-type": "image/png"}
            ).status_code
            == 415
        )
        assert (
            manager.post(
                f"{base}/takings-imports", content=b"", headers={"content-type": "text/csv"}
            ).status_code
            == 400
        )
        assert upload(manager, estate, "gate_daily_2023-09.csv", source="water").status_code == 422
        assert upload(manager, estate, "gate_daily_2023-09.csv", profile="nope").status_code == 400

    with world.client("owner") as owner:
        assert len(ok(owner.get(f"{base}/takings-imports"))) == before + 2
        assert "川A" not in owner.get(f"{base}/takings-imports").text

    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        stored = await conn.fetch(
            "SELECT t::text AS row FROM ledger.takings_sessions t WHERE estate_id = $1",
            uuid.UUID(estate),
        )
    finally:
        await conn.close()
    assert len(stored) == 12
    assert not [r["row"] for r in stored if "川" in r["row"] or "渝" in r["row"]]


async def test_a_month_in_progress_is_flagged_only_once_it_is_over(
    world: World, platform: Platform
) -> None:
    """The ledger's clock decides when a month is over: moved to the next month's first day, the
    same figures are flagged."""
    estate = world.estate_b
    now = datetime.now(SHANGHAI)
    month = now.strftime("%Y-%m")
    day = now.date().isoformat()
    export = "订单号,入场时间,出场时间,实收金额\n" + "".join(
        f"T{n},{day} 00:00:0{n},{day} 00:00:3{n},50.00\n" for n in range(3)
    )
    content = export.encode()
    with world.as_token(world.other_company_token) as manager:
        first = ok(upload(manager, estate, "today.csv", content=content))
        assert (first["rows_new"], first["total_fen"]) == (3, 15_000)
    with world.as_token(world.owner_b_token) as owner:
        row = checks(owner, estate, month, month)[(month, "parking")]
    assert (row["state"], row["flag"], row["recorded_fen"]) == ("in_progress", None, 15_000)
    with world.as_token(world.other_company_token) as manager:
        early = manager.post(
            f"/api/v1/estates/{estate}/takings-checks/{month}/parking/explanation",
            json={"explanation": "月底统一入账"},
        )
    assert early.status_code == 422 and "not over" in early.json()["detail"]
    assert await flags_raised(platform, estate) == []

    next_month = (now.replace(day=28) + timedelta(days=4)).replace(day=1).date()
    noon = datetime.combine(next_month, time(12), SHANGHAI)
    clock_file = platform.data_dir / "clock-offset"
    move_clock(clock_file, (noon - datetime.now(SHANGHAI)).total_seconds())
    try:
        # Tokens issued before would have expired by then: sign in on the moved clock.
        other = signin(world.base, _manager_b(world))
        with world.as_token(other) as manager:
            again = ok(upload(manager, estate, "today.csv", content=content))
            assert (again["rows_new"], again["rows_duplicate"]) == (0, 3)
            row = checks(manager, estate, month, month)[(month, "parking")]
        assert (row["state"], row["flag"], row["shortfall_fen"]) == (
            "flagged",
            "below_recorded",
            15_000,
        )
    finally:
        move_clock(clock_file, 0)
    assert await flags_raised(platform, estate) == [(month, "parking", "below_recorded")]


def _manager_b(world: World) -> str:
    """The username of estate B's company manager (the world names it after its tag)."""
    tag = world.usernames["owner"].rsplit("-", 1)[-1]
    return f"other-manager-{tag}"


def test_a_retried_contract_is_created_once_and_its_key_not_reused_for_other_terms(
    world: World,
) -> None:
    """POST /income-contracts with an Idempotency-Key: the retry returns the first contract, the
    key with other terms is refused. Estate B, months far ahead: nothing is flagged by it."""
    estate = world.estate_b
    base = f"/api/v1/estates/{estate}"
    first_month = f"{datetime.now(SHANGHAI).year + 5}-01"
    terms = {
        "source": "venue",
        "counterparty": "成都悦动体育文化有限公司",
        "description": "院坝篮球场周末租用",
        "monthly_fen": 180_000,
        "first_month": first_month,
        "last_month": None,
    }
    key = {"Idempotency-Key": f"contract-{uuid.uuid4()}"}
    with world.as_token(world.other_company_token) as manager:
        first = manager.post(f"{base}/income-contracts", json=terms, headers=key)
        again = manager.post(f"{base}/income-contracts", json=terms, headers=key)
        assert first.status_code == again.status_code == 201, again.text
        assert first.json() == again.json()
        other = manager.post(
            f"{base}/income-contracts", json={**terms, "monthly_fen": 200_000}, headers=key
        )
        assert other.status_code == 409, other.text
        assert "different request" in other.json()["detail"]
        listed = [
            c
            for c in ok(manager.get(f"{base}/income-contracts"))
            if c["counterparty"] == terms["counterparty"]
        ]
        assert [(c["contract_id"], c["monthly_fen"]) for c in listed] == [
            (first.json()["contract_id"], 180_000)
        ]
        # A new key is a new request: a second contract.
        fresh = {"Idempotency-Key": f"contract-{uuid.uuid4()}"}
        second = ok(manager.post(f"{base}/income-contracts", json=terms, headers=fresh))
        assert second["contract_id"] != first.json()["contract_id"]
        assert (
            len(
                [
                    c
                    for c in ok(manager.get(f"{base}/income-contracts"))
                    if c["counterparty"] == terms["counterparty"]
                ]
            )
            == 2
        )


def test_the_checks_span_at_most_36_months_both_counted(world: World) -> None:
    path = f"/api/v1/estates/{world.estate_a}/takings-checks"
    with world.client("owner") as owner:
        # January 2021 to December 2023: 36 months, both ends counted.
        assert owner.get(path, params={"from": "2021-01", "to": "2023-12"}).status_code == 200
        for first, last in (("2020-12", "2023-12"), ("2024-01", "2023-12")):
            refused = owner.get(path, params={"from": first, "to": last})
            assert refused.status_code == 400, (first, last, refused.text)
            assert refused.json()["detail"] == (
                "from_month is to_month or earlier, and the two span at most 36 months, "
                "both counted"
            )
