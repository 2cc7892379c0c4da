"""Voting's migration 0011 on the platform's PostgreSQL: the owner accounts of rolls frozen before
it are given their owners' units, as a roll frozen after it has them."""

from __future__ import annotations

import uuid

from sqlalchemy import text

import xinyi_voting
from tests.migrations import scratch_schema, upgrade
from xinyi_dev.platform import Platform


async def test_the_migration_gives_each_owner_account_its_units_on_open_rolls(
    platform: Platform,
) -> None:
    estate, ballot, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    flat, shared, shop = sorted(uuid.uuid4() for _ in range(3))
    async with scratch_schema(platform, "voting") as conn:
        await upgrade(conn, xinyi_voting, "voting", "0010")
        await conn.execute(
            text("INSERT INTO estates (estate_id, name) VALUES (:e, 'e')"), {"e": estate}
        )
        for b in (ballot, other):
            await conn.execute(
                text(
                    "INSERT INTO ballots (estate_id, ballot_id, title, state) "
                    "VALUES (:e, :b, 't', 'open')"
                ),
                {"e": estate, "b": b},
            )
        # A owns the flat and co-owns the shared unit with B; C owns the shop; D owns nothing
        # on this roll. The other ballot's roll gives A only the shop.
        for b, unit, owners in (
            (ballot, flat, ["A"]),
            (ballot, shared, ["A", "B"]),
            (ballot, shop, ["C"]),
            (other, shop, ["A"]),
        ):
            await conn.execute(
                text(
                    "INSERT INTO roll_units (estate_id, ballot_id, unit_id, building, number, "
                    "area_centi_m2, owner_ids) VALUES (:e, :b, :u, '1', '101', 100, :o)"
                ),
                {"e": estate, "b": b, "u": unit, "o": owners},
            )
        for b, owner in (
            (ballot, "A"),
            (ballot, "B"),
            (ballot, "C"),
            (ballot, "D"),
            (other, "A"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO roll_voters (estate_id, ballot_id, owner_id, user_id) "
                    "VALUES (:e, :b, :o, :u)"
                ),
                {"e": estate, "b": b, "o": owner, "u": uuid.uuid4()},
            )
        await upgrade(conn, xinyi_voting, "voting", "head")
        rows = (
            await conn.execute(
                text("SELECT ballot_id, owner_id, unit_ids FROM roll_voters ORDER BY 1, 2")
            )
        ).all()
        indexes = (
            await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'roll_units'")
            )
        ).scalars()
        await conn.commit()
    assert {(b, owner): units for b, owner, units in rows} == {
        (ballot, "A"): [flat, shared],
        (ballot, "B"): [shared],
        (ballot, "C"): [shop],
        (ballot, "D"): [],
        (other, "A"): [shop],
    }
    assert set(indexes) == {"roll_units_pkey"}
