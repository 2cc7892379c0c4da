"""The kit's own tables, created in every service's schema by that service's first migration
(`kit_ddl`) and changed by later ones (`outbox_numbering_statements`)."""

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


def outbox_numbering_statements() -> list[str]:
    """Numbers outbox rows at commit instead of at insert.

    Rows are inserted with `seq` NULL. A deferred trigger numbers them when the transaction
    commits, so the estate's `outbox_sequence` row is locked only for the commit itself rather
    than from the first emit to the end of the transaction. Writers of one estate then commit one
    after another, so a number becomes visible only after every lower one. The first of an
    estate's rows to fire numbers all of that estate's rows in the transaction, in insertion
    order, with one bump of the counter; the others find theirs done (a bump per row would cost
    time growing with the square of the rows, as the counter row's versions pile up).

    The trigger runs as the writer's role inside its transaction, whose estate (or system scope)
    setting satisfies the tables' row-level security. Only that transaction's own rows are
    unnumbered: other writers' rows are numbered before they become visible.
    """
    return [
        "ALTER TABLE outbox DROP CONSTRAINT outbox_pkey",
        "ALTER TABLE outbox ALTER COLUMN seq DROP NOT NULL",
        "ALTER TABLE outbox ADD PRIMARY KEY (estate_id, id)",
        "ALTER TABLE outbox ADD CONSTRAINT outbox_estate_id_seq_key UNIQUE (estate_id, seq)",
        # search_path is pinned to the schema being migrated: the body names its tables bare.
        """
        CREATE FUNCTION outbox_number() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        DECLARE
            pending bigint;
            last bigint;
        BEGIN
            PERFORM FROM outbox WHERE estate_id = NEW.estate_id AND id = NEW.id AND seq IS NULL;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            SELECT count(*) INTO pending FROM outbox
            WHERE estate_id = NEW.estate_id AND seq IS NULL;
            INSERT INTO outbox_sequence AS s (estate_id, last_seq)
            VALUES (NEW.estate_id, pending)
            ON CONFLICT (estate_id) DO UPDATE SET last_seq = s.last_seq + pending
            RETURNING s.last_seq INTO last;
            UPDATE outbox o SET seq = last - pending + p.n
            FROM (
                SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox
                WHERE estate_id = NEW.estate_id AND seq IS NULL
            ) p
            WHERE o.estate_id = NEW.estate_id AND o.id = p.id;
            RETURN NULL;
        END
        $$
        """,
        "CREATE CONSTRAINT TRIGGER outbox_numbered AFTER INSERT ON outbox "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outbox_number()",
    ]


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
