"""Each account's movement per month, summed as entries arrive, so a report reads balances and
the year's spending from a row per account and month instead of from every entry's lines; an
entry keeps only its income and expense lines (an assessment's or a payment's per-unit lines are
in the sums). A month's flags, and the reversals of its lump sums, are found by index rather than
among every flag and entry the estate has had."""

from alembic import op

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE account_months (
            estate_id uuid NOT NULL,
            code varchar(20) NOT NULL,
            period char(7) NOT NULL,
            amount_fen bigint NOT NULL,
            PRIMARY KEY (estate_id, code, period)
        );
        CREATE INDEX flags_by_period ON flags (estate_id, period);
        CREATE INDEX entries_reversing ON entries (estate_id, reverses_entry_id)
            WHERE reverses_entry_id IS NOT NULL
        """
    )
    execute_script(estate_rls_sql("account_months"))
    # The entries applied so far: summed, then trimmed. A data fix across estates states its
    # system scope.
    op.execute("SELECT set_config('xinyi.scope', 'system', true)")
    op.execute(
        """
        INSERT INTO account_months (estate_id, code, period, amount_fen)
        SELECT e.estate_id, line->>0, e.period, sum((line->>1)::bigint)
        FROM entries e CROSS JOIN LATERAL jsonb_array_elements(e.lines) AS line
        GROUP BY e.estate_id, line->>0, e.period
        """
    )
    op.execute(
        """
        UPDATE entries SET lines = (
            SELECT coalesce(jsonb_agg(line ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(lines) WITH ORDINALITY AS x (line, n)
            WHERE left(line->>0, 1) IN ('4', '5')
        )
        WHERE EXISTS (
            SELECT FROM jsonb_array_elements(lines) AS line
            WHERE left(line->>0, 1) NOT IN ('4', '5')
        )
        """
    )
    op.execute("SELECT set_config('xinyi.scope', '', true)")
