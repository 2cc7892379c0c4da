"""A frozen roll's units by owner: a vote finds the holdings its voter speaks for through this
index instead of reading every unit of the ballot's roll."""

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute("CREATE INDEX roll_units_by_owner ON roll_units USING gin (owner_ids)")
