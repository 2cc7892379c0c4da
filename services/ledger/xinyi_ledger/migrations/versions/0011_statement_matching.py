"""Statement lines tied to the entries they are (one entry, one line), the candidates proposed
when more than one fits, the flags of lines nothing explains, and owners-visible explanations."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE statement_lines ADD COLUMN flag varchar(30) NOT NULL DEFAULT ''
            CHECK (flag IN ('', 'ambiguous', 'unauthorised_debit', 'income_to_classify'));
        ALTER TABLE statement_lines ADD COLUMN proposals uuid[] NOT NULL DEFAULT '{}';
        ALTER TABLE statement_lines ADD COLUMN explanation text NOT NULL DEFAULT '';
        CREATE TABLE statement_matches (
            estate_id uuid NOT NULL,
            line_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            matched_by uuid,
            matched_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, line_id, entry_id),
            UNIQUE (estate_id, entry_id),
            FOREIGN KEY (estate_id, line_id) REFERENCES statement_lines (estate_id, line_id),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id)
        )
        """
    )
    execute_script(estate_rls_sql("statement_matches"))
