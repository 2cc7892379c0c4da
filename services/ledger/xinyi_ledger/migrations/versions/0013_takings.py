"""Takings from systems the estate does not run: gate exports imported as per-day totals (and
the paid stays that made them, by reference only, so overlapping exports count once), income
contracts' monthly expectations, owners-visible explanations of flagged months, and the flags
already raised as events."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0013"
down_revision = "0012"

TABLES = (
    "takings_imports",
    "takings_days",
    "takings_sessions",
    "income_contracts",
    "takings_explanations",
    "takings_flags",
)


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE takings_imports (
            estate_id uuid NOT NULL,
            import_id uuid NOT NULL,
            source varchar(20) NOT NULL,
            layout varchar(20) NOT NULL CHECK (layout IN ('per_day', 'per_session')),
            filename varchar(255) NOT NULL,
            profile varchar(60) NOT NULL,
            file_sha256 char(64) NOT NULL,
            rows_new integer NOT NULL,
            rows_duplicate integer NOT NULL,
            first_day date NOT NULL,
            last_day date NOT NULL,
            total_fen bigint NOT NULL CHECK (total_fen >= 0),
            imported_at timestamptz NOT NULL,
            imported_by uuid NOT NULL,
            PRIMARY KEY (estate_id, import_id)
        );
        CREATE TABLE takings_days (
            estate_id uuid NOT NULL,
            source varchar(20) NOT NULL,
            day date NOT NULL,
            layout varchar(20) NOT NULL CHECK (layout IN ('per_day', 'per_session')),
            amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
            sessions integer CHECK (sessions >= 0),
            import_id uuid NOT NULL,
            PRIMARY KEY (estate_id, source, day),
            FOREIGN KEY (estate_id, import_id) REFERENCES takings_imports (estate_id, import_id)
        );
        CREATE TABLE takings_sessions (
            estate_id uuid NOT NULL,
            source varchar(20) NOT NULL,
            reference varchar(100) NOT NULL CHECK (reference <> ''),
            day date NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
            import_id uuid NOT NULL,
            PRIMARY KEY (estate_id, source, reference),
            FOREIGN KEY (estate_id, import_id) REFERENCES takings_imports (estate_id, import_id)
        );
        CREATE TABLE income_contracts (
            estate_id uuid NOT NULL,
            contract_id uuid NOT NULL,
            source varchar(20) NOT NULL
                CHECK (source IN ('parking', 'advertising', 'venue', 'other')),
            counterparty varchar(200) NOT NULL CHECK (counterparty <> ''),
            description text NOT NULL,
            monthly_fen bigint NOT NULL CHECK (monthly_fen > 0),
            first_month char(7) NOT NULL,
            last_month char(7) CHECK (last_month >= first_month),
            saved_at timestamptz NOT NULL,
            saved_by uuid NOT NULL,
            PRIMARY KEY (estate_id, contract_id)
        );
        CREATE TABLE takings_explanations (
            estate_id uuid NOT NULL,
            month char(7) NOT NULL,
            source varchar(20) NOT NULL,
            explanation text NOT NULL CHECK (explanation <> ''),
            explained_at timestamptz NOT NULL,
            explained_by uuid NOT NULL,
            PRIMARY KEY (estate_id, month, source)
        );
        CREATE TABLE takings_flags (
            estate_id uuid NOT NULL,
            month char(7) NOT NULL,
            source varchar(20) NOT NULL,
            flag varchar(30) NOT NULL CHECK (flag IN ('below_recorded', 'contract_unpaid')),
            raised_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, month, source, flag)
        )
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
