"""Takings flags clear: a flag announced by `takings_flagged` records when `takings_cleared`
announced that it no longer holds (and is raised again, with a new time, if it comes back)."""

from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.execute("ALTER TABLE takings_flags ADD COLUMN cleared_at timestamptz")
