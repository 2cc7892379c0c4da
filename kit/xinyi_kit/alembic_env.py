"""The body of every service's Alembic env.py: migrations run on the connection `migrate` opened."""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    config = context.config
    connection = config.attributes["connection"]
    schema = config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()
