"""The journal (one hash chain per estate), contract terms, dual-control disbursements, periods
with their signed heads. Entries are immutable: corrections are reversal entries."""

from alembic import op

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0003"
down_revision = "0002"

TABLES = (
    "contract_terms",
    "chain_heads",
    "entries",
    "entry_lines",
    "entry_items",
    "periods",
    "head_signatures",
    "approval_thresholds",
    "disbursements",
    "disbursement_approvals",
)


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE contract_terms (
            estate_id uuid NOT NULL,
            effective_from date NOT NULL,
            ratio_num bigint,
            ratio_den bigint,
            fixed_monthly_fen bigint,
            sources text[] NOT NULL,
            PRIMARY KEY (estate_id, effective_from),
            CHECK ((ratio_num IS NULL) <> (fixed_monthly_fen IS NULL))
        );
        CREATE TABLE chain_heads (
            estate_id uuid PRIMARY KEY,
            last_index bigint NOT NULL,
            last_hash bytea NOT NULL
        );
        CREATE TABLE entries (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            chain_index bigint NOT NULL,
            kind smallint NOT NULL,
            period char(7) NOT NULL,
            booked_on date NOT NULL,
            description text NOT NULL,
            income_source varchar(20) NOT NULL DEFAULT '',
            lump_sum boolean NOT NULL DEFAULT false,
            reverses_entry_id uuid,
            late_for_period char(7),
            disbursement_id uuid,
            voucher_sha256 text[] NOT NULL DEFAULT '{}',
            canonical text NOT NULL,
            entry_hash bytea NOT NULL,
            chain_hash bytea NOT NULL,
            recorded_at timestamptz NOT NULL,
            recorded_by uuid,
            PRIMARY KEY (estate_id, entry_id),
            UNIQUE (estate_id, chain_index)
        );
        CREATE INDEX entries_by_period ON entries (estate_id, period, chain_index);
        CREATE UNIQUE INDEX entries_reversed_once ON entries (estate_id, reverses_entry_id)
            WHERE reverses_entry_id IS NOT NULL;
        CREATE TABLE entry_lines (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            line_no smallint NOT NULL,
            account_code varchar(20) NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen <> 0),
            unit_id uuid,
            PRIMARY KEY (estate_id, entry_id, line_no),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id),
            FOREIGN KEY (estate_id, account_code) REFERENCES accounts (estate_id, code)
        );
        CREATE INDEX entry_lines_by_account ON entry_lines (estate_id, account_code);
        CREATE TABLE entry_items (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            item_no integer NOT NULL,
            description text NOT NULL,
            amount_fen bigint NOT NULL,
            occurred_on date,
            PRIMARY KEY (estate_id, entry_id, item_no),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id)
        );
        CREATE TABLE periods (
            estate_id uuid NOT NULL,
            period char(7) NOT NULL,
            closed_at timestamptz NOT NULL,
            payload text NOT NULL,
            merkle_root bytea NOT NULL,
            chain_head bytea NOT NULL,
            entry_count bigint NOT NULL,
            PRIMARY KEY (estate_id, period)
        );
        CREATE TABLE head_signatures (
            estate_id uuid NOT NULL,
            period char(7) NOT NULL,
            role varchar(20) NOT NULL,
            user_id uuid NOT NULL,
            key_id varchar(64) NOT NULL,
            public_jwk jsonb NOT NULL,
            signature bytea NOT NULL,
            signed_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, period, role),
            FOREIGN KEY (estate_id, period) REFERENCES periods (estate_id, period)
        );
        CREATE TABLE approval_thresholds (
            estate_id uuid PRIMARY KEY,
            thresholds jsonb NOT NULL
        );
        CREATE TABLE disbursements (
            estate_id uuid NOT NULL,
            disbursement_id uuid NOT NULL,
            state smallint NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen > 0),
            payee varchar(200) NOT NULL,
            purpose text NOT NULL,
            expense_code varchar(20) NOT NULL,
            budget_line_id varchar(64) NOT NULL DEFAULT '',
            voucher_sha256 text[] NOT NULL DEFAULT '{}',
            approvals_required integer NOT NULL,
            requested_by uuid NOT NULL,
            requested_at timestamptz NOT NULL,
            rejected_reason text NOT NULL DEFAULT '',
            bank_evidence text NOT NULL DEFAULT '',
            paid_on date,
            entry_id uuid,
            PRIMARY KEY (estate_id, disbursement_id)
        );
        CREATE TABLE disbursement_approvals (
            estate_id uuid NOT NULL,
            disbursement_id uuid NOT NULL,
            user_id uuid NOT NULL,
            username varchar(100) NOT NULL,
            approved_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, disbursement_id, user_id),
            FOREIGN KEY (estate_id, disbursement_id)
                REFERENCES disbursements (estate_id, disbursement_id)
        )
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
    # The journal is append-only for every role, like the audit log.
    op.execute(
        """
        CREATE FUNCTION journal_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'journal entries are immutable; post a reversal instead';
        END
        $$
        """
    )
    for table in ("entries", "entry_lines", "entry_items", "periods"):
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION journal_immutable()"
        )
