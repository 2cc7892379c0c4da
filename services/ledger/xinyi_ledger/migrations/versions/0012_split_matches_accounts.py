"""Matches of several lines to several entries (a payment platform's daily settlement is one line
for many owners' payments; a large payment may leave in several transfers), and the fund's bank
accounts as registered by the approving body, against which statements are checked."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE statement_match_sets (
            estate_id uuid NOT NULL,
            match_id uuid NOT NULL,
            matched_by uuid,
            matched_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, match_id)
        );
        CREATE TABLE statement_match_entries (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            match_id uuid NOT NULL,
            PRIMARY KEY (estate_id, entry_id),
            FOREIGN KEY (estate_id, match_id) REFERENCES statement_match_sets (estate_id, match_id),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id)
        );
        CREATE INDEX statement_match_entries_by_set
            ON statement_match_entries (estate_id, match_id);
        ALTER TABLE statement_lines ADD COLUMN match_id uuid;
        -- A match undone by hand is not made again by the service: the accountant ties the line.
        ALTER TABLE statement_lines ADD COLUMN hand_only boolean NOT NULL DEFAULT false;
        ALTER TABLE statement_lines ADD FOREIGN KEY (estate_id, match_id)
            REFERENCES statement_match_sets (estate_id, match_id);
        CREATE INDEX statement_lines_by_match ON statement_lines (estate_id, match_id);
        -- Each earlier one-to-one match becomes a set named after its line.
        INSERT INTO statement_match_sets (estate_id, match_id, matched_by, matched_at)
            SELECT estate_id, line_id, matched_by, matched_at FROM statement_matches;
        INSERT INTO statement_match_entries (estate_id, entry_id, match_id)
            SELECT estate_id, entry_id, line_id FROM statement_matches;
        UPDATE statement_lines l SET match_id = l.line_id
            FROM statement_matches m
            WHERE m.estate_id = l.estate_id AND m.line_id = l.line_id;
        DROP TABLE statement_matches;
        ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_matched_has_set
            CHECK ((state = 'matched') = (match_id IS NOT NULL));
        ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_flag_check;
        ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_flag_check
            CHECK (flag IN ('', 'ambiguous', 'split', 'unauthorised_debit', 'income_to_classify'));

        CREATE TABLE bank_accounts (
            estate_id uuid NOT NULL,
            account varchar(20) NOT NULL CHECK (account IN ('fund', 'maintenance')),
            number varchar(64) NOT NULL CHECK (number <> ''),
            bank_name varchar(200) NOT NULL,
            holder varchar(200) NOT NULL,
            registered_by uuid NOT NULL,
            registered_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, account)
        );
        ALTER TABLE statement_imports ADD COLUMN statement_account varchar(64) NOT NULL DEFAULT '';
        ALTER TABLE statement_imports ADD COLUMN account_checked boolean NOT NULL DEFAULT false
        """
    )
    for table in ("statement_match_sets", "statement_match_entries", "bank_accounts"):
        execute_script(estate_rls_sql(table))
