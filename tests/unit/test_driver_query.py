"""`DriverQuery`: a SQLAlchemy statement compiled once for asyncpg's own calls."""

from __future__ import annotations

import re

from sqlalchemy import bindparam, column, select, table

from xinyi_kit.db import DriverQuery


def test_a_statement_takes_its_parameters_by_name_and_keeps_its_own_values() -> None:
    t = table("t", column("a"), column("b"))
    query = DriverQuery(
        select(t.c.a)
        .where(t.c.a <= bindparam("on"), t.c.b > bindparam("on"), t.c.b == bindparam("x"))
        .limit(3)
    )
    # asyncpg's numbered placeholders; a name used twice is one parameter.
    assert sorted(set(re.findall(r"\$(\d+)", query.sql))) == ["1", "2", "3"]
    assert query.sql.count("$1") == 2
    assert query.args(x="y", on=5) == [5, "y", 3]
