"""The kit's own tables, created in every service's schema by that service's first migration."""

from __future__ import annotations

from xinyi_kit.db import estate_rls_sql

KIT_TABLES = ("outbox", "outbox_sequence", "inbox_cursor", "inbox_applied", "idempotency")

_DDL = """
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY,
    estate_id uuid NOT NULL,
    seq bigint NOT NULL,
    event_id uuid NOT NULL,
    subject text NOT NULL,
    event_type text NOT NULL,
    envelope bytea NOT NULL,
    trace_headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL,
    published_at timestamptz,
    PRIMARY KEY (estate_id, seq),
    UNIQUE (estate_id, event_id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE outbox_sequence (
    estate_id uuid PRIMARY KEY,
    last_seq bigint NOT NULL
);
CREATE TABLE inbox_cursor (
    estate_id uuid NOT NULL,
    source text NOT NULL,
    last_seq bigint NOT NULL,
    PRIMARY KEY (estate_id, source)
);
CREATE TABLE inbox_applied (
    estate_id uuid NOT NULL,
    event_id uuid NOT NULL,
    source text NOT NULL,
    seq bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (estate_id, event_id)
);
CREATE TABLE idempotency (
    estate_id uuid NOT NULL,
    key text NOT NULL,
    request_sha256 bytea NOT NULL,
    response bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (estate_id, key)
);
"""


def kit_ddl() -> str:
    return _DDL + "\n".join(estate_rls_sql(table) for table in KIT_TABLES)


def execute_script(sql: str) -> None:
    """Runs a DDL script from a migration one statement at a time (asyncpg prepares each
    statement, and a prepared statement holds one command). Scripts must not put ';' in literals.
    """
    from alembic import op

    for statement in sql.split(";"):
        if statement.strip():
            op.execute(statement)


def audit_statements() -> list[str]:
    """The append-only audit log: no role may change or delete an entry once written."""
    return [
        """
        CREATE TABLE audit_log (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            at timestamptz NOT NULL,
            actor_user_id uuid,
            actor_username text NOT NULL DEFAULT '',
            action text NOT NULL,
            target text NOT NULL DEFAULT '',
            detail jsonb NOT NULL DEFAULT '{}'::jsonb,
            client_ip text NOT NULL DEFAULT '',
            trace_id text NOT NULL DEFAULT '',
            PRIMARY KEY (estate_id, entry_id)
        )
        """,
        "CREATE INDEX audit_log_by_time ON audit_log (estate_id, at DESC)",
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only';
        END
        $$
        """,
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        *[s for s in estate_rls_sql("audit_log").split(";") if s.strip()],
    ]
