"""Outbox rows numbered at commit, so an estate's writers no longer queue behind each other."""

from alembic import op

from xinyi_kit.schema import outbox_numbering_statements

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    for statement in outbox_numbering_statements():
        op.execute(statement)
