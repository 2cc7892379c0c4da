"""Importing an estate's buildings, units and owners through the gateway: whole-file validation,
re-imports that change nothing, transfers with history, a 10,000-unit estate, and events."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import asyncpg
import httpx
import pytest

from tests.identity.world import ok
from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_gateway import refusals

HEADER = "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
CJK = re.compile(r"[\u4e00-\u9fff]")


def post_csv(api: httpx.Client, estate_id: str, text: str, **params: str) -> httpx.Response:
    return post_csv_as(api, estate_id, text, {}, **params)


def post_csv_as(
    api: httpx.Client, estate_id: str, text: str, headers: dict[str, str], **params: str
) -> httpx.Response:
    return api.post(
        f"/api/v1/estates/{estate_id}/imports",
        content=text.encode(),
        headers={"content-type": "text/csv", **headers},
        params=params,
        timeout=120,
    )


def big_estate(units: int, seed: int) -> str:
    rng = random.Random(seed)
    rows = [HEADER]
    for i in range(units):
        building = f"{i // 200 + 1}栋"
        number = f"{(i // 50) % 4 + 1}-{(i % 50) // 2 + 1:02d}{i % 2 + 1:02d}"
        area = f"{rng.randint(4500, 18000) / 100:.2f}"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        rows.append(f"{building},{number},residential,{area},{name},person,,\n")
        if i % 13 == 0:
            rows.append(f"{building},{number},residential,{area},{name}之配偶,person,,\n")
    return "".join(rows)


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    api: httpx.Client, estate: dict[str, str]
) -> None:
    text = (
        HEADER
        + "1栋,1-101,residential,89.50,王芳,person,13912345678,\n"
        + "1栋,1-102,villa,89.50,李强,person,,\n"
        + "1栋,1-103,residential,-3,赵敏,person,,\n"
        + "1栋,1-101,residential,89.50,王芳,person,13912345678,\n"
    )
    reply = post_csv(api, estate["estate_id"], text)
    assert reply.status_code == 422
    body = reply.json()
    problems = {(p["line"], p["column"]) for p in body["problems"]}
    assert {(3, "unit_type"), (4, "exclusive_area_m2")} <= problems
    assert any(p["line"] == 5 and "duplicate" in p["message"] for p in body["problems"])
    assert "nothing was imported" in body["detail"]
    units = ok(api.get(f"/api/v1/estates/{estate['estate_id']}/units"))
    assert units["units"] == []

    # A reader of Chinese gets every problem, and the refusal, in Chinese; the lines the same.
    chinese = post_csv_as(api, estate["estate_id"], text, {"Accept-Language": "zh-CN"})
    assert chinese.status_code == 422
    worded = chinese.json()
    assert [(p["line"], p["column"]) for p in worded["problems"]] == [
        (p["line"], p["column"]) for p in body["problems"]
    ]
    for english, shown in zip(body["problems"], worded["problems"], strict=True):
        assert shown["message"] == refusals.to_chinese(english["message"]) != english["message"]
        assert CJK.search(shown["message"]), shown
    assert worded["detail"] == refusals.to_chinese(body["detail"]) != body["detail"]
    assert worded["detail_en"] == body["detail"]


def test_reimport_changes_nothing_and_a_changed_file_transfers(
    platform: Platform, api: httpx.Client, estate: dict[str, str]
) -> None:
    estate_id = estate["estate_id"]
    first = (
        HEADER
        + "1栋,1-101,residential,89.50,王芳,person,,\n"
        + "1栋,1-102,residential,102.25,李强,person,,\n"
        + "1栋,1-102,residential,102.25,李娜,person,,\n"
    )
    created = ok(post_csv(api, estate_id, first, effective_on="2024-01-01"))
    assert created["applied"] and created["changes"]["units_added"] == 2
    assert created["changes"]["owners_added"] == 3
    again = ok(post_csv(api, estate_id, first))
    assert again["applied"] is False
    assert again["changes"]["units_unchanged"] == 2
    assert all(
        v == 0 for k, v in again["changes"].items() if k not in ("units_unchanged", "details")
    )

    sold = first.replace("1栋,1-101,residential,89.50,王芳", "1栋,1-101,residential,89.50,周杰")
    preview = ok(post_csv(api, estate_id, sold, dry_run="true", effective_on="2025-06-01"))
    assert preview["applied"] is False and preview["changes"]["transfers"] == 1
    applied = ok(post_csv(api, estate_id, sold, effective_on="2025-06-01"))
    assert applied["applied"] and applied["changes"]["transfers"] == 1
    assert "1栋 1-101: 王芳 → 周杰" in applied["changes"]["details"]

    # Who owned 1-101 on a date before the transfer, and after it.
    def holders(as_of: str) -> list[str]:
        roll = ok(api.get(f"/api/v1/estates/{estate_id}/ownership-roll", params={"as_of": as_of}))
        entry = next(e for e in roll["entries"] if e["number"] == "1-101")
        return entry["owner_ids"]

    before, after = holders("2025-01-01T00:00:00+08:00"), holders("2025-07-01T00:00:00+08:00")
    assert before != after and len(before) == len(after) == 1
    co_owned = ok(api.get(f"/api/v1/estates/{estate_id}/ownership-roll"))["entries"]
    assert [len(e["owner_ids"]) for e in co_owned if e["number"] == "1-102"] == [2]
    roll_2023 = ok(
        api.get(
            f"/api/v1/estates/{estate_id}/ownership-roll",
            params={"as_of": "2023-12-01T00:00:00+08:00"},
        )
    )
    assert roll_2023["entries"] == []


def test_ten_thousand_units(api: httpx.Client, platform: Platform) -> None:
    estate_id = ok(api.post("/api/v1/estates", json={"name": "万户小区"}))["estate_id"]
    text = big_estate(10_000, seed=3)
    done = ok(post_csv(api, estate_id, text))
    assert done["changes"]["units_added"] == 10_000
    again = ok(post_csv(api, estate_id, text))
    assert again["applied"] is False and again["changes"]["units_unchanged"] == 10_000
    units, cursor = 0, None
    while True:
        page = ok(
            api.get(
                f"/api/v1/estates/{estate_id}/units",
                params={"limit": 1000, **({"cursor": cursor} if cursor else {})},
            )
        )
        units += len(page["units"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert units == 10_000
    assert ok(api.get(f"/api/v1/estates/{estate_id}"))["unit_count"] == 10_000
    # The services that keep units (the ledger for fees, notifications for owners' notices)
    # learn every one from the 10,000 ownership changes, in runs rather than one by one.
    learned = eventually(
        lambda: (n := asyncio.run(units_learned(platform, estate_id))) == (10_000, 10_000) and n,
        timeout=60,
        what="the ledger and notifications learning the 10,000 units",
    )
    assert learned == (10_000, 10_000)


async def units_learned(platform: Platform, estate_id: str) -> tuple[int, int]:
    """How many of the estate's units the ledger and notifications hold."""
    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        estate = uuid.UUID(estate_id)
        ledger = await conn.fetchval(
            "SELECT count(*) FROM ledger.units WHERE estate_id = $1", estate
        )
        owners = await conn.fetchval(
            "SELECT count(*) FROM notifications.unit_owners WHERE estate_id = $1 "
            "AND cardinality(owner_ids) > 0",
            estate,
        )
    finally:
        await conn.close()
    return int(ledger), int(owners)


