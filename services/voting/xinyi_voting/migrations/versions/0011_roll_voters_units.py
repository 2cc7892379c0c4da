"""Each owner account on a frozen roll keeps the ids of the owner's units: a vote finds the
units its voter speaks for by the roll's primary key.

The GIN index on the roll's owner ids (0010) was meant for that lookup, but the planner took the
primary key's estate and ballot prefix and filtered every unit of the roll (a fresh roll has no
statistics yet, so the ballot looks one row long): 2,000 rows read per vote on a 2,000-unit
roll. Unit ids are an exact key, so no plan reads more than the voter's own units. The index is
dropped: nothing else searches by owner, and every roll frozen paid to build it.
"""

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.execute("ALTER TABLE roll_voters ADD COLUMN unit_ids uuid[] NOT NULL DEFAULT '{}'")
    op.execute("SELECT set_config('xinyi.scope', 'system', true)")
    op.execute(
        "UPDATE roll_voters v SET unit_ids = ARRAY("
        "SELECT u.unit_id FROM roll_units u WHERE u.estate_id = v.estate_id "
        "AND u.ballot_id = v.ballot_id AND v.owner_id = ANY(u.owner_ids) ORDER BY u.unit_id)"
    )
    op.execute("DROP INDEX roll_units_by_owner")
