"""The append-only audit log of privileged actions."""

from alembic import op

from xinyi_kit.schema import audit_statements

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    for statement in audit_statements():
        op.execute(statement)