async def test_import_emits_ownership_events(
    platform: Platform, api: httpx.Client, estate: dict[str, str]
) -> None:
    text = HEADER + "".join(
        f"1栋,1-{n:03d},residential,80.00,业主{n},person,,\n" for n in range(1, 6)
    )
    ok(post_csv(api, estate["estate_id"], text))
    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        types = await conn.fetch(
            "SELECT event_type, seq FROM identity.outbox WHERE estate_id = $1 ORDER BY seq",
            uuid.UUID(estate["estate_id"]),
        )
    finally:
        await conn.close()
    names = [r["event_type"] for r in types]
    assert names[0] == "xinyi.identity.v1.EstateCreated"
    assert names.count("xinyi.identity.v1.OwnershipChanged") == 5
    assert [r["seq"] for r in types] == list(range(1, len(types) + 1))


@pytest.mark.parametrize("body,status", [(b"", 400), (b"\xff\xfe\x00garbage", 422)])
def test_empty_or_binary_files(
    api: httpx.Client, estate: dict[str, str], body: bytes, status: int
) -> None:
    reply = api.post(
        f"/api/v1/estates/{estate['estate_id']}/imports",
        content=body,
        headers={"content-type": "text/csv"},
    )
    assert reply.status_code == status
    assert reply.headers["content-type"].startswith("application/problem+json")
