"""Read models of the monthly report: the chart, every entry, payment requests, the months' fees,
reconciliation with the bank, period heads, budgets, takings flags, ballots and suggestions,
and the anomaly flags with their states. Built from events only."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0003"
down_revision = "0002"

TABLES = (
    "chart",
    "entries",
    "disbursements",
    "fee_months",
    "reconciliation",
    "periods",
    "budgets",
    "takings_flags",
    "ballots",
    "suggestions",
    "flags",
)


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE chart (
            estate_id uuid NOT NULL,
            code varchar(20) NOT NULL,
            name varchar(200) NOT NULL,
            PRIMARY KEY (estate_id, code)
        );
        CREATE TABLE entries (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            chain_index bigint NOT NULL,
            kind smallint NOT NULL,
            period char(7) NOT NULL,
            booked_on date NOT NULL,
            description text NOT NULL,
            income_source varchar(20) NOT NULL,
            lump_sum boolean NOT NULL,
            reverses_entry_id uuid,
            disbursement_id uuid,
            vouchers text[] NOT NULL,
            lines jsonb NOT NULL,
            items jsonb NOT NULL,
            PRIMARY KEY (estate_id, entry_id)
        );
        CREATE INDEX entries_by_period ON entries (estate_id, period);
        CREATE TABLE disbursements (
            estate_id uuid NOT NULL,
            disbursement_id uuid NOT NULL,
            state varchar(20) NOT NULL,
            amount_fen bigint NOT NULL,
            payee text NOT NULL,
            purpose text NOT NULL,
            budget_line_id varchar(64) NOT NULL,
            approvals integer NOT NULL,
            approvals_required integer NOT NULL,
            origin varchar(20) NOT NULL,
            first_period char(7) NOT NULL,
            last_period char(7) NOT NULL,
            PRIMARY KEY (estate_id, disbursement_id)
        );
        CREATE TABLE fee_months (
            estate_id uuid NOT NULL,
            period char(7) NOT NULL,
            assessed_fen bigint NOT NULL,
            collected_fen bigint NOT NULL,
            units_assessed integer NOT NULL,
            units_fully_paid integer NOT NULL,
            PRIMARY KEY (estate_id, period)
        );
        CREATE TABLE reconciliation (
            estate_id uuid NOT NULL,
            account varchar(20) NOT NULL,
            statement_through date,
            reconciled_through date,
            open_lines integer NOT NULL,
            open_alarms integer NOT NULL,
            PRIMARY KEY (estate_id, account)
        );
        CREATE TABLE periods (
            estate_id uuid NOT NULL,
            period char(7) NOT NULL,
            merkle_root text NOT NULL,
            chain_head text NOT NULL,
            entry_count bigint NOT NULL,
            closed_at timestamptz NOT NULL,
            signatures jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (estate_id, period)
        );
        CREATE TABLE budgets (
            estate_id uuid NOT NULL,
            year integer NOT NULL,
            budget_id uuid NOT NULL,
            lines jsonb NOT NULL,
            PRIMARY KEY (estate_id, year)
        );
        CREATE TABLE takings_flags (
            estate_id uuid NOT NULL,
            month char(7) NOT NULL,
            source varchar(20) NOT NULL,
            flag varchar(30) NOT NULL,
            recorded_fen bigint NOT NULL,
            expected_fen bigint NOT NULL,
            posted_fen bigint NOT NULL,
            reason text NOT NULL,
            PRIMARY KEY (estate_id, month, source, flag)
        );
        CREATE TABLE ballots (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            title text NOT NULL,
            state varchar(20) NOT NULL,
            changed_period char(7) NOT NULL,
            decided jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (estate_id, ballot_id)
        );
        CREATE TABLE suggestions (
            estate_id uuid NOT NULL,
            suggestion_id uuid NOT NULL,
            kind varchar(20) NOT NULL,
            state varchar(20) NOT NULL,
            opened_at timestamptz NOT NULL,
            resolved_at timestamptz,
            due_at timestamptz,
            PRIMARY KEY (estate_id, suggestion_id)
        );
        CREATE TABLE flags (
            estate_id uuid NOT NULL,
            flag_id varchar(120) NOT NULL,
            period char(7) NOT NULL,
            kind varchar(40) NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ('open', 'explained', 'resolved')),
            reason text NOT NULL,
            entry_ids uuid[] NOT NULL,
            explanation text NOT NULL DEFAULT '',
            explained_by uuid,
            explained_at timestamptz,
            raised_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, flag_id)
        )
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
