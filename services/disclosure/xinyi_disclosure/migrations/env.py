"""Alembic environment of the disclosure schema."""

from xinyi_kit.alembic_env import run_migrations

run_migrations()
