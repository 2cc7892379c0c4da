"""Alembic environment of the identity schema."""

from xinyi_kit.alembic_env import run_migrations

run_migrations()
