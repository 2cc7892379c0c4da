"""Bank statements imported for the fund's two accounts, and their lines, kept once each however
many overlapping statements repeat them (a fingerprint per account)."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE statement_imports (
            estate_id uuid NOT NULL,
            import_id uuid NOT NULL,
            account varchar(20) NOT NULL CHECK (account IN ('fund', 'maintenance')),
            filename varchar(255) NOT NULL,
            format varchar(20) NOT NULL,
            variant varchar(60) NOT NULL,
            file_sha256 char(64) NOT NULL,
            statements integer NOT NULL,
            lines_new integer NOT NULL,
            lines_duplicate integer NOT NULL,
            first_day date,
            last_day date,
            imported_at timestamptz NOT NULL,
            imported_by uuid NOT NULL,
            PRIMARY KEY (estate_id, import_id)
        );
        CREATE TABLE statement_lines (
            estate_id uuid NOT NULL,
            line_id uuid NOT NULL,
            account varchar(20) NOT NULL,
            import_id uuid NOT NULL,
            booked_on date NOT NULL,
            value_on date,
            amount_fen bigint NOT NULL CHECK (amount_fen <> 0),
            bank_reference text NOT NULL,
            reference text NOT NULL,
            counterparty_name text NOT NULL,
            counterparty_account text NOT NULL,
            narrative text NOT NULL,
            fingerprint char(64) NOT NULL,
            state varchar(20) NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'matched', 'explained')),
            PRIMARY KEY (estate_id, line_id),
            UNIQUE (estate_id, account, fingerprint),
            FOREIGN KEY (estate_id, import_id) REFERENCES statement_imports (estate_id, import_id)
        );
        CREATE INDEX statement_lines_by_day ON statement_lines (estate_id, account, booked_on)
        """
    )
    for table in ("statement_imports", "statement_lines"):
        execute_script(estate_rls_sql(table))
