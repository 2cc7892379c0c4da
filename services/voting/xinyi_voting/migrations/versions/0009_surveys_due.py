"""Surveys still open by their record, by closing time: the sweep that closes those past it (so
each publishes `survey_closed`) reads only these."""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.execute("CREATE INDEX surveys_due ON surveys (closes_at) WHERE closed_at IS NULL")
